package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Outbox is what the dispatcher needs of the store: claiming due
// deliveries, recording attempts' outcomes, and counting what is left.
// store.Outbox implements it; tests may fake it.
type Outbox interface {
	Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error)
	Settle(ctx context.Context, outcomes []store.Outcome) error
	Pending(ctx context.Context, channels []string) (int, error)
}

// Clock is the time a Dispatcher reads and waits on. Tests pass a clock
// of their own instead of waiting on the wall clock.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Channel is a configured destination as the dispatcher sees it.
type Channel struct {
	Name     string
	Notifier notify.Notifier
	// Concurrency bounds the attempts in flight (requests to the channel's
	// service); default 1. An attempt's slot is free again as soon as the
	// attempt ends: recording its outcome does not hold it, though at most
	// unsettledPerSlot times Concurrency deliveries of the channel are
	// claimed and not yet recorded.
	Concurrency int
	// RatePerMinute bounds the delivery rate; 0 means unlimited. Burst is
	// how many may go at once after a quiet spell; default 1.
	RatePerMinute float64
	Burst         int
	// MaxAttempts and MaxAge send a delivery to the dead letter; defaults
	// 10 and 24h.
	MaxAttempts int
	MaxAge      time.Duration
	// AttemptTimeout bounds one attempt on this channel; 0 means the
	// dispatcher's. A delivery's lease is twice it and a second.
	AttemptTimeout time.Duration
	// DashboardURL links to a finding; "{id}" is replaced by its id.
	DashboardURL string
}

// Options tune a Dispatcher; zero values take defaults.
type Options struct {
	Logger *slog.Logger
	// Clock is read for every decision and waited on for every pause;
	// nil means the wall clock.
	Clock Clock
	// Poll is how often an idle channel looks for due deliveries (it is
	// also woken by Kick); default 1s.
	Poll time.Duration
	// AttemptTimeout bounds one delivery attempt; default 30s.
	AttemptTimeout time.Duration
	// Backoff gives the wait before attempt n+1 after n failures; default
	// exponential from 2s, doubling, capped at 10m, with jitter.
	Backoff func(failures int) time.Duration
}

// ChannelStats count one channel's deliveries since start.
type ChannelStats struct {
	Sent, Failed, Dead int64
}

// Dispatcher delivers the outbox. Each channel has its own loop, wake-up,
// rate limit and concurrency, so a channel that is down or busy never
// slows or wakes another. Deliveries are leased while in flight; a crash
// leaves them to be re-claimed when the lease runs out, and channels send
// the delivery's idempotency key where their API has one.
//
// Run (or Drain) is called from one goroutine at a time; Kick and Stats
// from any.
type Dispatcher struct {
	outbox   Outbox
	channels []*channelLoop
	byName   map[string]*channelLoop
	opts     Options
	settleCh chan settleReq
}

type channelLoop struct {
	Channel
	limiter            *limiter
	sem                chan struct{} // one per attempt in flight
	unsettled          chan struct{} // one per delivery claimed and not yet recorded
	wake               chan struct{}
	sent, failed, dead atomic.Int64
	mu                 sync.Mutex
	lastErr            string
}

// New returns a dispatcher over the given channels.
func New(ob Outbox, channels []Channel, opts Options) *Dispatcher {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = wallClock{}
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 30 * time.Second
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	d := &Dispatcher{outbox: ob, opts: opts, byName: map[string]*channelLoop{}}
	for _, c := range channels {
		if c.Concurrency <= 0 {
			c.Concurrency = 1
		}
		if c.Burst <= 0 {
			c.Burst = 1
		}
		if c.MaxAttempts <= 0 {
			c.MaxAttempts = 10
		}
		if c.MaxAge <= 0 {
			c.MaxAge = 24 * time.Hour
		}
		if c.AttemptTimeout <= 0 {
			c.AttemptTimeout = opts.AttemptTimeout
		}
		l := &channelLoop{Channel: c, limiter: newLimiter(c.RatePerMinute, c.Burst), sem: make(chan struct{}, c.Concurrency),
			unsettled: make(chan struct{}, unsettledPerSlot*c.Concurrency), wake: make(chan struct{}, 1)}
		d.channels = append(d.channels, l)
		d.byName[c.Name] = l
	}
	return d
}

