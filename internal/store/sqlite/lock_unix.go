//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// runLock is an OS file lock (flock) held by one trailwatch run. The
// kernel releases it when the process ends, however it ends; the file's
// text only says who holds it.
type runLock struct{ f *os.File }

// acquireRunLock takes the lock on path without waiting, writing the
// holder's process id, host and start time into the file; when another
// process holds it, the error names that holder.
func acquireRunLock(path string) (*runLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", plainPathErr(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 512))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("in use by another trailwatch run (%s); stop it first, or share a PostgreSQL store (store.dsn) to run several instances", sanitize(who))
		}
		return nil, fmt.Errorf("run lock: %w", err)
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))), 0)
	return &runLock{f: f}, nil
}

// release gives the lock up; a nil lock is fine.
func (l *runLock) release() {
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// sanitize keeps a lock file's text printable: it is read back into an
// error shown on a terminal.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
