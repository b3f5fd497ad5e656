package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// countInMainFile counts the findings in the database file itself, as if
// the WAL did not exist (immutable=1 reads the main file only): what has
// been checkpointed; -1 while the file does not hold the schema yet.
func countInMainFile(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?immutable=1&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM findings`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// Commits are copied into the database file by the background
// checkpointer, not by the writer: the writer's own automatic checkpoint
// is a 64 MB backstop, so without the checkpointer a few small commits
// would stay in the WAL.
func TestCommitsAreCheckpointedInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tw.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.cp == nil {
		t.Fatal("a database file has no background checkpointer")
	}
	for i := range 5 {
		if _, err := s.Save(ctx, []finding.Finding{storetest.Sample(i, "EKS-A", finding.High)}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n := countInMainFile(t, path)
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file holds %d findings 10 s after 5 commits, want %d (checkpoints run %d, failed %d)",
				n, 5, s.cp.runs.Load(), s.cp.failed.Load())
		}
	}
	if f := s.cp.failed.Load(); f != 0 {
		t.Errorf("%d background checkpoints failed", f)
	}
	// Once a checkpoint has copied every frame (here: the commits
	// pause), the writer's next transaction restarts the WAL from its
	// start, so the WAL holds only what came after: 400 commits of
	// several pages each, a pause, one more commit, and the WAL's frames
	// are that one commit's.
	for i := 5; i < 405; i++ {
		if _, err := s.Save(ctx, []finding.Finding{storetest.Sample(i, "EKS-A", finding.High)}); err != nil {
			t.Fatal(err)
		}
	}
	waitRuns(t, s, s.cp.runs.Load()+2) // the second started after the last commit
	before := s.cp.frames.Load()
	if _, err := s.Save(ctx, []finding.Finding{storetest.Sample(405, "EKS-A", finding.High)}); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, s, s.cp.runs.Load()+2) // the second started after the last commit
	if f := s.cp.frames.Load(); f >= 100 || f >= before {
		t.Errorf("the WAL holds %d frames after one commit (%d before it): it is not restarted after background checkpoints", f, before)
	}
	t.Logf("WAL frames: %d after 400 commits, %d after one more", before, s.cp.frames.Load())
	// Back to back, the checkpointer cannot catch up between two commits;
	// the writer's backstop bounds the WAL (16,000 pages of 4 KiB).
	for i := 405; i < 4405; i++ {
		if _, err := s.Save(ctx, []finding.Finding{storetest.Sample(i, "EKS-A", finding.High)}); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 70<<20 {
		t.Errorf("WAL %d MiB after 4,000 commits back to back: unbounded", fi.Size()>>20)
	}
}

// waitRuns waits until the checkpointer ran n times.
func waitRuns(t *testing.T, s *Store, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.cp.runs.Load() < n; time.Sleep(5 * time.Millisecond) {
		s.cp.committed()
		if time.Now().After(deadline) {
			t.Fatalf("%d checkpoints ran, want %d", s.cp.runs.Load(), n)
		}
	}
}

// A store in memory and a read-only store have no checkpointer.
func TestNoCheckpointerWithoutAFile(t *testing.T) {
	s, err := Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.cp != nil {
		t.Error("an in-memory store has a checkpointer")
	}
	path := filepath.Join(t.TempDir(), "tw.db")
	w, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := Open(path, nil, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.cp != nil {
		t.Error("a read-only store has a checkpointer")
	}
}
