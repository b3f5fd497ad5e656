package source

import (
	"context"
	"errors"
	"io"
	"time"
)

// Poller is the skeleton of a source that polls (a folder, a bucket): it
// makes passes one interval apart, hands out what each pass found, and
// follows a large object chunk by chunk (a Feed) before taking the next;
// with a zero interval it makes one pass and is then exhausted. It is
// used from the source's Read goroutine only.
type Poller struct {
	// Interval is the pause between the end of one pass and the start of
	// the next; 0 makes one pass.
	Interval time.Duration
	// After waits; nil means time.After. Tests use it to drive passes.
	After func(time.Duration) <-chan time.Time
	// Closed is closed by the source's Close.
	Closed <-chan struct{}

	passes int
	cur    *Feed
	end    func(error)
}

// Follow makes f the object being handed out; end is called once it is
// over, with io.EOF (every chunk handed out), an error wrapping
// ErrAbandoned (a chunk failed) or the error that stopped reading it.
func (p *Poller) Follow(f *Feed, end func(error)) { p.cur, p.end = f, end }

// Passes counts the passes started.
func (p *Poller) Passes() int { return p.passes }

// Read returns the next batch: the next chunk of the object followed, else
// what next hands out from the current pass (nil when the pass has
// nothing more), else, after the interval, what a new pass (started by
// pass) finds. It returns ctx.Err() when ctx ends, ErrClosed once closed,
// ErrExhausted after the one pass of a zero interval, and the errors of
// next and pass as they are.
func (p *Poller) Read(ctx context.Context, next func(context.Context) (*Batch, error), pass func(context.Context) error) (*Batch, error) {
	after := p.After
	if after == nil {
		after = time.After
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		select {
		case <-p.Closed:
			return nil, ErrClosed
		default:
		}
		if p.cur != nil {
			b, err := p.cur.Next(ctx, p.Closed)
			if err == nil {
				return b, nil
			}
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return nil, err
			}
			end := p.end
			p.cur, p.end = nil, nil
			if end != nil {
				end(err)
			}
			continue
		}
		b, err := next(ctx)
		if err != nil || b != nil {
			return b, err
		}
		if p.passes > 0 {
			if p.Interval == 0 {
				return nil, ErrExhausted
			}
			select {
			case <-after(p.Interval):
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-p.Closed:
				return nil, ErrClosed
			}
		}
		if err := pass(ctx); err != nil {
			return nil, err
		}
		p.passes++
	}
}

// Ended reports whether err, given to a Follow end function, says the
// object was handed out to its end (rather than abandoned or broken).
func Ended(err error) bool { return err == io.EOF }
