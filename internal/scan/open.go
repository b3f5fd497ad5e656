package scan

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// kindOf names the kind of a file that is not regular.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "a special file"
}

// open opens a file so that the scan can be stopped while it waits: a
// FIFO's open blocks until a writer comes, so it happens aside, and a stop
// releases it by opening the FIFO for writing at once. special reports a
// file that is not regular, whose reads may block too.
func open(ctx context.Context, path string) (f *os.File, special bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, err
	}
	if st.Mode().IsRegular() {
		f, err := os.Open(path)
		return f, false, err
	}
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.Open(path)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.f, true, r.err
	case <-ctx.Done():
		if st.Mode()&fs.ModeNamedPipe != 0 {
			// Our open waits for a writer: be it, for a moment.
			if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
		go func() { // close whatever the open returns, whenever it does
			if r := <-done; r.f != nil {
				r.f.Close()
			}
		}()
		return nil, true, ctx.Err()
	}
}

// ctxReader stops reading once the context ends (a regular file is read
// in chunks that each return quickly).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// cancelReader reads r in a goroutine of its own, so that Read returns
// when the context ends even if r's Read blocks (standard input, a FIFO,
// a device). The goroutine ends with r's next Read.
type cancelReader struct {
	ctx   context.Context
	reqs  chan []byte
	resps chan readResult
	once  sync.Once
	done  chan struct{}
	buf   []byte
}

type readResult struct {
	n   int
	err error
}

func newCancelReader(ctx context.Context, r io.Reader) *cancelReader {
	c := &cancelReader{ctx: ctx, reqs: make(chan []byte), resps: make(chan readResult, 1), done: make(chan struct{})}
	go func() {
		for {
			select {
			case p := <-c.reqs:
				n, err := r.Read(p)
				c.resps <- readResult{n, err}
			case <-c.done:
				return
			}
		}
	}()
	return c
}

var errReadStopped = errors.New("read stopped")

func (c *cancelReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	// Read into a buffer of our own: after a stop the goroutine may still
	// write into it (and once stopped, Read never looks at it again).
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	buf := c.buf[:len(p)]
	select {
	case c.reqs <- buf:
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	case <-c.done:
		return 0, errReadStopped
	}
	select {
	case r := <-c.resps:
		copy(p, buf[:r.n])
		return r.n, r.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

// Close ends the reading goroutine once its Read in progress, if any,
// returns.
func (c *cancelReader) Close() { c.once.Do(func() { close(c.done) }) }
