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
	"testing"
)

// slackSink is a loopback Slack incoming webhook that keeps each post's
// fallback text.
type slackSink struct {
	mu    sync.Mutex
	posts []string
}

func (s *slackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	all := m.Text
	for _, bl := range m.Blocks {
		if bl.Text != nil {
			all += "\n" + bl.Text.Text
		}
	}
	s.mu.Lock()
	s.posts = append(s.posts, all)
	s.mu.Unlock()
	io.WriteString(w, "ok")
}

func (s *slackSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.posts
	s.posts = nil
	return p
}

func slackConfig(t *testing.T, url string) string {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailwatch.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("store: {path: %s}\nchannels:\n  - {name: secops, type: slack, rate_per_minute: 6000, burst: 20, webhook_url: %q}\n",
		filepath.Join(dir, "tw.db"), url+"/services/T000EXAMPLE/B000EXAMPLE/EXAMPLEtoken")), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The shipped example trail: alice switches the audit log off on cluster
// prod at 10:04, a minute after bob opened its endpoint. Another principal
// and a new reason: alerted, not counted as bob's repeat. So is bob's
// authentication-mode change at 11:00 (a new reason).
func TestScanNotifyAlertsEscalations(t *testing.T) {
	sink := &slackSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	cfg := slackConfig(t, srv.URL)
	r := run(t, "", "scan", "--config", cfg, "--notify", "--notify-timeout", "30s", examples)
	if r.code != ExitOK {
		t.Fatalf("scan --notify: %d\n%s", r.code, r.stderr)
	}
	posts := sink.take()
	if len(posts) != 16 {
		t.Errorf("%d Slack posts, want one per finding (16): no finding of the example repeats another's principal, risk and reasons", len(posts))
	}
	// Three changes to cluster prod by two principals, with three reasons:
	// all alerted, one as the alert and two as its escalations (which one
	// opens the alert depends on the order the scan's workers save in).
	var prod []string
	for _, p := range posts {
		if strings.Contains(p, "updated EKS cluster prod (UpdateClusterConfig)") {
			prod = append(prod, p)
		}
	}
	escalated := 0
	for _, p := range prod {
		if strings.Contains(p, "[ESCALATED]") && strings.Contains(p, "Escalated:") {
			escalated++
		}
	}
	if len(prod) != 3 || escalated != 2 {
		t.Errorf("%d Slack posts for prod's configuration, %d of them escalations; want 3 and 2:\n%s", len(prod), escalated, strings.Join(prod, "\n---\n"))
	}
	for _, want := range []string{"audit or authenticator logging is switched off", "the cluster authentication mode is changed", "opened to 0.0.0.0/0"} {
		if !strings.Contains(strings.Join(prod, "\n"), want) {
			t.Errorf("no Slack post says %q", want)
		}
	}
}

// Alice changes the authentication mode (HIGH) at 09:00; mallory opens the
// endpoint (VERY_HIGH) at 09:05; alice repeats her change at 09:10. Slack
// gets alice's alert and mallory's escalation, and counts alice's repeat.
func TestScanNotifyRiskierChangeByAnotherActor(t *testing.T) {
	sink := &slackSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	cfg := slackConfig(t, srv.URL)
	event := func(id, who, at, params string) string {
		return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE%s","arn":"arn:aws:iam::111122223333:user/%s","accountId":"111122223333","userName":"%s"},`+
			`"eventTime":"2026-11-20T%s:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7",`+
			`"userAgent":"aws-cli/2.22.0","requestParameters":{"name":"prod",%s},"responseElements":{"update":{"id":"u-%s","status":"InProgress"}},`+
			`"requestID":"req-%s","eventID":"00000000-0000-4000-8000-00000000000%s","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`,
			id, who, who, at, params, id, id, id)
	}
	auth := `"accessConfig":{"authenticationMode":"API"}`
	trail := strings.Join([]string{
		event("1", "alice", "09:00", auth),
		event("2", "mallory", "09:05", `"resourcesVpcConfig":{"endpointPublicAccess":true,"publicAccessCidrs":["0.0.0.0/0"]}`),
		event("3", "alice", "09:10", auth),
	}, "\n")
	r := run(t, trail, "scan", "--config", cfg, "--notify", "--notify-timeout", "30s", "-")
	if r.code != ExitOK {
		t.Fatalf("scan --notify: %d\n%s", r.code, r.stderr)
	}
	posts := sink.take()
	if len(posts) != 2 {
		t.Fatalf("%d Slack posts, want alice's alert and mallory's escalation:\n%s", len(posts), strings.Join(posts, "\n---\n"))
	}
	if !strings.Contains(posts[0], "alice (IAMUser)") || strings.Contains(posts[0], "ESCALATED") {
		t.Errorf("first post is not alice's alert:\n%s", posts[0])
	}
	for _, want := range []string{"mallory (IAMUser)", "[ESCALATED] [VERY_HIGH]", "risk raised from HIGH to VERY_HIGH", "made by another principal: mallory"} {
		if !strings.Contains(posts[1], want) {
			t.Errorf("second post lacks %q:\n%s", want, posts[1])
		}
	}
}
