// Package file is the source that watches a folder (recursively) for
// CloudTrail log files, plain or gzip-compressed, by polling. A file is
// handed out in chunks (source.Limits: 2,000 records or 4 MB by default),
// one at a time, each its own batch; the next chunk is read once the
// previous one is committed. It remembers its progress through
// store.Checkpoints, one key per file ("<size>:<mtime>;records=<n>" while
// a file is part-way, "<size>:<mtime>" once done), so a restart reads only
// files that are new or changed, and resumes a large file after its last
// committed chunk. A file is read once its size and modification time
// stayed the same between two polls, so a file still being written waits.
// It imports source, store and event.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Config configures the file source.
type Config struct {
	// Path is the folder to watch, with its subfolders; required.
	Path string `yaml:"path"`
	// PollInterval is the pause between two looks at the folder; default
	// 10s. 0 reads the files there once, then the source is exhausted.
	PollInterval string `yaml:"poll_interval"`
	// Pattern is a glob on file names (not paths); default *.json* (which
	// takes .json, .json.gz, .jsonl). Hidden files (.name) are skipped.
	Pattern string `yaml:"pattern"`
	// Start is "all" (default: read the files already there too) or "new"
	// (only files written after the source first started on this folder).
	Start string `yaml:"start"`
	// ChunkRecords and ChunkBytes bound one chunk of a large file (its
	// own batch and transaction); defaults 2000 records and 4 MiB of
	// decompressed records.
	ChunkRecords int `yaml:"chunk_records"`
	ChunkBytes   int `yaml:"chunk_bytes"`

	checked bool
	poll    time.Duration
	abs     string
}

// Check applies defaults and validates, reporting every problem with the
// key it concerns. The folder must exist.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: missing"))
	} else {
		abs, err := filepath.Abs(c.Path)
		if err == nil {
			// Walk the real folder when path is a symbolic link to it.
			if resolved, err := filepath.EvalSymlinks(abs); err == nil {
				abs = resolved
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("path: %w", err))
		} else if st, err := os.Stat(abs); err != nil {
			errs = append(errs, fmt.Errorf("path: %w", unwrapPath(err)))
		} else if !st.IsDir() {
			errs = append(errs, fmt.Errorf("path: %s is not a folder", c.Path))
		}
		c.abs = abs
	}
	c.poll = 10 * time.Second
	if c.PollInterval != "" {
		d, err := duration.Parse(c.PollInterval)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("poll_interval: %q is not a duration (10s, 1m; 0 for one pass)", c.PollInterval))
		case d < 0:
			errs = append(errs, errors.New("poll_interval: must not be negative"))
		default:
			c.poll = d
		}
	}
	if c.Pattern == "" {
		c.Pattern = "*.json*"
	}
	if _, err := filepath.Match(c.Pattern, ""); err != nil {
		errs = append(errs, fmt.Errorf("pattern: %q: %w", c.Pattern, err))
	}
	switch c.Start {
	case "":
		c.Start = "all"
	case "all", "new":
	default:
		errs = append(errs, fmt.Errorf("start: %q is not all or new", c.Start))
	}
	errs = append(errs, source.CheckLimits(c.ChunkRecords, c.ChunkBytes)...)
	c.checked = len(errs) == 0
	return errors.Join(errs...)
}

