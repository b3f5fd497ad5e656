package scan

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trail.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	return p
}

// finish runs f and fails the test if it does not return within a minute
// (a generous bound: what is checked is that it returns at all).
func finish(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s: still blocked after a minute", what)
		return nil
	}
}

func TestSpecialFilesAreNotReadUnlessAsked(t *testing.T) {
	fifo := mkfifo(t)
	var errs []string
	sc := New(Options{Errors: func(err error) { errs = append(errs, err.Error()) }})
	err := finish(t, "scan of a FIFO without a writer", func() error { return sc.Paths(context.Background(), []string{fifo}, nil) })
	if err != nil || len(errs) != 1 || !strings.Contains(errs[0], "a named pipe (FIFO), not a regular file: not read (name it with --special-files") ||
		!strings.HasPrefix(errs[0], `"`+fifo+`"`) {
		t.Errorf("scan of a FIFO: %v %q", err, errs)
	}
	// A folder's FIFO is skipped without a word, as before.
	sc = New(Options{Errors: func(err error) { t.Errorf("folder: %v", err) }})
	if err := finish(t, "scan of a folder with a FIFO", func() error { return sc.Paths(context.Background(), []string{filepath.Dir(fifo)}, nil) }); err != nil {
		t.Error(err)
	}
	if sc.Stats.Snapshot().Skipped != 1 {
		t.Errorf("stats: %+v", sc.Stats.Snapshot())
	}
}

func TestSpecialFileReadWhenAsked(t *testing.T) {
	fifo := mkfifo(t)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write([]byte(`{"eventSource":"eks.amazonaws.com","eventName":"ListClusters","eventID":"x"}` + "\n"))
		w.Close()
	}()
	sc := New(Options{Special: true, Errors: func(err error) { t.Error(err) }})
	if err := finish(t, "scan of a FIFO with a writer", func() error { return sc.Paths(context.Background(), []string{fifo}, nil) }); err != nil {
		t.Fatal(err)
	}
	if s := sc.Stats.Snapshot(); s.Files != 1 || s.Records != 1 {
		t.Errorf("stats: %+v", s)
	}
}

// Ctrl-C stops a scan waiting for a FIFO's writer, or for data that never
// comes on one, or on standard input.
func TestEveryReadIsCancellable(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		fifo := mkfifo(t)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		sc := New(Options{Special: true})
		err := finish(t, "canceled open of a FIFO", func() error { return sc.Paths(ctx, []string{fifo}, nil) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Paths = %v, want context.Canceled", err)
		}
	})
	t.Run("read", func(t *testing.T) {
		fifo := mkfifo(t)
		w := make(chan *os.File, 1)
		go func() {
			f, _ := os.OpenFile(fifo, os.O_WRONLY, 0)
			f.Write([]byte(`{"Records":[`)) // and then nothing, for ever
			w <- f
		}()
		defer func() { (<-w).Close() }()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		sc := New(Options{Special: true})
		err := finish(t, "canceled read of a FIFO", func() error { return sc.Paths(ctx, []string{fifo}, nil) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Paths = %v, want context.Canceled", err)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		r, w := io.Pipe() // a writer that never writes
		defer w.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		sc := New(Options{})
		err := finish(t, "canceled read of stdin", func() error { return sc.Paths(ctx, []string{Stdin}, r) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Paths = %v, want context.Canceled", err)
		}
	})
}

func TestForeignFilesAreCounted(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.json", "b.json", "c.json"} {
		os.WriteFile(filepath.Join(dir, n), []byte(`{"dataset":"metadata","rows":3}`), 0o600)
	}
	var names []string
	sc := New(Options{Foreign: func(name string, values int64) { names = append(names, name) }, Warnings: func(w string) { t.Errorf("warning: %s", w) }})
	if err := sc.Paths(context.Background(), []string{dir}, nil); err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 || sc.Stats.Snapshot().Foreign != 3 {
		t.Errorf("foreign: %v %+v", names, sc.Stats.Snapshot())
	}
}
