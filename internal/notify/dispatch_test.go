package notify_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// sink is a Notifier that records messages and fails as told.
type sink struct {
	mu    sync.Mutex
	got   []notify.Message
	times []time.Time
	fail  func(n int, m notify.Message) error // n counts attempts from 1
	calls int
	delay time.Duration
}

func (s *sink) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return notify.Result{}, notify.Retryable(ctx.Err(), 0)
		}
	}
	if s.fail != nil {
		if err := s.fail(n, m); err != nil {
			return notify.Result{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, m)
	if m.Kind != notify.Trigger {
		return notify.Result{}, nil // like real channels, only what creates a record returns a ref
	}
	return notify.Result{Ref: "REF-" + m.Finding.ID}, nil
}

func (s *sink) messages() []notify.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Message(nil), s.got...)
}

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func findings(n int, sameFingerprint bool) []finding.Finding {
	var out []finding.Finding
	for i := range n {
		f := storetest.Sample(i, "EKS-A", finding.High)
		f.EventTime = time.Now().Add(time.Duration(i) * time.Second)
		f.TTL = time.Hour
		if !sameFingerprint {
			f.Fingerprint = f.ID
		}
		out = append(out, f)
	}
	return out
}

func fastOpts() notify.DispatcherOptions {
	return notify.DispatcherOptions{Poll: 10 * time.Millisecond, Backoff: func(int) time.Duration { return time.Millisecond }, AttemptTimeout: 2 * time.Second}
}

func drain(t *testing.T, d *notify.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left, err := d.Drain(ctx)
	if err != nil || left != 0 {
		t.Fatalf("drain: %d left, %v", left, err)
	}
}

func TestDeliversOncePerFindingAndChannel(t *testing.T) {
	st := openStore(t)
	a, b := &sink{}, &sink{}
	router := notify.Router{
		{Channel: "a", Repeats: true},
		{Channel: "b", Filter: notify.Filter{MinRisk: finding.VeryHigh}},
	}
	fs := findings(5, false)
	fs[0].Risk = finding.Extreme
	if _, err := st.SaveRouted(context.Background(), fs, router.Route); err != nil {
		t.Fatal(err)
	}
	d := notify.NewDispatcher(st, []notify.Channel{{Name: "a", Notifier: a, Concurrency: 3}, {Name: "b", Notifier: b, DashboardURL: "https://tw.example/f/{id}"}}, fastOpts())
	drain(t, d)
	if len(a.messages()) != 5 || len(b.messages()) != 1 {
		t.Fatalf("a got %d (want 5), b got %d (want 1)", len(a.messages()), len(b.messages()))
	}
	m := b.messages()[0]
	if m.Kind != notify.Trigger || m.DashboardURL != "https://tw.example/f/"+fs[0].ID || m.IdempotencyKey != fs[0].ID+"/b" || m.Finding.Summary == "" {
		t.Errorf("message: %+v", m)
	}
	if s := d.Stats(); s["a"].Sent != 5 || s["b"].Sent != 1 {
		t.Errorf("stats %+v", s)
	}
	// A second drain sends nothing more.
	drain(t, d)
	if len(a.messages()) != 5 {
		t.Errorf("re-sent: %d", len(a.messages()))
	}
}

func TestRepeatsUpdateWithRef(t *testing.T) {
	st := openStore(t)
	pd, sms := &sink{}, &sink{}
	router := notify.Router{{Channel: "pd", Repeats: true}, {Channel: "sms"}}
	fs := findings(3, true)
	if _, err := st.SaveRouted(context.Background(), fs, router.Route); err != nil {
		t.Fatal(err)
	}
	d := notify.NewDispatcher(st, []notify.Channel{{Name: "pd", Notifier: pd, Concurrency: 4}, {Name: "sms", Notifier: sms}}, fastOpts())
	drain(t, d)
	got := pd.messages()
	if len(got) != 3 || got[0].Kind != notify.Trigger || got[0].Repeats != 1 {
		t.Fatalf("pd: %+v", got)
	}
	// Updates may go out in any order once their trigger is delivered.
	repeats := map[int]bool{}
	for _, m := range got[1:] {
		repeats[m.Repeats] = true
		if m.Kind != notify.Update || m.Ref != "REF-"+fs[0].ID {
			t.Errorf("update %+v: want kind update with the trigger's ref", m.Kind)
		}
	}
	if !repeats[2] || !repeats[3] {
		t.Errorf("repeat counts %v, want 2 and 3", repeats)
	}
	if n := len(sms.messages()); n != 1 {
		t.Errorf("sms paged %d times for one change repeated 3 times", n)
	}
}

