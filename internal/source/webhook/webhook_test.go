package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/source/sourcetest"
)

const apiKey = "EXAMPLE-webhook-api-key-0123"

// exampleLine is one EventBridge event of examples/eventbridge.jsonl.
func exampleLine(t testing.TB) string {
	b, err := os.ReadFile("../../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitN(string(b), "\n", 2)[0]
}

// events returns JSON lines of n copies of the example event with
// distinct event ids.
func events(t testing.TB, n int) []byte {
	line := exampleLine(t)
	var b bytes.Buffer
	for i := range n {
		b.WriteString(strings.Replace(line, "9e8d7c6b-0000-4000-8000-000000000020", fmt.Sprintf("9e8d7c6b-0000-4000-8000-%012d", i), 1))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// eventsOfSize returns whole example events adding up to about size bytes.
func eventsOfSize(t testing.TB, size int) []byte {
	n := size / (len(exampleLine(t)) + 1)
	return events(t, n)
}

// pipeline stands in for trailwatch run: it takes batches and
// acknowledges each with ack, once release is closed (nil: at once).
type pipeline struct {
	mu      sync.Mutex
	batches []*source.Batch
	release chan struct{}
	ack     func(*source.Batch) source.Result
}

func (p *pipeline) run(ctx context.Context, s *Source) {
	for {
		b, err := s.Read(ctx)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.batches = append(p.batches, b)
		p.mu.Unlock()
		go func() {
			if p.release != nil {
				<-p.release
			}
			r := source.Result{}
			if p.ack != nil {
				r = p.ack(b)
			}
			b.Ack(context.Background(), r)
		}()
	}
}

func (p *pipeline) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.batches)
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startSource(t *testing.T, c Config, p *pipeline, o Options) (*Source, *logBuffer) {
	t.Helper()
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.APIKey.Empty() && !c.AllowNoAuth {
		c.APIKey.UnmarshalText([]byte(apiKey))
	}
	if err := c.Check(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := New("eventbridge", c, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go p.run(ctx, s)
	t.Cleanup(func() {
		cancel()
		s.Close(context.Background())
	})
	return s, logs
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func send(t testing.TB, s *Source, body []byte, header map[string]string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL(), bytes.NewReader(body))
	req.Header.Set("X-Api-Key", apiKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	return a
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestAnswerSaysWhatTheCommitStored(t *testing.T) {
	for _, tc := range []struct {
		res  source.Result
		want string
	}{
		{source.Result{Findings: 2, New: 0}, "2 records: 2 findings, all already stored"},
		{source.Result{Findings: 2, New: 2}, "2 records: 2 new findings"},
		{source.Result{Findings: 2, New: 1}, "2 records: 2 findings, 1 new, 1 already stored"},
		{source.Result{}, "2 records, no findings"},
	} {
		p := &pipeline{ack: func(*source.Batch) source.Result { return tc.res }}
		s, logs := startSource(t, Config{}, p, Options{})
		a := send(t, s, events(t, 2), nil)
		if a.status != http.StatusOK || a.body["message"] != tc.want {
			t.Errorf("%+v: %d %s, want the message %q", tc.res, a.status, a.raw, tc.want)
		}
		if a.body["new"] != float64(tc.res.New) || a.body["already_stored"] != float64(tc.res.Findings-tc.res.New) {
			t.Errorf("%+v: counts %s", tc.res, a.raw)
		}
		if !strings.Contains(logs.String(), tc.want) {
			t.Errorf("the log does not say %q:\n%s", tc.want, logs.String())
		}
	}
}

func TestGzipBodies(t *testing.T) {
	p := &pipeline{}
	s, _ := startSource(t, Config{MaxBody: 64 << 10}, p, Options{})
	if a := send(t, s, gz(events(t, 3)), map[string]string{"Content-Encoding": "gzip"}); a.status != http.StatusOK || a.body["records"] != float64(3) {
		t.Errorf("gzip body: %d %s", a.status, a.raw)
	}
	// A bomb: 40 KB compressed, far over max_body decompressed.
	bomb := gz(append([]byte(`[`), bytes.Repeat([]byte(` `), 40<<20)...))
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	if a := send(t, s, bomb, map[string]string{"Content-Encoding": "gzip"}); a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.raw, "decompressed body larger than 65536 bytes") {
		t.Errorf("gzip bomb: %d %s", a.status, a.raw)
	}
	if a := send(t, s, events(t, 1), map[string]string{"Content-Encoding": "gzip"}); a.status != http.StatusBadRequest || !strings.Contains(a.raw, "gzip") {
		t.Errorf("plain body sent as gzip: %d %s", a.status, a.raw)
	}
	if a := send(t, s, events(t, 1), map[string]string{"Content-Encoding": "br"}); a.status != http.StatusUnsupportedMediaType {
		t.Errorf("brotli: %d %s", a.status, a.raw)
	}
	// Without a declared length (chunked), the size is measured as read:
	// plain, and compressed before decompression.
	for name, c := range map[string]struct {
		body []byte
		enc  string
	}{
		"plain": {events(t, 60), ""},
		"gzip":  {randomGzip(t, 80<<10), "gzip"},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.URL(), io.MultiReader(bytes.NewReader(c.body)))
		req.Header.Set("X-Api-Key", apiKey)
		if c.enc != "" {
			req.Header.Set("Content-Encoding", c.enc)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "body larger than 65536 bytes") {
			t.Errorf("chunked %s body over max_body: %d %s", name, resp.StatusCode, b)
		}
	}
	if p.count() != 1 {
		t.Errorf("%d batches handed out, want 1", p.count())
	}
}

// randomGzip is a gzip stream of a JSON record holding n random bytes
// (base64), which compress little.
func randomGzip(t *testing.T, n int) []byte {
	data := make([]byte, n)
	rand.Read(data)
	return gz([]byte(`{"eventSource":"eks.amazonaws.com","eventName":"TagResource","eventID":"x","blob":"` + base64.StdEncoding.EncodeToString(data) + `"}`))
}

func TestRejectedRequestsAreLoggedWithoutBodyOrSecrets(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tick := func() { mu.Lock(); now = now.Add(2 * time.Second); mu.Unlock() }
	s, logs := startSource(t, Config{}, &pipeline{}, Options{Now: clock})
	if !strings.Contains(logs.String(), "webhook source listening") || !strings.Contains(logs.String(), "url="+s.URL()) {
		t.Errorf("the start is not logged with the URL %s:\n%s", s.URL(), logs.String())
	}
	const wrongKey = "EXAMPLE-guessed-key-9999"
	body := []byte(`{"marker":"BODY-MARKER-EXAMPLE"}`)
	for _, h := range []map[string]string{{"X-Api-Key": wrongKey}, {"X-Api-Key": ""}, {"Content-Encoding": "zstd"}} {
		send(t, s, body, h)
		tick()
	}
	send(t, s, body, nil) // 400: not CloudTrail
	out := logs.String()
	for _, want := range []string{"status=403", "status=401", "status=415", "status=400", "wrong API key"} {
		if !strings.Contains(out, want) {
			t.Errorf("rejections log lacks %q:\n%s", want, out)
		}
	}
	for _, leak := range []string{wrongKey, apiKey, "BODY-MARKER"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log holds %q:\n%s", leak, out)
		}
	}
	// A flood within one second is one line, and the next line says how
	// many were not shown.
	for range 50 {
		send(t, s, body, map[string]string{"X-Api-Key": wrongKey})
	}
	tick()
	send(t, s, body, map[string]string{"X-Api-Key": wrongKey})
	out = logs.String()
	if n := strings.Count(out, "webhook request rejected"); n > 6 {
		t.Errorf("%d rejection lines for a flood", n)
	}
	if !strings.Contains(out, "also_rejected_since_last_line=50") {
		t.Errorf("the flood is not counted:\n%s", out)
	}
}

func TestNonCloudTrailBodiesAre400(t *testing.T) {
	s, _ := startSource(t, Config{}, &pipeline{}, Options{})
	ec2 := `{"version":"0","id":"7bf73129-EXAMPLE","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"111122223333","time":"2026-11-20T10:00:00Z","region":"eu-west-1","resources":[],"detail":{"instance-id":"i-0123456789abcdef0","state":"running"}}`
	for name, body := range map[string]string{
		"EventBridge event that is not CloudTrail": ec2,
		"plain JSON object":                        `{"hello":"world"}`,
		"empty":                                    ``,
	} {
		a := send(t, s, []byte(body), nil)
		if a.status != http.StatusBadRequest || !strings.Contains(a.raw, "no CloudTrail records") {
			t.Errorf("%s: %d %s, want 400", name, a.status, a.raw)
		}
	}
	a := send(t, s, []byte(ec2), nil)
	if !strings.Contains(a.raw, "an EventBridge event whose detail is not a CloudTrail record") {
		t.Errorf("the answer does not say why: %s", a.raw)
	}
	// Mixed with a CloudTrail event: taken, the other named.
	a = send(t, s, append(events(t, 1), []byte(ec2+"\n")...), nil)
	if a.status != http.StatusOK || a.body["accepted"] != float64(1) || !strings.Contains(a.raw, "record 1: an EventBridge event whose detail is not") {
		t.Errorf("mixed body: %d %s", a.status, a.raw)
	}
}

func TestThousandsOfBadRecordsAreSummarised(t *testing.T) {
	s, _ := startSource(t, Config{MaxBody: 4 << 20}, &pipeline{}, Options{})
	var body bytes.Buffer
	body.Write(events(t, 1))
	for i := range 12000 {
		fmt.Fprintf(&body, `{"eventSource":"eks.amazonaws.com","eventName":"CreateCluster","eventID":"bad-%d","eventTime":"yesterday"}`+"\n", i)
	}
	a := send(t, s, body.Bytes(), nil)
	if a.status != http.StatusOK {
		t.Fatalf("%d %.500s", a.status, a.raw)
	}
	probs, _ := a.body["problems"].([]any)
	if len(probs) != MaxProblems || a.body["more_problems"] != float64(12000-MaxProblems) {
		t.Errorf("%d problems quoted and %v more, want %d and %d", len(probs), a.body["more_problems"], MaxProblems, 12000-MaxProblems)
	}
	if len(a.raw) > 8<<10 {
		t.Errorf("the answer is %d bytes", len(a.raw))
	}
	all := send(t, s, body.Bytes()[len(events(t, 1)):], nil)
	if all.status != http.StatusBadRequest || all.body["more_problems"] != float64(12000-MaxProblems) || len(all.raw) > 8<<10 {
		t.Errorf("only bad records: %d, %d bytes, more_problems %v", all.status, len(all.raw), all.body["more_problems"])
	}
}

func TestMemoryBudgetChecks(t *testing.T) {
	c := Config{Listen: "127.0.0.1:0", AllowNoAuth: true, MaxBody: 1 << 20, MaxMemory: 8 << 20}
	if err := c.Check(nil); err == nil || !strings.Contains(err.Error(), "max_memory") {
		t.Errorf("a budget smaller than one request: %v", err)
	}
	c = Config{Listen: "127.0.0.1:0", AllowNoAuth: true, MaxBody: 4 << 20}
	if err := c.Check(nil); err != nil || c.MaxMemory != Amplification*4<<20 {
		t.Errorf("default budget for a 4 MiB max_body: %d, %v", c.MaxMemory, err)
	}
}

// floodResult is what a flood of concurrent posts got.
type floodResult struct {
	ok, busy, other int
	retryAfter      bool
	peakReserved    int64
	// heap is the Go heap growth while the taken requests were held.
	heap int64
}

// flood posts n bodies at once while the pipeline holds every batch, so
// the requests that fit stay in flight; it returns once every other
// request is answered, then lets the pipeline go.
func flood(t testing.TB, s *Source, p *pipeline, n int, body []byte) floodResult {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		res floodResult
	)
	statuses := make(chan int, n)
	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, s.URL(), bytes.NewReader(body))
			req.Header.Set("X-Api-Key", apiKey)
			resp, err := http.DefaultClient.Do(req)
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
				// Refused before its body was read: the 429 came and the
				// connection closed while this client was still sending.
				// A taken request is always read whole.
				statuses <- http.StatusTooManyRequests
				return
			}
			if err != nil {
				t.Logf("post: %v", err)
				statuses <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
				res.retryAfter = true
			}
			mu.Unlock()
			statuses <- resp.StatusCode
		}()
	}
	// Every request that is not taken is answered while the taken ones
	// are still held: a 429 never waits for a commit.
	answered := 0
	for answered+p.count() < n {
		select {
		case st := <-statuses:
			if st == http.StatusTooManyRequests {
				res.busy++
			} else {
				res.other++
			}
			answered++
		case <-time.After(10 * time.Millisecond): // a taken one reached the pipeline
		}
	}
	_, res.peakReserved = s.InFlight()
	runtime.ReadMemStats(&during)
	res.heap = int64(during.HeapAlloc) - int64(before.HeapAlloc)
	close(p.release)
	wg.Wait()
	close(statuses)
	for st := range statuses {
		switch st {
		case http.StatusOK:
			res.ok++
		case http.StatusTooManyRequests:
			res.busy++
		default:
			res.other++
		}
	}
	return res
}

