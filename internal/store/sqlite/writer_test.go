package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// holdWriter keeps the writer inside a group until release is called, so
// that requests queue behind it.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	go s.w.do(context.Background(), func(*wtx) error { close(started); <-hold; return nil })
	<-started
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	return release
}

// waitQueued polls until n requests wait for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(s.w.reqs) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(s.w.reqs), n)
		}
	}
}

func TestQueuedWritesCommitInOneGroupAndAFailureStaysAlone(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "tw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "sink"}} }
	// However long this loaded machine takes to queue the three, the
	// open group still takes them (maxGroupTime is 20 ms).
	s.w.maxTime = time.Hour
	release := holdWriter(t, s)
	before := s.w.groups.Load()

	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[0] = s.SaveRouted(ctx, []finding.Finding{storetest.Sample(1, "EKS-A", finding.High)}, route)
	}()
	waitQueued(t, s, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Writes a finding, then fails: its write must not survive.
		fs := []finding.Finding{storetest.Sample(2, "EKS-A", finding.High)}
		enc, err := encodeFindings(fs)
		if err != nil {
			errs[1] = err
			return
		}
		errs[1] = s.w.do(ctx, func(tx *wtx) error {
			if _, err := s.saveEncoded(tx, fs, enc, route); err != nil {
				return err
			}
			return errors.New("boom")
		})
	}()
	waitQueued(t, s, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[2] = s.SetCheckpoint(ctx, "k", "v")
	}()
	waitQueued(t, s, 3)
	release()
	wg.Wait()

	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the requests beside the failing one failed: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || errs[1].Error() != "boom" {
		t.Fatalf("failing request returned %v, want its own error", errs[1])
	}
	// They joined the group transaction that was open when they queued,
	// which took them once the holding request was done.
	if g := s.w.groups.Load() - before; g != 0 {
		t.Errorf("three queued requests ran in %d new group transactions, want none (the open group takes them)", g)
	}
	all, err := s.Findings(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != storetest.Sample(1, "EKS-A", finding.High).ID {
		t.Errorf("stored %d findings, want only the first (the failed request's was rolled back)", len(all))
	}
	if v, err := s.Checkpoint(ctx, "k"); err != nil || v != "v" {
		t.Errorf("checkpoint %q, %v", v, err)
	}
	if n, err := s.Pending(ctx, []string{"sink"}); err != nil || n != 1 {
		t.Errorf("%d deliveries pending (%v), want the first finding's only", n, err)
	}
}

func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "tw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := storetest.Sample(1, "EKS-A", finding.High)
	if _, err := s.Save(ctx, []finding.Finding{f}); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s) // a group transaction stays open
	defer release()             // before Close, which waits for the group
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := s.Finding(rctx, f.ID)
	if err != nil {
		t.Fatalf("read while the writer is busy: %v", err)
	}
	if got.ID != f.ID {
		t.Errorf("read %s, want %s", got.ID, f.ID)
	}
	if _, err := s.Deliveries(rctx, store.OutboxFilter{}); err != nil {
		t.Errorf("list deliveries while the writer is busy: %v", err)
	}
	// The API's and the dashboard's reads too: they neither wait for the
	// open group transaction (ingest under load) nor hold the write
	// connection while they read (a slow search would stall ingest).
	reads := map[string]func(context.Context) error{
		"page": func(ctx context.Context) error {
			_, err := s.Page(ctx, store.Query{Filter: store.Filter{Limit: 10}})
			return err
		},
		"finding":  func(ctx context.Context) error { _, err := s.Triaged(ctx, f.ID); return err },
		"history":  func(ctx context.Context) error { _, err := s.History(ctx, f.ID); return err },
		"feed":     func(ctx context.Context) error { _, err := s.FindingsAfter(ctx, 0, 10); return err },
		"changes":  func(ctx context.Context) error { _, err := s.ChangesAfter(ctx, 0, 10); return err },
		"head":     func(ctx context.Context) error { _, _, err := s.FeedHead(ctx); return err },
		"audit":    func(ctx context.Context) error { _, err := s.AuditLog(ctx, 0, 10); return err },
		"silences": func(ctx context.Context) error { _, err := s.Silences(ctx); return err },
		"tokens":   func(ctx context.Context) error { _, err := s.Tokens(ctx); return err },
		"counts":   func(ctx context.Context) error { _, err := s.SilencedCounts(ctx); return err },
		"session": func(ctx context.Context) error {
			if _, err := s.Session(ctx, "no-such-session", time.Now()); !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return nil
		},
	}
	for name, read := range reads {
		if err := read(rctx); err != nil {
			t.Errorf("%s while the writer is busy: %v", name, err)
		}
	}
}

