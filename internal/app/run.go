package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/heartbeat"
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
	cfg     *config.Config
	o       RunOptions
	log     *slog.Logger
	pipe    *Pipeline
	engine  *rule.Engine
	store   Backend
	router  dispatch.Router
	disp    *dispatch.Dispatcher
	sources []source.Source
	// unstarted are the sources whose Start failed with a retryable
	// error; their readers start them again. startCtx is the context
	// they are started with (it bounds their life).
	unstarted map[string]error
	startCtx  context.Context
	admin     *http.Server
	adminLn   net.Listener
	ui        *UIServer // the API, when ui.listen is set
	metrics   *metrics
	beat      *heartbeat.Monitor
	leases    *leaser
	ready     atomic.Bool
	storeOK   atomic.Int64 // when the store last answered (Unix ns)
	batches   chan pending
	commitWG  sync.WaitGroup
	// commitTimeout bounds one commit; retryPause is the pause before a
	// batch's second try (twice it before the third).
	commitTimeout, retryPause time.Duration
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
	s = &Service{cfg: cfg, o: o, log: o.Logger, batches: make(chan pending, 256), commitTimeout: 30 * time.Second, retryPause: 200 * time.Millisecond}
	// Every problem at once, as config check reports them.
	if err := Check(cfg, CheckOptions{Getenv: o.Getenv, RuleDirs: o.RuleDirs}); err != nil {
		return nil, err
	}
	s.beat = newMonitor(cfg.Heartbeat, o.Now)
	p, err := NewPipeline(cfg, PipelineOptions{Getenv: o.Getenv, Logger: o.Logger, RuleDirs: o.RuleDirs,
		Deliver: true, DefaultConsole: true, StoreMode: StoreRun, Stdout: o.Stdout, Stderr: o.Stderr})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	s.pipe = p
	s.engine, s.store, s.router, s.disp = p.Engine(), p.Store(), p.Router(), p.Dispatcher()
	eng := p.Engine()
	s.metrics = newMetrics(s.store, p.Channels())
	s.metrics.watchDispatcher(s.disp)
	s.metrics.zero(enabledRules(eng), s.beat.MaxSilence() > 0)
	s.leases = newLeaser(s.store, newHolder(), cfg.Store.Lease(), o.Logger, s.metrics.reg)
	if s.beat.MaxSilence() > 0 {
		s.leases.gauge.WithLabelValues(heartbeatLease).Set(0) // from the start, as the other series
	}
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
		if s.ui, err = NewUI(cfg, s.store, eng, UIOptions{Logger: o.Logger, Now: o.Now, Getenv: o.Getenv, Trails: trailsOf(s.beat)}); err != nil {
			if s.adminLn != nil {
				s.adminLn.Close()
			}
			return nil, err
		}
	}
	srcs, err := Sources(cfg, SourceEnv{Getenv: o.Getenv, Logger: o.Logger, Wants: eng.Wants, Checkpoints: s.store,
		Claim: func(ctx context.Context, key string) bool { return s.leases.Held(ctx, key) }})
	if err == nil {
		s.unstarted, err = StartSources(ctx, srcs, o.Logger)
	}
	if err != nil {
		if s.adminLn != nil {
			s.adminLn.Close()
		}
		if s.ui != nil {
			s.ui.Close()
		}
		return nil, err
	}
	s.sources, s.startCtx = srcs, ctx
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

// RunGCPercent is the GOGC trailwatch run runs with, unless the GOGC
// environment variable sets one. Its live heap is small (tens of MB: each
// event's allocations are short-lived), so with Go's default of 100 the
// collector ran often; at 200 the run cost about a tenth less CPU per event
// (issue 14, runbench, same-run A/B) for a heap that peaks higher but stays
// flat. Request bodies are bounded by the webhook's max_memory either way.
const RunGCPercent = 200

