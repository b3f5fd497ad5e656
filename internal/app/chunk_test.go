package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// trailRecord is an EKS change the catalogue raises a finding for.
func trailRecord(i int) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},`+
		`"eventTime":"2026-11-01T01:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7",`+
		`"userAgent":"aws-cli/2.15.0","requestParameters":{"name":"prod","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":null,`+
		`"eventID":"00000000-0000-4000-8000-%012d","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`, i)
}

// writeTrailFile writes a gzip CloudTrail log file of n records.
func writeTrailFile(t testing.TB, dir string, n int) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[`))
	for i := 0; i < n; i++ {
		if i > 0 {
			zw.Write([]byte(","))
		}
		zw.Write([]byte(trailRecord(i)))
	}
	zw.Write([]byte(`]}`))
	zw.Close()
	p := filepath.Join(dir, "111122223333_CloudTrail_us-east-1_20261101T0100Z_big.json.gz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileConfig(t testing.TB, logs string, chunk int, webhookToo bool) *config.Config {
	t.Helper()
	yml := fmt.Sprintf(`
store: {path: %s}
admin: {listen: "127.0.0.1:0"}
sources:
  - name: folder
    type: file
    path: %s
    poll_interval: 0
    chunk_records: %d
`, filepath.Join(t.TempDir(), "tw.db"), logs, chunk)
	if webhookToo {
		yml += `  - name: eventbridge
    type: webhook
    listen: "127.0.0.1:0"
    api_key: ${TW_API_KEY}
