// Package scan runs the rule engine over CloudTrail files, folders and
// streams: it walks folders, opens plain or gzip files, splits records in
// any delivery format, decodes only the records some rule watches, and hands
// findings and per-file errors to its caller. s3:// paths are listed and
// read through source/s3. It imports event, rule and source/s3.
package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
)

// Options configure a scan.
type Options struct {
	Engine *rule.Engine
	// Workers is how many files are scanned at once; 0 means 2.
	Workers int
	// MaxRecord bounds one record; 0 means event.DefaultMaxRecordSize.
	MaxRecord int
	// Findings receives the findings of each record, from one goroutine
	// at a time. An error from it stops the scan.
	Findings func([]finding.Finding) error
	// Errors receives each problem found in the input (a bad file or
	// record), from one goroutine at a time. The scan goes on.
	Errors func(error)
	// Warnings receives notes that are not errors (a file holding no
	// CloudTrail records, when Foreign is nil).
	Warnings func(string)
	// Foreign, when set, receives instead of a warning each input that
	// held JSON but no CloudTrail record (dataset metadata, say) and how
	// many JSON values it held, so that a caller can summarise them.
	Foreign func(name string, values int64)
	// Special reads FIFOs and devices named as paths; without it they are
	// an error naming them, since a FIFO without a writer blocks and a
	// device may never end. Folders' special files are always skipped.
	Special bool
	// Logger receives the AWS SDK's log lines when s3:// paths are read;
	// nil drops them.
	Logger *slog.Logger
	// S3 reads s3:// paths; nil builds a client from the default AWS
	// configuration (see S3EndpointEnv).
	S3 S3Client
}

// Stats count what a scan saw. Fields are updated atomically while the scan
// runs, so a progress display may read them with Snapshot.
type Stats struct {
	Files, Skipped, Records, Decoded, Findings, Errors, FilesWithErrors atomic.Int64
	// Foreign counts inputs holding JSON but no CloudTrail record.
	Foreign atomic.Int64
	// Bytes counts input bytes after decompression.
	Bytes atomic.Int64
}

// Snapshot is a plain copy of Stats.
type Snapshot struct {
	Files, Skipped, Records, Decoded, Findings, Errors, FilesWithErrors, Bytes, Foreign int64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	return Snapshot{s.Files.Load(), s.Skipped.Load(), s.Records.Load(), s.Decoded.Load(), s.Findings.Load(), s.Errors.Load(), s.FilesWithErrors.Load(), s.Bytes.Load(), s.Foreign.Load()}
}

// FileError is a problem with one input, naming it. The name is quoted in
// the message: a file name may hold a line feed or an escape sequence.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return strconv.Quote(e.Path) + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Scanner scans inputs with fixed options.
type Scanner struct {
	opts  Options
	Stats Stats
	mu    sync.Mutex // serialises the callbacks
	s3    s3Client
}

// New returns a Scanner.
func New(opts Options) *Scanner {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Findings == nil {
		opts.Findings = func([]finding.Finding) error { return nil }
	}
	if opts.Errors == nil {
		opts.Errors = func(error) {}
	}
	if opts.Warnings == nil {
		opts.Warnings = func(string) {}
	}
	return &Scanner{opts: opts}
}

// Stdin is the path that names standard input.
const Stdin = "-"

