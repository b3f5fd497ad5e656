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

// BenchCommitPath measures the commit path of trailwatch run on s (a
// fresh, empty store): each iteration saves a group of n findings, each
// owing one webhook delivery (SaveRouted, as the committer does), while a
// dispatcher goroutine claims due deliveries and settles them delivered
// (Claim and Settle, as the dispatcher does), concurrently, as in a
// running service. It reports findings per second and fails if a
// delivery is lost or left undelivered. One in 16 findings repeats an
// earlier fingerprint (an update of a live alert), as the load test's
// clusters do.
func BenchCommitPath(b *testing.B, s OutboxStore, n int) {
	ctx := context.Background()
	route := routeAll(store.Route{Channel: "sink", Repeats: true})
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	mk := func(i int) finding.Finding {
		f := Sample(i, "EKS-A", finding.High)
		k := i
		if i%16 == 15 {
			k = i - 1 // a repeat of the one before
		}
		f.Fingerprint = fmt.Sprintf("fp-%d", k)
		f.EventTime = t0.Add(time.Duration(i) * time.Millisecond)
		f.TTL = time.Hour
		return f
	}
	var owed int
	var mu sync.Mutex
	done := make(chan struct{})
	var settled int
	var dispErr error
	stop := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ds, err := s.Claim(ctx, "sink", time.Now().Add(time.Hour), 256, time.Minute)
			if err != nil {
				dispErr = err
				return
			}
			if len(ds) == 0 {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(time.Millisecond)
				continue
			}
			outs := make([]store.Outcome, len(ds))
			for i, d := range ds {
				outs[i] = store.Outcome{ID: d.ID, Status: store.Done, At: time.Now()}
			}
			if err := s.Settle(ctx, outs); err != nil {
				dispErr = err
				return
			}
			mu.Lock()
			settled += len(ds)
			mu.Unlock()
		}
	}()
	b.ResetTimer()
	next := 0
	for range b.N {
		fs := make([]finding.Finding, n)
		for j := range fs {
			fs[j] = mk(next)
			next++
		}
		res, err := s.SaveRouted(ctx, fs, route)
		if err != nil {
			b.Fatal(err)
		}
		owed += res.Owed["sink"]
	}
	// Wait for the dispatcher to settle what is owed.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		got := settled
		mu.Unlock()
		if got >= owed || dispErr != nil || time.Now().After(deadline) {
			break
		}
	}
	b.StopTimer()
	close(stop)
	<-done
	if dispErr != nil {
		b.Fatal(dispErr)
	}
	if settled != owed || owed != next {
		b.Fatalf("%d findings owed %d deliveries, %d settled", next, owed, settled)
	}
	b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "findings/s")
}
