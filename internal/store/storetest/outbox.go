package storetest

import (
	"context"
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
		if _, err := s.SaveRouted(ctx, fs, routeAll(pd, sms)); err != nil {
			t.Fatal(err)
		}
		// Saving again owes nothing more.
		if _, err := s.SaveRouted(ctx, fs, routeAll(pd, sms)); err != nil {
			t.Fatal(err)
		}
		pdDel, _ := s.Deliveries(ctx, store.OutboxFilter{Channel: []string{"pd"}})
		smsDel, _ := s.Deliveries(ctx, store.OutboxFilter{Channel: []string{"sms"}})
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
		if n, _ := s.Pending(ctx, []string{"sms"}); n != 1 {
			t.Errorf("Pending(sms) = %d, want 1", n)
		}
		alerts, _ := s.Alerts(ctx)
		for _, a := range alerts {
			if a.Repeats != 3 {
				t.Errorf("alert %s/%s counted %d repeats, want 3", a.Channel, a.AlertKey, a.Repeats)
			}
		}
		// After the TTL the same change raises a new alert.
		if _, err := s.SaveRouted(ctx, []finding.Finding{repeat(4, t0.Add(2*time.Hour))}, routeAll(pd, sms)); err != nil {
			t.Fatal(err)
		}
		smsDel, _ = s.Deliveries(ctx, store.OutboxFilter{Channel: []string{"sms"}})
		if len(smsDel) != 2 || smsDel[0].Kind != store.KindTrigger {
			t.Errorf("after the TTL: %d sms deliveries, newest %+v", len(smsDel), smsDel[0].Kind)
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
		if again, _ := s.Claim(ctx, "pd", now, 10, time.Minute); len(again) != 0 {
			t.Fatalf("claimed again while leased: %+v", again)
		}
		// The lease runs out (the dispatcher died): claimable again.
		got2, _ := s.Claim(ctx, "pd", now.Add(2*time.Minute), 10, time.Minute)
		if len(got2) != 1 || got2[0].ID != got[0].ID || got2[0].Attempts != 2 {
			t.Fatalf("after lease: %+v", got2)
		}
		if err := s.Complete(ctx, got2[0].ID, "INC-42", now); err != nil {
			t.Fatal(err)
		}
		upd, _ := s.Claim(ctx, "pd", now.Add(3*time.Minute), 10, time.Minute)
		if len(upd) != 1 || upd[0].Kind != store.KindUpdate || upd[0].Ref != "INC-42" {
			t.Fatalf("update claim: %+v", upd)
		}
		if err := s.Retry(ctx, upd[0].ID, now.Add(time.Hour), "HTTP 503", now); err != nil {
			t.Fatal(err)
		}
		if c, _ := s.Claim(ctx, "pd", now.Add(30*time.Minute), 10, time.Minute); len(c) != 0 {
			t.Errorf("claimed before its next attempt: %+v", c)
		}
		c, _ := s.Claim(ctx, "pd", now.Add(61*time.Minute), 10, time.Minute)
		if len(c) != 1 || c[0].LastError != "HTTP 503" {
			t.Fatalf("retry claim: %+v", c)
		}
		s.Kill(ctx, c[0].ID, "permanent: HTTP 400", now)
		dead, _ := s.Deliveries(ctx, store.OutboxFilter{Status: []string{store.Dead}})
		if len(dead) != 1 || dead[0].LastError != "permanent: HTTP 400" {
			t.Fatalf("dead letter: %+v", dead)
		}
		if n, _ := s.Requeue(ctx, []int64{dead[0].ID, got2[0].ID}, now); n != 1 {
			t.Errorf("requeue of one dead and one done delivery = %d, want 1", n)
		}
		if c, _ := s.Claim(ctx, "pd", now, 10, time.Minute); len(c) != 1 || c[0].Attempts != 1 {
			t.Errorf("requeued claim: %+v", c)
		}
		depth, _ := s.Depth(ctx)
		if depth["pd"][store.Done] != 1 || depth["pd"][store.Sending] != 1 {
			t.Errorf("depth %v", depth)
		}
		if n, _ := s.Drop(ctx, []int64{c[0].ID}, now); n != 1 {
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
