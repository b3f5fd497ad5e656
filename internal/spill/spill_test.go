package spill

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

type item struct {
	k    Key
	data string
}

// items are n findings with times drawn from few values, so that many
// keys tie on time, and some on time and id.
func items(n int, seed uint64) []item {
	r := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	out := make([]item, n)
	for i := range out {
		t := t0.Add(time.Duration(r.IntN(50)) * time.Second)
		id := fmt.Sprintf("f-%02d", r.IntN(20))
		out[i] = item{KeyAt(t, id), fmt.Sprintf("%d:%s:%s", i, id, strings.Repeat("x", r.IntN(40)))}
	}
	return out
}

// want is the order a stable in-memory sort gives.
func want(in []item) []string {
	s := slices.Clone(in)
	slices.SortStableFunc(s, func(a, b item) int { return a.k.Compare(b.k) })
	out := make([]string, len(s))
	for i, it := range s {
		out[i] = it.data
	}
	return out
}

func addAll(t *testing.T, s *Sorter, in []item) {
	t.Helper()
	for _, it := range in {
		if err := s.Add(it.k, []byte(it.data)); err != nil {
			t.Fatal(err)
		}
	}
}

func sortAll(t *testing.T, s *Sorter, in []item) []string {
	t.Helper()
	addAll(t, s, in)
	return each(t, s)
}

