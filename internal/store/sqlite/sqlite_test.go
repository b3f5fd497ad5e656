package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tw.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := storetest.Sample(1, "EKS-A", finding.High)
	if _, err := s.Save(context.Background(), []finding.Finding{f}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Finding(context.Background(), f.ID); err != nil {
		t.Errorf("finding lost on reopen: %v", err)
	}
}

func TestRejectsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not.db")
	os.WriteFile(path, []byte("this is not a database, just text that is long enough to have a header"), 0o600)
	_, err := sqlite.Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("opening a non-database: %v (want an error naming the file)", err)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := sqlite.Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = s.Save(context.Background(), []finding.Finding{storetest.Sample(1, "EKS-A", finding.High)})
	if err == nil {
		t.Error("save on a closed store succeeded")
	}
}

func TestOutboxSuite(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) storetest.OutboxStore {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestCheckpoints(t *testing.T) {
	s, err := sqlite.Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunCheckpoints(t, s)
}

// A restart between findings changes nothing of what is a repeat: the
// alerts' state is in the database.
func TestRepeatsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tw.db")
	open := func(t *testing.T) storetest.OutboxStore {
		s, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.RunRepeatCases(t, open, func(t *testing.T, s storetest.OutboxStore) storetest.OutboxStore {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return open(t)
	})
}

func TestLeaseSuite(t *testing.T) {
	storetest.RunLeases(t, func(t *testing.T) storetest.LeaseStore {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A run killed while holding leases leaves them in the file; the next run,
// holding the run lock, is the only one, so it need not wait for them to
// lapse.
func TestRunLockClearsLeasesOfEarlierRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tw.db")
	ctx := context.Background()
	first, err := sqlite.Open(path, nil, sqlite.Exclusive())
	if err != nil {
		t.Fatal(err)
	}
	if held, err := first.Acquire(ctx, "heartbeat", "old-run", time.Hour); err != nil || !held {
		t.Fatalf("acquire = %v, %v", held, err)
	}
	first.Close()                         // as if killed: the lease is still in the file
	reader, err := sqlite.Open(path, nil) // a command that does not run: leases kept
	if err != nil {
		t.Fatal(err)
	}
	if held, _ := reader.Acquire(ctx, "heartbeat", "other", time.Hour); held {
		t.Error("a plain open dropped the leases")
	}
	reader.Close()
	next, err := sqlite.Open(path, nil, sqlite.Exclusive())
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if held, err := next.Acquire(ctx, "heartbeat", "new-run", time.Hour); err != nil || !held {
		t.Errorf("the next run waits for the lease of a run that is gone: %v, %v", held, err)
	}
}

func TestQuarantine(t *testing.T) {
	s, err := sqlite.Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunQuarantine(t, s)
}

// BenchmarkCommitPath guards the commit path (SaveRouted of groups of
// findings with deliveries, claims and settles running beside them):
//
//	go test -run '^$' -bench CommitPath -benchtime 200x ./internal/store/sqlite/
func BenchmarkCommitPath(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("group=%d", n), func(b *testing.B) {
			s, err := sqlite.Open(filepath.Join(b.TempDir(), "tw.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchCommitPath(b, s, n)
		})
	}
}

// TestCommitPathBenchmarkRuns runs the commit path benchmark once in CI,
// for its checks (every delivery owed is claimed and settled), not for
// its time.
func TestCommitPathBenchmarkRuns(t *testing.T) {
	r := testing.Benchmark(func(b *testing.B) {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		storetest.BenchCommitPath(b, s, 32)
	})
	if r.N == 0 {
		t.Fatal("the commit path benchmark failed")
	}
}

func TestTriageSuite(t *testing.T) {
	storetest.RunTriage(t, func(t *testing.T, now func() time.Time) store.Full {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