// Run runs until ctx ends, then stops gracefully: sources stop receiving
// (a webhook finishes the requests in flight), batches already read are
// committed and acknowledged, deliveries in flight finish, and nothing is
// acknowledged that was not committed.
func (s *Service) Run(ctx context.Context) error {
	if os.Getenv("GOGC") == "" { // (the runtime reads an empty GOGC as unset too)
		defer debug.SetGCPercent(debug.SetGCPercent(RunGCPercent))
	}
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
	leaseCtx, stopLeases := context.WithCancel(context.WithoutCancel(ctx))
	leasesDone := make(chan struct{})
	go func() {
		s.leases.run(leaseCtx)
		close(leasesDone)
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
	// Everything read is committed and acknowledged (S3 checkpoints
	// saved): the leases go to the other instances now, not when they
	// lapse.
	stopLeases()
	<-leasesDone
	s.leases.releaseAll(sctx)
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

// startBackoff bounds the pause between two tries to start a source,
// maxReadBackoff the pause after read errors in a row.
const (
	startBackoff   = time.Minute
	maxReadBackoff = 30 * time.Second
)

func (s *Service) read(ctx context.Context, src source.Source) {
	name := src.Name()
	if err := s.unstarted[name]; err != nil {
		// Start again with a growing pause, until it starts or a
		// permanent problem shows.
		for delay := time.Second; err != nil; delay = min(2*delay, startBackoff) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if err = src.Start(s.startCtx); err != nil {
				s.metrics.errors.WithLabelValues(name, "read").Inc()
				if source.IsPermanent(err) {
					s.log.Error("source cannot start", "source", name, "err", err)
					return
				}
				s.log.Warn("source not started; retrying", "source", name, "err", err, "retry_in", min(2*delay, startBackoff))
			}
		}
		s.log.Info("source started", "source", name)
	}
	var pause time.Duration
	for {
		b, err := src.Read(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, source.ErrExhausted):
				s.log.Info("source done", "source", name)
				return
			case errors.Is(err, source.ErrClosed):
				return // shutting down: a clean end, not a read error
			}
			s.metrics.errors.WithLabelValues(name, "read").Inc()
			// Read errors in a row wait longer each time, up to
			// maxReadBackoff.
			pause = min(max(2*pause, time.Second), maxReadBackoff)
			s.log.Error("read source", "source", name, "err", err, "retry_in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
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

// Commit groups are bounded, so that no source (a large file's chunks
// arriving back to back) can make one giant transaction, and what others
// sent meanwhile waits for one bounded commit at most.
const (
	maxGroupBatches = 256
	maxGroupEvents  = 10000
)

// committer commits batches in groups, pipelined in two stages: the
// gatherer evaluates each batch as it arrives and accumulates the next
// group while the saver commits the current one; the saver takes
// whatever has accumulated (up to the group limits) the moment its commit
// and acknowledgements are done. So a group's evaluation never delays a
// commit, groups grow with the load (everything that arrived during one
// commit is the next), and one commit at a time is in flight: a batch is
// acknowledged only after its own commit, in the order read, and a store
// that is down sees one failing commit, not a queue of them.
func (s *Service) committer() {
	defer s.commitWG.Done()
	groups := make(chan []judged) // unbuffered: handed over when the saver is free
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		for js := range groups {
			s.commit(js)
		}
	}()
	s.gather(s.batches, groups)
	close(groups)
	<-saved
}

// gather evaluates batches from in as they arrive and hands the
// accumulated group to out when the saver takes it; once a group reaches
// maxGroupBatches or maxGroupEvents it stops reading until it is taken
// (a batch that would overflow it waits for the next group).
func (s *Service) gather(in <-chan pending, out chan<- []judged) {
	var (
		cur    []judged
		events int
		carry  *judged
	)
	for in != nil || len(cur) > 0 || carry != nil {
		if len(cur) == 0 && carry != nil {
			cur, events, carry = append(cur, *carry), len(carry.p.batch.Events), nil
		}
		recv := in
		if carry != nil || len(cur) >= maxGroupBatches || events >= maxGroupEvents {
			recv = nil // full: wait for the saver
		}
		var send chan<- []judged
		if len(cur) > 0 {
			send = out
		}
		select {
		case p, ok := <-recv:
			if !ok {
				in = nil
				continue
			}
			j := s.judge(p)
			if len(cur) > 0 && events+len(p.batch.Events) > maxGroupEvents {
				carry = &j
				continue
			}
			cur = append(cur, j)
			events += len(p.batch.Events)
		case send <- cur:
			cur, events = nil, 0
		}
	}
}

// judged is a batch with the findings its events raised.
type judged struct {
	p       pending
	raised  []finding.Finding
	matched int // events that raised at least one finding
}

// judge evaluates a batch's events.
func (s *Service) judge(p pending) judged {
	j := judged{p: p}
	for _, tr := range p.batch.Trails {
		s.beat.Saw(tr.Account, tr.Region, time.Time{})
	}
	for _, ev := range p.batch.Events {
		got := s.engine.Evaluate(ev)
		if len(got) > 0 {
			j.matched++
		}
		j.raised = append(j.raised, got...)
		s.beat.Saw(ev.AccountID(), ev.AWSRegion, ev.EventTime)
		if !ev.EventTime.IsZero() {
			s.metrics.lag.WithLabelValues(p.src).Set(s.o.Now().Sub(ev.EventTime).Seconds())
		}
	}
	return j
}

// commit saves a group's findings in one transaction and acknowledges its
// batches. When that fails, each batch is tried on its own (one bad batch
// must not hold back the others); a batch that still fails after
// commitAttempts tries while the store answers is quarantined (recorded,
// counted, raised as a finding, and acknowledged so its source moves on).
// While the store does not answer, nothing is quarantined: the batches are
// acknowledged with the error, and their sources hand them out again.
func (s *Service) commit(js []judged) {
	err := s.save(js)
	if err == nil {
		return
	}
	s.log.Error("commit findings", "batches", len(js), "err", err)
	if !s.storeAnswers() {
		s.nack(js, err)
		return
	}
	for _, j := range js {
		s.retry(j, err, len(js) == 1)
	}
}

// retry commits one batch on its own, up to commitAttempts tries in all,
// then quarantines it.
func (s *Service) retry(j judged, err error, triedAlone bool) {
	attempts := 0
	if triedAlone {
		attempts = 1
	}
	for attempts < commitAttempts {
		if attempts > 0 && s.retryPause > 0 {
			time.Sleep(time.Duration(attempts) * s.retryPause)
		}
		attempts++
		if err = s.save([]judged{j}); err == nil {
			return
		}
		s.log.Warn("commit of one batch failed", "source", j.p.src, "origin", j.p.batch.Origin, "attempt", attempts, "err", err)
		if !s.storeAnswers() {
			s.nack([]judged{j}, err)
			return
		}
	}
	s.quarantine(j, err)
}

// storeAnswers pings the store.
func (s *Service) storeAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.store.Ping(ctx) == nil
}

// save commits the findings of batches in one transaction, then
// acknowledges each; on error nothing is acknowledged.
func (s *Service) save(js []judged) error {
	var fs []finding.Finding
	for _, j := range js {
		fs = append(fs, j.raised...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.commitTimeout)
	defer cancel()
	res, err := s.pipe.Save(ctx, fs)
	if err != nil {
		return err
	}
	s.storeOK.Store(time.Now().UnixNano())
	// A finding is new once: the same event twice in the group is stored
	// once, and counted (and reported to its batch as new) once.
	counted := map[string]bool{}
	for _, j := range js {
		s.metrics.matched.WithLabelValues(j.p.src).Add(float64(j.matched))
		r := source.Result{Findings: len(j.raised)}
		for _, f := range j.raised {
			if res.New[f.ID] && !counted[f.ID] {
				counted[f.ID] = true
				r.New++
				s.metrics.findings.WithLabelValues(f.RuleID, f.Risk.String()).Inc()
			}
		}
		s.ack(j.p, r, "acked")
	}
	return nil
}

// nack acknowledges batches with the error that stopped their commit.
func (s *Service) nack(js []judged, err error) {
	for _, j := range js {
		s.ack(j.p, source.Result{Err: err, Findings: len(j.raised)}, "failed")
	}
}

func (s *Service) ack(p pending, r source.Result, result string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.commitTimeout)
	defer cancel()
	if aerr := p.batch.Ack(ctx, r); aerr != nil {
		s.log.Error("acknowledge batch", "source", p.src, "origin", p.batch.Origin, "err", aerr)
		s.metrics.errors.WithLabelValues(p.src, "ack").Inc()
	}
	s.metrics.batches.WithLabelValues(p.src, result).Inc()
	s.metrics.latency.WithLabelValues(p.src).Observe(s.o.Now().Sub(p.at).Seconds())
}

// quarantine sets a batch aside: recorded in the store with the error,
// counted, raised as a finding, and acknowledged so its source moves on.
// When even the record cannot be written, the batch is acknowledged with
// the error instead (it comes again).
func (s *Service) quarantine(j judged, err error) {
	b := j.p.batch
	obj := b.Object
	if obj == "" {
		obj = b.Origin
	}
	reason := err.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	e := store.QuarantineEntry{Source: j.p.src, Object: obj, Offset: b.Offset, Records: b.Records, Reason: reason, At: s.o.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), s.commitTimeout)
	defer cancel()
	if qerr := s.store.Quarantine(ctx, e); qerr != nil {
		s.log.Error("quarantine batch", "source", j.p.src, "origin", b.Origin, "err", qerr)
		s.nack([]judged{j}, err)
		return
	}
	s.metrics.quarantined.WithLabelValues(j.p.src).Inc()
	s.log.Error("batch quarantined after repeated commit failures", "source", j.p.src, "object", obj, "offset", b.Offset, "records", b.Records, "err", err)
	f := quarantineFinding(e)
	if res, ferr := s.pipe.Save(ctx, []finding.Finding{f}); ferr != nil {
		s.log.Error("save quarantine finding", "source", j.p.src, "err", ferr)
	} else if res.New[f.ID] {
		s.metrics.findings.WithLabelValues(f.RuleID, f.Risk.String()).Inc()
	}
	s.ack(j.p, source.Result{Quarantined: true}, "quarantined")
}

