// Package spill sorts findings in bounded memory: an external merge sort.
//
// A Sorter takes findings in any order, each as a sort key (event time,
// then finding id) and the bytes that stand for it (what the caller will
// print or store). It holds up to a budget of them in memory; past it, it
// sorts what it holds and writes it as one sorted run to a temporary file.
// Each then merges the runs (and what is still in memory) in order, so the
// memory used is the budget plus a read buffer per run, whatever the
// number of findings. Findings with equal keys keep the order they were
// added in.
//
// Temporary files are created 0600, each in a private folder (0700) of its
// own, and both are removed at once: the open file keeps the data, and
// nothing is left on disk however the process ends (even killed). Close
// releases them. Every error names the file it concerns.
package spill

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// DefaultBudget is the memory a Sorter holds before it spills, when
// Options.Budget is 0.
const DefaultBudget = 32 << 20

// MaxRecord is the largest Data one record may have: a run file that
// claims more is corrupt.
const MaxRecord = 256 << 20

// fanIn is how many runs are merged at once; past it, runs are merged in
// rounds, so a tiny budget does not open thousands of files.
const fanIn = 64

// perRecord is the bookkeeping a record costs in memory besides its bytes.
const perRecord = 64

// Key is where a finding sorts: by event time, then by id.
type Key struct {
	Sec  int64
	Nsec int32
	ID   string
}

// KeyOf is a finding's key.
func KeyOf(f *finding.Finding) Key {
	return Key{Sec: f.EventTime.Unix(), Nsec: int32(f.EventTime.Nanosecond()), ID: f.ID}
}

// KeyAt is the key of a time and an id.
func KeyAt(t time.Time, id string) Key {
	return Key{Sec: t.Unix(), Nsec: int32(t.Nanosecond()), ID: id}
}

// Compare orders keys: earlier first, then by id.
func (k Key) Compare(o Key) int {
	if c := cmp.Compare(k.Sec, o.Sec); c != 0 {
		return c
	}
	if c := cmp.Compare(k.Nsec, o.Nsec); c != 0 {
		return c
	}
	return cmp.Compare(k.ID, o.ID)
}

// Options shape a Sorter.
type Options struct {
	// Budget is how many bytes of records (their Data and id, plus a small
	// overhead each) are held in memory before a sorted run is written to
	// disk; 0 means DefaultBudget.
	Budget int64
	// Dir is where the private temporary folder is created; "" means the
	// system's (os.TempDir, $TMPDIR).
	Dir string
}

// record is one finding in memory or on disk.
type record struct {
	key  Key
	seq  uint64 // order of Add, which breaks ties
	data []byte
}

func (r *record) compare(o *record) int {
	if c := r.key.Compare(o.key); c != 0 {
		return c
	}
	return cmp.Compare(r.seq, o.seq)
}

// Sorter is an external merge sort of findings. It is not safe for use by
// several goroutines at once.
type Sorter struct {
	o       Options
	mem     []record
	used    int64
	seq     uint64
	runs    []*run
	spilled int      // runs written from memory
	kept    []string // files and folders that could not be removed while open
	done    bool
}

// run is one sorted run in a temporary file. The file is removed (with its
// private folder) as soon as it is created, and lives on while open, so
// nothing is left behind however the process ends; where an open file
// cannot be removed, Close removes it.
type run struct {
	f     *os.File
	name  string // the file's path, for errors
	level int    // 0: written from memory; n: merged from runs of level n-1
}

// New returns an empty Sorter.
func New(o Options) *Sorter {
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	return &Sorter{o: o}
}

// Add takes a finding's key and bytes. Data is copied.
func (s *Sorter) Add(k Key, data []byte) error {
	if s.done {
		return errors.New("spill: Add after Each")
	}
	if len(data) > MaxRecord {
		return fmt.Errorf("spill: a record of %d bytes is larger than the %d a run may hold", len(data), MaxRecord)
	}
	s.mem = append(s.mem, record{key: k, seq: s.seq, data: slices.Clone(data)})
	s.seq++
	s.used += int64(len(data)+len(k.ID)) + perRecord
	if s.used >= s.o.Budget {
		return s.spill()
	}
	return nil
}