func TestClosedWriterAnswersQueuedRequests(t *testing.T) {
	s, err := Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	errc := make(chan error, 1)
	go func() { errc <- s.SetCheckpoint(context.Background(), "k", "v") }()
	waitQueued(t, s, 1)
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	// Close waits for the group in progress; the queued request is then
	// either run or answered as closed, never left hanging.
	release()
	<-closed
	if err := <-errc; err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("queued request after close: %v", err)
	}
	if err := s.SetCheckpoint(context.Background(), "k", "v"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("write after close: %v, want store.ErrClosed", err)
	}
}

// Claim decodes findings after the writer has leased their rows: a row
// that cannot be decoded still fails the claim with an error naming the
// delivery, and nothing is lost: the delivery is due again when the lease
// ends.
func TestClaimOfACorruptFindingFailsAndLosesNothing(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "tw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "sink"}} }
	f := storetest.Sample(1, "EKS-A", finding.High)
	if _, err := s.SaveRouted(ctx, []finding.Finding{f}, route); err != nil {
		t.Fatal(err)
	}
	var data string
	if err := s.rdb.QueryRow(`SELECT data FROM findings WHERE id = ?`, f.ID).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE findings SET data = '{"id": EXAMPLE' WHERE id = ?`, f.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, err = s.Claim(ctx, "sink", now, 10, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "claim deliveries: delivery ") || !strings.Contains(err.Error(), "corrupt finding") {
		t.Fatalf("claim of a corrupt finding: %v; want an error naming the delivery", err)
	}
	if _, err := s.db.Exec(`UPDATE findings SET data = ? WHERE id = ?`, data, f.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(ctx, "sink", now.Add(2*time.Minute), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].FindingID != f.ID || got[0].Finding.ID != f.ID || got[0].Status != store.Sending || got[0].Attempts != 2 {
		t.Fatalf("claimed after the lease: %+v; want the delivery, decoded, on its second attempt", got)
	}
}

// The write connection keeps each request's savepoint journal in memory,
// checkpoints in-line only past 16,000 WAL pages (a backstop: the checkpointer does it) and caches 16 MiB of pages (issue 14);
// the read connections keep SQLite's defaults.
func TestWriteConnectionSettings(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "tw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]int{"temp_store": 2, "wal_autocheckpoint": 16000, "cache_size": -16384}
	err = s.w.do(context.Background(), func(tx *wtx) error {
		for p, v := range want {
			var got int
			if err := tx.tx.QueryRow(`PRAGMA ` + p).Scan(&got); err != nil {
				return err
			}
			if got != v {
				t.Errorf("write connection: PRAGMA %s = %d, want %d", p, got, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var cache int
	if err := s.rdb.QueryRow(`PRAGMA cache_size`).Scan(&cache); err != nil || cache == -16384 {
		t.Errorf("read connection: cache_size %d (%v), want SQLite's default", cache, err)
	}
}

// Claim is bound with one LIMIT whatever the limit asked (see claimBound):
// it still returns and leases at most limit deliveries, in order, and the
// rest stay due.
func TestClaimTakesAtMostLimit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "tw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "sink"}} }
	var fs []finding.Finding
	for i := range 10 {
		f := storetest.Sample(i, "EKS-A", finding.High)
		f.Fingerprint = f.ID
		fs = append(fs, f)
	}
	if _, err := s.SaveRouted(ctx, fs, route); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	seen := map[int64]bool{}
	var last int64
	for _, limit := range []int{3, 1, 4, 10} {
		got, err := s.Claim(ctx, "sink", now, limit, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		want := min(limit, 10-len(seen))
		if len(got) != want {
			t.Fatalf("claim with limit %d: %d deliveries, want %d", limit, len(got), want)
		}
		for _, d := range got {
			if seen[d.ID] || d.ID <= last {
				t.Fatalf("delivery %d claimed twice or out of order (after %d)", d.ID, last)
			}
			seen[d.ID], last = true, d.ID
		}
	}
	if n, err := s.Pending(ctx, []string{"sink"}); err != nil || n != 10 {
		t.Errorf("pending %d (%v), want the 10 leased", n, err)
	}
}