func TestRetriesAndRetryAfter(t *testing.T) {
	st := openStore(t)
	s := &sink{fail: func(n int, _ notify.Message) error {
		switch n {
		case 1:
			return notify.Retryable(errors.New("HTTP 503"), 0)
		case 2:
			return notify.Retryable(errors.New("HTTP 429"), 300*time.Millisecond)
		}
		return nil
	}}
	st.SaveRouted(context.Background(), findings(1, false), notify.Router{{Channel: "x"}}.Route)
	d := notify.NewDispatcher(st, []notify.Channel{{Name: "x", Notifier: s}}, fastOpts())
	drain(t, d)
	if len(s.messages()) != 1 || s.calls != 3 {
		t.Fatalf("delivered %d after %d calls", len(s.messages()), s.calls)
	}
	if gap := s.times[2].Sub(s.times[1]); gap < 300*time.Millisecond {
		t.Errorf("Retry-After not honoured: retried after %v", gap)
	}
	if st := d.Stats()["x"]; st.Failed != 2 || st.Sent != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeadLetter(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	perm := &sink{fail: func(int, notify.Message) error { return notify.Permanentf("HTTP 400: invalid_payload") }}
	flaky := &sink{fail: func(int, notify.Message) error { return errors.New("connection refused") }}
	st.SaveRouted(ctx, findings(1, false), notify.Router{{Channel: "perm"}, {Channel: "flaky"}}.Route)
	d := notify.NewDispatcher(st, []notify.Channel{{Name: "perm", Notifier: perm}, {Name: "flaky", Notifier: flaky, MaxAttempts: 3}}, fastOpts())
	drain(t, d)
	if perm.calls != 1 || flaky.calls != 3 {
		t.Errorf("permanent tried %d times (want 1), flaky %d (want 3)", perm.calls, flaky.calls)
	}
	dead, _ := st.Deliveries(ctx, store.OutboxFilter{Status: []string{store.Dead}})
	if len(dead) != 2 {
		t.Fatalf("%d dead, want 2", len(dead))
	}
	// An operator fixes the channel and retries the dead letter.
	perm.fail = nil
	var ids []int64
	for _, x := range dead {
		if x.Channel == "perm" {
			ids = append(ids, x.ID)
		}
	}
	st.Requeue(ctx, ids, time.Now())
	drain(t, d)
	if len(perm.messages()) != 1 {
		t.Errorf("requeued delivery not sent")
	}
}

func TestDownChannelDoesNotSlowOthers(t *testing.T) {
	st := openStore(t)
	down := &sink{delay: time.Hour} // never answers within the attempt timeout
	up := &sink{}
	st.SaveRouted(context.Background(), findings(50, false), notify.Router{{Channel: "down"}, {Channel: "up"}}.Route)
	opts := fastOpts()
	opts.AttemptTimeout = 3 * time.Second
	d := notify.NewDispatcher(st, []notify.Channel{{Name: "down", Notifier: down}, {Name: "up", Notifier: up, Concurrency: 4}}, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.After(2500 * time.Millisecond) // less than one attempt of the down channel
	for len(up.messages()) < 50 {
		select {
		case <-deadline:
			t.Fatalf("healthy channel delivered %d of 50 while the other hung", len(up.messages()))
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

func TestRateLimit(t *testing.T) {
	st := openStore(t)
	s := &sink{}
	st.SaveRouted(context.Background(), findings(4, false), notify.Router{{Channel: "slack"}}.Route)
	// 600/min = one every 100 ms after a burst of 1.
	d := notify.NewDispatcher(st, []notify.Channel{{Name: "slack", Notifier: s, Concurrency: 4, RatePerMinute: 600}}, fastOpts())
	drain(t, d)
	if len(s.times) != 4 {
		t.Fatalf("%d sent", len(s.times))
	}
	if span := s.times[3].Sub(s.times[0]); span < 250*time.Millisecond {
		t.Errorf("4 messages at 600/min took %v, want >= 300ms", span)
	}
}

func TestLeaseRecoveryAfterCrash(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	st.SaveRouted(ctx, findings(2, false), notify.Router{{Channel: "x"}}.Route)
	// A dispatcher claims both and dies before recording anything.
	claimed, err := st.Claim(ctx, "x", time.Now(), 10, 50*time.Millisecond)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim %d, %v", len(claimed), err)
	}
	time.Sleep(60 * time.Millisecond)
	s := &sink{}
	drain(t, notify.NewDispatcher(st, []notify.Channel{{Name: "x", Notifier: s}}, fastOpts()))
	keys := map[string]bool{}
	for _, m := range s.messages() {
		keys[m.IdempotencyKey] = true
	}
	if len(keys) != 2 || len(s.messages()) != 2 {
		t.Errorf("after the crash: %d messages, %d keys; want 2 and 2", len(s.messages()), len(keys))
	}
}