// Scannable reports whether a file found while walking a folder looks like
// CloudTrail data. Files named on the command line are always scanned.
func Scannable(name string) bool {
	n := strings.ToLower(name)
	n = strings.TrimSuffix(n, ".gz")
	for _, ext := range []string{".json", ".jsonl", ".ndjson", ".cloudtrail", ".log"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}

// Paths scans files, folders (recursively, skipping CloudTrail-Digest),
// s3://bucket/prefix (every object under it, skipping digests) and "-" for
// stdin. It returns an error only when the scan could not go on
// (the context ended or Findings failed); problems with inputs go to
// Options.Errors and are counted.
func (s *Scanner) Paths(ctx context.Context, paths []string, stdin io.Reader) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := &reader{}
			for p := range jobs {
				if err := s.file(ctx, rd, p, stdin); err != nil {
					cancel(err)
				}
			}
		}()
	}
	send := func(p string) bool {
		select {
		case jobs <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
walk:
	for _, p := range paths {
		if p == Stdin {
			if !send(p) {
				break
			}
			continue
		}
		if isS3(p) {
			if !s.s3List(ctx, p, send) {
				break
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			s.fail(&FileError{Path: p, Err: errors.Unwrap(err)})
			continue
		}
		if !st.IsDir() {
			if !st.Mode().IsRegular() && !s.opts.Special {
				s.fail(&FileError{Path: p, Err: fmt.Errorf("%s, not a regular file: not read (name it with --special-files to read it)", kindOf(st.Mode()))})
				s.Stats.FilesWithErrors.Add(1)
				continue
			}
			if !send(p) {
				break
			}
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				s.fail(&FileError{Path: path, Err: errors.Unwrap(err)})
				return nil
			}
			if d.IsDir() {
				if d.Name() == "CloudTrail-Digest" {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || !Scannable(d.Name()) {
				s.Stats.Skipped.Add(1)
				return nil
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			s.fail(&FileError{Path: p, Err: err})
		}
		sort.Strings(files)
		for _, f := range files {
			if !send(f) {
				break walk
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func (s *Scanner) fail(err error) {
	s.Stats.Errors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Errors(err)
}

// reader holds what reading one file needs, reused from file to file by
// one worker so that a scan of thousands of files does not allocate (and
// collect) buffers for each.
type reader struct {
	br *bufio.Reader
	zr *gzip.Reader
	sp *event.Splitter
}

func (s *Scanner) file(ctx context.Context, rd *reader, path string, stdin io.Reader) error {
	if isS3(path) {
		return s.s3Object(ctx, path)
	}
	var r io.Reader
	name := path
	if path == Stdin {
		// Standard input may block (a terminal, a pipe whose writer
		// waits): read it aside so that the scan can stop.
		cr := newCancelReader(ctx, stdin)
		defer cr.Close()
		r, name = cr, "stdin"
	} else {
		f, special, err := open(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.fail(&FileError{Path: path, Err: unwrapPath(err)})
			s.Stats.FilesWithErrors.Add(1)
			return nil
		}
		defer f.Close()
		r = ctxReader{ctx, f}
		if special {
			cr := newCancelReader(ctx, f)
			defer cr.Close()
			r = cr
		}
	}
	s.Stats.Files.Add(1)
	if err := s.read(ctx, rd, name, r); err != nil {
		return err
	}
	return ctx.Err()
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Reader scans one stream, plain or gzip-compressed (detected from its
// first bytes). name is used in errors and as the findings' origin.
func (s *Scanner) Reader(ctx context.Context, name string, r io.Reader) error {
	return s.read(ctx, &reader{}, name, r)
}

func (s *Scanner) read(ctx context.Context, rd *reader, name string, r io.Reader) error {
	if rd.br == nil {
		rd.br = bufio.NewReaderSize(r, 64<<10)
	} else {
		rd.br.Reset(r)
	}
	var in io.Reader = rd.br
	if magic, _ := rd.br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if rd.zr == nil {
			rd.zr, err = gzip.NewReader(rd.br)
		} else {
			err = rd.zr.Reset(rd.br)
		}
		if err != nil {
			rd.zr = nil
			s.fail(&FileError{Path: name, Err: fmt.Errorf("gzip: %w", err)})
			s.Stats.FilesWithErrors.Add(1)
			return nil
		}
		in = rd.zr
	}
	if rd.sp == nil {
		rd.sp = event.NewSplitter(nil, s.opts.MaxRecord)
	}
	cr := &countingReader{r: in}
	defer func() { s.Stats.Bytes.Add(cr.n) }()
	rd.sp.Reset(cr)
	return s.records(ctx, name, rd.sp)
}

func (s *Scanner) records(ctx context.Context, name string, sp *event.Splitter) error {
	eng := s.opts.Engine
	var records, foreign, counted int64
	hadErr := false
	defer func() {
		s.Stats.Records.Add(records - counted)
		if hadErr {
			s.Stats.FilesWithErrors.Add(1)
		}
		if records > 0 && foreign == records {
			s.Stats.Foreign.Add(1)
			s.mu.Lock()
			if s.opts.Foreign != nil {
				s.opts.Foreign(name, foreign)
			} else {
				s.opts.Warnings(fmt.Sprintf("%s: no CloudTrail records (%d JSON objects without eventSource and eventName)", strconv.Quote(name), foreign))
			}
			s.mu.Unlock()
		}
	}()
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		it, err := sp.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			hadErr = true
			s.fail(&FileError{Path: name, Err: err})
			if !sp.Resync() {
				return nil
			}
			continue
		}
		records++
		if records-counted == 4096 { // shared counters are touched rarely
			s.Stats.Records.Add(records - counted)
			counted = records
		}
		if len(it.Source) == 0 || len(it.Name) == 0 {
			foreign++
			continue
		}
		if eng == nil || !eng.WantsItem(&it) {
			continue
		}
		s.Stats.Decoded.Add(1)
		ev, err := event.Decode(&it)
		if err != nil {
			hadErr = true
			s.fail(&FileError{Path: name, Err: err})
			continue
		}
		ev.Origin = name
		fs := eng.Evaluate(ev)
		if len(fs) == 0 {
			continue
		}
		s.Stats.Findings.Add(int64(len(fs)))
		s.mu.Lock()
		err = s.opts.Findings(fs)
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
