package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/postgres/pgtest"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func gaugeValue(g *prometheus.GaugeVec, label string) float64 {
	var m dto.Metric
	g.WithLabelValues(label).Write(&m)
	return m.GetGauge().GetValue()
}

// Two leasers on one store with a shared fake clock: one holder at a
// time, a lease not renewed lapses and moves, a released one moves at
// once; the gauge and the logs follow.
func TestLeaserHandsOver(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := newLeaser(st, "a", 30*time.Second, log.With("instance", "a"), regA)
	b := newLeaser(st, "b", 30*time.Second, log.With("instance", "b"), regB)
	a.now, b.now = clock, clock
	ctx := context.Background()
	const name = "s3://trail-bucket/AWSLogs/111122223333/eu-west-1"

	if !a.Held(ctx, name) {
		t.Fatal("a did not take a free lease")
	}
	if b.Held(ctx, name) {
		t.Fatal("b holds a lease a holds")
	}
	if got := gaugeValue(a.gauge, name); got != 1 {
		t.Errorf("a's trailwatch_lease_held = %v, want 1", got)
	}
	if got := gaugeValue(b.gauge, name); got != 0 {
		t.Errorf("b's trailwatch_lease_held = %v, want 0", got)
	}
	// a renews every third of the period; b keeps trying.
	for range 6 {
		advance(10 * time.Second)
		a.try(ctx, name)
		b.try(ctx, name)
		if !a.Held(ctx, name) || b.Held(ctx, name) {
			t.Fatal("the lease moved while its holder renewed it")
		}
	}
	// a stops renewing (it died): b takes over within one period.
	took := time.Duration(0)
	for !b.Held(ctx, name) {
		if took > 30*time.Second {
			t.Fatal("b did not take over within one lease period")
		}
		advance(10 * time.Second)
		took += 10 * time.Second
		b.try(ctx, name)
	}
	if a.Held(ctx, name) {
		t.Error("a still believes it holds a lease it did not renew")
	}
	a.try(ctx, name)
	if got := gaugeValue(a.gauge, name); got != 0 {
		t.Errorf("a's gauge = %v after losing the lease, want 0", got)
	}
	// b stops gracefully: a has it at its next try.
	b.releaseAll(ctx)
	if b.Held(ctx, name) {
		t.Error("b holds what it released")
	}
	a.try(ctx, name)
	if !a.Held(ctx, name) {
		t.Error("a did not take the released lease at once")
	}
	out := logs.String()
	for _, want := range []string{"instance=a", "lease acquired", "lease lost", "lease released", "instance=b"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

// Two instances on one PostgreSQL database: events of a trail reach only
// one of them, yet the other (which judges silences) does not report the
// trail; when the trail goes silent it raises one finding, and neither
// the other instance nor a new judge after a hand-over raises another.
func TestHeartbeatJudgedOnceAcrossInstances(t *testing.T) {
	dsn := pgtest.Schema(t)
	var mu sync.Mutex
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	at := func(d time.Duration) { mu.Lock(); now = t0.Add(d); mu.Unlock() }
	const acct, region = "111122223333", "eu-west-1"
	build := func() *Service {
		cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(`
store: {dsn: %q}
admin: {listen: "off"}
sources:
  - {name: hook, type: webhook, listen: "127.0.0.1:0", api_key: EXAMPLE-KEY-0123456789}
heartbeat:
  max_silence: 30m
  expect: [{account: %q, region: %s}]
`, dsn, acct, region)))
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewService(context.Background(), cfg, RunOptions{Now: clock, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, src := range s.sources {
				src.Close(context.Background())
			}
			s.store.Close()
		})
		return s
	}
	a, b := build(), build()
	ctx := context.Background()
	silences := func() int {
		fs, err := a.store.Findings(ctx, store.Filter{Rules: []string{SilenceRule}})
		if err != nil {
			t.Fatal(err)
		}
		return len(fs)
	}
	a.heartbeatTick(ctx) // a judges
	if !a.leases.Held(ctx, heartbeatLease) || b.leases.Held(ctx, heartbeatLease) {
		t.Fatal("a should hold the heartbeat lease, b not")
	}
	at(20 * time.Minute)
	b.beat.Saw(acct, region, time.Time{}) // only b receives the trail's events
	b.heartbeatTick(ctx)
	at(35 * time.Minute) // 35m after a started, 15m after b's event
	a.heartbeatTick(ctx)
	if n := silences(); n != 0 {
		t.Fatalf("%d silence findings while b hears the trail: the judge ignored b's activity", n)
	}
	at(51 * time.Minute) // 31m after the last event
	b.heartbeatTick(ctx)
	if n := silences(); n != 0 {
		t.Fatalf("b, not the judge, raised %d silence findings", n)
	}
	a.heartbeatTick(ctx)
	if n := silences(); n != 1 {
		t.Fatalf("%d silence findings after 31m of silence, want 1", n)
	}
	a.heartbeatTick(ctx)
	a.leases.releaseAll(ctx) // a stops; b judges now
	at(52 * time.Minute)
	b.leases.try(ctx, heartbeatLease) // b's next renewal round
	b.heartbeatTick(ctx)
	if !b.leases.Held(ctx, heartbeatLease) {
		t.Fatal("b did not take the heartbeat lease a released")
	}
	if n := silences(); n != 1 {
		t.Errorf("%d silence findings after the judge changed, want still 1 (the same silence)", n)
	}
}
