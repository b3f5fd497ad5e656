// Package notifytest is the shared kit of channel tests: a realistic sample
// finding, the status-code table every HTTP channel must classify alike,
// and assertions that no secret leaks into errors or logs.
package notifytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
)

// Finding returns a realistic EKS finding: the public endpoint of cluster
// prod opened to the internet by an SSO user from the CLI.
func Finding() finding.Finding {
	return finding.Finding{
		ID:          "f-0123456789abcdef01234567",
		Fingerprint: "9f2c1e0d4b5a69788796a5b4c3d2e1f0",
		RuleID:      "EKS-CLUSTER-CONFIG",
		RuleTitle:   "EKS cluster configuration changed",
		Service:     "eks",
		Risk:        finding.VeryHigh,
		RiskReasons: []string{"the public API endpoint is opened to 0.0.0.0/0 (the whole internet)"},
		EventID:     "5f1c2a3b-4d5e-6f70-8192-a3b4c5d6e7f8",
		EventTime:   time.Date(2026, 11, 20, 10, 15, 0, 0, time.UTC),
		EventSource: "eks.amazonaws.com",
		EventName:   "UpdateClusterConfig",
		AccountID:   "111122223333",
		Region:      "eu-west-1",
		Actor: actor.Actor{
			Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
			Name: "alice@example.com (SSO AdministratorAccess)", SessionName: "alice@example.com",
			Role: "AWSReservedSSO_AdministratorAccess_0123456789abcdef", PermissionSet: "AdministratorAccess",
			AccountID: "111122223333", MFA: true,
		},
		AccessMethod: "cli",
		UserAgent:    "aws-cli/2.22.0 md/command#eks.update-cluster-config",
		SourceIP:     "198.51.100.7",
		Outcome:      "success",
		Resource:     finding.Resource{Type: "cluster", Name: "prod", ARN: "arn:aws:eks:eu-west-1:111122223333:cluster/prod"},
		Summary:      "alice@example.com (SSO AdministratorAccess) (AssumedRole) updated EKS cluster prod (UpdateClusterConfig) in 111122223333/eu-west-1 via cli: the public API endpoint is opened to 0.0.0.0/0 (the whole internet)",
		Changes:      map[string]any{"name": "prod", "resourcesVpcConfig": map[string]any{"endpointPublicAccess": true, "publicAccessCidrs": []any{"0.0.0.0/0"}}},
		Remediation:  "Keep the public endpoint restricted to known CIDRs or off.",
		TTL:          24 * time.Hour,
	}
}

// Message wraps Finding in a trigger message.
func Message() notify.Message {
	return notify.Message{Finding: Finding(), Kind: notify.Trigger, Repeats: 1, IdempotencyKey: "f-0123456789abcdef01234567/test-channel"}
}

// Escalation is the shared sample escalation: the sample finding
// (VERY_HIGH) made by another principal on an alert opened at HIGH.
func Escalation() notify.Message {
	m := Message()
	m.Kind, m.Repeats = notify.Escalation, 3
	m.Finding.ID = "f-1123456789abcdef01234567" // another event of the same fingerprint
	m.IdempotencyKey = m.Finding.ID + "/test-channel"
	m.Escalated = &notify.Escalated{Number: 1, PreviousRisk: finding.High, Why: []string{
		"risk raised from HIGH to VERY_HIGH", "made by another principal: " + m.Finding.Actor.Name,
		"new risk reason: " + m.Finding.RiskReasons[0]}}
	return m
}

// StatusCase is how an HTTP status must be classified.
type StatusCase struct {
	Status     int
	Header     http.Header
	Permanent  bool
	RetryAfter time.Duration
}

// StatusCases is the table every HTTP channel must pass: 4xx permanent
// except 408 and 429; 429 honours Retry-After; 5xx retryable.
var StatusCases = []StatusCase{
	{Status: 400, Permanent: true},
	{Status: 401, Permanent: true},
	{Status: 403, Permanent: true},
	{Status: 404, Permanent: true},
	{Status: 408},
	{Status: 429, Header: http.Header{"Retry-After": {"7"}}, RetryAfter: 7 * time.Second},
	{Status: 500},
	{Status: 502},
	{Status: 503, Header: http.Header{"Retry-After": {"2"}}, RetryAfter: 2 * time.Second},
}

// CheckStatuses runs newNotifier against a server answering each status of
// StatusCases and checks the classification; secrets must appear in
// neither the error nor the logs.
func CheckStatuses(t *testing.T, newNotifier func(baseURL string, logger *slog.Logger) notify.Notifier, secrets ...string) {
	t.Helper()
	for _, tc := range StatusCases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range tc.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(tc.Status)
			w.Write([]byte(`{"error":"injected failure"}`))
		}))
		var logs bytes.Buffer
		n := newNotifier(srv.URL, slog.New(slog.NewTextHandler(&logs, nil)))
		_, err := n.Notify(context.Background(), Message())
		srv.Close()
		if err == nil {
			t.Errorf("HTTP %d: no error", tc.Status)
			continue
		}
		if got := notify.IsPermanent(err); got != tc.Permanent {
			t.Errorf("HTTP %d: permanent = %v, want %v (%v)", tc.Status, got, tc.Permanent, err)
		}
		if got := notify.RetryAfter(err); got != tc.RetryAfter {
			t.Errorf("HTTP %d: retry after %v, want %v", tc.Status, got, tc.RetryAfter)
		}
		NoLeak(t, err.Error()+logs.String(), secrets...)
	}
}