// unsettledPerSlot bounds, per slot of a channel's concurrency, the
// deliveries claimed and not yet recorded: the attempts in flight and the
// outcomes waiting for their commit. Outcomes are committed in groups
// behind every other write, so a slot that waited for its outcome's
// commit spent much of its time idle (runbench, unpaced: alerts reached
// the sink 12 s after their event at p99, 7.7–8.7 s when slots are
// freed at the attempt's end); the bound keeps the memory of outcomes
// waiting fixed by configuration.
const unsettledPerSlot = 4

// DefaultBackoff waits 2s, 4s, 8s, … up to 10 minutes, each with up to 25%
// random jitter either way so that retries of many deliveries spread out.
func DefaultBackoff(failures int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < failures && d < 10*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 10*time.Minute)
	j := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + j
}

// Kick wakes the loops of the named channels (every channel when none is
// named), after new deliveries for them were saved.
func (d *Dispatcher) Kick(channels ...string) {
	if len(channels) == 0 {
		for _, c := range d.channels {
			c.kick()
		}
		return
	}
	for _, name := range channels {
		if c := d.byName[name]; c != nil {
			c.kick()
		}
	}
}

// kick wakes the channel's loop if it is waiting; it never blocks.
func (c *channelLoop) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stats returns per-channel counters.
func (d *Dispatcher) Stats() map[string]ChannelStats {
	out := map[string]ChannelStats{}
	for _, c := range d.channels {
		out[c.Name] = ChannelStats{Sent: c.sent.Load(), Failed: c.failed.Load(), Dead: c.dead.Load()}
	}
	return out
}

// Run delivers until ctx ends. Attempts in flight when it ends are given
// AttemptTimeout to finish, and their outcome is recorded before Run
// returns; nothing it started is left running.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.settleCh = make(chan settleReq)
	settled := make(chan struct{})
	go func() {
		d.settler()
		close(settled)
	}()
	var wg sync.WaitGroup
	for _, c := range d.channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.loop(ctx, c)
		}()
	}
	wg.Wait()
	close(d.settleCh)
	<-settled
	return nil
}

// Drain delivers until no delivery of these channels is pending or in
// flight (waiting out retry backoffs), or ctx ends; it reports how many
// remain undelivered.
func (d *Dispatcher) Drain(ctx context.Context) (remaining int, err error) {
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		d.Run(runCtx)
		close(done)
	}()
	defer func() {
		stop()
		<-done
		remaining, err = d.pending(context.WithoutCancel(ctx))
	}()
	for {
		n, err := d.pending(ctx)
		if err != nil {
			return n, err
		}
		if n == 0 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return n, nil
		case <-d.opts.Clock.After(50 * time.Millisecond):
		}
	}
}

func (d *Dispatcher) pending(ctx context.Context) (int, error) {
	names := make([]string, len(d.channels))
	for i, c := range d.channels {
		names[i] = c.Name
	}
	return d.outbox.Pending(ctx, names)
}

