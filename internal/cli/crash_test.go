package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// TestMain lets the test binary act as the trailwatch command in a child
// process, so a test can kill it at any point.
func TestMain(m *testing.M) {
	if args := os.Getenv("TRAILWATCH_CHILD_ARGS"); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, OSEnv(), strings.Split(args, "\x1f"))
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TRAILWATCH_CHILD_ARGS="+strings.Join(args, "\x1f"), "TW_HOOK_SECRET=hmac-EXAMPLE-secret-0001")
	return cmd
}

// TestKilledMidDeliveryDeliversOnce kills the process after the receiver
// has processed an alert but before trailwatch could record it, then
// restarts delivery: every (finding, channel) is processed exactly once by
// a receiver that honours the Idempotency-Key, and nothing is lost. What
// the receiver got and trailwatch had not recorded is sent again, once
// each, with the same key; what was claimed and not yet sent is sent
// once.
func TestKilledMidDeliveryDeliversOnce(t *testing.T) {
	var (
		mu        sync.Mutex
		processed = map[string]int{}
		requests  int
	)
	hang := make(chan struct{})
	hanging := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		requests++
		n := requests
		processed[key]++
		mu.Unlock()
		if n == 2 {
			// Processed, but the answer never reaches trailwatch: it is
			// killed while waiting.
			hanging <- struct{}{}
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	defer close(hang)

	dir := t.TempDir()
	db := filepath.Join(dir, "tw.db")
	cfg := filepath.Join(dir, "trailwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: {path: %s}
channels:
  - name: soc
    type: webhook
    url: %s/alerts
    secret: ${TW_HOOK_SECRET}
`, db, srv.URL)), 0o600)

	first := child(t, "scan", "--config", cfg, "--notify", "--attempt-timeout", "1s", "--quiet", "--format", "jsonl", examples)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hanging:
	case <-time.After(60 * time.Second):
		first.Process.Kill()
		t.Fatal("the first process never reached the second delivery")
	}
	first.Process.Kill() // SIGKILL: no chance to record anything
	first.Wait()
	mu.Lock()
	sentBefore := requests
	mu.Unlock()

	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	depth, err := st.Depth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// The answer to the second request never came, so at most the first
	// was recorded; the deliveries the process had claimed are leased.
	doneBefore := depth["soc"][store.Done]
	if doneBefore > 1 || depth["soc"][store.Sending] < sentBefore-doneBefore || doneBefore+depth["soc"][store.Sending]+depth["soc"][store.Pending] != 16 {
		t.Fatalf("after the kill, with %d requests received: %v; want at most 1 done, the rest of those received leased, 16 in all", sentBefore, depth["soc"])
	}

	second := child(t, "outbox", "deliver", "--config", cfg, "--attempt-timeout", "1s", "--timeout", "60s")
	out, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("deliver after restart: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "0 dead, 0 still pending") {
		t.Errorf("deliver: %s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range processed {
		dups += n - 1
	}
	if len(processed) != 16 {
		t.Errorf("%d distinct alerts reached the receiver, want all 16", len(processed))
	}
	if want := sentBefore - doneBefore; dups != want {
		t.Errorf("%d repeated deliveries, want %d: exactly those received and not recorded before the kill (the receiver drops them by their Idempotency-Key)", dups, want)
	}
	st, _ = sqlite.Open(db, nil)
	defer st.Close()
	depth, err = st.Depth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if depth["soc"][store.Done] != 16 || len(depth["soc"]) != 1 {
		t.Errorf("outbox after restart: %v, want 16 done", depth["soc"])
	}
}
