package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"

	"github.com/trailwatch/trailwatch/internal/event"
)

// Limits bound one chunk of a large object (a log file, an S3 object): it
// ends at Records records or Bytes bytes of decompressed records,
// whichever comes first. Each chunk is its own Batch, committed in its own
// transaction, so one large object never makes one giant commit.
type Limits struct {
	Records int
	Bytes   int
}

// The default chunk limits.
const (
	DefaultChunkRecords = 2000
	DefaultChunkBytes   = 4 << 20
)

// MaxChunkBytes is the most chunk_bytes may be.
const MaxChunkBytes = 64 << 20

// CheckLimits validates the chunk_records and chunk_bytes settings of a
// source (0 means the default).
func CheckLimits(records, bytes int) []error {
	var errs []error
	if records < 0 || records > 100000 {
		errs = append(errs, fmt.Errorf("chunk_records: %d is not between 1 and 100000 (0 for the default, %d)", records, DefaultChunkRecords))
	}
	if bytes < 0 || bytes > MaxChunkBytes {
		errs = append(errs, fmt.Errorf("chunk_bytes: %d is not between 1 and %d (0 for the default, %d)", bytes, MaxChunkBytes, DefaultChunkBytes))
	}
	return errs
}

// OrDefault fills the zero fields with the defaults.
func (l Limits) OrDefault() Limits {
	if l.Records <= 0 {
		l.Records = DefaultChunkRecords
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultChunkBytes
	}
	return l
}

// Chunk is a bounded run of an object's records.
type Chunk struct {
	// Offset is the index (among the object's records) of the chunk's
	// first record; Records how many records it holds.
	Offset, Records int
	// Events are the decoded records some rule may match.
	Events []*event.Event
	// Errs are problems with single records, or the structural error that
	// ended the object.
	Errs []error
	// Last is set on the object's last chunk (which may hold no record).
	Last bool
}

// Chunker reads an object, plain or gzip-compressed (told by its first
// bytes), chunk by chunk: its memory is bounded by the limits, not by the
// object.
type Chunker struct {
	origin string
	wants  Wants
	lim    Limits
	body   *readErr
	zr     *gzip.Reader
	sp     *event.Splitter
	skip   int // records still to pass over (committed before a restart)
	n      int // records read so far, skipped ones included
	done   bool
	opened []error // a problem found at open (not gzip), reported as the only chunk
}

// NewChunker reads r. skip records are passed over without a word (they
// were committed before: the object's checkpoint says so); problems among
// them were reported then.
func NewChunker(r io.Reader, origin string, wants Wants, maxRecord int, lim Limits, skip int) *Chunker {
	c := &Chunker{origin: origin, wants: wants, lim: lim.OrDefault(), body: &readErr{r: r}, skip: skip}
	br := bufio.NewReaderSize(c.body, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			c.done = true
			if c.body.err == nil {
				c.opened = []error{fmt.Errorf("%s: gzip: %w", origin, err)}
			}
			return c
		}
		c.zr = zr
		in = zr
	}
	c.sp = event.NewSplitter(in, maxRecord)
	return c
}

// Next returns the next chunk. A failure to read the object itself (disk,
// network) is returned as an error, since reading again may succeed;
// problems with the content are in the chunk's Errs. After the Last chunk
// Next returns io.EOF.
func (c *Chunker) Next() (Chunk, error) {
	if c.opened != nil { // not gzip after all: one last chunk says so
		ch := Chunk{Offset: c.n, Errs: c.opened, Last: true}
		c.opened = nil
		return ch, nil
	}
	if c.done {
		if c.body.err != nil {
			return Chunk{}, fmt.Errorf("read %s: %w", c.origin, c.body.err)
		}
		return Chunk{}, io.EOF
	}
	var ch Chunk
	size := 0
	for ch.Records < c.lim.Records && size < c.lim.Bytes {
		it, err := c.sp.Next()
		if err == io.EOF {
			c.done, ch.Last = true, true
			break
		}
		if err != nil {
			if c.body.err == nil && c.n >= c.skip {
				ch.Errs = append(ch.Errs, fmt.Errorf("%s: %w", c.origin, err))
			}
			if !c.sp.Resync() {
				c.done, ch.Last = true, true
				break
			}
			continue
		}
		c.n++
		if c.n <= c.skip {
			continue // committed before
		}
		if ch.Records == 0 {
			ch.Offset = c.n - 1
		}
		ch.Records++
		size += len(it.Raw)
		if len(it.Source) == 0 || (c.wants != nil && !c.wants(it.Source, it.Name)) {
			continue // not CloudTrail, or no rule watches it
		}
		ev, err := event.Decode(&it)
		if err != nil {
			ch.Errs = append(ch.Errs, fmt.Errorf("%s: %w", c.origin, err))
			continue
		}
		ev.Origin = c.origin
		ch.Events = append(ch.Events, ev)
	}
	if ch.Records == 0 {
		ch.Offset = c.n
	}
	if c.body.err != nil {
		c.done = true
		return Chunk{}, fmt.Errorf("read %s: %w", c.origin, c.body.err)
	}
	return ch, nil
}

// Close releases the decompressor.
func (c *Chunker) Close() error {
	if c.zr != nil {
		return c.zr.Close()
	}
	return nil
}

// Progress is an object's checkpoint: the version of the object it
// describes (size and modification time, an ETag) and how many of its
// records are committed; Done once all are.
type Progress struct {
	Version string
	Records int
	Done    bool
}