func (d *Dispatcher) loop(ctx context.Context, c *channelLoop) {
	log := d.opts.Logger.With("channel", c.Name)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	release := func(n int) {
		for range n {
			<-c.unsettled
		}
	}
	for ctx.Err() == nil {
		// Claim what there is room for: deliveries claimed and not yet
		// recorded are bounded by unsettledPerSlot per slot, and rate
		// tokens. Claiming only the free slots' worth made the claims'
		// round trips the channel's pace (on PostgreSQL, alerts fell 30 s
		// behind a steady 2,000 events a second); what waits for a slot
		// has a lease long enough for the attempts ahead of it.
		select {
		case c.unsettled <- struct{}{}:
		case <-ctx.Done():
			return
		}
		room := 1
	fill:
		for room < cap(c.unsettled) {
			select {
			case c.unsettled <- struct{}{}:
				room++
			default:
				break fill
			}
		}
		n := min(room, c.limiter.available(d.opts.Clock.Now()))
		if n == 0 {
			release(room)
			if !d.wait(ctx, c, c.limiter.wait(d.opts.Clock.Now())) {
				return
			}
			continue
		}
		// Those already claimed and this claim's share the slots.
		ahead := len(c.unsettled) - room + n
		batch, err := d.outbox.Claim(ctx, c.Name, d.opts.Clock.Now(), n, c.lease(ahead))
		release(room - len(batch))
		if err != nil {
			if ctx.Err() == nil {
				log.Error("claim deliveries", "err", err)
			}
			if !d.wait(ctx, c, d.opts.Poll) {
				return
			}
			continue
		}
		if len(batch) == 0 {
			if !d.wait(ctx, c, d.opts.Poll) {
				return
			}
			continue
		}
		for _, del := range batch {
			c.limiter.take(d.opts.Clock.Now())
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-c.unsettled }()
				select {
				case c.sem <- struct{}{}:
				case <-ctx.Done():
					// Stopping: hand back what was claimed and not
					// attempted, rather than leave it leased.
					d.settle(store.Outcome{ID: del.ID, Status: store.Pending, Err: "not attempted: the dispatcher stopped", Next: d.opts.Clock.Now(), At: d.opts.Clock.Now()}, log)
					return
				}
				d.deliver(ctx, c, del, log, func() { <-c.sem })
			}()
		}
	}
}

// lease is how long a claimed delivery stays invisible to other
// dispatchers, when queued deliveries of the channel (this claim's
// included) are claimed and not yet recorded: the rounds of attempts on
// the channel's slots it may wait for, its own, its recording, and a
// margin (two attempt timeouts and a second when it need not wait). A
// process killed mid-delivery leaves its deliveries to be claimed again
// after it.
func (c *channelLoop) lease(queued int) time.Duration {
	rounds := (max(queued, 1) + c.Concurrency - 1) / c.Concurrency
	return time.Duration(rounds+1)*c.AttemptTimeout + time.Second
}

// wait pauses a channel's loop for t, or until the channel is kicked; it
// reports false when ctx ended.
func (d *Dispatcher) wait(ctx context.Context, c *channelLoop, t time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-c.wake:
		return true
	case <-d.opts.Clock.After(t):
		return true
	}
}

