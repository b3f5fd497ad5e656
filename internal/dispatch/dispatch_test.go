package dispatch_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// clock is virtual time: After returns at once, having moved the clock on
// by the wait. Every timing the dispatcher honours (Retry-After, backoff,
// rate limits, leases, the dead letter's max age) is then checked in
// virtual time, exactly, whatever the machine is doing.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(max(d, time.Millisecond))
	t := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- t
	return ch
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// claimLog records the time of every claim that handed out deliveries: the
// dispatcher's own decision times, which a sink's clock reading could lag.
type claimLog struct {
	dispatch.Outbox
	only  string // a channel's claims only, when set
	mu    sync.Mutex
	times []time.Time
}

func (o *claimLog) Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	got, err := o.Outbox.Claim(ctx, channel, now, limit, lease)
	if o.only != "" && channel != o.only {
		return got, err
	}
	o.mu.Lock()
	for range got {
		o.times = append(o.times, now)
	}
	o.mu.Unlock()
	return got, err
}

// sink is a Notifier that records messages (and the clock's time of each
// attempt) and fails as told.
type sink struct {
	clock *clock
	mu    sync.Mutex
	got   []notify.Message
	times []time.Time
	fail  func(n int, m notify.Message) error // n counts attempts from 1
	calls int
	// block, when set, holds every attempt until it is closed.
	block chan struct{}
}

func (s *sink) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	s.mu.Lock()
	s.calls++
	n := s.calls
	if s.clock != nil {
		s.times = append(s.times, s.clock.Now())
	}
	s.mu.Unlock()
	if s.block != nil {
		select {
		case <-s.block:
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

func (s *sink) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *sink) messages() []notify.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Message(nil), s.got...)
}