// Len is how many findings were added.
func (s *Sorter) Len() uint64 { return s.seq }

// Runs is how many sorted runs were written from memory so far.
func (s *Sorter) Runs() int { return s.spilled }

// Open is how many run files are open (at most fanIn per level of merging).
func (s *Sorter) Open() int { return len(s.runs) }

func (s *Sorter) sortMem() {
	slices.SortFunc(s.mem, func(a, b record) int { return a.compare(&b) })
}

// spill writes what is in memory as one sorted run, then merges runs of a
// level that has fanIn of them into one run of the next level, so the
// files open stay few however small the budget.
func (s *Sorter) spill() error {
	if len(s.mem) == 0 {
		return nil
	}
	s.sortMem()
	w, err := s.create(0)
	if err != nil {
		return err
	}
	for i := range s.mem {
		if err := w.write(&s.mem[i]); err != nil {
			w.r.f.Close()
			return err
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	s.runs = append(s.runs, w.r)
	s.spilled++
	clear(s.mem) // let the bytes go
	s.mem = s.mem[:0]
	s.used = 0
	for level := 0; ; level++ {
		var group, rest []*run
		for _, r := range s.runs {
			if r.level == level {
				group = append(group, r)
			} else {
				rest = append(rest, r)
			}
		}
		if len(group) < fanIn {
			return nil
		}
		m, err := s.mergeRuns(group, level+1)
		if err != nil {
			return err
		}
		s.runs = append(rest, m)
	}
}

// mergeRuns merges runs into one new run of a level and closes them.
// Every record carries its sequence number, so which runs are merged
// together does not change the order of ties.
func (s *Sorter) mergeRuns(group []*run, level int) (*run, error) {
	w, err := s.create(level)
	if err != nil {
		return nil, err
	}
	if err := merge(group, w.write); err != nil {
		w.r.f.Close()
		return nil, err
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	for _, r := range group {
		r.f.Close()
	}
	return w.r, nil
}

// Each calls fn with every finding's bytes, in key order (ties in the
// order added), and stops at fn's first error. It may be called once;
// the slice fn gets is valid only during the call.
func (s *Sorter) Each(fn func(k Key, data []byte) error) error {
	if s.done {
		return errors.New("spill: Each called twice")
	}
	s.done = true
	if len(s.runs) == 0 {
		s.sortMem()
		for i := range s.mem {
			if err := fn(s.mem[i].key, s.mem[i].data); err != nil {
				return err
			}
		}
		s.mem = nil
		return nil
	}
	if err := s.spill(); err != nil {
		return err
	}
	s.mem = nil
	for len(s.runs) > fanIn {
		m, err := s.mergeRuns(s.runs[:fanIn], 0)
		if err != nil {
			return err
		}
		s.runs = append([]*run{m}, s.runs[fanIn:]...)
	}
	return merge(s.runs, func(r *record) error { return fn(r.key, r.data) })
}

// Close closes the run files (which removes them) and removes what could
// not be removed while open. It is safe to call more than once.
func (s *Sorter) Close() error {
	s.mem = nil
	s.done = true
	for _, r := range s.runs {
		r.f.Close()
	}
	s.runs = nil
	var errs []error
	// Files before their folders.
	for _, p := range s.kept {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spill: removing %s: %w", p, err))
		}
	}
	s.kept = nil
	return errors.Join(errs...)
}

// createHook, when set (by tests), sees each run file as it is created,
// before it is removed.
var createHook func(dir string, f *os.File)

// runWriter writes one run file.
type runWriter struct {
	r   *run
	bw  *bufio.Writer
	hdr []byte
}

// create makes a run file in a private folder of its own (0700, 0600),
// then removes both: the open file keeps the data.
func (s *Sorter) create(level int) (*runWriter, error) {
	dir, err := os.MkdirTemp(s.o.Dir, "trailwatch-spill-") // 0700
	if err != nil {
		return nil, fmt.Errorf("spill: creating a temporary folder: %w", err)
	}
	p := filepath.Join(dir, "run")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("spill: %w", err) // *PathError names the file
	}
	if createHook != nil {
		createHook(dir, f)
	}
	if err := os.Remove(p); err != nil {
		s.kept = append(s.kept, p)
	}
	if err := os.Remove(dir); err != nil {
		s.kept = append(s.kept, dir)
	}
	r := &run{f: f, name: p, level: level}
	return &runWriter{r: r, bw: bufio.NewWriterSize(f, 64<<10)}, nil
}

// A record on disk: uvarint len(id), id, varint sec, uvarint nsec,
// uvarint seq, uvarint len(data), data.
func (w *runWriter) write(r *record) error {
	h := w.hdr[:0]
	h = binary.AppendUvarint(h, uint64(len(r.key.ID)))
	h = append(h, r.key.ID...)
	h = binary.AppendVarint(h, r.key.Sec)
	h = binary.AppendUvarint(h, uint64(r.key.Nsec))
	h = binary.AppendUvarint(h, r.seq)
	h = binary.AppendUvarint(h, uint64(len(r.data)))
	w.hdr = h
	if _, err := w.bw.Write(h); err != nil {
		return fmt.Errorf("spill: writing %s: %w", w.r.name, err)
	}
	if _, err := w.bw.Write(r.data); err != nil {
		return fmt.Errorf("spill: writing %s: %w", w.r.name, err)
	}
	return nil
}

// finish flushes the run; it is read from its start.
func (w *runWriter) finish() error {
	if err := w.bw.Flush(); err != nil {
		w.r.f.Close()
		return fmt.Errorf("spill: writing %s: %w", w.r.name, err)
	}
	return nil
}

// runReader reads one run file record by record.
type runReader struct {
	path string
	br   *bufio.Reader
	cur  record
}

func openRun(r *run) (*runReader, error) {
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spill: reading %s: %w", r.name, err)
	}
	return &runReader{path: r.name, br: bufio.NewReaderSize(r.f, 32<<10)}, nil
}