// deliver makes one attempt and records its outcome; attempted is called
// when the attempt ends, before the outcome is recorded. Once recorded,
// the channel's loop is woken: a follow-up of the same alert (an update,
// a resolution) waits for its trigger's outcome, and the loop may have
// found nothing else to claim meanwhile.
func (d *Dispatcher) deliver(ctx context.Context, c *channelLoop, del store.Delivery, log *slog.Logger, attempted func()) {
	defer c.kick()
	m := notify.Message{
		Finding:        del.Finding,
		Kind:           notify.Kind(del.Kind),
		Repeats:        del.Repeats,
		Ref:            del.Ref,
		IdempotencyKey: del.FindingID + "/" + c.Name,
	}
	if del.Kind == store.KindAcknowledge || del.Kind == store.KindResolve {
		m.IdempotencyKey += "/" + del.Kind
	}
	if e := del.Escalation; e != nil {
		m.Escalated = &notify.Escalated{Number: e.Number, PreviousRisk: e.PreviousRisk, Why: e.Why}
	}
	if t := del.Transition; t != nil {
		m.Transition = &notify.Transition{Actor: t.Actor, Note: t.Note, At: t.At, From: t.From, To: t.To}
	}
	if c.DashboardURL != "" {
		m.DashboardURL = strings.ReplaceAll(c.DashboardURL, "{id}", del.FindingID)
	}
	// The attempt may outlive a shutdown request by AttemptTimeout, so an
	// alert half-sent is finished rather than abandoned.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.AttemptTimeout)
	res, err := c.Notifier.Notify(actx, m)
	cancel()
	attempted()
	// Recording the outcome must not be skipped because ctx ended.
	now := d.opts.Clock.Now()
	if err == nil {
		d.settle(store.Outcome{ID: del.ID, Status: store.Done, Ref: res.Ref, At: now}, log)
		c.sent.Add(1)
		c.setErr("", log)
		return
	}
	msg := err.Error()
	age := now.Sub(del.CreatedAt)
	switch {
	case notify.IsPermanent(err), del.Attempts >= c.MaxAttempts, age >= c.MaxAge:
		why := "permanent error"
		if !notify.IsPermanent(err) {
			why = fmt.Sprintf("gave up after %d attempts over %s", del.Attempts, age.Round(time.Second))
		}
		c.dead.Add(1)
		log.Error("delivery dead", "delivery_id", del.ID, "finding_id", del.FindingID, "attempt", del.Attempts, "reason", why, "err", msg)
		d.settle(store.Outcome{ID: del.ID, Status: store.Dead, Err: why + ": " + msg, At: now}, log)
	default:
		c.failed.Add(1)
		wait := max(d.opts.Backoff(del.Attempts), notify.RetryAfter(err))
		c.setErr(msg, log.With("delivery_id", del.ID, "finding_id", del.FindingID, "attempt", del.Attempts, "retry_in", wait.Round(time.Millisecond)))
		d.settle(store.Outcome{ID: del.ID, Status: store.Pending, Err: msg, Next: now.Add(wait), At: now}, log)
	}
}

// settle records an attempt's outcome. Outcomes that arrive together are
// committed in one transaction (group commit), which is what lets a fast
// channel go at thousands of deliveries a second on SQLite; settle returns
// once its outcome is committed, so a delivery is never reported done
// before it is.
func (d *Dispatcher) settle(o store.Outcome, log *slog.Logger) {
	req := settleReq{o: o, done: make(chan error, 1)}
	d.settleCh <- req
	if err := <-req.done; err != nil {
		log.Error("record delivery outcome", "delivery_id", o.ID, "status", o.Status, "err", err)
	}
}

type settleReq struct {
	o    store.Outcome
	done chan error
}

// settler group-commits outcomes until Run closes settleCh.
func (d *Dispatcher) settler() {
	for first := range d.settleCh {
		group := []settleReq{first}
	more:
		for len(group) < 512 {
			select {
			case r, ok := <-d.settleCh:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		outs := make([]store.Outcome, len(group))
		for i, r := range group {
			outs[i] = r.o
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := d.outbox.Settle(ctx, outs)
		cancel()
		for _, r := range group {
			r.done <- err
		}
	}
}

// setErr logs a failure only when it differs from the channel's last one,
// so an outage does not flood the log; recovery is logged once too.
func (c *channelLoop) setErr(msg string, log *slog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg == c.lastErr {
		return
	}
	if msg == "" {
		log.Info("channel recovered")
	} else {
		log.Warn("delivery failed, will retry", "err", msg)
	}
	c.lastErr = msg
}

// limiter is a token bucket; a zero rate is unlimited.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(perMinute float64, burst int) *limiter {
	return &limiter{rate: perMinute / 60, burst: float64(burst), tokens: float64(burst)}
}

func (l *limiter) refill(now time.Time) {
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
}

// available is how many tokens can be taken now.
func (l *limiter) available(now time.Time) int {
	if l.rate <= 0 {
		return 1 << 20
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill(now)
	return int(l.tokens)
}

func (l *limiter) take(now time.Time) {
	if l.rate <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill(now)
	l.tokens--
}

// wait is how long until a token is available.
func (l *limiter) wait(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill(now)
	if l.tokens >= 1 || l.rate <= 0 {
		return 0
	}
	return time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
}
