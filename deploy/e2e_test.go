package deploy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/source/sqs/sqsfake"
)

// auditOffEnvelope is what the EventBridge rule delivers for the change of
// docs/setup.md step 8: audit logging switched off on cluster prod.
const auditOffEnvelope = `{"version":"0","id":"eb-setup-1","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"111122223333","time":"2026-11-20T10:00:00Z","region":"eu-west-1","resources":[],"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.22.0 md/command#eks.update-cluster-config","requestParameters":{"name":"prod","logging":{"clusterLogging":[{"types":["audit"],"enabled":false}]}},"responseElements":{"update":{"id":"u-1","type":"LoggingUpdate","status":"InProgress"}},"eventID":"5f1c2a3b-0000-4000-8000-000000000001","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}}`

// TestConfigMapEndToEnd runs trailwatch with the ConfigMap's trailwatch.yaml,
// changed only where the cluster is replaced by local fakes (SQS endpoint
// and static test credentials, store path, admin address, the Slack URL of
// the Secret), and follows the setup guide: the probes answer, and the
// change of step 8 arrives in SQS as the rule delivers it and leaves as a
// Slack alert, its message deleted. Everything stays on loopback.
func TestConfigMapEndToEnd(t *testing.T) {
	var text string
	for key, o := range manifests(t) {
		if strings.HasPrefix(key, "ConfigMap/") {
			text, _ = get(o, "data", "trailwatch.yaml").(string)
		}
	}
	if text == "" {
		t.Fatal("no ConfigMap with trailwatch.yaml")
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}

	q := sqsfake.New()
	defer q.Close()
	queue := "trailwatch-events"
	q.CreateQueue(queue, sqsfake.QueueOptions{VisibilityTimeout: 30 * time.Second})

	var mu sync.Mutex
	var posts []string
	posted := make(chan struct{}, 10)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, string(b))
		mu.Unlock()
		w.Write([]byte("ok"))
		posted <- struct{}{}
	}))
	defer slack.Close()

	// The local replacements, and nothing else.
	get(doc, "store").(map[string]any)["path"] = filepath.Join(t.TempDir(), "trailwatch.db")
	get(doc, "admin").(map[string]any)["listen"] = "127.0.0.1:0"
	src := doc["sources"].([]any)[0].(map[string]any)
	src["queue_url"] = q.QueueURL(queue)
	src["endpoint"] = q.URL()
	src["region"] = "eu-west-1"
	src["access_key_id"] = "AKIAIOSFODNN7EXAMPLE"
	src["secret_access_key"] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	get(doc, "log").(map[string]any)["level"] = "error"
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	getenv := func(k string) string {
		if k == "SLACK_WEBHOOK_URL" {
			return slack.URL + "/services/TEXAMPLE/BEXAMPLE/EXAMPLE"
		}
		return ""
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan map[string]string, 1)
	svc, err := app.NewService(ctx, cfg, app.RunOptions{
		Getenv:  getenv,
		Logger:  slog.New(slog.DiscardHandler),
		Started: func(a map[string]string) { addrs <- a },
	})
	if err != nil {
		t.Fatalf("the ConfigMap's configuration does not start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("run did not stop within 40 s of the signal (terminationGracePeriodSeconds is 45)")
		}
	}()

	var admin string
	select {
	case a := <-addrs:
		admin = "http://" + a["admin"]
	case err := <-done:
		t.Fatalf("run ended before it started: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not started after 30 s")
	}
	httpGet := func(path string) (int, string) {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := httpGet("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := httpGet("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after 15 s", code)
		}
		time.Sleep(50 * time.Millisecond)
	}

	q.Send(queue, auditOffEnvelope)
	select {
	case <-posted:
	case <-time.After(20 * time.Second):
		t.Fatal("no Slack message 20 s after the event was queued")
	}
	mu.Lock()
	body := posts[0]
	mu.Unlock()
	for _, want := range []string{"VERY_HIGH", "prod", "EKS-CLUSTER-CONFIG", "audit"} {
		if !strings.Contains(body, want) {
			t.Errorf("the Slack message lacks %q:\n%s", want, body)
		}
	}

	// The message is deleted once committed.
	deadline = time.Now().Add(10 * time.Second)
	for len(q.Messages(queue)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queue still holds %d message(s)", len(q.Messages(queue)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, metrics := httpGet("/metrics"); !strings.Contains(metrics, `trailwatch_events_received_total{source="eventbridge-queue"} 1`) {
		t.Errorf("/metrics does not count the event:\n%s", grepLines(metrics, "trailwatch_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}