// Limits are the chunk limits the configuration sets.
func (c Config) Limits() source.Limits {
	return source.Limits{Records: c.ChunkRecords, Bytes: c.ChunkBytes}.OrDefault()
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// Options configure a Source beyond its Config.
type Options struct {
	Wants  source.Wants
	Logger *slog.Logger
	// Checkpoints remember the processed files; nil keeps them in memory
	// only (every start reads the folder again).
	Checkpoints store.Checkpoints
	// Now is the clock, for the first start time; nil means time.Now.
	Now func() time.Time
	// MaxRecord bounds one record; 0 means the default.
	MaxRecord int
	// After waits between polls; nil means time.After. Tests use it to
	// drive polls.
	After func(time.Duration) <-chan time.Time
	// Limits bound a chunk; zero means the configuration's (chunk_records,
	// chunk_bytes).
	Limits source.Limits
}

// state is what a file looked like: size and modification time. A
// checkpoint stores it as "<size>:<mtime in Unix nanoseconds>".
type state struct {
	size, mtime int64
}

func (s state) String() string {
	return strconv.FormatInt(s.size, 10) + ":" + strconv.FormatInt(s.mtime, 10)
}

func parseState(v string) (state, bool) {
	a, b, ok := strings.Cut(v, ":")
	if !ok {
		return state{}, false
	}
	size, err1 := strconv.ParseInt(a, 10, 64)
	mtime, err2 := strconv.ParseInt(b, 10, 64)
	return state{size, mtime}, err1 == nil && err2 == nil
}

// entry is what the source knows of one file.
type entry struct {
	looked   bool  // its checkpoint was read
	done     state // as it was when last processed
	hasDone  bool
	seen     state // at the previous poll
	hasSeen  bool
	queued   bool
	inflight bool
}

// Source watches one folder. Read is called from one goroutine; Ack from
// any.
type Source struct {
	name    string
	cfg     Config
	opts    Options
	ck      store.Checkpoints
	log     *slog.Logger
	start   time.Time // first start on this folder
	closed  chan struct{}
	closeMu sync.Once
	poll    source.Poller
	queue   []string

	mu    sync.Mutex // guards files
	files map[string]*entry

	// Counters for metrics: files handed out, and problems (a folder or
	// file that could not be read, a checkpoint not saved).
	Files, Errors atomic.Int64
}

// New builds the source, without I/O (Start reads its checkpoint).
func New(name string, c Config, o Options) (*Source, error) {
	if !c.checked {
		if err := c.Check(os.Getenv); err != nil {
			return nil, fmt.Errorf("file source %s: %w", name, err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Checkpoints == nil {
		o.Checkpoints = &memCheckpoints{m: map[string]string{}}
	}
	if o.Limits == (source.Limits{}) {
		o.Limits = c.Limits()
	}
	s := &Source{name: name, cfg: c, opts: o, ck: o.Checkpoints, log: o.Logger, closed: make(chan struct{}), files: map[string]*entry{}}
	s.poll = source.Poller{Interval: c.poll, After: o.After, Closed: s.closed}
	return s, nil
}

// Start reads when the source first started on the folder, remembered
// under the checkpoint key "file://<absolute folder>" (with start: new,
// files not processed before and last modified before it are ignored),
// and saves it on the first start. A checkpoint that cannot be read or
// saved is worth retrying.
func (s *Source) Start(ctx context.Context) error {
	key := "file://" + s.cfg.abs
	v, err := s.ck.Checkpoint(ctx, key)
	if err != nil {
		return fmt.Errorf("file source %s: read checkpoint %s: %w", s.name, key, err)
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		s.start = t
	} else {
		s.start = s.opts.Now()
		if err := s.ck.SetCheckpoint(ctx, key, s.start.UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("file source %s: save checkpoint %s: %w", s.name, key, err)
		}
	}
	return nil
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Close stops the source: Read returns source.ErrClosed. Chunks handed
// out and not acknowledged are read again after a restart.
func (s *Source) Close(ctx context.Context) error {
	s.closeMu.Do(func() { close(s.closed) })
	return nil
}

// Read returns the next chunk of the file being read, else the next file
// ready to be read, in path order within a poll. When none is left it
// waits for the poll interval (or, with poll_interval 0, returns
// source.ErrExhausted).
func (s *Source) Read(ctx context.Context) (*source.Batch, error) {
	return s.poll.Read(ctx, s.nextFile, s.scan)
}

// nextFile opens the next queued file and returns its first chunk; nil
// when the queue is empty.
func (s *Source) nextFile(ctx context.Context) (*source.Batch, error) {
	for len(s.queue) > 0 {
		path := s.queue[0]
		s.queue = s.queue[1:]
		b, err := s.read(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.Errors.Add(1)
			s.log.Warn("file not read; trying again at the next poll", "file", path, "err", err)
		}
		if b != nil {
			s.Files.Add(1)
			return b, nil
		}
	}
	return nil, nil
}

// ended is told how the file being read ended.
func (s *Source) ended(path string) func(error) {
	return func(err error) {
		switch {
		case source.Ended(err):
			// Every chunk handed out; the last one's Ack ends the
			// file's flight.
		case errors.Is(err, source.ErrAbandoned):
			s.clearFlight(path) // said when nacked
		default:
			s.Errors.Add(1)
			s.log.Warn("file not read to its end; reading it again from its last committed chunk at the next poll", "file", path, "err", err)
			s.clearFlight(path)
		}
	}
}

// scan walks the folder and queues the files that are ready: matching the
// pattern, not processed in their current state, not in flight, and (when
// polling) unchanged since the previous poll.
func (s *Source) scan(ctx context.Context) error {
	present := map[string]bool{}
	err := filepath.WalkDir(s.cfg.abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			s.Errors.Add(1)
			s.log.Warn("folder not read", "path", path, "err", unwrapPath(err))
			return nil
		}
		if d.IsDir() {
			if d.Name() == "CloudTrail-Digest" {
				return filepath.SkipDir
			}
			return nil
		}
		// Hidden files are usually temporary ones (rsync, editors).
		if ok, _ := filepath.Match(s.cfg.Pattern, d.Name()); !ok || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone since
		}
		present[path] = true
		return s.consider(ctx, path, state{info.Size(), info.ModTime().UnixNano()})
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for p, e := range s.files {
		if !present[p] && !e.inflight && !e.queued {
			delete(s.files, p)
		}
	}
	s.mu.Unlock()
	return nil
}

func (s *Source) consider(ctx context.Context, path string, now state) error {
	s.mu.Lock()
	e := s.files[path]
	if e == nil {
		e = &entry{}
		s.files[path] = e
	}
	looked := e.looked
	s.mu.Unlock()
	if !looked {
		v, err := s.ck.Checkpoint(ctx, "file://"+path)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.Errors.Add(1)
			s.log.Warn("checkpoint not read; trying again at the next poll", "file", path, "err", err)
			return nil
		}
		done, ok := parseState(v)
		s.mu.Lock()
		e.looked = true
		if ok && !e.hasDone {
			e.done, e.hasDone = done, true
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case e.queued || e.inflight:
		return nil
	case e.hasDone && e.done == now:
		return nil
	case s.cfg.Start == "new" && !e.hasDone && now.mtime <= s.start.UnixNano():
		return nil
	}
	stable := s.cfg.poll == 0 || (e.hasSeen && e.seen == now)
	e.seen, e.hasSeen = now, true
	if stable {
		e.queued = true
		s.queue = append(s.queue, path)
	}
	return nil
}

// read opens one file and hands out its first chunk. A file gone since
// the poll gives no batch and no error; a file that could not be read
// gives an error and is tried again at the next poll.
func (s *Source) read(ctx context.Context, path string) (*source.Batch, error) {
	s.mu.Lock()
	e := s.files[path]
	e.queued = false
	s.mu.Unlock()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, unwrapPath(err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, unwrapPath(err)
	}
	st := state{info.Size(), info.ModTime().UnixNano()}
	key := "file://" + path
	// Resume after the chunks committed before a restart, when the file
	// is still the one they were read from.
	v, err := s.ck.Checkpoint(ctx, key)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	skip := 0
	if p := source.ParseProgress(v); !p.Done && p.Version == st.String() {
		skip = p.Records
		s.log.Info("resuming a file after its committed records", "file", path, "records", skip)
	}
	c := source.NewChunker(f, path, s.opts.Wants, s.opts.MaxRecord, s.opts.Limits, skip)
	feed := source.NewFeed(c, source.FeedOptions{Closer: f, Origin: path, Nacked: func(last bool, err error) {
		s.log.Info("file not committed; reading it again from its last committed chunk at the next poll", "file", path, "err", err)
		if last {
			s.mu.Lock()
			e.inflight = false
			s.mu.Unlock()
		}
	}, Commit: func(ctx context.Context, records int, done bool) error {
		if done {
			s.mu.Lock()
			e.done, e.hasDone, e.inflight = st, true, false
			s.mu.Unlock()
		}
		if err := s.ck.SetCheckpoint(ctx, key, source.Progress{Version: st.String(), Records: records, Done: done}.String()); err != nil {
			return fmt.Errorf("file source %s: save checkpoint for %s: %w", s.name, path, err)
		}
		return nil
	}})
	s.mu.Lock()
	e.inflight = true
	s.mu.Unlock()
	b, err := feed.Next(ctx, s.closed)
	if err != nil {
		s.clearFlight(path)
		return nil, err
	}
	s.poll.Follow(feed, s.ended(path))
	return b, nil
}

// clearFlight makes a file that was abandoned part-way readable again.
func (s *Source) clearFlight(path string) {
	s.mu.Lock()
	if e := s.files[path]; e != nil {
		e.inflight = false
	}
	s.mu.Unlock()
}

// memCheckpoints keeps checkpoints in memory.
type memCheckpoints struct {
	mu sync.Mutex
	m  map[string]string
}

func (m *memCheckpoints) Checkpoint(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[key], nil
}

func (m *memCheckpoints) SetCheckpoint(_ context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = value
	return nil
}

// Counters reports the source's counts for metrics.
func (s *Source) Counters() map[string]int64 {
	return map[string]int64{"files": s.Files.Load(), "errors": s.Errors.Load()}
}