// openStore opens a SQLite store on the clock (nil: the wall clock).
func openStore(t testing.TB, c *clock) *sqlite.Store {
	t.Helper()
	var now func() time.Time
	if c != nil {
		now = c.Now
	}
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// save saves findings with their routes, failing the test on error.
func save(t testing.TB, st *sqlite.Store, fs []finding.Finding, r dispatch.Router) {
	t.Helper()
	if _, err := st.SaveRouted(context.Background(), fs, r.Route); err != nil {
		t.Fatal(err)
	}
}

func findings(n int, sameFingerprint bool) []finding.Finding {
	var out []finding.Finding
	t0 := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	for i := range n {
		f := storetest.Sample(i, "EKS-A", finding.High)
		f.EventTime = t0.Add(time.Duration(i) * time.Second)
		f.TTL = time.Hour
		if !sameFingerprint {
			f.Fingerprint = f.ID
		}
		out = append(out, f)
	}
	return out
}

// opts are dispatcher options in virtual time: an idle loop looks again a
// minute later, and a lease (twice the attempt timeout) outlasts every
// wait a test makes, so no attempt in flight is claimed twice.
func opts(c *clock) dispatch.Options {
	return dispatch.Options{Clock: c, Poll: time.Minute, Backoff: func(int) time.Duration { return time.Second }, AttemptTimeout: 3 * time.Hour}
}

func drain(t *testing.T, d *dispatch.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left, err := d.Drain(ctx)
	if err != nil || left != 0 {
		t.Fatalf("drain: %d left, %v", left, err)
	}
}

func TestDeliversOncePerFindingAndChannel(t *testing.T) {
	c := newClock()
	st := openStore(t, c)
	a, b := &sink{}, &sink{}
	router := dispatch.Router{
		{Channel: "a", Repeats: true},
		{Channel: "b", Filter: dispatch.Filter{MinRisk: finding.VeryHigh}},
	}
	fs := findings(5, false)
	fs[0].Risk = finding.Extreme
	save(t, st, fs, router)
	d := dispatch.New(st, []dispatch.Channel{{Name: "a", Notifier: a, Concurrency: 3}, {Name: "b", Notifier: b, DashboardURL: "https://tw.example/f/{id}"}}, opts(c))
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
	c := newClock()
	st := openStore(t, c)
	pd, sms := &sink{}, &sink{}
	fs := findings(3, true)
	save(t, st, fs, dispatch.Router{{Channel: "pd", Repeats: true}, {Channel: "sms"}})
	d := dispatch.New(st, []dispatch.Channel{{Name: "pd", Notifier: pd, Concurrency: 4}, {Name: "sms", Notifier: sms}}, opts(c))
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

// An escalation reaches a channel that takes no repeats, after its
// trigger, carrying why.
func TestEscalationReachesEveryChannel(t *testing.T) {
	c := newClock()
	st := openStore(t, c)
	sms := &sink{}
	fs := findings(2, true)
	fs[1].Actor.ARN, fs[1].Actor.Name, fs[1].Risk = "arn:aws:iam::111122223333:user/mallory", "mallory", finding.VeryHigh
	save(t, st, fs, dispatch.Router{{Channel: "sms"}})
	drain(t, dispatch.New(st, []dispatch.Channel{{Name: "sms", Notifier: sms, Concurrency: 4}}, opts(c)))
	got := sms.messages()
	if len(got) != 2 || got[0].Kind != notify.Trigger || got[1].Kind != notify.Escalation {
		t.Fatalf("sms got %d messages %+v, want the trigger then the escalation", len(got), got)
	}
	if e := got[1].Escalated; e == nil || e.Number != 1 || e.PreviousRisk != finding.High || len(e.Why) != 2 || got[1].Ref != "REF-"+fs[0].ID {
		t.Errorf("escalation %+v, ref %q", e, got[1].Ref)
	}
}

func TestRetriesAndRetryAfter(t *testing.T) {
	c := newClock()
	st := openStore(t, c)
	s := &sink{fail: func(n int, _ notify.Message) error {
		switch n {
		case 1:
			return notify.Retryable(errors.New("HTTP 503"), 0)
		case 2:
			return notify.Retryable(errors.New("HTTP 429"), 5*time.Minute)
		}
		return nil
	}}
	save(t, st, findings(1, false), dispatch.Router{{Channel: "x"}})
	ob := &claimLog{Outbox: st}
	d := dispatch.New(ob, []dispatch.Channel{{Name: "x", Notifier: s}}, opts(c))
	drain(t, d)
	if len(s.messages()) != 1 || s.attempts() != 3 || len(ob.times) != 3 {
		t.Fatalf("delivered %d after %d calls, %d claims", len(s.messages()), s.attempts(), len(ob.times))
	}
	if gap := ob.times[1].Sub(ob.times[0]); gap < time.Second {
		t.Errorf("backoff not honoured: retried after %v, want at least 1s", gap)
	}
	if gap := ob.times[2].Sub(ob.times[1]); gap < 5*time.Minute {
		t.Errorf("Retry-After not honoured: retried after %v, want at least 5m", gap)
	}
	if st := d.Stats()["x"]; st.Failed != 2 || st.Sent != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeadLetter(t *testing.T) {
	c := newClock()
	st := openStore(t, c)
	ctx := context.Background()
	perm := &sink{fail: func(int, notify.Message) error { return notify.Permanentf("HTTP 400: invalid_payload") }}
	flaky := &sink{fail: func(int, notify.Message) error { return errors.New("connection refused") }}
	old := &sink{fail: func(int, notify.Message) error { return errors.New("HTTP 503") }}
	created := c.Now()
	save(t, st, findings(1, false), dispatch.Router{{Channel: "perm"}, {Channel: "flaky"}, {Channel: "old"}})
	o := opts(c)
	o.Backoff = func(int) time.Duration { return 10 * time.Minute }
	ob := &claimLog{Outbox: st, only: "old"}
	d := dispatch.New(ob, []dispatch.Channel{{Name: "perm", Notifier: perm}, {Name: "flaky", Notifier: flaky, MaxAttempts: 3},
		{Name: "old", Notifier: old, MaxAttempts: 1000, MaxAge: time.Hour}}, o)
	drain(t, d)
	if perm.calls != 1 || flaky.calls != 3 {
		t.Errorf("permanent tried %d times (want 1), flaky %d (want 3)", perm.calls, flaky.calls)
	}
	// Retried, never sooner than the 10-minute backoff, until the
	// delivery was an hour old.
	n := len(ob.times)
	// (The age is judged when an attempt ends: the last one may have
	// started just inside the hour.)
	if n < 2 || n != old.attempts() || ob.times[n-1].Sub(created) < 50*time.Minute || ob.times[n-2].Sub(created) >= time.Hour {
		t.Fatalf("max_age: %d claims, %d attempts, the last %v after saving; want retries until about the hour", n, old.attempts(), ob.times[n-1].Sub(created))
	}
	for i := 1; i < n; i++ {
		if gap := ob.times[i].Sub(ob.times[i-1]); gap < 10*time.Minute {
			t.Errorf("attempt %d came %v after the one before, inside the 10-minute backoff", i+1, gap)
		}
	}
	dead, err := st.Deliveries(ctx, store.OutboxFilter{Status: []string{store.Dead}})
	if err != nil || len(dead) != 3 {
		t.Fatalf("%d dead, %v; want 3", len(dead), err)
	}
	// An operator fixes the channel and retries the dead letter.
	perm.fail = nil
	var ids []int64
	for _, x := range dead {
		if x.Channel == "perm" {
			ids = append(ids, x.ID)
		}
	}
	if n, err := st.Requeue(ctx, ids, c.Now()); err != nil || n != 1 {
		t.Fatalf("requeue = %d, %v", n, err)
	}
	drain(t, d)
	if len(perm.messages()) != 1 {
		t.Errorf("requeued delivery not sent")
	}
}

// A channel whose endpoint hangs holds only its own loop: the other
// delivers everything while the first is still stuck in its first attempt.
func TestDownChannelDoesNotSlowOthers(t *testing.T) {
	st := openStore(t, nil)
	down := &sink{block: make(chan struct{})}
	up := &sink{}
	save(t, st, findings(50, false), dispatch.Router{{Channel: "down"}, {Channel: "up"}})
	o := dispatch.Options{Poll: 10 * time.Millisecond, AttemptTimeout: time.Minute}
	d := dispatch.New(st, []dispatch.Channel{{Name: "down", Notifier: down}, {Name: "up", Notifier: up, Concurrency: 4}}, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for len(up.messages()) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("healthy channel delivered %d of 50 while the other hung", len(up.messages()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := down.attempts(); n != 1 || len(down.messages()) != 0 {
		t.Errorf("the down channel made %d attempts, delivered %d; want one attempt still hanging", n, len(down.messages()))
	}
	close(down.block)
	cancel()
	<-done
}

func TestRateLimit(t *testing.T) {
	c := newClock()
	st := openStore(t, c)
	s := &sink{}
	save(t, st, findings(4, false), dispatch.Router{{Channel: "slack"}})
	ob := &claimLog{Outbox: st}
	// 6/min = one every 10 s after a burst of 1.
	d := dispatch.New(ob, []dispatch.Channel{{Name: "slack", Notifier: s, Concurrency: 4, RatePerMinute: 6}}, opts(c))
	drain(t, d)
	if len(s.messages()) != 4 || len(ob.times) != 4 {
		t.Fatalf("%d sent, %d claimed", len(s.messages()), len(ob.times))
	}
	for i := 1; i < 4; i++ {
		if gap := ob.times[i].Sub(ob.times[i-1]); gap < 9*time.Second {
			t.Errorf("message %d went %v after the one before, want 10s at 6/min", i+1, gap)
		}
	}
}

func TestLeaseRecoveryAfterCrash(t *testing.T) {
	c := newClock()
	st := openStore(t, c)
	ctx := context.Background()
	save(t, st, findings(2, false), dispatch.Router{{Channel: "x"}})
	// A dispatcher claims both and dies before recording anything.
	claimed, err := st.Claim(ctx, "x", c.Now(), 10, time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim %d, %v", len(claimed), err)
	}
	s := &sink{clock: c}
	d := dispatch.New(st, []dispatch.Channel{{Name: "x", Notifier: s}}, opts(c))
	drain(t, d)
	keys := map[string]bool{}
	for _, m := range s.messages() {
		keys[m.IdempotencyKey] = true
	}
	if len(keys) != 2 || len(s.messages()) != 2 {
		t.Errorf("after the crash: %d messages, %d keys; want 2 and 2", len(s.messages()), len(keys))
	}
	// Not before the dead dispatcher's lease ran out.
	if first := s.times[0]; first.Before(claimed[0].NextAttempt) {
		t.Errorf("re-sent at %v, inside the lease that ends %v", first, claimed[0].NextAttempt)
	}
}

// countingOutbox counts claims per channel: each is a wake-up of that
// channel's loop.
type countingOutbox struct {
	dispatch.Outbox
	mu     sync.Mutex
	claims map[string]int
}

func (o *countingOutbox) Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	o.mu.Lock()
	o.claims[channel]++
	o.mu.Unlock()
	return o.Outbox.Claim(ctx, channel, now, limit, lease)
}

func (o *countingOutbox) count(ch string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.claims[ch]
}

// Kick wakes only the channels named: a busy channel does not wake an idle
// one.
func TestKickWakesOnlyTheNamedChannel(t *testing.T) {
	st := openStore(t, nil)
	ob := &countingOutbox{Outbox: st, claims: map[string]int{}}
	a, b := &sink{}, &sink{}
	// A poll long enough that only a kick can explain a claim.
	d := dispatch.New(ob, []dispatch.Channel{{Name: "a", Notifier: a}, {Name: "b", Notifier: b}}, dispatch.Options{Poll: time.Hour})
	defer start(d)()
	waitFor(t, "both loops' first claim", func() bool { return ob.count("a") == 1 && ob.count("b") == 1 })
	fs := findings(10, false)
	for i, f := range fs {
		save(t, st, []finding.Finding{f}, dispatch.Router{{Channel: "a"}})
		d.Kick("a")
		waitFor(t, "a's delivery", func() bool { return len(a.messages()) == i+1 })
	}
	if n := ob.count("b"); n != 1 {
		t.Errorf("b's loop claimed %d times while only a was kicked, want 1 (its first look)", n)
	}
	save(t, st, findings(11, false)[10:], dispatch.Router{{Channel: "b"}})
	d.Kick("b")
	waitFor(t, "b's delivery", func() bool { return len(b.messages()) == 1 })
}

// gatedOutbox holds every Settle until gate is closed, counting the
// outcomes waiting: recording outcomes as slow as a busy store makes it.
type gatedOutbox struct {
	dispatch.Outbox
	gate    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	waiting int
	claims  int
}

func (o *gatedOutbox) Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	got, err := o.Outbox.Claim(ctx, channel, now, limit, lease)
	o.mu.Lock()
	o.claims++
	o.mu.Unlock()
	return got, err
}

func (o *gatedOutbox) claimed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.claims
}

func (o *gatedOutbox) Settle(ctx context.Context, outs []store.Outcome) error {
	o.mu.Lock()
	o.waiting += len(outs)
	o.mu.Unlock()
	<-o.gate
	return o.Outbox.Settle(ctx, outs)
}

// open lets held and later Settles through; it may be called again.
func (o *gatedOutbox) open() { o.once.Do(func() { close(o.gate) }) }

func (o *gatedOutbox) waitingOutcomes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.waiting
}

// overlapSink counts the attempts in flight at once.
type overlapSink struct {
	mu            sync.Mutex
	now, max, all int
}

func (s *overlapSink) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	s.mu.Lock()
	s.now++
	s.all++
	s.max = max(s.max, s.now)
	s.mu.Unlock()
	time.Sleep(time.Millisecond) // long enough for attempts to overlap if they may
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return notify.Result{}, nil
}

func (s *overlapSink) counts() (all, max int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all, s.max
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// start runs d until the returned stop is called; stop cancels the run and
// waits for it to end, and may be called again (deferred as well as
// called in the test).
func start(d *dispatch.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// A channel's concurrency bounds its attempts in flight, not the
// recording of their outcomes: while outcomes wait for their commit the
// channel goes on sending, up to four deliveries per slot claimed and not
// yet recorded, and never more than Concurrency attempts at once. (A slot
// used to be held until its outcome committed: here, two attempts and
// nothing more until the store recorded them.)
func TestSlowRecordingDoesNotHoldTheChannel(t *testing.T) {
	st := openStore(t, nil)
	ob := &gatedOutbox{Outbox: st, gate: make(chan struct{})}
	s := &overlapSink{}
	save(t, st, findings(30, false), dispatch.Router{{Channel: "hook"}})
	d := dispatch.New(ob, []dispatch.Channel{{Name: "hook", Notifier: s, Concurrency: 2}}, dispatch.Options{Poll: time.Hour})
	stop := start(d)
	defer func() { ob.open(); stop() }()

	const bound = 4 * 2
	waitFor(t, "attempts while no outcome can be recorded", func() bool { all, _ := s.counts(); return all >= bound })
	// Nothing more may go while those outcomes wait: the bound holds.
	time.Sleep(50 * time.Millisecond)
	if all, _ := s.counts(); all != bound {
		t.Fatalf("%d attempts with every outcome unrecorded, want exactly %d (4 per slot)", all, bound)
	}
	if n := ob.waitingOutcomes(); n == 0 || d.Stats()["hook"].Sent != 0 {
		t.Errorf("%d outcomes at the store and %d recorded; want some held there and none recorded", n, d.Stats()["hook"].Sent)
	}
	ob.open()
	waitFor(t, "every delivery", func() bool { all, _ := s.counts(); return all == 30 })
	waitFor(t, "every outcome recorded", func() bool { return d.Stats()["hook"].Sent == 30 })
	if _, m := s.counts(); m > 2 {
		t.Errorf("%d attempts in flight at once on a channel of concurrency 2", m)
	}
	if n, err := st.Pending(context.Background(), []string{"hook"}); err != nil || n != 0 {
		t.Errorf("pending after delivery: %d, %v", n, err)
	}
}

// A follow-up waits for its trigger's outcome to be recorded; the
// recording wakes the channel, so the follow-up goes at once and not at
// the next poll (an hour here), even when the channel looked for work
// (and found none it could send) while the outcome was being recorded.
func TestRecordedOutcomeWakesFollowUps(t *testing.T) {
	st := openStore(t, nil)
	ob := &gatedOutbox{Outbox: st, gate: make(chan struct{})}
	pd := &sink{}
	fs := findings(3, true) // one alert: a trigger, then two updates
	save(t, st, fs, dispatch.Router{{Channel: "pd", Repeats: true}})
	d := dispatch.New(ob, []dispatch.Channel{{Name: "pd", Notifier: pd}}, dispatch.Options{Poll: time.Hour})
	stop := start(d)
	defer func() { ob.open(); stop() }()
	// The trigger is sent; while its outcome is held, the loop looks
	// again and finds only the updates, which must wait for it.
	waitFor(t, "the trigger's attempt and the next look", func() bool { return len(pd.messages()) == 1 && ob.claimed() >= 2 })
	if n := len(pd.messages()); n != 1 {
		t.Fatalf("%d sent before the trigger's outcome was recorded, want the trigger alone", n)
	}
	ob.open()
	waitFor(t, "the trigger and both updates", func() bool { return len(pd.messages()) == 3 })
	got := pd.messages()
	if got[0].Kind != notify.Trigger || got[1].Kind != notify.Update || got[2].Kind != notify.Update || got[1].Ref != "REF-"+fs[0].ID {
		t.Errorf("kinds %s, %s, %s (ref %q); want trigger, then updates with the trigger's ref", got[0].Kind, got[1].Kind, got[2].Kind, got[1].Ref)
	}
}

// claimRecorder records each claim's limit and lease, each claim taking a
// while as it does under load (a round trip through the store's writer).
type claimRecorder struct {
	dispatch.Outbox
	mu             sync.Mutex
	limits, leases []int64
}

func (o *claimRecorder) Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	time.Sleep(5 * time.Millisecond)
	o.mu.Lock()
	o.limits = append(o.limits, int64(limit))
	o.leases = append(o.leases, int64(lease))
	o.mu.Unlock()
	return o.Outbox.Claim(ctx, channel, now, limit, lease)
}

// A channel claims ahead of its free slots, up to four deliveries per slot
// claimed and not yet recorded, so that claims' round trips do not set its
// pace (on PostgreSQL, claiming only the free slots left alerts 30 s behind
// a steady 2,000 events a second); attempts in flight stay bounded by the
// concurrency, and a delivery that may wait for others' attempts is leased
// for them too.
func TestClaimsAheadOfFreeSlots(t *testing.T) {
	st := openStore(t, nil)
	ob := &claimRecorder{Outbox: st}
	s := &overlapSink{}
	save(t, st, findings(40, false), dispatch.Router{{Channel: "hook"}})
	const attempt = time.Minute
	d := dispatch.New(ob, []dispatch.Channel{{Name: "hook", Notifier: s, Concurrency: 2, AttemptTimeout: attempt}}, dispatch.Options{Poll: time.Hour})
	defer start(d)()
	waitFor(t, "every delivery recorded", func() bool { return d.Stats()["hook"].Sent == 40 })
	if all, m := s.counts(); all != 40 || m > 2 {
		t.Errorf("%d attempts for 40 deliveries, %d in flight at once at concurrency 2", all, m)
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	most := int64(0)
	for i, l := range ob.limits {
		most = max(most, l)
		rounds := (l + 1) / 2
		if min := time.Duration(rounds+1) * attempt; time.Duration(ob.leases[i]) < min {
			t.Errorf("claim of up to %d deliveries leased them for %v, less than the %d rounds of attempts they may wait for and their own (%v)", l, time.Duration(ob.leases[i]), rounds, min)
		}
	}
	if most != 8 {
		t.Errorf("claims asked for at most %d deliveries at concurrency 2, want 8 (four per slot): %v", most, ob.limits)
	}
}

// Deliveries claimed and still waiting for a slot when the dispatcher
// stops are handed back, due at once, instead of staying leased until the
// lease (several attempt timeouts) runs out.
func TestStopHandsBackQueuedDeliveries(t *testing.T) {
	st := openStore(t, nil)
	s := &sink{block: make(chan struct{})}
	save(t, st, findings(5, false), dispatch.Router{{Channel: "hook"}})
	d := dispatch.New(st, []dispatch.Channel{{Name: "hook", Notifier: s, AttemptTimeout: 200 * time.Millisecond}},
		dispatch.Options{Poll: time.Hour, Backoff: func(int) time.Duration { return 0 }})
	stop := start(d)
	defer stop()
	waitFor(t, "the first attempt", func() bool { return s.attempts() == 1 })
	stop()
	if n := s.attempts(); n != 1 {
		t.Errorf("%d attempts after stopping with one in flight, want 1", n)
	}
	// Every delivery is claimable again now: none is left leased.
	got, err := st.Claim(context.Background(), "hook", time.Now().Add(time.Millisecond), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Errorf("%d of 5 deliveries claimable right after the dispatcher stopped", len(got))
	}
}