`
	}
	cfg, err := config.Parse(strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// faultyStore fails the commits that hold a poisoned event, or every
// commit and ping when down.
type faultyStore struct {
	Backend
	poison   map[string]bool // event ids
	down     atomic.Bool
	downFrom int64 // the store goes down at this save (1-based); 0: never
	mu       sync.Mutex
	attempts int // commits that held poison
	saves    atomic.Int64
}

func (f *faultyStore) SaveRouted(ctx context.Context, fs []finding.Finding, route store.Router) (store.SaveResult, error) {
	if n := f.saves.Add(1); f.downFrom > 0 && n >= f.downFrom {
		f.down.Store(true)
	}
	if f.down.Load() {
		return store.SaveResult{}, errors.New("connection refused")
	}
	for _, x := range fs {
		if f.poison[x.EventID] {
			f.mu.Lock()
			f.attempts++
			f.mu.Unlock()
			return store.SaveResult{}, errors.New("value too large for the EXAMPLE column")
		}
	}
	return f.Backend.SaveRouted(ctx, fs, route)
}

func (f *faultyStore) Ping(ctx context.Context) error {
	if f.down.Load() {
		return errors.New("connection refused")
	}
	return f.Backend.Ping(ctx)
}

// startWith runs a service whose store is wrapped.
func startWith(t *testing.T, cfg *config.Config, wrap func(Backend) Backend) (*Service, map[string]string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan map[string]string, 1)
	svc, err := NewService(ctx, cfg, RunOptions{Getenv: getenv, Started: func(a map[string]string) { addrs <- a }, ShutdownTimeout: 10 * time.Second, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		// The service commits through its pipeline: both see the
		// wrapped store.
		svc.store = wrap(svc.store)
		svc.pipe.store = svc.store
	}
	svc.retryPause = 0
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	a := <-addrs
	return svc, a, func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("service did not stop within 20s")
		}
	}
}

func eventID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// A chunk whose commit keeps failing while the store answers is
// quarantined: recorded, counted, raised as a finding; the other chunks
// of the file are stored.
func TestPoisonChunkIsQuarantined(t *testing.T) {
	logs := t.TempDir()
	path := writeTrailFile(t, logs, 30)
	cfg := fileConfig(t, logs, 10, false)
	poison := map[string]bool{}
	for i := 10; i < 20; i++ {
		poison[eventID(i)] = true
	}
	var fs *faultyStore
	svc, addrs, stop := startWith(t, cfg, func(b Backend) Backend { fs = &faultyStore{Backend: b, poison: poison}; return fs })
	defer stop()
	ctx := context.Background()
	var q []store.QuarantineEntry
	waitFor(t, "a quarantined chunk", func() bool {
		q, _ = svc.store.Quarantined(ctx, 0)
		return len(q) > 0
	})
	if len(q) != 1 || q[0].Source != "folder" || q[0].Object != path || q[0].Offset != 10 || q[0].Records != 10 || !strings.Contains(q[0].Reason, "too large") {
		t.Fatalf("quarantine: %+v", q)
	}
	fs.mu.Lock()
	attempts := fs.attempts
	fs.mu.Unlock()
	if attempts < commitAttempts {
		t.Errorf("quarantined after %d attempts, want %d", attempts, commitAttempts)
	}
	var stored []finding.Finding
	waitFor(t, "the other chunks' findings", func() bool {
		stored, _ = svc.store.Findings(ctx, store.Filter{})
		return len(stored) >= 21
	})
	var quarantineFindings, trail int
	for _, f := range stored {
		switch {
		case f.RuleID == QuarantineRule:
			quarantineFindings++
			if f.Risk != finding.High || !strings.Contains(f.Summary, path) {
				t.Errorf("quarantine finding: %s %s", f.Risk, f.Summary)
			}
		case poison[f.EventID]:
			t.Errorf("a poisoned event was stored: %s", f.EventID)
		default:
			trail++
		}
	}
	if quarantineFindings != 1 || trail != 20 {
		t.Errorf("stored %d quarantine findings and %d trail findings; want 1 and 20", quarantineFindings, trail)
	}
	if got := metric(t, addrs["admin"], "trailwatch_quarantined_total"); !strings.Contains(got, `trailwatch_quarantined_total{source="folder"} 1`) {
		t.Errorf("metrics: %q", got)
	}
	if got := metric(t, addrs["admin"], "trailwatch_findings_total{risk=\"HIGH\",rule=\""+QuarantineRule); !strings.HasSuffix(got, " 1") {
		t.Errorf("quarantine finding not counted: %q", got)
	}
}

// While the store is down, nothing is quarantined: the chunk comes again.
func TestStoreDownQuarantinesNothing(t *testing.T) {
	logs := t.TempDir()
	writeTrailFile(t, logs, 30)
	cfg := fileConfig(t, logs, 10, false)
	var fs *faultyStore
	_, addrs, stop := startWith(t, cfg, func(b Backend) Backend {
		fs = &faultyStore{Backend: b}
		fs.down.Store(true)
		return fs
	})
	waitFor(t, "a failed batch", func() bool {
		return strings.Contains(metric(t, addrs["admin"], "trailwatch_batches_total"), `trailwatch_batches_total{result="failed",source="folder"} 1`)
	})
	ctx := context.Background()
	if q, err := fs.Backend.Quarantined(ctx, 0); err != nil || len(q) != 0 {
		t.Errorf("quarantined while the store was down: %+v, %v", q, err)
	}
	stop()
	if fs.saves.Load() != 1 {
		t.Errorf("%d commits tried while the store did not answer, want 1 (no retries into a dead store)", fs.saves.Load())
	}
}

// A large file goes through in chunks, and the webhook source is answered
// meanwhile.
func TestLargeFileInChunksWhileWebhookFlows(t *testing.T) {
	n := 50000
	if testing.Short() || raceEnabled {
		n = 6000
	}
	logs := t.TempDir()
	writeTrailFile(t, logs, n)
	cfg := fileConfig(t, logs, 0, true)
	svc, addrs, stop := startWith(t, cfg, nil)
	defer stop()
	events := "http://" + addrs["eventbridge"] + "/events"
	body, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// Post until every chunk (2,000 records each) is committed; the
	// deadline only catches a file that never completes.
	want := fmt.Sprintf(`trailwatch_batches_total{result="acked",source="folder"} %d`, (n+1999)/2000)
	deadline := time.Now().Add(5 * time.Minute)
	answered := 0
	for metric(t, addrs["admin"], `trailwatch_batches_total{result="acked",source="folder"}`) != want {
		if time.Now().After(deadline) {
			t.Fatalf("the large file did not complete: %s", metric(t, addrs["admin"], "trailwatch_batches_total"))
		}
		code, msg := post(t, events, apiKey, body)
		if code != http.StatusOK {
			t.Fatalf("webhook POST while the large file is read: %d %s", code, msg)
		}
		answered++
	}
	fs, err := svc.store.Findings(context.Background(), store.Filter{Rules: []string{"EKS-*"}, Accounts: []string{"111122223333"}, Regions: []string{"us-east-1"}})
	if err != nil || len(fs) != n {
		t.Errorf("%d findings stored, %v; want one for each of the %d records", len(fs), err, n)
	}
	if answered == 0 {
		t.Error("no webhook request was sent while the file was read")
	}
}

// A store that goes down mid-file: the chunks committed before stay
// committed, and the next run resumes after them (reading only the rest)
// with nothing skipped and nothing stored twice.
func TestResumeMidFileAfterRestart(t *testing.T) {
	logs := t.TempDir()
	writeTrailFile(t, logs, 30)
	cfg := fileConfig(t, logs, 10, false)
	var fs *faultyStore
	_, addrs, stop := startWith(t, cfg, func(b Backend) Backend {
		// The third chunk's commit finds the store down.
		fs = &faultyStore{Backend: b, downFrom: 3}
		return fs
	})
	waitFor(t, "the third chunk failed", func() bool {
		return strings.Contains(metric(t, addrs["admin"], `trailwatch_batches_total{result="failed",source="folder"}`), " 1")
	})
	if got := metric(t, addrs["admin"], `trailwatch_batches_total{result="acked",source="folder"}`); !strings.HasSuffix(got, " 2") {
		t.Fatalf("first run: %q, want two chunks committed", got)
	}
	stop()
	_ = fs

	svc, addrs, stop := startWith(t, cfg, nil)
	defer stop()
	// The rest: one chunk of 10 records.
	waitFor(t, "the rest committed", func() bool {
		return strings.HasSuffix(metric(t, addrs["admin"], `trailwatch_batches_total{result="acked",source="folder"}`), " 1")
	})
	if got := metric(t, addrs["admin"], `trailwatch_events_received_total{source="folder"}`); !strings.HasSuffix(got, " 10") {
		t.Errorf("the second run read %q, want only the 10 records not committed before", got)
	}
	stored, err := svc.store.Findings(context.Background(), store.Filter{Rules: []string{"EKS-*"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range stored {
		seen[f.EventID]++
	}
	for i := 0; i < 30; i++ {
		if seen[eventID(i)] != 1 {
			t.Errorf("event %d stored %d times, want once", i, seen[eventID(i)])
		}
	}
	if q, _ := svc.store.Quarantined(context.Background(), 0); len(q) != 0 {
		t.Errorf("quarantined while the store was down: %+v", q)
	}
}
