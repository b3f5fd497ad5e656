package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/store"
)

// metrics are the Prometheus series of trailwatch run.
type metrics struct {
	reg                                                       *prometheus.Registry
	received, matched, errors, batches, findings, quarantined *prometheus.CounterVec
	lag                                                       *prometheus.GaugeVec
	latency                                                   *prometheus.HistogramVec
}

func newMetrics(ob store.Outbox, chans []dispatch.Channel) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_events_received_total", Help: "CloudTrail records received, per source."}, []string{"source"})
	m.matched = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_events_matched_total", Help: "Records that raised at least one finding, per source."}, []string{"source"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_errors_total", Help: "Errors, per source and kind (read, record, ack)."}, []string{"source", "kind"})
	m.batches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_batches_total", Help: "Batches processed, per source and result (acked, failed, quarantined)."}, []string{"source", "result"})
	m.findings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_findings_total", Help: "Findings raised, per rule and risk."}, []string{"rule", "risk"})
	m.quarantined = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trailwatch_quarantined_total", Help: "Batches (chunks of input) set aside after repeated commit failures while the store answered, per source."}, []string{"source"})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "trailwatch_source_lag_seconds", Help: "Age of the newest event of the last batch, per source."}, []string{"source"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trailwatch_commit_latency_seconds", Help: "Time from receipt of a batch to its commit and acknowledgement.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"source"})
	m.reg.MustRegister(m.received, m.matched, m.errors, m.batches, m.findings, m.quarantined, m.lag, m.latency,
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
	rules = append(rules, QuarantineRule)
	for _, r := range rules {
		for risk := finding.Low; risk <= finding.Extreme; risk++ {
			m.findings.WithLabelValues(r, risk.String())
		}
	}
}

// zeroSource creates a source's counters at 0.
func (m *metrics) zeroSource(name string) {
	m.received.WithLabelValues(name)
	m.quarantined.WithLabelValues(name)
	m.matched.WithLabelValues(name)
	for _, kind := range []string{"read", "record", "ack"} {
		m.errors.WithLabelValues(name, kind)
	}
	for _, result := range []string{"acked", "failed", "quarantined"} {
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
