package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

// LeaseStore is a store that shares work between instances.
type LeaseStore interface {
	store.Leases
	store.Activity
}

// RunLeases checks store.Leases and store.Activity; open returns a fresh,
// empty store. Holders race from many goroutines on one store (the
// PostgreSQL store's pool gives each its own connection).
func RunLeases(t *testing.T, open func(t *testing.T) LeaseStore) {
	ctx := context.Background()
	t.Run("OneHolderAtATime", func(t *testing.T) {
		s := open(t)
		held, err := s.Acquire(ctx, "s3:a", "alpha", time.Hour)
		if err != nil || !held {
			t.Fatalf("first acquire = %v, %v; want held", held, err)
		}
		if held, err := s.Acquire(ctx, "s3:a", "beta", time.Hour); err != nil || held {
			t.Fatalf("another holder's acquire of a live lease = %v, %v; want not held", held, err)
		}
		if held, err := s.Acquire(ctx, "s3:a", "alpha", time.Hour); err != nil || !held {
			t.Fatalf("renewal by the holder = %v, %v; want held", held, err)
		}
		if held, err := s.Acquire(ctx, "s3:b", "beta", time.Hour); err != nil || !held {
			t.Fatalf("another name = %v, %v; want held", held, err)
		}
		ls, err := s.Leases(ctx)
		noErr(t, err)
		if len(ls) != 2 || ls[0].Name != "s3:a" || ls[0].Holder != "alpha" || ls[1].Name != "s3:b" || ls[1].Holder != "beta" {
			t.Fatalf("Leases = %+v; want s3:a by alpha, s3:b by beta", ls)
		}
		if !ls[0].Expires.After(time.Now().Add(50 * time.Minute)) {
			t.Errorf("expiry %v is not about an hour away", ls[0].Expires)
		}
		if _, err := s.Acquire(ctx, "s3:c", "alpha", 0); err == nil {
			t.Error("a zero ttl was accepted")
		}
	})
	t.Run("RaceHasOneWinner", func(t *testing.T) {
		s := open(t)
		for round := range 5 {
			name := fmt.Sprintf("race-%d", round)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var winners []string
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					me := fmt.Sprintf("holder-%d", i)
					held, err := s.Acquire(ctx, name, me, time.Hour)
					if err != nil {
						t.Error(err)
					}
					if held {
						mu.Lock()
						winners = append(winners, me)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(winners) != 1 {
				t.Fatalf("round %d: winners %v; want exactly one", round, winners)
			}
		}
	})
	t.Run("ExpiryHandsOver", func(t *testing.T) {
		s := open(t)
		const ttl = 300 * time.Millisecond
		start := time.Now()
		if held, err := s.Acquire(ctx, "heartbeat", "alpha", ttl); err != nil || !held {
			t.Fatalf("acquire = %v, %v", held, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			held, err := s.Acquire(ctx, "heartbeat", "beta", time.Hour)
			noErr(t, err)
			if held {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the expired lease was not handed over within 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if took := time.Since(start); took < ttl {
			t.Errorf("handed over after %v, before the ttl (%v) ran out", took, ttl)
		}
		if held, err := s.Acquire(ctx, "heartbeat", "alpha", ttl); err != nil || held {
			t.Errorf("the former holder renewed a lease another took over: %v, %v", held, err)
		}
		ls, err := s.Leases(ctx)
		noErr(t, err)
		if len(ls) != 1 || ls[0].Holder != "beta" {
			t.Errorf("Leases = %+v; want heartbeat by beta", ls)
		}
	})
	t.Run("ReleaseHandsOverAtOnce", func(t *testing.T) {
		s := open(t)
		if held, err := s.Acquire(ctx, "s3:a", "alpha", time.Hour); err != nil || !held {
			t.Fatalf("acquire = %v, %v", held, err)
		}
		noErr(t, s.Release(ctx, "s3:a", "beta")) // not beta's: nothing happens
		if held, _ := s.Acquire(ctx, "s3:a", "beta", time.Hour); held {
			t.Fatal("a release by a non-holder freed the lease")
		}
		noErr(t, s.Release(ctx, "s3:a", "alpha"))
		if held, err := s.Acquire(ctx, "s3:a", "beta", time.Hour); err != nil || !held {
			t.Fatalf("acquire after release = %v, %v; want held at once", held, err)
		}
		noErr(t, s.Release(ctx, "s3:none", "alpha")) // never held: fine
	})
	t.Run("ActivityMovesForward", func(t *testing.T) {
		s := open(t)
		t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		noErr(t, s.SawTrails(ctx, nil))
		noErr(t, s.SawTrails(ctx, []store.Seen{
			{Account: "111122223333", Region: "eu-west-1", At: t0.Add(time.Minute)},
			{Account: "111122223333", Region: "eu-west-1", At: t0}, // older, same batch
			{Account: "444455556666", Region: "us-east-1", At: t0},
		}))
		noErr(t, s.SawTrails(ctx, []store.Seen{{Account: "111122223333", Region: "eu-west-1", At: t0}})) // older: kept
		noErr(t, s.SawTrails(ctx, []store.Seen{{Account: "444455556666", Region: "us-east-1", At: t0.Add(time.Hour)}}))
		got, err := s.TrailActivity(ctx)
		noErr(t, err)
		want := []store.Seen{
			{Account: "111122223333", Region: "eu-west-1", At: t0.Add(time.Minute)},
			{Account: "444455556666", Region: "us-east-1", At: t0.Add(time.Hour)},
		}
		if len(got) != len(want) {
			t.Fatalf("TrailActivity = %+v; want %+v", got, want)
		}
		for i := range want {
			if got[i].Account != want[i].Account || got[i].Region != want[i].Region || !got[i].At.Equal(want[i].At) {
				t.Errorf("TrailActivity[%d] = %+v; want %+v", i, got[i], want[i])
			}
		}
	})
}
