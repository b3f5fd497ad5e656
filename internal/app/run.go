package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/store"
)

// RunOptions are the process-level inputs of trailwatch run.
type RunOptions struct {
	Getenv func(string) string
	Logger *slog.Logger
	// RuleDirs are extra rule folders.
	RuleDirs []string
	// Started, when set, is called once every part is up, with the
	// addresses the admin server and the webhook sources listen on.
	Started func(addrs map[string]string)
	// ShutdownTimeout bounds a graceful stop; default 30s.
	ShutdownTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Stdout and Stderr are where console channels print; nil means the
	// process's.
	Stdout, Stderr io.Writer
}

// Service is trailwatch run: sources feed the engine, findings and the
// notifications they owe are committed in groups, then the sources are
// acknowledged; the dispatcher delivers the outbox.
type Service struct {
	cfg      *config.Config
	o        RunOptions
	log      *slog.Logger
	engine   *rule.Engine
	store    Backend
	router   dispatch.Router
	disp     *dispatch.Dispatcher
	sources  []source.Source
	admin    *http.Server
	adminLn  net.Listener
	ui       *UIServer // the API, when ui.listen is set
	metrics  *metrics
	beat     *heartbeat
	ready    atomic.Bool
	storeOK  atomic.Int64 // when the store last answered (Unix ns)
	batches  chan pending
	commitWG sync.WaitGroup
}

type pending struct {
	src   string
	batch *source.Batch
	at    time.Time
}

// NewService builds every part from the configuration. Every problem is
// reported; nothing half-built is left running on error.
func NewService(ctx context.Context, cfg *config.Config, o RunOptions) (s *Service, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s = &Service{cfg: cfg, o: o, log: o.Logger, batches: make(chan pending, 256)}
	// Every problem at once, as config check reports them.
	if err := Check(cfg, CheckOptions{Getenv: o.Getenv, RuleDirs: o.RuleDirs}); err != nil {
		return nil, err
	}
	var errs []error
	cat, eng, err := Engine(cfg, o.RuleDirs)
	if err != nil {
		errs = append(errs, err)
	}
	s.engine = eng
	chans, router, err := Channels(cfg, ChannelOptions{Getenv: o.Getenv, Logger: o.Logger, DefaultConsole: true, Stdout: o.Stdout, Stderr: o.Stderr})
	if err != nil {
		errs = append(errs, err)
	}
	s.router = router
	s.beat = newHeartbeat(cfg.Heartbeat, o.Now)
	if err := cfg.Merge(errs...); err != nil {
		return nil, err
	}
	st, err := OpenStoreMode(cfg, o.Getenv, StoreRun)
	if err != nil {
		return nil, err
	}
	s.store = st
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	s.metrics = newMetrics(s.store, chans)
	s.disp = dispatch.New(s.store, chans, dispatch.Options{Logger: o.Logger})
	s.metrics.watchDispatcher(s.disp)
	s.metrics.zero(enabledRules(cat, cfg), s.beat.maxSilence > 0)
	if cfg.Admin.Listen != "off" {
		addr := cfg.Admin.Listen
		if addr == "" {
			addr = config.DefaultAdminListen
		}
		if s.adminLn, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("admin.listen: %w", err)
		}
		s.admin = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
	}
	if cfg.UI.Listen != "" && cfg.UI.Listen != "off" {
		if s.ui, err = NewUI(cfg, s.store, cat, UIOptions{Logger: o.Logger, Now: o.Now, Getenv: o.Getenv, Trails: s.beat.trails}); err != nil {
			if s.adminLn != nil {
				s.adminLn.Close()
			}
			return nil, err
		}
	}
	srcs, err := Sources(ctx, cfg, SourceEnv{Getenv: o.Getenv, Logger: o.Logger, Wants: eng.Wants, Checkpoints: s.store})
	if err != nil {
		if s.adminLn != nil {
			s.adminLn.Close()
		}
		if s.ui != nil {
			s.ui.Close()
		}
		return nil, err
	}
	s.sources = srcs
	for _, src := range srcs {
		s.metrics.zeroSource(src.Name())
	}
	s.metrics.reg.MustRegister(&sourceCollector{srcs: srcs, desc: prometheus.NewDesc("trailwatch_source_messages_total",
		"Messages or requests a source handled, per source and result (received, deleted, failed, poison; accepted, rejected).", []string{"source", "result"}, nil)})
	return s, nil
}

