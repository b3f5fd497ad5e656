package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// OutboxStore is a store with an outbox.
type OutboxStore interface {
	store.Store
	store.Outbox
}

func routeAll(channels ...store.Route) store.Router {
	return func(finding.Finding) []store.Route { return channels }
}

// RunOutbox runs the outbox suite; open returns a fresh, empty store.
func RunOutbox(t *testing.T, open func(t *testing.T) OutboxStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	pd := store.Route{Channel: "pd", Repeats: true}
	sms := store.Route{Channel: "sms", Repeats: false}
	repeat := func(i int, at time.Time) finding.Finding {
		f := Sample(i, "EKS-A", finding.High) // same fingerprint for every i
		f.EventTime = at
		f.TTL = time.Hour
		return f
	}
	t.Run("TriggerUpdateAndCount", func(t *testing.T) {
		s := open(t)
		fs := []finding.Finding{repeat(1, t0), repeat(2, t0.Add(10*time.Minute)), repeat(3, t0.Add(20*time.Minute))}
		r, err := s.SaveRouted(ctx, fs, routeAll(pd, sms))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Owed) != 2 || r.Owed["pd"] != 3 || r.Owed["sms"] != 1 {
			t.Errorf("Owed = %v, want pd 3, sms 1", r.Owed)
		}
		// Saving again owes nothing more.
		if r, err := s.SaveRouted(ctx, fs, routeAll(pd, sms)); err != nil || len(r.Owed) != 0 {
			t.Fatalf("second save owes %v, %v", r.Owed, err)
		}
		pdDel, err := s.Deliveries(ctx, store.OutboxFilter{Channel: []string{"pd"}})
		noErr(t, err)
		smsDel, err := s.Deliveries(ctx, store.OutboxFilter{Channel: []string{"sms"}})
		noErr(t, err)
		if len(pdDel) != 3 || len(smsDel) != 1 {
			t.Fatalf("pd %d deliveries (want trigger + 2 updates), sms %d (want the trigger only)", len(pdDel), len(smsDel))
		}
		kinds := []string{pdDel[2].Kind, pdDel[1].Kind, pdDel[0].Kind}
		if kinds[0] != store.KindTrigger || kinds[1] != store.KindUpdate || kinds[2] != store.KindUpdate || pdDel[0].Repeats != 3 {
			t.Errorf("pd kinds %v, last repeats %d", kinds, pdDel[0].Repeats)
		}
		if n, err := s.Pending(ctx, []string{"pd", "sms"}); err != nil || n != 4 {
			t.Errorf("Pending = %d, %v; want 4", n, err)
		}
		if n, err := s.Pending(ctx, []string{"sms"}); err != nil || n != 1 {
			t.Errorf("Pending(sms) = %d, want 1", n)
		}
		// The third finding's update carries the alert's count: every
		// finding counted once, the sms ones included.
		if pdDel[0].FindingID != fs[2].ID || pdDel[0].Repeats != 3 {
			t.Errorf("newest pd delivery is %s with %d repeats, want %s with 3", pdDel[0].FindingID, pdDel[0].Repeats, fs[2].ID)
		}
		// After the TTL the same change raises a new alert.
		if _, err := s.SaveRouted(ctx, []finding.Finding{repeat(4, t0.Add(2*time.Hour))}, routeAll(pd, sms)); err != nil {
			t.Fatal(err)
		}
		smsDel, err = s.Deliveries(ctx, store.OutboxFilter{Channel: []string{"sms"}})
		noErr(t, err)
		if len(smsDel) != 2 || smsDel[0].Kind != store.KindTrigger {
			t.Errorf("after the TTL: %d sms deliveries, newest %+v", len(smsDel), smsDel[0].Kind)
		}
	})
	t.Run("RiskierChangeIsNeverARepeat", func(t *testing.T) {
		RunRepeatCases(t, func(t *testing.T) OutboxStore { return open(t) }, nil)
	})
	t.Run("UnroutedAreRoutedOnNextSight", func(t *testing.T) {
		s := open(t)
		f := repeat(1, t0)
		if _, err := s.SaveRouted(ctx, []finding.Finding{f}, nil); err != nil {
			t.Fatal(err)
		}
		if d, err := s.Deliveries(ctx, store.OutboxFilter{}); err != nil || len(d) != 0 {
			t.Fatalf("unrouted save owes %d deliveries, %v", len(d), err)
		}
		un, err := s.Unrouted(ctx, time.Time{}, 10)
		if err != nil || len(un) != 1 || un[0].ID != f.ID || un[0].TTL != time.Hour || len(un[0].Raw) == 0 {
			t.Fatalf("Unrouted = %+v, %v; want the finding with its TTL and raw event", un, err)
		}
		if un, err := s.Unrouted(ctx, t0.Add(time.Minute), 10); err != nil || len(un) != 0 {
			t.Errorf("Unrouted since after its event = %d findings", len(un))
		}
		// The same event seen again by a routing save: routed now, once.
		r, err := s.SaveRouted(ctx, []finding.Finding{f, f}, routeAll(pd, sms))
		if err != nil || r.Inserted != 0 || r.Duplicates != 2 || r.Routed != 1 {
			t.Fatalf("second save = %+v, %v; want 2 duplicates, 1 routed", r, err)
		}
		d, err := s.Deliveries(ctx, store.OutboxFilter{})
		noErr(t, err)
		if len(d) != 2 || d[0].Kind != store.KindTrigger || d[1].Kind != store.KindTrigger {
			t.Fatalf("deliveries after routing: %+v", d)
		}
		if r, err := s.SaveRouted(ctx, []finding.Finding{f}, routeAll(pd, sms)); err != nil || r.Routed != 0 {
			t.Errorf("routed twice: %+v", r)
		}
		if un, err := s.Unrouted(ctx, time.Time{}, 10); err != nil || len(un) != 0 {
			t.Errorf("still unrouted: %d", len(un))
		}
		if d, err := s.Deliveries(ctx, store.OutboxFilter{}); err != nil || len(d) != 2 {
			t.Errorf("%d deliveries after a third sight, want 2", len(d))
		}
	})
	t.Run("ClaimOrderLeaseAndRef", func(t *testing.T) {
		s := open(t)
		fs := []finding.Finding{repeat(1, t0), repeat(2, t0.Add(time.Minute))}
		if _, err := s.SaveRouted(ctx, fs, routeAll(pd)); err != nil {
			t.Fatal(err)
		}
		now := time.Now().Add(time.Second) // deliveries are due from the store clock's now
		got, err := s.Claim(ctx, "pd", now, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// The update waits for its trigger.
		if len(got) != 1 || got[0].Kind != store.KindTrigger || got[0].Attempts != 1 || got[0].Finding.ID != fs[0].ID {
			t.Fatalf("first claim: %+v", got)
		}
		if again, err := s.Claim(ctx, "pd", now, 10, time.Minute); err != nil || len(again) != 0 {
			t.Fatalf("claimed again while leased: %+v", again)
		}
		// The lease runs out (the dispatcher died): claimable again.
		got2, err := s.Claim(ctx, "pd", now.Add(2*time.Minute), 10, time.Minute)
		noErr(t, err)
		if len(got2) != 1 || got2[0].ID != got[0].ID || got2[0].Attempts != 2 {
			t.Fatalf("after lease: %+v", got2)
		}
		if err := s.Settle(ctx, []store.Outcome{{ID: got2[0].ID, Status: store.Done, Ref: "INC-42", At: now}}); err != nil {
			t.Fatal(err)
		}
		upd, err := s.Claim(ctx, "pd", now.Add(3*time.Minute), 10, time.Minute)
		noErr(t, err)
		if len(upd) != 1 || upd[0].Kind != store.KindUpdate || upd[0].Ref != "INC-42" {
			t.Fatalf("update claim: %+v", upd)
		}
		if err := s.Settle(ctx, []store.Outcome{{ID: upd[0].ID, Status: store.Pending, Next: now.Add(time.Hour), Err: "HTTP 503", At: now}}); err != nil {
			t.Fatal(err)
		}
		if c, err := s.Claim(ctx, "pd", now.Add(30*time.Minute), 10, time.Minute); err != nil || len(c) != 0 {
			t.Errorf("claimed before its next attempt: %+v", c)
		}
		c, err := s.Claim(ctx, "pd", now.Add(61*time.Minute), 10, time.Minute)
		noErr(t, err)
		if len(c) != 1 || c[0].LastError != "HTTP 503" {
			t.Fatalf("retry claim: %+v", c)
		}
		if err := s.Settle(ctx, []store.Outcome{{ID: c[0].ID, Status: store.Dead, Err: "permanent: HTTP 400", At: now}}); err != nil {
			t.Fatal(err)
		}
		dead, err := s.Deliveries(ctx, store.OutboxFilter{Status: []string{store.Dead}})
		noErr(t, err)
		if len(dead) != 1 || dead[0].LastError != "permanent: HTTP 400" {
			t.Fatalf("dead letter: %+v", dead)
		}
		if n, err := s.Requeue(ctx, []int64{dead[0].ID, got2[0].ID}, now); err != nil || n != 1 {
			t.Errorf("requeue of one dead and one done delivery = %d, want 1", n)
		}
		if c, err := s.Claim(ctx, "pd", now, 10, time.Minute); err != nil || len(c) != 1 || c[0].Attempts != 1 {
			t.Errorf("requeued claim: %+v", c)
		}
		depth, err := s.Depth(ctx)
		noErr(t, err)
		if depth["pd"][store.Done] != 1 || depth["pd"][store.Sending] != 1 {
			t.Errorf("depth %v", depth)
		}
		if n, err := s.Drop(ctx, []int64{c[0].ID}, now); err != nil || n != 1 {
			t.Errorf("drop = %d", n)
		}
	})
	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) {
		s := open(t)
		var fs []finding.Finding
		for i := range 200 {
			f := Sample(i, "EKS-A", finding.High)
			f.Fingerprint = f.ID // distinct alerts
			fs = append(fs, f)
		}
		if _, err := s.SaveRouted(ctx, fs, routeAll(pd)); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := s.Claim(ctx, "pd", time.Now().Add(time.Second), 7, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, d := range got {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 200 {
			t.Errorf("%d deliveries claimed, want 200", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("delivery %d claimed %d times", id, n)
			}
		}
	})
}

