package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// BenchmarkSaveRouted saves batches of 500 new findings (100 fingerprints,
// two channels), as trailwatch run's committer does; b.N counts findings.
func BenchmarkSaveRouted(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "tw.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	route := func(finding.Finding) []store.Route {
		return []store.Route{{Channel: "pd", Repeats: true}, {Channel: "slack"}}
	}
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	batch := make([]finding.Finding, 0, 500)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := storetest.Sample(i, fmt.Sprintf("RULE-%d", i%100), finding.High)
		f.EventTime = t0.Add(time.Duration(i) * time.Second)
		batch = append(batch, f)
		if len(batch) == cap(batch) || i == b.N-1 {
			if _, err := s.SaveRouted(context.Background(), batch, route); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkClaimVaryingLimit claims from an empty outbox with the limits
// a dispatcher asks for (its free slots, 1 to 7 here): one writer round
// trip per claim. A claim query bound with a LIMIT other than the last one
// was parsed and planned again each time (issue 14).
func BenchmarkClaimVaryingLimit(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "tw.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := s.Claim(ctx, "sink", time.Now(), 1+i%7, time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
