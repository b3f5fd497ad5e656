package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/source/sqs/sqsfake"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// envelope is an EventBridge event for one EKS change, i its event number.
func envelope(i int) string {
	return fmt.Sprintf(`{"version":"0","id":"eb-%d","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"111122223333","time":"2026-11-20T10:00:00Z","region":"eu-west-1","resources":[],"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1","userAgent":"aws-cli/2.22.0","requestParameters":{"name":"cluster-%d","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"eventID":"00000000-0000-4000-8000-%012d","recipientAccountId":"111122223333"}}`, i, i, i)
}

// TestRunKilledMidBatchLosesNothing feeds trailwatch run through SQS, kills
// it with SIGKILL while it works, restarts it, and checks that every event
// became exactly one finding and exactly one notification in the outbox,
// each received (at least once, at most twice for the two in flight at the
// kill, always with its idempotency key), and that the queue is empty:
// nothing deleted before it was committed.
func TestRunKilledMidBatchLosesNothing(t *testing.T) {
	const n = 200
	q := sqsfake.New()
	defer q.Close()
	q.CreateQueue("trailwatch-events", sqsfake.QueueOptions{VisibilityTimeout: 2 * time.Second})
	for i := range n {
		q.Send("trailwatch-events", envelope(i))
	}
	var mu sync.Mutex
	keys := map[string]int{}
	first := make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		keys[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		select {
		case first <- struct{}{}:
		default:
		}
		time.Sleep(10 * time.Millisecond) // slow enough that the kill lands mid-work
	}))
	defer hook.Close()

	dir := t.TempDir()
	db := filepath.Join(dir, "tw.db")
	cfg := filepath.Join(dir, "trailwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: {path: %s}
admin: {listen: "off"}
log: {level: error}
sources:
  - name: queue
    type: sqs
    queue_url: %s
    endpoint: %s
    region: us-east-1
    access_key_id: AKIAIOSFODNN7EXAMPLE
    secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    wait_seconds: 1
    visibility_timeout: 2
    max_messages: 5
channels:
  - {name: soc, type: webhook, url: %s/alerts, concurrency: 2, attempt_timeout: 5s}
`, db, q.QueueURL("trailwatch-events"), q.URL(), hook.URL)), 0o600)

	c1 := child(t, "run", "--config", cfg)
	if err := c1.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		c1.Process.Kill()
		t.Fatal("no alert within 30s")
	}
	time.Sleep(100 * time.Millisecond)
	c1.Process.Signal(syscall.SIGKILL)
	c1.Wait()
	mu.Lock()
	before := len(keys)
	mu.Unlock()
	if before >= n {
		t.Fatalf("all %d alerts went out before the kill; the test proves nothing", n)
	}
	t.Logf("killed after %d of %d alerts", before, n)

	c2 := child(t, "run", "--config", cfg)
	if err := c2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Graceful stop on SIGTERM, within a bound.
		c2.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- c2.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run after SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			c2.Process.Kill()
			t.Error("run did not stop within 15s of SIGTERM")
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(keys)
		mu.Unlock()
		if got == n && len(q.Messages("trailwatch-events")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %d of %d alerts, %d messages left in the queue", got, n, len(q.Messages("trailwatch-events")))
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.Findings(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != n {
		t.Errorf("%d findings, want %d (one per event)", len(fs), n)
	}
	dels, err := st.Deliveries(context.Background(), store.OutboxFilter{Channel: []string{"soc"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dels) != n {
		t.Errorf("%d notifications in the outbox, want %d", len(dels), n)
	}
	// Delivery is at least once: an alert the receiver took but whose
	// answer the killed process never recorded is sent again, with the
	// same Idempotency-Key, so the receiver keeps one. Only deliveries
	// sent and not yet recorded at the kill may repeat, none more than
	// once: the attempts in flight and the outcomes waiting for their
	// commit, at most four per slot of the channel's concurrency (2).
	mu.Lock()
	defer mu.Unlock()
	again := 0
	for key, k := range keys {
		switch {
		case key == "":
			t.Errorf("%d deliveries without an Idempotency-Key", k)
		case k > 2:
			t.Errorf("alert %s delivered %d times", key, k)
		case k == 2:
			again++
		}
	}
	if again > 4*2 {
		t.Errorf("%d alerts delivered twice, want at most the 8 that may be sent and not recorded at the kill (four per slot)", again)
	}
}
