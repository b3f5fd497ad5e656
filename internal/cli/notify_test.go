package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestNotifyAndOutboxCommands(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	var mu sync.Mutex
	var kinds []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, `{"error":"invalid token"}`, http.StatusBadRequest)
			return
		}
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &m)
		mu.Lock()
		kinds = append(kinds, fmt.Sprint(m["kind"]))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "tw.db")
	cfg := filepath.Join(dir, "trailwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: {path: %s}
channels:
  - name: soc
    type: webhook
    url: %s/hook?token=EXAMPLEsecrettoken
    min_risk: VERY_HIGH
`, db, srv.URL)), 0o600)

	// The channel rejects everything: deliveries go to the dead letter,
	// and the secret URL appears nowhere.
	r := run(t, "", "scan", "--config", cfg, "--notify", "--notify-timeout", "20s", examples)
	if r.code != ExitError || !strings.Contains(r.stderr, "notifications: 0 delivered, 9 dead, 0 still pending") {
		t.Fatalf("scan --notify: %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "outbox", "list", "--config", cfg, "--status", "dead")
	if strings.Count(r.stdout, " dead ") != 9 || !strings.Contains(r.stdout, "HTTP 400") {
		t.Errorf("outbox list:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "EXAMPLEsecrettoken") {
		t.Error("the webhook URL leaked into outbox output")
	}
	// One is dropped; the operator fixes the channel and retries the rest.
	var first string
	for _, l := range strings.Split(r.stdout, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			first = f[0]
			break
		}
	}
	if r = run(t, "", "outbox", "drop", "--config", cfg, first); !strings.Contains(r.stdout, "1 delivery dropped") {
		t.Errorf("drop: %s %s", r.stdout, r.stderr)
	}
	broken.Store(false)
	if r = run(t, "", "outbox", "retry", "--config", cfg, "--all-dead"); !strings.Contains(r.stdout, "8 deliveries queued again") {
		t.Errorf("retry: %s %s", r.stdout, r.stderr)
	}
	if r = run(t, "", "outbox", "deliver", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "8 delivered, 0 dead, 0 still pending") {
		t.Errorf("deliver: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// A test message, clearly marked.
	if r = run(t, "", "notify", "test", "--config", cfg, "--channel", "soc"); r.code != 0 || !strings.Contains(r.stdout, "soc: sent") {
		t.Errorf("notify test: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, "", "notify", "test", "--config", cfg, "--channel", "nope"); r.code != ExitError || !strings.Contains(r.stderr, `no channel named "nope"`) {
		t.Errorf("notify test unknown: %d %s", r.code, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) != 9 || kinds[8] != "test" {
		t.Errorf("receiver got %v", kinds)
	}
}
