package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/notify/webhook"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

const (
	apiKey     = "tw-EXAMPLE-api-key-0001"
	hookSecret = "hmac-EXAMPLE-secret-0001"
)

// receiver is a webhook channel endpoint that verifies signatures and
// deduplicates on the Idempotency-Key, as a careful receiver would.
type receiver struct {
	mu       sync.Mutex
	keys     map[string]int
	bodies   []map[string]any
	badSig   int
	failNext int
}

func newReceiver() (*receiver, *httptest.Server) {
	r := &receiver{keys: map[string]int{}}
	return r, httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.failNext > 0 {
			r.failNext--
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if !webhook.Verify([]byte(hookSecret), req.Header.Get("X-Trailwatch-Timestamp"), body, req.Header.Get("X-Trailwatch-Signature")) {
			r.badSig++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		key := req.Header.Get("Idempotency-Key")
		r.keys[key]++
		if r.keys[key] == 1 {
			var m map[string]any
			json.Unmarshal(body, &m)
			r.bodies = append(r.bodies, m)
		}
		w.WriteHeader(http.StatusOK)
	}))
}

func (r *receiver) count() (unique, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.keys {
		unique++
		total += n
	}
	return
}

func testConfig(t testing.TB, hookURL string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	yml := fmt.Sprintf(`
store: {path: %s}
admin: {listen: "127.0.0.1:0"}
sources:
  - name: eventbridge
    type: webhook
    listen: "127.0.0.1:0"
    api_key: ${TW_API_KEY}
    max_body: 65536
channels:
  - name: soc-hook
    type: webhook
    url: %s/alerts
    secret: ${TW_HOOK_SECRET}
    min_risk: HIGH
`, filepath.Join(dir, "tw.db"), hookURL)
	cfg, err := config.Parse(strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func getenv(k string) string {
	return map[string]string{"TW_API_KEY": apiKey, "TW_HOOK_SECRET": hookSecret}[k]
}

func start(t *testing.T, cfg *config.Config) (map[string]string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan map[string]string, 1)
	svc, err := NewService(ctx, cfg, RunOptions{Getenv: getenv, Started: func(a map[string]string) { addrs <- a }, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var a map[string]string
	select {
	case a = <-addrs:
	case <-time.After(10 * time.Second):
		t.Fatal("service did not start")
	}
	return a, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("service did not stop within 20s")
		}
	}
}

func post(t *testing.T, url, key string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunEndToEnd(t *testing.T) {
	rcv, hook := newReceiver()
	defer hook.Close()
	cfg := testConfig(t, hook.URL)
	addrs, stop := start(t, cfg)
	events := "http://" + addrs["eventbridge"] + "/events"
	admin := "http://" + addrs["admin"]
	body, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// Authentication, size and shape are checked before anything is taken.
	if code, _ := post(t, events, "", body); code != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", code)
	}
	if code, _ := post(t, events, "wrong-EXAMPLE", body); code != http.StatusForbidden {
		t.Errorf("wrong key: %d, want 403", code)
	}
	if code, _ := post(t, events, apiKey, bytes.Repeat([]byte(" "), 70000)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d, want 413", code)
	}
	if code, msg := post(t, events, apiKey, []byte(`{"detail": nope`)); code != http.StatusBadRequest || !strings.Contains(msg, "malformed") {
		t.Errorf("malformed body: %d %s, want 400", code, msg)
	}
	// Two EventBridge events: committed before the 200.
	code, msg := post(t, events, apiKey, body)
	if code != http.StatusOK || !strings.Contains(msg, `"accepted":2`) {
		t.Fatalf("events: %d %s", code, msg)
	}
	st, err := sqlite.Open(cfg.Store.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.Findings(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 {
		t.Fatalf("%d findings stored after the 200, want 2", len(fs))
	}
	waitFor(t, "2 alerts", func() bool { u, _ := rcv.count(); return u == 2 })
	// The same events again (EventBridge retried, or they came through S3
	// too): nothing new.
	if code, _ := post(t, events, apiKey, body); code != http.StatusOK {
		t.Errorf("repeat: %d", code)
	}
	// The 200 means committed: nothing more is owed, so nothing more can
	// be sent.
	if dels, err := st.Deliveries(context.Background(), store.OutboxFilter{}); err != nil || len(dels) != 2 {
		t.Errorf("after a duplicate post: %d deliveries owed, %v; want 2", len(dels), err)
	}
	if u, total := rcv.count(); u != 2 || total != 2 {
		t.Errorf("after a duplicate post: %d unique alerts, %d deliveries; want 2 and 2", u, total)
	}
	rcv.mu.Lock()
	first := rcv.bodies[0]
	bad := rcv.badSig
	rcv.mu.Unlock()
	fd, _ := first["finding"].(map[string]any)
	if rid, _ := fd["rule_id"].(string); bad != 0 || first["kind"] != "trigger" || !strings.HasPrefix(rid, "EKS-") {
		t.Errorf("alert body: %v (bad signatures %d)", first, bad)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": `trailwatch_events_received_total{source="eventbridge"} 4`} {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, lacks %q:\n%.2000s", path, resp.StatusCode, want, b)
		}
	}
	resp, _ := http.Get(admin + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`trailwatch_notifications_total{channel="soc-hook",result="sent"} 2`, `trailwatch_outbox_depth{channel="soc-hook",status="done"} 2`,
		`trailwatch_findings_total{risk="VERY_HIGH",rule="EKS-POD-IDENTITY"} 1`, `trailwatch_batches_total{result="acked",source="eventbridge"} 2`,
		`trailwatch_source_messages_total{result="rejected",source="eventbridge"} 4`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	stop()
	if _, err := http.Get(admin + "/healthz"); err == nil {
		t.Error("admin server still up after stop")
	}
}

func TestRunChannelOutageLosesNothing(t *testing.T) {
	rcv, hook := newReceiver()
	defer hook.Close()
	rcv.failNext = 3 // the channel is down for the first attempts
	cfg := testConfig(t, hook.URL)
	addrs, stop := start(t, cfg)
	defer stop()
	body, _ := os.ReadFile("../../examples/eventbridge.jsonl")
	if code, msg := post(t, "http://"+addrs["eventbridge"]+"/events", apiKey, body); code != 200 {
		t.Fatalf("%d %s", code, msg)
	}
	// Backoff starts at 2s: both alerts arrive once the channel is back.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if u, _ := rcv.count(); u == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alerts lost after a channel outage")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBadConfigStopsStartup(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(`
sources:
  - {name: a, type: webhook, listen: "0.0.0.0:0", allow_no_auth: true}
  - {name: b, type: carrier-pigeon}
channels:
  - {name: c, type: slack}
  - {name: d, type: pagerduty, routing_key: "${NOPE}", colour: red}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store.Path = filepath.Join(t.TempDir(), "tw.db")
	_, err = NewService(context.Background(), cfg, RunOptions{Getenv: getenv})
	if err == nil {
		t.Fatal("started with a bad configuration")
	}
	// Every problem at once, sources and channels alike, each with its line.
	for _, want := range []string{":6: channels[0] (c).webhook_url", ":7: channels[1] (d).colour: unknown key", "NOPE", "channels[1] (d).routing_key",
		":3: sources[0] (a).allow_no_auth", ":4: sources[1] (b).type: unknown source type"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