// String encodes the progress as a checkpoint value: the version alone
// once done (as checkpoints were before chunking), else
// "<version>;records=<n>".
func (p Progress) String() string {
	if p.Done {
		return p.Version
	}
	return p.Version + ";records=" + strconv.Itoa(p.Records)
}

// ParseProgress reads a checkpoint value written by Progress.String.
func ParseProgress(v string) Progress {
	if ver, n, ok := strings.Cut(v, ";records="); ok {
		if k, err := strconv.Atoi(n); err == nil && k >= 0 {
			return Progress{Version: ver, Records: k}
		}
	}
	return Progress{Version: v, Done: v != ""}
}

// Feed hands out one object's chunks as Batches, one at a time: the next
// chunk is read only once the previous one was acknowledged as committed,
// so a checkpoint can follow each commit and memory holds one chunk. A
// chunk acknowledged with an error abandons the object (it is read again
// later, from its last checkpoint). The last chunk is not waited for: the
// feed is over once it is handed out (its Ack still records progress), so
// small objects, one chunk each, flow as fast as before.
type Feed struct {
	c      *Chunker
	closer io.Closer
	origin string
	trails []Trail
	// commit is called from the Ack of a committed chunk with the records
	// committed so far and whether the object is done.
	commit func(ctx context.Context, records int, done bool) error
	nacked func(last bool, err error)
	acks   chan error
	wait   bool // a chunk is out, not yet acknowledged
	handed int  // chunks handed out
	over   bool
	failed error
}

// FeedOptions are what a source gives a Feed besides the chunker.
type FeedOptions struct {
	// Closer is closed when the object is done or abandoned (the open
	// file or response body).
	Closer io.Closer
	// Origin names the object; chunks are named "<origin> records
	// <from>-<to>".
	Origin string
	// Trails are the trails the object carries (from its key).
	Trails []Trail
	// Commit records progress after a chunk's commit: records is how many
	// of the object's records are committed, done whether that is all of
	// them. An error is returned from the chunk's Ack.
	Commit func(ctx context.Context, records int, done bool) error
	// Nacked, when set, is told of a chunk acknowledged with an error.
	Nacked func(last bool, err error)
}

// NewFeed hands out c's chunks.
func NewFeed(c *Chunker, o FeedOptions) *Feed {
	return &Feed{c: c, closer: o.Closer, origin: o.Origin, trails: o.Trails, commit: o.Commit, nacked: o.Nacked, acks: make(chan error, 1)}
}

// ErrAbandoned is what Feed.Next returns once a chunk was acknowledged
// with an error (wrapped with it) or the object could not be read further.
var ErrAbandoned = errors.New("object abandoned")

// Next returns the next chunk as a Batch once the previous one was
// acknowledged. It returns io.EOF when the object is done (every chunk
// committed), an error wrapping ErrAbandoned when a chunk failed, a read
// error when the object could not be read further (both end the feed:
// read the object again later), and ctx.Err() or ErrClosed (closed ends)
// while waiting, leaving the feed as it was.
func (f *Feed) Next(ctx context.Context, closed <-chan struct{}) (*Batch, error) {
	if f.wait {
		select {
		case err := <-f.acks:
			f.wait = false
			if err != nil {
				f.end()
				f.failed = fmt.Errorf("%w: %w", ErrAbandoned, err)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-closed:
			return nil, ErrClosed
		}
	}
	if f.failed != nil {
		return nil, f.failed
	}
	if f.over {
		return nil, io.EOF
	}
	ch, err := f.c.Next()
	if err != nil {
		f.end()
		if err == io.EOF {
			return nil, io.EOF
		}
		f.failed = err
		return nil, err
	}
	if ch.Last {
		f.end()
		if ch.Records == 0 && len(ch.Errs) == 0 && f.handed > 0 {
			// The records ended on the previous chunk's limit: nothing
			// to commit, only the object's end to record.
			if f.commit != nil {
				if err := f.commit(ctx, ch.Offset, true); err != nil {
					f.failed = err
					return nil, err
				}
			}
			return nil, io.EOF
		}
	}
	f.handed++
	origin := f.origin
	if ch.Offset > 0 || !ch.Last {
		origin = fmt.Sprintf("%s records %d-%d", f.origin, ch.Offset, ch.Offset+ch.Records)
	}
	b := &Batch{Origin: origin, Object: f.origin, Offset: ch.Offset, Events: ch.Events, Records: ch.Records, Errors: ch.Errs}
	if ch.Records > 0 {
		b.Trails = f.trails
	}
	upto, last := ch.Offset+ch.Records, ch.Last
	var once atomic.Bool
	b.Ack = func(ctx context.Context, r Result) error {
		if !once.CompareAndSwap(false, true) {
			return fmt.Errorf("%s acknowledged twice", origin)
		}
		var err error
		if r.Err == nil && f.commit != nil {
			err = f.commit(ctx, upto, last)
		}
		if r.Err != nil && f.nacked != nil {
			f.nacked(last, r.Err)
		}
		if !last {
			f.acks <- errors.Join(r.Err, err)
		}
		return err
	}
	f.wait = !last
	return b, nil
}

// Waiting reports whether a chunk is out and not yet acknowledged.
func (f *Feed) Waiting() bool { return f.wait }

func (f *Feed) end() {
	if f.over {
		return
	}
	f.over = true
	f.c.Close()
	if f.closer != nil {
		f.closer.Close()
	}
}
