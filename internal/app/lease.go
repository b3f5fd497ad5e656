package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailwatch/trailwatch/internal/store"
)

// heartbeatLease is the lease of the instance that judges trail silences.
const heartbeatLease = "heartbeat"

// leaser holds the leases this instance wants (S3 prefixes, the
// heartbeat): it tries each name when first asked, then renews or retries
// every name every third of the lease period. A lease is taken for two
// thirds of the period, so an instance that dies loses it within the
// period's first two thirds, and the others, trying every third, take it
// over within one period.
type leaser struct {
	st     store.Leases
	holder string
	period time.Duration
	log    *slog.Logger
	gauge  *prometheus.GaugeVec
	now    func() time.Time // monotonic clock for local validity

	mu    sync.Mutex
	names map[string]*leaseState
}

type leaseState struct {
	held  bool
	until time.Time // held locally until then, unless renewed
	shown bool      // what the gauge and the logs last said
}

// note updates the gauge and logs when the lease changed hands. Callers
// hold l.mu.
func (l *leaser) note(name string, st *leaseState, holding bool, reason string) {
	if holding == st.shown {
		return
	}
	st.shown = holding
	if holding {
		l.gauge.WithLabelValues(name).Set(1)
		l.log.Info("lease acquired", "lease", name, "holder", l.holder)
		return
	}
	l.gauge.WithLabelValues(name).Set(0)
	if reason != "" {
		l.log.Warn("lease lost", "lease", name, "reason", reason)
	}
}

// newHolder names this instance: host (the pod's name in Kubernetes),
// process id and a random suffix, so a restarted process never inherits
// its predecessor's leases by name.
func newHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func newLeaser(st store.Leases, holder string, period time.Duration, log *slog.Logger, reg prometheus.Registerer) *leaser {
	l := &leaser{st: st, holder: holder, period: period, log: log, now: time.Now, names: map[string]*leaseState{}}
	l.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "trailwatch_lease_held",
		Help: "1 while this instance holds the lease (an S3 source's account and region, the heartbeat), else 0."}, []string{"name"})
	if reg != nil {
		reg.MustRegister(l.gauge)
	}
	return l
}

// ttl is how long one acquisition lasts: two thirds of the period.
func (l *leaser) ttl() time.Duration { return l.period * 2 / 3 }

// Held reports whether this instance holds name now. The first call for a
// name tries to take it at once; later calls answer from the last try
// (renewals run in the background), and a lease not renewed in time
// counts as lost.
func (l *leaser) Held(ctx context.Context, name string) bool {
	l.mu.Lock()
	st, ok := l.names[name]
	if !ok {
		st = &leaseState{}
		l.names[name] = st
		l.gauge.WithLabelValues(name).Set(0) // the series exists from the start
	}
	l.mu.Unlock()
	if !ok {
		l.try(ctx, name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	holding := st.held && l.now().Before(st.until)
	if !holding {
		l.note(name, st, false, "not renewed in time")
	}
	return holding
}

// try acquires or renews one name and logs a change of hands.
func (l *leaser) try(ctx context.Context, name string) {
	start := l.now()
	ctx, cancel := context.WithTimeout(ctx, l.period/3)
	defer cancel()
	held, err := l.st.Acquire(ctx, name, l.holder, l.ttl())
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.names[name]
	switch {
	case err != nil:
		// Unknown: what is held stays held until it would lapse anyway.
		l.log.Warn("lease not renewed", "lease", name, "err", err)
		if !l.now().Before(st.until) {
			st.held = false
			l.note(name, st, false, "not renewed in time")
		}
	case held:
		st.held, st.until = true, start.Add(l.ttl())
		l.note(name, st, true, "")
	default:
		st.held = false
		l.note(name, st, false, "another instance holds it")
	}
}

// run renews or retries every wanted name every third of the period until
// ctx ends.
func (l *leaser) run(ctx context.Context) {
	t := time.NewTicker(l.period / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, name := range l.wanted() {
				if ctx.Err() != nil {
					return
				}
				l.try(ctx, name)
			}
		}
	}
}

func (l *leaser) wanted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.names))
	for n := range l.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// releaseAll gives every held lease up, so others take over at once; it
// runs after the last batch was committed and acknowledged.
func (l *leaser) releaseAll(ctx context.Context) {
	for _, name := range l.wanted() {
		l.mu.Lock()
		st := l.names[name]
		held := st.held
		st.held = false
		l.note(name, st, false, "")
		l.mu.Unlock()
		if !held {
			continue
		}
		if err := l.st.Release(ctx, name, l.holder); err != nil {
			l.log.Warn("lease not released; it lapses by itself", "lease", name, "err", err)
			continue
		}
		l.log.Info("lease released", "lease", name)
	}
}