func each(t *testing.T, s *Sorter) []string {
	t.Helper()
	var got []string
	var last Key
	err := s.Each(func(k Key, data []byte) error {
		if len(got) > 0 && k.Compare(last) < 0 {
			t.Fatalf("key %+v after %+v", k, last)
		}
		last = k
		got = append(got, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestInMemoryWhenWithinBudget(t *testing.T) {
	in := items(500, 1)
	s := New(Options{Dir: t.TempDir()})
	defer s.Close()
	got := sortAll(t, s, in)
	if !slices.Equal(got, want(in)) {
		t.Fatal("order differs from a stable sort")
	}
	if s.Runs() != 0 || s.Open() != 0 {
		t.Errorf("%d runs, %d open; want nothing spilled", s.Runs(), s.Open())
	}
}

// A tiny budget makes hundreds of runs, merged in rounds: the order is the
// one a stable in-memory sort gives, ties included.
func TestManyRunsSameOrderAsMemory(t *testing.T) {
	for _, c := range []struct {
		budget int64
		n      int
	}{{1, 191}, {1, 600}, {300, 2000}, {5000, 3000}} {
		budget := c.budget
		t.Run(fmt.Sprint(c.budget, "/", c.n), func(t *testing.T) {
			in := items(c.n, uint64(c.n))
			s := New(Options{Budget: budget, Dir: t.TempDir()})
			defer s.Close()
			addAll(t, s, in)
			if s.Runs() < 2 {
				t.Fatalf("%d runs; the budget should have spilled", s.Runs())
			}
			if budget == 1 && s.Runs() != len(in) {
				t.Errorf("%d runs; want one per finding at a budget of 1 byte", s.Runs())
			}
			// Runs of a level are merged fanIn at a time: few files
			// are open however many runs were written.
			if s.Open() > 2*fanIn {
				t.Errorf("%d run files open; want at most %d", s.Open(), 2*fanIn)
			}
			if c.n == 191 && s.Open() != 191-fanIn*2+2 {
				// 63 runs of level 0 and 2 of level 1: more than one
				// merge takes, so Each merges some first.
				t.Errorf("%d run files open, want %d", s.Open(), 191-fanIn*2+2)
			}
			got := each(t, s)
			w := want(in)
			if len(got) != len(w) {
				t.Fatalf("%d records back, want %d", len(got), len(w))
			}
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("record %d is %q, want %q", i, got[i], w[i])
				}
			}
		})
	}
}

func TestZeroTimeAndNanosecondsSort(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := []item{
		{KeyAt(t0.Add(2), "a"), "third"},
		{KeyAt(time.Time{}, "z"), "first"},
		{KeyAt(t0.Add(1), "b"), "second"},
		{KeyAt(t0.Add(2), "b"), "fourth"},
	}
	s := New(Options{Budget: 1, Dir: t.TempDir()})
	defer s.Close()
	got := sortAll(t, s, in)
	if strings.Join(got, ",") != "first,second,third,fourth" {
		t.Fatalf("order %v", got)
	}
}

func TestKeyOf(t *testing.T) {
	f := finding.Finding{ID: "f-1", EventTime: time.Unix(100, 5)}
	if k := KeyOf(&f); k != (Key{Sec: 100, Nsec: 5, ID: "f-1"}) {
		t.Fatalf("KeyOf = %+v", k)
	}
}

// Each run file is created 0600 in a private 0700 folder, and both are
// removed at once: nothing is visible in the temporary folder while the
// sort runs, and nothing is left when it stops half-way.
func TestTempFilesPrivateAndGone(t *testing.T) {
	parent := t.TempDir()
	created := 0
	createHook = func(dir string, f *os.File) {
		created++
		if filepath.Dir(dir) != parent {
			t.Errorf("run folder %s not in %s", dir, parent)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("run folder %s: %v, %v; want mode 0700", dir, fi.Mode().Perm(), err)
		}
		if fi, err := f.Stat(); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("run file %s: %v, %v; want mode 0600", f.Name(), fi.Mode().Perm(), err)
		}
	}
	defer func() { createHook = nil }()
	s := New(Options{Budget: 100, Dir: parent})
	addAll(t, s, items(200, 3))
	if created == 0 || s.Runs() == 0 {
		t.Fatal("nothing spilled")
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Fatalf("visible in the temporary folder while sorting: %v", left)
	}
	// Stopping half-way through the merge.
	stop := errors.New("stop")
	n := 0
	err := s.Each(func(Key, []byte) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("Each = %v, want fn's error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Fatalf("left in the temporary folder: %v", left)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A killed process leaves nothing behind: proved in a child process that
// spills and is killed before it can clean up.
func TestKilledLeavesNothing(t *testing.T) {
	if dir := os.Getenv("SPILL_TEST_CHILD_DIR"); dir != "" {
		s := New(Options{Budget: 100, Dir: dir})
		for _, it := range items(100, 6) {
			if err := s.Add(it.k, []byte(it.data)); err != nil {
				os.Exit(3)
			}
		}
		os.Stdout.WriteString("spilled\n")
		os.Stdout.Sync()
		select {} // until killed
	}
	parent := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKilledLeavesNothing$")
	cmd.Env = append(os.Environ(), "SPILL_TEST_CHILD_DIR="+parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 8)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "spilled\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Fatalf("a killed sort left %v", left)
	}
}

func TestErrorsNameTheFile(t *testing.T) {
	t.Run("missing folder", func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "gone")
		s := New(Options{Budget: 1, Dir: parent})
		defer s.Close()
		err := s.Add(KeyAt(time.Now(), "f-1"), []byte("x"))
		if err == nil || !strings.Contains(err.Error(), parent) {
			t.Fatalf("Add = %v, want an error naming %s", err, parent)
		}
	})
	t.Run("truncated run", func(t *testing.T) {
		s := New(Options{Budget: 1, Dir: t.TempDir()})
		defer s.Close()
		addAll(t, s, items(5, 4))
		r := s.runs[2]
		fi, err := r.f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.f.Truncate(fi.Size() - 3); err != nil {
			t.Fatal(err)
		}
		err = s.Each(func(Key, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), r.name) || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Fatalf("Each = %v, want an error naming %s", err, r.name)
		}
	})
	t.Run("corrupt length", func(t *testing.T) {
		s := New(Options{Budget: 1, Dir: t.TempDir()})
		defer s.Close()
		addAll(t, s, items(5, 5))
		r := s.runs[0]
		// An id length far past MaxRecord.
		if _, err := r.f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0x7f}, 0); err != nil {
			t.Fatal(err)
		}
		err := s.Each(func(Key, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), r.name) || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("Each = %v, want an error naming %s", err, r.name)
		}
	})
}

func TestMisuse(t *testing.T) {
	s := New(Options{Dir: t.TempDir()})
	defer s.Close()
	s.Add(KeyAt(time.Now(), "a"), nil)
	if err := s.Each(func(Key, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Each(func(Key, []byte) error { return nil }); err == nil {
		t.Error("second Each: no error")
	}
	if err := s.Add(KeyAt(time.Now(), "b"), nil); err == nil {
		t.Error("Add after Each: no error")
	}
}

// The memory a sort holds is bounded by the budget, not the input.
func BenchmarkSpill(b *testing.B) {
	data := []byte(strings.Repeat("x", 1500))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		s := New(Options{Budget: 4 << 20, Dir: b.TempDir()})
		for i := range 20000 {
			s.Add(KeyAt(t0.Add(time.Duration((i*7919)%20000)*time.Second), "f"), data)
		}
		s.Each(func(Key, []byte) error { return nil })
		s.Close()
	}
}
