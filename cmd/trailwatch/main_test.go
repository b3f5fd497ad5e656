package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be trailwatch in a child process, so that
// a test can signal it.
func TestMain(m *testing.M) {
	if args := os.Getenv("TRAILWATCH_MAIN_ARGS"); args != "" {
		os.Exit(run(strings.Split(args, "\x1f")))
	}
	os.Exit(m.Run())
}

func child(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TRAILWATCH_MAIN_ARGS="+strings.Join(args, "\x1f"))
	return cmd
}

// exitOf starts cmd, sends sig once it waits on its input, and returns
// the exit status and stderr.
func exitOf(t *testing.T, cmd *exec.Cmd, ready func() bool, sig syscall.Signal) (int, string) {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !ready() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child never got ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the child did not stop within a minute of the signal")
		return 0, ""
	}
}

// A scan waiting on a FIFO that never gets a writer stops on Ctrl-C with
// 130, and on SIGTERM with 143.
func TestSignalsStopAScan(t *testing.T) {
	for sig, want := range map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143} {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "trail.json")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("no FIFOs here: %v", err)
		}
		cmd := child("scan", "--quiet", "--db", ":memory:", "--special-files", fifo)
		// Ready once the child has the FIFO open for reading: then a
		// non-blocking open for writing succeeds.
		var w *os.File
		ready := func() bool {
			f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err == nil {
				w = f // keep a writer that never writes
				return true
			}
			return false
		}
		code, stderr := exitOf(t, cmd, ready, sig)
		if w != nil {
			w.Close()
		}
		if code != want || !strings.Contains(stderr, "interrupted") {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", sig, code, want, stderr)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := child("--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "trailwatch ") || !strings.Contains(string(out), " go1.") {
		t.Errorf("--version: %q %v", out, err)
	}
}
