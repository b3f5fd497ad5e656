package spill

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
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
	if s.Runs() != 0 || s.Dir() != "" {
		t.Errorf("%d runs in %q; want nothing spilled", s.Runs(), s.Dir())
	}
}

// A tiny budget makes hundreds of runs, merged in rounds: the order is the
// one a stable in-memory sort gives, ties included.
func TestManyRunsSameOrderAsMemory(t *testing.T) {
	for _, budget := range []int64{1, 300, 5000} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			in := items(3000, uint64(budget))
			s := New(Options{Budget: budget, Dir: t.TempDir()})
			defer s.Close()
			addAll(t, s, in)
			if s.Runs() < 2 {
				t.Fatalf("%d runs; the budget should have spilled", s.Runs())
			}
			if budget == 1 && s.Runs() != len(in) {
				t.Errorf("%d runs; want one per finding at a budget of 1 byte", s.Runs())
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

func TestTempFilesPrivateAndRemoved(t *testing.T) {
	parent := t.TempDir()
	s := New(Options{Budget: 100, Dir: parent})
	for _, it := range items(200, 3) {
		if err := s.Add(it.k, []byte(it.data)); err != nil {
			t.Fatal(err)
		}
	}
	dir := s.Dir()
	if dir == "" || filepath.Dir(dir) != parent {
		t.Fatalf("spill folder %q, want one inside %q", dir, parent)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) == 0 {
		t.Fatal("no run files")
	}
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	// Stopping half-way through the merge still removes everything.
	stop := errors.New("stop")
	n := 0
	err = s.Each(func(Key, []byte) error {
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
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("spill folder still there after Close: %v", err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Fatalf("left in the temporary folder: %v", left)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestErrorsNameTheFile(t *testing.T) {
	t.Run("unwritable folder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes anywhere: the permission error cannot be provoked")
		}
		parent := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(parent, 0o500); err != nil {
			t.Fatal(err)
		}
		s := New(Options{Budget: 1, Dir: parent})
		defer s.Close()
		err := s.Add(KeyAt(time.Now(), "f-1"), []byte("x"))
		if err == nil || !strings.Contains(err.Error(), "temporary folder") {
			t.Fatalf("Add = %v, want an error about the temporary folder", err)
		}
	})
	t.Run("truncated run", func(t *testing.T) {
		s := New(Options{Budget: 1, Dir: t.TempDir()})
		defer s.Close()
		for _, it := range items(5, 4) {
			if err := s.Add(it.k, []byte(it.data)); err != nil {
				t.Fatal(err)
			}
		}
		run := s.runs[2]
		b, err := os.ReadFile(run)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(run, b[:len(b)-3], 0o600); err != nil {
			t.Fatal(err)
		}
		err = s.Each(func(Key, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), run) || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Fatalf("Each = %v, want an error naming %s", err, run)
		}
	})
	t.Run("missing run", func(t *testing.T) {
		s := New(Options{Budget: 1, Dir: t.TempDir()})
		defer s.Close()
		for _, it := range items(5, 5) {
			if err := s.Add(it.k, []byte(it.data)); err != nil {
				t.Fatal(err)
			}
		}
		run := s.runs[0]
		os.Remove(run)
		err := s.Each(func(Key, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), run) {
			t.Fatalf("Each = %v, want an error naming %s", err, run)
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