// Addrs returns the listen addresses of the admin server and of sources
// that listen.
func (s *Service) Addrs() map[string]string {
	out := map[string]string{}
	if s.adminLn != nil {
		out["admin"] = s.adminLn.Addr().String()
	}
	if s.ui != nil {
		out["ui"] = s.ui.Addr()
	}
	for _, src := range s.sources {
		if a, ok := src.(interface{ Addr() string }); ok {
			out[src.Name()] = a.Addr()
		}
	}
	return out
}

func (s *Service) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		// A commit a moment ago proves the store answers; pinging would
		// wait behind a long commit for SQLite's one connection, and
		// readiness would flap under load.
		if time.Since(time.Unix(0, s.storeOK.Load())) > readyFresh {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := s.store.Ping(ctx); err != nil {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			s.storeOK.Store(time.Now().UnixNano())
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// Run runs until ctx ends, then stops gracefully: sources stop receiving
// (a webhook finishes the requests in flight), batches already read are
// committed and acknowledged, deliveries in flight finish, and nothing is
// acknowledged that was not committed.
func (s *Service) Run(ctx context.Context) error {
	defer s.store.Close()
	if s.admin != nil {
		go s.admin.Serve(s.adminLn)
	}
	if s.ui != nil {
		go func() {
			if err := s.ui.Serve(); err != nil {
				s.log.Error("ui server", "err", err)
			}
		}()
	}
	dispCtx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	dispDone := make(chan struct{})
	go func() {
		s.disp.Run(dispCtx)
		close(dispDone)
	}()
	s.commitWG.Add(1)
	go s.committer()
	readCtx, stopRead := context.WithCancel(context.WithoutCancel(ctx))
	var readers sync.WaitGroup
	for _, src := range s.sources {
		readers.Add(1)
		go func() {
			defer readers.Done()
			s.read(readCtx, src)
		}()
	}
	beatDone := make(chan struct{})
	go func() {
		s.heartbeatLoop(readCtx)
		close(beatDone)
	}()
	pruneDone := make(chan struct{})
	go func() {
		s.retentionLoop(readCtx)
		close(pruneDone)
	}()
	s.ready.Store(true)
	s.log.Info("trailwatch running", "sources", len(s.sources), "rules", s.engine.Rules())
	if s.o.Started != nil {
		s.o.Started(s.Addrs())
	}
	<-ctx.Done()
	s.ready.Store(false)
	s.log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	// Sources whose senders wait for an answer (a webhook) stop first,
	// while readers and the committer still run, so requests in flight
	// are committed and answered. Then reading stops, what was read is
	// committed and acknowledged, and only then are the other sources
	// closed (an SQS source sends its pending deletes and releases what it
	// still holds).
	closeAll := func(listeners bool) {
		var wg sync.WaitGroup
		for _, src := range s.sources {
			if _, ok := src.(source.Listener); ok != listeners {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := src.Close(sctx); err != nil {
					s.log.Warn("close source", "source", src.Name(), "err", err)
				}
			}()
		}
		wg.Wait()
	}
	closeAll(true)
	stopRead()
	readers.Wait()
	<-beatDone
	<-pruneDone
	close(s.batches)
	s.commitWG.Wait()
	closeAll(false)
	stopDisp()
	<-dispDone
	if s.admin != nil {
		s.admin.Shutdown(sctx)
	}
	if s.ui != nil {
		s.ui.Shutdown(sctx)
	}
	s.log.Info("stopped")
	return nil
}

// readyFresh is how recent a successful commit must be for /readyz to
// answer without pinging the store.
const readyFresh = 10 * time.Second

// maxLoggedProblems is how many bad records of one batch are logged one by
// one; the rest are counted in one line.
const maxLoggedProblems = 10

func (s *Service) read(ctx context.Context, src source.Source) {
	name := src.Name()
	for {
		b, err := src.Read(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, source.ErrExhausted):
				s.log.Info("source done", "source", name)
				return
			}
			s.metrics.errors.WithLabelValues(name, "read").Inc()
			s.log.Error("read source", "source", name, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		s.metrics.received.WithLabelValues(name).Add(float64(b.Records))
		s.metrics.errors.WithLabelValues(name, "record").Add(float64(len(b.Errors)))
		first, more := source.Problems(b.Errors, maxLoggedProblems)
		for _, e := range first {
			s.log.Warn("bad record", "source", name, "err", e)
		}
		if more > 0 {
			s.log.Warn("more bad records in the batch, not logged one by one", "source", name, "origin", b.Origin, "count", more)
		}
		s.batches <- pending{src: name, batch: b, at: s.o.Now()}
	}
}

// committer evaluates batches and commits them in groups: what arrived
// together is saved in one transaction, then each batch is acknowledged.
func (s *Service) committer() {
	defer s.commitWG.Done()
	const maxGroup = 256
	for first := range s.batches {
		group := []pending{first}
	more:
		for len(group) < maxGroup {
			select {
			case p, ok := <-s.batches:
				if !ok {
					break more
				}
				group = append(group, p)
			default:
				break more
			}
		}
		s.commit(group)
	}
}

func (s *Service) commit(group []pending) {
	var fs []finding.Finding
	perSource := map[string]int{}
	raised := make([][]finding.Finding, len(group)) // per batch
	for i, p := range group {
		for _, tr := range p.batch.Trails {
			s.beat.saw(tr.Account, tr.Region, time.Time{})
		}
		for _, ev := range p.batch.Events {
			got := s.engine.Evaluate(ev)
			if len(got) > 0 {
				perSource[p.src]++
			}
			fs = append(fs, got...)
			raised[i] = append(raised[i], got...)
			s.beat.saw(ev.AccountID(), ev.AWSRegion, ev.EventTime)
			if !ev.EventTime.IsZero() {
				s.metrics.lag.WithLabelValues(p.src).Set(s.o.Now().Sub(ev.EventTime).Seconds())
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.store.SaveRouted(ctx, fs, s.router.Route)
	if err != nil {
		s.log.Error("commit findings", "batches", len(group), "findings", len(fs), "err", err)
	} else {
		s.storeOK.Store(time.Now().UnixNano())
		for src, n := range perSource {
			s.metrics.matched.WithLabelValues(src).Add(float64(n))
		}
		if chs := owedChannels(res); len(chs) > 0 {
			s.disp.Kick(chs...)
		}
	}
	// A finding is new once: the same event twice in the group is stored
	// once, and counted (and reported to its batch as new) once.
	counted := map[string]bool{}
	for i, p := range group {
		result := "acked"
		if err != nil {
			result = "failed"
		}
		r := source.Result{Err: err, Findings: len(raised[i])}
		for _, f := range raised[i] {
			if err == nil && res.New[f.ID] && !counted[f.ID] {
				counted[f.ID] = true
				r.New++
				s.metrics.findings.WithLabelValues(f.RuleID, f.Risk.String()).Inc()
			}
		}
		if aerr := p.batch.Ack(ctx, r); aerr != nil {
			s.log.Error("acknowledge batch", "source", p.src, "origin", p.batch.Origin, "err", aerr)
			s.metrics.errors.WithLabelValues(p.src, "ack").Inc()
		}
		s.metrics.batches.WithLabelValues(p.src, result).Inc()
		s.metrics.latency.WithLabelValues(p.src).Observe(s.o.Now().Sub(p.at).Seconds())
	}
}

// owedChannels names the channels a save added deliveries for.
func owedChannels(res store.SaveResult) []string {
	out := make([]string, 0, len(res.Owed))
	for ch := range res.Owed {
		out = append(out, ch)
	}
	return out
}

func (s *Service) heartbeatLoop(ctx context.Context) {
	if s.beat == nil || s.beat.maxSilence == 0 {
		return
	}
	t := time.NewTicker(min(s.beat.maxSilence/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fs := s.beat.check()
			if len(fs) == 0 {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := s.store.SaveRouted(cctx, fs, s.router.Route); err != nil {
				s.log.Error("save silence findings", "err", err)
			} else {
				for _, f := range fs {
					s.metrics.findings.WithLabelValues(f.RuleID, f.Risk.String()).Inc()
					s.log.Warn("trail silent", "account", f.AccountID, "region", f.Region, "finding_id", f.ID)
				}
				s.disp.Kick()
			}
			cancel()
		}
	}
}

// metrics are the Prometheus series of trailwatch run.
type metrics struct {
	reg                                          *prometheus.Registry
	received, matched, errors, batches, findings *prometheus.CounterVec
	lag                                          *prometheus.GaugeVec
	latency                                      *prometheus.HistogramVec
}

func newMetrics(ob store.Outbox, chans []dispatch.Channel) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_events_received_total", Help: "CloudTrail records received, per source."}, []string{"source"})
	m.matched = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_events_matched_total", Help: "Records that raised at least one finding, per source."}, []string{"source"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_errors_total", Help: "Errors, per source and kind (read, record, ack)."}, []string{"source", "kind"})
	m.batches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_batches_total", Help: "Batches processed, per source and result (acked, failed)."}, []string{"source", "result"})
	m.findings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_findings_total", Help: "Findings raised, per rule and risk."}, []string{"rule", "risk"})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "trailwatch_source_lag_seconds", Help: "Age of the newest event of the last batch, per source."}, []string{"source"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trailwatch_commit_latency_seconds", Help: "Time from receipt of a batch to its commit and acknowledgement.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"source"})
	m.reg.MustRegister(m.received, m.matched, m.errors, m.batches, m.findings, m.lag, m.latency,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	var names []string
	for _, c := range chans {
		names = append(names, c.Name)
	}
	m.reg.MustRegister(&outboxCollector{ob: ob, channels: names, desc: prometheus.NewDesc("trailwatch_outbox_depth", "Deliveries in the outbox, per channel and status.", []string{"channel", "status"}, nil)})
	return m
}

// zero creates the series users alert on at 0, so that they exist (and
// rate() and increase() work) from the start rather than from the first
// finding: trailwatch_findings_total for every enabled rule at every risk
// level (adjustments move a rule's risk), and the heartbeat's rule.
func (m *metrics) zero(rules []string, heartbeat bool) {
	if heartbeat {
		rules = append(rules, SilenceRule)
	}
	for _, r := range rules {
		for risk := finding.Low; risk <= finding.Extreme; risk++ {
			m.findings.WithLabelValues(r, risk.String())
		}
	}
}

// zeroSource creates a source's counters at 0.
func (m *metrics) zeroSource(name string) {
	m.received.WithLabelValues(name)
	m.matched.WithLabelValues(name)
	for _, kind := range []string{"read", "record", "ack"} {
		m.errors.WithLabelValues(name, kind)
	}
	for _, result := range []string{"acked", "failed"} {
		m.batches.WithLabelValues(name, result)
	}
}

// watchDispatcher exposes the dispatcher's counters.
func (m *metrics) watchDispatcher(d *dispatch.Dispatcher) {
	m.reg.MustRegister(&dispatchCollector{d: d, desc: prometheus.NewDesc("trailwatch_notifications_total", "Delivery attempts, per channel and result (sent, failed, dead).", []string{"channel", "result"}, nil)})
}

type sourceCollector struct {
	srcs []source.Source
	desc *prometheus.Desc
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.srcs {
		if sc, ok := s.(source.Counter); ok {
			for k, v := range sc.Counters() {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), s.Name(), k)
			}
		}
	}
}

type outboxCollector struct {
	ob       store.Outbox
	channels []string // reported at 0 until they have deliveries
	desc     *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, err := c.ob.Depth(ctx)
	if err != nil {
		return
	}
	for _, chn := range c.channels {
		if depth[chn] == nil {
			depth[chn] = map[string]int{}
		}
		for _, st := range []string{store.Pending, store.Sending, store.Done, store.Dead, store.Dropped} {
			if _, ok := depth[chn][st]; !ok {
				depth[chn][st] = 0
			}
		}
	}
	for chn, byStatus := range depth {
		for st, n := range byStatus {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), chn, st)
		}
	}
}

type dispatchCollector struct {
	d    *dispatch.Dispatcher
	desc *prometheus.Desc
}

func (c *dispatchCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *dispatchCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.d.Stats() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(st.Sent), name, "sent")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(st.Failed), name, "failed")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(st.Dead), name, "dead")
	}
}