// CheckUnreachable checks that a refused connection is a retryable error
// that leaks no secret.
func CheckUnreachable(t *testing.T, newNotifier func(baseURL string, logger *slog.Logger) notify.Notifier, secrets ...string) {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	var logs bytes.Buffer
	_, err := newNotifier(url, slog.New(slog.NewTextHandler(&logs, nil))).Notify(context.Background(), Message())
	if err == nil {
		t.Fatal("no error from a refused connection")
	}
	if notify.IsPermanent(err) {
		t.Errorf("refused connection is permanent: %v", err)
	}
	NoLeak(t, err.Error()+logs.String(), secrets...)
}

// CheckTimeout checks that a server that never answers gives a retryable
// error within the context deadline.
func CheckTimeout(t *testing.T, newNotifier func(baseURL string, logger *slog.Logger) notify.Notifier, secrets ...string) {
	t.Helper()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := newNotifier(srv.URL, slog.New(slog.DiscardHandler)).Notify(ctx, Message())
	if err == nil {
		t.Fatal("no error from a server that never answers")
	}
	if notify.IsPermanent(err) {
		t.Errorf("timeout is permanent: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("timeout error does not say so: %v", err)
	}
	NoLeak(t, err.Error(), secrets...)
}

// EchoBody is what an echoing receiver answers a request with: the request
// line (as Express's default "Cannot POST /path" page, raw and
// percent-decoded), the headers, and the body, in the order given, with
// pad bytes of filler in front, so that a cut at a fixed length can fall
// inside a secret.
func EchoBody(r *http.Request, body []byte, pad int, parts ...string) string {
	var b strings.Builder
	b.WriteString(strings.Repeat("x", pad))
	for _, p := range parts {
		switch p {
		case "line":
			fmt.Fprintf(&b, "<pre>Cannot %s %s</pre> (%s) ", r.Method, r.RequestURI, r.URL.Path)
		case "headers":
			names := make([]string, 0, len(r.Header))
			for k := range r.Header {
				switch k {
				case "User-Agent", "Accept-Encoding", "Content-Length", "Content-Type", "Accept":
					continue
				}
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				fmt.Fprintf(&b, "%s: %s\r\n", k, strings.Join(r.Header[k], ", "))
			}
		case "body":
			b.Write(body)
		}
	}
	return b.String()
}

// CheckEcho runs newNotifier against a receiver that answers 500 with
// EchoBody (request line first, headers first, body first, and each with
// the secret set to straddle the error's cut) and checks that no secret
// appears in the error or the logs, in any encoding the receiver used.
func CheckEcho(t *testing.T, newNotifier func(baseURL string, logger *slog.Logger) notify.Notifier, secrets ...string) {
	t.Helper()
	orders := [][]string{{"line", "headers", "body"}, {"headers", "line", "body"}, {"body", "line", "headers"}}
	for _, order := range orders {
		for _, pad := range []int{0, 150, 170, 190, 199} {
			var got atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got.Add(1)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, EchoBody(r, body, pad, order...))
			}))
			var logs bytes.Buffer
			n := newNotifier(srv.URL, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			_, err := n.Notify(context.Background(), Message())
			srv.Close()
			if got.Load() == 0 {
				t.Fatalf("echo %v: the receiver got no request", order)
			}
			if err == nil {
				t.Fatalf("echo %v: no error from a 500", order)
			}
			NoLeak(t, err.Error()+"\n"+fmt.Sprintf("%+v", err)+"\n"+logs.String(), Encodings(secrets...)...)
		}
	}
}

// Encodings returns the secrets with the forms a server may echo them in:
// percent-decoded and percent-encoded.
func Encodings(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		out = append(out, s, url.PathEscape(s), url.QueryEscape(s))
		if d, err := url.PathUnescape(s); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// NoLeak fails when text contains any of the secrets.
func NoLeak(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("secret %q leaked into: %s", s[:min(4, len(s))]+"…", text)
		}
	}
}

// JSONEqual compares a JSON body with a golden JSON document, ignoring
// formatting.
func JSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("golden is not JSON: %v", err)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Errorf("body differs from golden\n got: %s\nwant: %s", gb, wb)
	}
}

// update rewrites golden files: go test ./internal/notify/... -update.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Golden compares a JSON body with testdata/NAME.json, ignoring
// formatting; with -update it rewrites the file first.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	if *update {
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		enc.Encode(v)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	JSONEqual(t, got, string(want))
}
