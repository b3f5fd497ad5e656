package file_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/source/file"
	"github.com/trailwatch/trailwatch/internal/source/sourcetest"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

func record(id string) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},`+
		`"eventTime":"2026-11-01T01:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7",`+
		`"userAgent":"aws-cli/2.15.0","requestParameters":{"name":"prod","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":null,`+
		`"eventID":"%s","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`, id)
}

func logFile(ids ...string) string {
	var recs []string
	for _, id := range ids {
		recs = append(recs, record(id))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

// tempDir is a temporary folder, symbolic links resolved (the source
// reports real paths).
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// poller drives the polls of a source: the source says when it waits, the
// test says when the next poll starts.
type poller struct {
	waiting chan struct{}
	tick    chan time.Time
	stop    chan struct{} // closed when the test ends
}

func newPoller() *poller {
	return &poller{waiting: make(chan struct{}), tick: make(chan time.Time), stop: make(chan struct{})}
}

func (p *poller) after(time.Duration) <-chan time.Time {
	select {
	case p.waiting <- struct{}{}:
	case <-p.stop:
	}
	return p.tick
}

// reader reads a source from a goroutine, handing each batch over.
type reader struct {
	t       *testing.T
	p       *poller
	batches chan *source.Batch
	idle    bool // the source is known to wait for a poll
}

func startReader(t *testing.T, s *file.Source, p *poller) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{t: t, p: p, batches: make(chan *source.Batch)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := s.Read(ctx)
			if err != nil {
				return
			}
			select {
			case r.batches <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { close(p.stop); cancel(); <-done })
	return r
}

// waitIdle waits until the source waits for the next poll.
func (r *reader) waitIdle() {
	r.t.Helper()
	if r.idle {
		return
	}
	select {
	case <-r.p.waiting:
		r.idle = true
	case <-time.After(10 * time.Second):
		r.t.Fatal("the source never waited for the next poll")
	}
}

// tick starts the next poll.
func (r *reader) tick() {
	r.t.Helper()
	r.waitIdle()
	r.idle = false
	r.p.tick <- time.Now()
}

// poll waits until the source waits, then starts the next poll.
func (r *reader) poll() { r.tick() }

// next returns the next batch; nil when the source waits for a poll first.
func (r *reader) next() *source.Batch {
	r.t.Helper()
	if r.idle {
		return nil
	}
	select {
	case b := <-r.batches:
		return b
	case <-r.p.waiting:
		r.idle = true
		return nil
	case <-time.After(10 * time.Second):
		r.t.Fatal("no batch and no wait")
		return nil
	}
}

func ack(t *testing.T, b *source.Batch, err error) {
	t.Helper()
	if e := b.Ack(context.Background(), source.Result{Err: err}); e != nil {
		t.Fatal(e)
	}
}

func openCheckpoints(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ck.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newSource(t *testing.T, c file.Config, o file.Options) *file.Source {
	t.Helper()
	if err := c.Check(nil); err != nil {
		t.Fatal(err)
	}
	s, err := file.New("files", c, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func drain(t *testing.T, s *file.Source) []*source.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*source.Batch
	for {
		b, err := s.Read(ctx)
		if errors.Is(err, source.ErrExhausted) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func origins(bs []*source.Batch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Origin)
	}
	return out
}

func TestWatchesFolder(t *testing.T) {
	dir := tempDir(t)
	a := write(t, dir, "111122223333_CloudTrail_us-east-1_20261101T0100Z_a.json.gz", gz(logFile("a1", "a2")))
	b := write(t, dir, "sub/day/b.json", logFile("b1"))
	write(t, dir, "notes.txt", logFile("x1"))
	write(t, dir, "CloudTrail-Digest/d.json.gz", gz(`{"digestStartTime":"x"}`))
	write(t, dir, ".partial.json.gz", "half")
	ck := openCheckpoints(t)
	p := newPoller()
	s := newSource(t, file.Config{Path: dir, PollInterval: "10s"}, file.Options{Checkpoints: ck, After: p.after})
	r := startReader(t, s, p)

	// First poll: the files are seen; they are read once unchanged at the
	// next poll.
	if got := r.next(); got != nil {
		t.Fatalf("read %s at the first poll, before its size was known stable", got.Origin)
	}
	r.poll()
	got := []*source.Batch{r.next(), r.next()}
	if diff := cmp.Diff([]string{a, b}, origins(got)); diff != "" {
		t.Fatalf("read (-want +got):\n%s", diff)
	}
	if got[0].Records != 2 || len(got[0].Events) != 2 || got[0].Events[0].Origin != a || len(got[0].Errors) != 0 {
		t.Errorf("%s: %d records, %d events, errors %v", a, got[0].Records, len(got[0].Events), got[0].Errors)
	}
	ack(t, got[0], nil)
	ack(t, got[1], errors.New("store unavailable"))

	// The failed one is read again; a new file is read once stable.
	c := write(t, dir, "sub/c.json.gz", gz(logFile("c1")))
	r.poll()
	if b2 := r.next(); b2 == nil || b2.Origin != b {
		t.Fatalf("after a failed ack: %v, want %s again", b2, b)
	} else {
		ack(t, b2, nil)
	}
	r.poll()
	if b3 := r.next(); b3 == nil || b3.Origin != c {
		t.Fatalf("got %v, want the new %s", b3, c)
	} else {
		ack(t, b3, nil)
	}
	r.poll()
	if b4 := r.next(); b4 != nil {
		t.Errorf("read %s again", b4.Origin)
	}
	if s.Files.Load() != 4 || s.Errors.Load() != 0 {
		t.Errorf("counters: files %d, errors %d; want 4, 0", s.Files.Load(), s.Errors.Load())
	}

	// A restart reads only new or changed files.
	s.Close(context.Background())
	write(t, dir, "sub/c.json.gz", gz(logFile("c1", "c2")))
	e := write(t, dir, "e.json", logFile("e1"))
	s2 := newSource(t, file.Config{Path: dir, PollInterval: "0"}, file.Options{Checkpoints: ck})
	if diff := cmp.Diff([]string{e, c}, origins(drain(t, s2))); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

func TestWaitsForGrowingFile(t *testing.T) {
	dir := tempDir(t)
	full := logFile("g1", "g2")
	half := len(full) / 2
	p := newPoller()
	s := newSource(t, file.Config{Path: dir}, file.Options{After: p.after})
	r := startReader(t, s, p)
	r.waitIdle() // the first poll saw an empty folder
	path := write(t, dir, "growing.json", full[:half])
	r.poll() // this one sees the half file
	if got := r.next(); got != nil {
		t.Fatalf("read %s while it was new", got.Origin)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(full[half:])
	f.Close()
	r.poll() // grown since the previous poll: not yet
	if got := r.next(); got != nil {
		t.Fatalf("read %s while it was growing", got.Origin)
	}
	r.poll() // unchanged: read
	got := r.next()
	if got == nil || got.Origin != path || got.Records != 2 || len(got.Errors) != 0 {
		t.Fatalf("got %+v, want %s whole", got, path)
	}
	ack(t, got, nil)
}

func TestStartNew(t *testing.T) {
	dir := tempDir(t)
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	old := write(t, dir, "old.json", logFile("o1"))
	os.Chtimes(old, start.Add(-time.Hour), start.Add(-time.Hour))
	fresh := write(t, dir, "fresh.json", logFile("f1"))
	os.Chtimes(fresh, start.Add(time.Minute), start.Add(time.Minute))
	ck := openCheckpoints(t)
	now := func() time.Time { return start }
	s := newSource(t, file.Config{Path: dir, PollInterval: "0", Start: "new"}, file.Options{Checkpoints: ck, Now: now})
	if diff := cmp.Diff([]string{fresh}, origins(drain(t, s))); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}
	// The first start is remembered: a later start does not move it.
	later := func() time.Time { return start.Add(24 * time.Hour) }
	s2 := newSource(t, file.Config{Path: dir, PollInterval: "0", Start: "new"}, file.Options{Checkpoints: ck, Now: later})
	if diff := cmp.Diff([]string{fresh}, origins(drain(t, s2))); diff != "" {
		t.Errorf("second start read (-want +got):\n%s", diff)
	}
}

func TestCorruptFile(t *testing.T) {
	dir := tempDir(t)
	bad := write(t, dir, "bad.json.gz", "\x1f\x8bnot really gzip")
	// The folder given through a symbolic link; origins are real paths.
	link := filepath.Join(tempDir(t), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, file.Config{Path: link, PollInterval: "0"}, file.Options{})
	bs := drain(t, s)
	if len(bs) != 1 || len(bs[0].Errors) == 0 || !strings.Contains(bs[0].Errors[0].Error(), bad) {
		t.Fatalf("got %+v, want one batch with an error naming %s", bs, bad)
	}
}

func TestCheck(t *testing.T) {
	dir := tempDir(t)
	f := write(t, dir, "f.json", "{}")
	for _, tc := range []struct {
		name string
		c    file.Config
		want []string
	}{
		{"minimal", file.Config{Path: dir}, nil},
		{"everything", file.Config{Path: dir, PollInterval: "1m", Pattern: "*.json.gz", Start: "new"}, nil},
		{"no path", file.Config{}, []string{"path: missing"}},
		{"missing folder", file.Config{Path: filepath.Join(dir, "nope")}, []string{"path:", "no such file"}},
		{"a file", file.Config{Path: f}, []string{"path:", "not a folder"}},
		{"bad fields", file.Config{Path: dir, PollInterval: "soon", Pattern: "[", Start: "old"}, []string{"poll_interval:", "pattern:", "start:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Check(nil)
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check: no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check: %v; want it to mention %q", err, w)
				}
			}
		})
	}
}

func ids(n, from int) []string {
	var out []string
	for i := from; i < n; i++ {
		out = append(out, fmt.Sprintf("ev-%05d", i))
	}
	return out
}

func eventIDs(bs ...*source.Batch) []string {
	var out []string
	for _, b := range bs {
		for _, e := range b.Events {
			out = append(out, e.EventID)
		}
	}
	return out
}

// A large file is handed out in chunks, the next once the previous is
// committed; a restart resumes after the last committed chunk, so nothing
// is read twice and nothing is skipped.
func TestLargeFileResumesMidFile(t *testing.T) {
	dir := tempDir(t)
	path := write(t, dir, "big.json.gz", gz(logFile(ids(25, 0)...)))
	ck := openCheckpoints(t)
	lim := source.Limits{Records: 10}
	s := newSource(t, file.Config{Path: dir, PollInterval: "0"}, file.Options{Checkpoints: ck, Limits: lim})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b1, err := s.Read(ctx)
	if err != nil || b1.Records != 10 || b1.Object != path || b1.Offset != 0 {
		t.Fatalf("first chunk: %+v, %v", b1, err)
	}
	// The second chunk waits for the first's commit.
	wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if b, err := s.Read(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read before the first chunk was committed: %+v, %v", b, err)
	}
	wcancel()
	ack(t, b1, nil)
	b2, err := s.Read(ctx)
	if err != nil || b2.Offset != 10 || b2.Records != 10 {
		t.Fatalf("second chunk: %+v, %v", b2, err)
	}
	ack(t, b2, nil)
	if v, _ := ck.Checkpoint(ctx, "file://"+path); !strings.HasSuffix(v, ";records=20") {
		t.Errorf("checkpoint after two chunks = %q, want records=20", v)
	}
	// The third chunk is handed out but never committed: the process
	// stops.
	b3, err := s.Read(ctx)
	if err != nil || b3.Offset != 20 {
		t.Fatalf("third chunk: %+v, %v", b3, err)
	}
	s.Close(ctx)
	if _, err := s.Read(ctx); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Read after Close: %v, want source.ErrClosed", err)
	}

	s2 := newSource(t, file.Config{Path: dir, PollInterval: "0"}, file.Options{Checkpoints: ck, Limits: lim})
	rest := drain(t, s2)
	if len(rest) != 1 || rest[0].Offset != 20 || rest[0].Records != 5 {
		t.Fatalf("after restart: %v", origins(rest))
	}
	ack(t, rest[0], nil)
	if diff := cmp.Diff(ids(25, 0), eventIDs(b1, b2, rest[0])); diff != "" {
		t.Errorf("events over both runs (-want +got):\n%s", diff)
	}
	if v, _ := ck.Checkpoint(ctx, "file://"+path); strings.Contains(v, "records=") || v == "" {
		t.Errorf("checkpoint once done = %q, want the file's state alone", v)
	}
	// Done: a third start reads nothing.
	s3 := newSource(t, file.Config{Path: dir, PollInterval: "0"}, file.Options{Checkpoints: ck, Limits: lim})
	if got := drain(t, s3); len(got) != 0 {
		t.Errorf("a done file was read again: %v", origins(got))
	}
}

// A chunk that was not committed comes again at the next poll, from the
// last committed chunk on.
func TestLargeFileNackedChunkComesAgain(t *testing.T) {
	dir := tempDir(t)
	write(t, dir, "big.json", logFile(ids(25, 0)...))
	ck := openCheckpoints(t)
	s := newSource(t, file.Config{Path: dir, PollInterval: "0"}, file.Options{Checkpoints: ck, Limits: source.Limits{Records: 10}})
	ctx := context.Background()
	b1, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ack(t, b1, nil)
	b2, _ := s.Read(ctx)
	ack(t, b2, errors.New("store unavailable"))
	// With one pass only, the file is left for the next start.
	if _, err := s.Read(ctx); !errors.Is(err, source.ErrExhausted) {
		t.Fatalf("after the nack: %v", err)
	}
	s2 := newSource(t, file.Config{Path: dir, PollInterval: "0"}, file.Options{Checkpoints: ck, Limits: source.Limits{Records: 10}})
	again, err := s2.Read(ctx)
	if err != nil || again.Offset != 10 || again.Records != 10 || eventIDs(again)[0] != "ev-00010" {
		t.Fatalf("after the nack, read again: %+v, %v", again, err)
	}
}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{Open: func(t *testing.T) *sourcetest.Input {
		dir := tempDir(t)
		ck := openCheckpoints(t)
		c := file.Config{Path: dir, PollInterval: "1s"}
		if err := c.Check(nil); err != nil {
			t.Fatal(err)
		}
		// Polls follow each other at once: a file is read at the second
		// poll that sees it unchanged.
		s, err := file.New("files", c, file.Options{Checkpoints: ck, After: func(time.Duration) <-chan time.Time {
			return time.After(time.Millisecond)
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		path := func(id string) string { return filepath.Join(dir, id+".json") }
		return &sourcetest.Input{
			Source: s,
			Put:    func(t *testing.T, id string) { write(t, dir, id+".json", `{"Records":[`+sourcetest.Record(id)+`]}`) },
			Settled: func(t *testing.T, id string) bool {
				v, err := ck.Checkpoint(context.Background(), "file://"+path(id))
				return err == nil && v != "" && !strings.Contains(v, "records=")
			},
		}
	}})
}