func (s *Service) heartbeatLoop(ctx context.Context) {
	if s.beat == nil || s.beat.MaxSilence() == 0 {
		return
	}
	t := time.NewTicker(min(s.beat.MaxSilence()/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.heartbeatTick(ctx)
		}
	}
}

// heartbeatTick records what this instance saw in the store; the instance
// holding the heartbeat lease then judges silences from every instance's
// activity, so a silence raises one finding however many instances run.
func (s *Service) heartbeatTick(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if seen := s.beat.Pending(); len(seen) > 0 {
		if err := s.store.SawTrails(cctx, seen); err != nil {
			s.beat.Unrecorded(seen)
			s.log.Error("record trail activity", "err", err)
		}
	}
	if !s.leases.Held(cctx, heartbeatLease) {
		return
	}
	act, err := s.store.TrailActivity(cctx)
	if err != nil {
		// Judging from this instance's events alone would report trails
		// other instances hear from.
		s.log.Error("read trail activity; silences not judged this time", "err", err)
		return
	}
	s.beat.Merge(act)
	fs := s.beat.Check()
	if len(fs) == 0 {
		return
	}
	res, err := s.pipe.Save(cctx, fs)
	if err != nil {
		s.log.Error("save silence findings", "err", err)
		return
	}
	for _, f := range fs {
		if !res.New[f.ID] { // raised before, by this judge or the one before it
			continue
		}
		s.metrics.findings.WithLabelValues(f.RuleID, f.Risk.String()).Inc()
		s.log.Warn("trail silent", "account", f.AccountID, "region", f.Region, "finding_id", f.ID)
	}
}
