package sqlite_test

import (
	"context"
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