// TestConcurrentLargePostsStayWithinBudget is the probe: 150 concurrent
// 1 MiB posts drove the process to 5 GB. Requests reserve memory before
// their body is read; those that do not fit get 429 with Retry-After at
// once, and the reserved memory never passes max_memory.
func TestConcurrentLargePostsStayWithinBudget(t *testing.T) {
	p := &pipeline{release: make(chan struct{})}
	c := Config{MaxBody: 1 << 20, MaxMemory: 2 * Amplification << 20}
	s, _ := startSource(t, c, p, Options{CommitTimeout: time.Minute})
	body := eventsOfSize(t, 1<<20-4096)
	res := flood(t, s, p, 150, body)
	if res.ok != 2 || res.busy != 148 || res.other != 0 {
		t.Errorf("150 posts: %d taken, %d busy, %d other; want 2, 148, 0", res.ok, res.busy, res.other)
	}
	if !res.retryAfter {
		t.Error("429 without Retry-After")
	}
	if res.peakReserved > c.MaxMemory {
		t.Errorf("reserved %d bytes at the peak, over max_memory %d", res.peakReserved, c.MaxMemory)
	}
	// The Go heap (server and 150 clients) stays within the budget.
	if res.heap > c.MaxMemory {
		t.Errorf("the heap grew by %d MB while the taken requests were held, over max_memory (%d MB)", res.heap>>20, c.MaxMemory>>20)
	}
	t.Logf("heap growth %d MB, reserved peak %d MB", res.heap>>20, res.peakReserved>>20)
	if now, _ := s.InFlight(); now != 0 {
		t.Errorf("%d bytes still reserved after every request was answered", now)
	}
	if got := s.Counters()["throttled"]; got != 148 {
		t.Errorf("throttled counter %d, want 148", got)
	}
	// Small requests, as EventBridge sends them, fit many at once.
	p2 := &pipeline{release: make(chan struct{})}
	s2, _ := startSource(t, Config{}, p2, Options{CommitTimeout: time.Minute})
	if res := flood(t, s2, p2, 64, events(t, 1)); res.ok != 64 {
		t.Errorf("64 small posts at once: %d taken, %d busy", res.ok, res.busy)
	}
}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{Open: func(t *testing.T) *sourcetest.Input {
		c := Config{Listen: "127.0.0.1:0"}
		c.APIKey.UnmarshalText([]byte(apiKey))
		if err := c.Check(func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		s, err := New("eventbridge", c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		status := map[string]int{}
		return &sourcetest.Input{
			Source: s,
			Put: func(t *testing.T, id string) {
				body := []byte(sourcetest.Record(id))
				go func() {
					req, _ := http.NewRequest(http.MethodPost, s.URL(), bytes.NewReader(body))
					req.Header.Set("X-Api-Key", apiKey)
					code := -1
					if resp, err := http.DefaultClient.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code = resp.StatusCode
					}
					mu.Lock()
					status[id] = code
					mu.Unlock()
				}()
			},
			Settled: func(t *testing.T, id string) bool {
				mu.Lock()
				defer mu.Unlock()
				return status[id] == http.StatusOK
			},
			// The sender retries: EventBridge API destinations retry 5xx.
			Retried: func(t *testing.T, id string) bool {
				mu.Lock()
				defer mu.Unlock()
				return status[id] >= 500
			},
		}
	}})
}

func TestSummaryQuarantined(t *testing.T) {
	if got := Summary(3, source.Result{Quarantined: true}); !strings.Contains(got, "quarantined") || !strings.HasPrefix(got, "3 records") {
		t.Errorf("Summary of a quarantined request: %q", got)
	}
}