// RunRepeatCases checks when a finding on a live alert is a repeat and when
// it must be alerted again. open returns a fresh store; reopen, when not
// nil, returns the same store opened anew (a restart) and is used between
// steps.
func RunRepeatCases(t *testing.T, open func(t *testing.T) OutboxStore, reopen func(t *testing.T, s OutboxStore) OutboxStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	pd := store.Route{Channel: "pd", Repeats: true}
	sms := store.Route{Channel: "sms", Repeats: false}
	n := 0
	change := func(who string, risk finding.Risk, at time.Duration, reasons ...string) finding.Finding {
		n++
		f := Sample(n, "EKS-CLUSTER-CONFIG", risk)
		f.EventTime = t0.Add(at)
		f.TTL = time.Hour
		f.Actor.ARN, f.Actor.Name = "arn:aws:iam::111122223333:user/"+who, who
		f.RiskReasons = reasons
		return f
	}
	type step struct {
		name    string
		f       finding.Finding
		pd, sms string // the delivery kind owed, "" for none
		why     []string
	}
	steps := []step{
		{"alice changes the authentication mode", change("alice", finding.High, 0, "authentication mode changed"), store.KindTrigger, store.KindTrigger, nil},
		{"alice again, same risk and reason, within the TTL", change("alice", finding.High, 5*time.Minute, "authentication mode changed"), store.KindUpdate, "", nil},
		{"alice at a lower risk with no new reason", change("alice", finding.Medium, 6*time.Minute, "authentication mode changed"), store.KindUpdate, "", nil},
		{"mallory opens the endpoint (escalation)", change("mallory", finding.VeryHigh, 7*time.Minute, "authentication mode changed", "endpoint opened to 0.0.0.0/0"),
			store.KindEscalation, store.KindEscalation, []string{"risk raised from HIGH to VERY_HIGH", "made by another principal: mallory", "new risk reason: endpoint opened to 0.0.0.0/0"}},
		{"mallory again: now a repeat", change("mallory", finding.VeryHigh, 8*time.Minute, "endpoint opened to 0.0.0.0/0"), store.KindUpdate, "", nil},
		{"bob, same risk and reasons (another actor)", change("bob", finding.High, 9*time.Minute, "authentication mode changed"),
			store.KindEscalation, store.KindEscalation, []string{"made by another principal: bob"}},
		{"alice with a new reason at a lower risk", change("alice", finding.Medium, 10*time.Minute, "audit log switched off"),
			store.KindEscalation, store.KindEscalation, []string{"new risk reason: audit log switched off"}},
		{"alice after the TTL: a new alert", change("alice", finding.High, 3*time.Hour, "authentication mode changed"), store.KindTrigger, store.KindTrigger, nil},
		{"mallory within the new alert: forgotten with the old one", change("mallory", finding.High, 3*time.Hour+time.Minute, "authentication mode changed"),
			store.KindEscalation, store.KindEscalation, []string{"made by another principal: mallory"}},
	}
	s := open(t)
	for i, st := range steps {
		if reopen != nil && i > 0 {
			s = reopen(t, s)
		}
		if _, err := s.SaveRouted(ctx, []finding.Finding{st.f}, routeAll(pd, sms)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for _, ch := range []struct{ name, want string }{{"pd", st.pd}, {"sms", st.sms}} {
			got := ""
			var d store.Delivery
			list, err := s.Deliveries(ctx, store.OutboxFilter{Channel: []string{ch.name}})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range list {
				if x.FindingID == st.f.ID {
					got, d = x.Kind, x
				}
			}
			if got != ch.want {
				t.Errorf("step %d (%s): %s owes %q, want %q", i+1, st.name, ch.name, got, ch.want)
				continue
			}
			if got == store.KindEscalation {
				if d.Escalation == nil || !equal(d.Escalation.Why, st.why) {
					t.Errorf("step %d (%s): %s escalation %+v, want why %q", i+1, st.name, ch.name, d.Escalation, st.why)
				}
			} else if d.Escalation != nil {
				t.Errorf("step %d (%s): %s %s carries an escalation %+v", i+1, st.name, ch.name, got, d.Escalation)
			}
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Backlog is n findings of one rule over alerts distinct alerts
// (fingerprints prefix-00, prefix-01, ...), one a second from t0, each
// alert open for an hour: per alert a trigger and its repeats. first is
// the first finding's Sample number, so that backlogs share no ids.
func Backlog(first, n, alerts int, prefix string, t0 time.Time) []finding.Finding {
	fs := make([]finding.Finding, n)
	for i := range fs {
		f := Sample(first+i, "EKS-A", finding.High)
		f.Fingerprint = fmt.Sprintf("%s-%02d", prefix, i%alerts)
		f.EventTime, f.TTL = t0.Add(time.Duration(i)*time.Second), time.Hour
		fs[i] = f
	}
	return fs
}

// RouteRepeats routes every finding to channel, repeats included.
func RouteRepeats(channel string) store.Router {
	return routeAll(store.Route{Channel: channel, Repeats: true})
}

// ClaimTriggers claims up to limit deliveries of channel and checks they
// are want triggers: a follow-up whose alert's trigger is still open is
// held back.
func ClaimTriggers(t *testing.T, s store.Outbox, channel string, limit, want int) []store.Delivery {
	t.Helper()
	got, err := s.Claim(context.Background(), channel, time.Now().Add(time.Minute), limit, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if d.Kind != store.KindTrigger {
			t.Errorf("claimed a %s while its alert's trigger is open", d.Kind)
		}
	}
	if len(got) != want {
		t.Errorf("claimed %d deliveries, want the %d triggers", len(got), want)
	}
	return got
}

// SettleDone records every one of ds as delivered.
func SettleDone(t *testing.T, s store.Outbox, ds []store.Delivery) {
	t.Helper()
	outs := make([]store.Outcome, len(ds))
	for i, d := range ds {
		outs[i] = store.Outcome{ID: d.ID, Status: store.Done, At: time.Now()}
	}
	if err := s.Settle(context.Background(), outs); err != nil {
		t.Fatal(err)
	}
}