// next reads the next record into cur; io.EOF at a clean end.
func (r *runReader) next() error {
	n, err := binary.ReadUvarint(r.br)
	if err == io.EOF {
		return io.EOF
	}
	bad := func(what string, err error) error {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("spill: reading %s: %s: %w", r.path, what, err)
	}
	if err != nil {
		return bad("id length", err)
	}
	if n > MaxRecord {
		return bad("id length", fmt.Errorf("%d bytes, corrupt", n))
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(r.br, id); err != nil {
		return bad("id", err)
	}
	sec, err := binary.ReadVarint(r.br)
	if err != nil {
		return bad("time", err)
	}
	nsec, err := binary.ReadUvarint(r.br)
	if err != nil {
		return bad("time", err)
	}
	seq, err := binary.ReadUvarint(r.br)
	if err != nil {
		return bad("sequence", err)
	}
	dn, err := binary.ReadUvarint(r.br)
	if err != nil {
		return bad("data length", err)
	}
	if dn > MaxRecord {
		return bad("data length", fmt.Errorf("%d bytes, corrupt", dn))
	}
	data := r.cur.data[:0]
	if uint64(cap(data)) < dn {
		data = make([]byte, dn)
	}
	data = data[:dn]
	if _, err := io.ReadFull(r.br, data); err != nil {
		return bad("data", err)
	}
	r.cur = record{key: Key{Sec: sec, Nsec: int32(nsec), ID: string(id)}, seq: seq, data: data}
	return nil
}

// mergeHeap orders the runs by their current record.
type mergeHeap []*runReader

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return h[i].cur.compare(&h[j].cur) < 0 }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// merge reads the runs in key order and hands each record to fn.
func merge(runs []*run, fn func(*record) error) error {
	var h mergeHeap
	for _, run := range runs {
		r, err := openRun(run)
		if err != nil {
			return err
		}
		switch err := r.next(); err {
		case nil:
			h = append(h, r)
		case io.EOF:
		default:
			return err
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		r := h[0]
		if err := fn(&r.cur); err != nil {
			return err
		}
		switch err := r.next(); err {
		case nil:
			heap.Fix(&h, 0)
		case io.EOF:
			heap.Pop(&h)
		default:
			return err
		}
	}
	return nil
}
