package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/secret"
)

const routingKey = "EXAMPLEROUTINGKEYEXAMPLE00000000" // 32 characters

var now = time.Date(2026, 11, 20, 10, 16, 0, 0, time.UTC)

func noEnv(string) string { return "" }

// newNotifier checks a config for the Events API at base.
func newNotifier(t *testing.T, c Config, base string, logger *slog.Logger) *Notifier {
	t.Helper()
	c.RoutingKey, c.BaseURL = secret.New(routingKey), base
	if err := c.Check(noEnv); err != nil {
		t.Fatal(err)
	}
	n, err := New(c, notify.Options{Logger: logger, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNotifyGolden(t *testing.T) {
	trigger := notifytest.Message()
	trigger.DashboardURL = "https://trailwatch.example.com/findings/f-0123456789abcdef01234567"
	trigger.Finding.References = []string{"https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html", "not a link"}
	upd := notifytest.Message()
	upd.Kind, upd.Repeats, upd.Ref = notify.Update, 3, "trailwatch-9f2c1e0d4b5a69788796a5b4c3d2e1f0"
	test := notifytest.Message()
	test.Kind = notify.Test
	esc := notifytest.Escalation()
	esc.Ref = "trailwatch-9f2c1e0d4b5a69788796a5b4c3d2e1f0"
	for _, tc := range []struct {
		name    string
		m       notify.Message
		cfg     Config
		wantRef string
	}{
		{"trigger", trigger, Config{ClientURL: "https://trailwatch.example.com/"}, "trailwatch-9f2c1e0d4b5a69788796a5b4c3d2e1f0"},
		{"update", upd, Config{}, "trailwatch-9f2c1e0d4b5a69788796a5b4c3d2e1f0"},
		{"test", test, Config{}, "trailwatch-test-1795169760000000000"},
		// A new PagerDuty alert at the escalated severity: a trigger with
		// the open alert's dedup_key would be appended to it silently.
		{"escalation", esc, Config{}, "trailwatch-9f2c1e0d4b5a69788796a5b4c3d2e1f0-escalation-1"},
		{"overrides", trigger, Config{Source: "trailwatch-prod", Component: "eks", Group: "platform", Class: "config-change"}, "trailwatch-9f2c1e0d4b5a69788796a5b4c3d2e1f0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				got, _ = io.ReadAll(r.Body)
				var ev event
				json.Unmarshal(got, &ev)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				json.NewEncoder(w).Encode(response{Status: "success", Message: "Event processed", DedupKey: ev.DedupKey})
			}))
			defer srv.Close()
			res, err := newNotifier(t, tc.cfg, srv.URL, nil).Notify(context.Background(), tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if res.Ref != tc.wantRef {
				t.Errorf("Ref = %q, want %q", res.Ref, tc.wantRef)
			}
			notifytest.Golden(t, tc.name, got)
		})
	}
}

// TestRepeatsShareAlert checks that a trigger and its updates carry one
// dedup_key, while test messages never reuse a real one.
func TestRepeatsShareAlert(t *testing.T) {
	n := newNotifier(t, Config{}, DefaultBaseURL, nil)
	m := notifytest.Message()
	first := n.event(m, notify.Text{Title: "t"}).DedupKey
	m.Kind, m.Repeats = notify.Update, 2
	if got := n.event(m, notify.Text{Title: "t"}).DedupKey; got != first {
		t.Errorf("update without Ref: dedup_key %q, want %q", got, first)
	}
	m.Ref = first
	if got := n.event(m, notify.Text{Title: "t"}).DedupKey; got != first {
		t.Errorf("update with Ref: dedup_key %q, want %q", got, first)
	}
	esc := notifytest.Escalation()
	esc.Ref = first
	escKey := n.event(esc, notify.Text{Title: "t"}).DedupKey
	if escKey == first || escKey != EscalationKey(esc.Finding, 1) {
		t.Errorf("escalation dedup_key %q: want a new alert's key, not the open alert's %q", escKey, first)
	}
	esc.Escalated.Number = 2
	if k := n.event(esc, notify.Text{Title: "t"}).DedupKey; k == escKey || k == first {
		t.Errorf("second escalation reuses dedup_key %q", k)
	}
	m.Ref = escKey // repeats after an escalation join the escalated alert
	if got := n.event(m, notify.Text{Title: "t"}).DedupKey; got != escKey {
		t.Errorf("update after escalation: dedup_key %q, want %q", got, escKey)
	}
	m.Kind = notify.Test
	if got := n.event(m, notify.Text{Title: "t"}); got.DedupKey == first || !strings.HasPrefix(got.DedupKey, "trailwatch-test-") || got.Payload.Summary != "[TEST] t" {
		t.Errorf("test event: dedup_key %q, summary %q", got.DedupKey, got.Payload.Summary)
	}
	other := notifytest.Message()
	other.Finding.Fingerprint = "0000000000000000000000000000abcd"
	if DedupKey(other.Finding) == first {
		t.Error("different fingerprints share a dedup_key")
	}
}

func TestSeverity(t *testing.T) {
	for r, want := range map[finding.Risk]string{
		finding.Extreme: "critical", finding.VeryHigh: "critical", finding.High: "error",
		finding.Medium: "warning", finding.Low: "info", 0: "warning",
	} {
		if got := Severity(r); got != want {
			t.Errorf("Severity(%v) = %q, want %q", r, got, want)
		}
	}
}

func TestLimits(t *testing.T) {
	m := notifytest.Message()
	m.Finding.RuleTitle = strings.Repeat("é très long titre ", 200)
	m.Finding.Resource.Name = strings.Repeat("n", 3000)
	big := map[string]any{}
	for i := range 2000 {
		big[strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("x", i%50)] = strings.Repeat("v", 100)
	}
	m.Finding.Changes = big
	m.Finding.Fingerprint = strings.Repeat("f", 400)
	for _, kind := range []notify.Kind{notify.Trigger, notify.Update, notify.Test} {
		m.Kind = kind
		n := newNotifier(t, Config{}, DefaultBaseURL, nil)
		txt, err := n.o.Templates.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		ev := n.event(m, txt)
		if s := ev.Payload.Summary; len(s) > 1024 || !utf8.ValidString(s) {
			t.Errorf("%s: summary has %d bytes (valid UTF-8: %v)", kind, len(s), utf8.ValidString(s))
		}
		if len(ev.DedupKey) > 255 {
			t.Errorf("%s: dedup_key has %d bytes", kind, len(ev.DedupKey))
		}
		b, _ := json.Marshal(ev)
		if len(b) > 100<<10 {
			t.Errorf("%s: event has %d bytes", kind, len(b))
		}
	}
}

func TestStatuses(t *testing.T) {
	mk := func(base string, logger *slog.Logger) notify.Notifier { return newNotifier(t, Config{}, base, logger) }
	notifytest.CheckStatuses(t, mk, routingKey)
	notifytest.CheckUnreachable(t, mk, routingKey)
	notifytest.CheckTimeout(t, mk, routingKey)
}

func TestResponses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		ref       string
		permanent bool // when an error is wanted
		wantErr   string
	}{
		{"accepted", 202, `{"status":"success","message":"Event processed","dedup_key":"srv01/HTTP"}`, "srv01/HTTP", false, ""},
		{"no body", 202, ``, "trailwatch-9f2c1e0d4b5a69788796a5b4c3d2e1f0", false, ""},
		{"invalid event", 400, `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`, "", true, "Event object is invalid"},
		{"echoes key", 400, `{"status":"invalid event","message":"bad routing_key ` + routingKey + `"}`, "", true, "[redacted]"},
		{"refused in 2xx", 202, `{"status":"invalid event","message":"Event object is invalid"}`, "", true, "invalid event"},
		{"throttled", 429, ``, "", false, "HTTP 429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			res, err := newNotifier(t, Config{}, srv.URL, nil).Notify(context.Background(), notifytest.Message())
			if tc.wantErr == "" {
				if err != nil || res.Ref != tc.ref {
					t.Errorf("Ref %q, err %v; want %q", res.Ref, err, tc.ref)
				}
				return
			}
			if err == nil || notify.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want permanent=%v containing %q", err, tc.permanent, tc.wantErr)
			}
			if err != nil {
				notifytest.NoLeak(t, err.Error(), routingKey)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile, empty, short := write("key", routingKey+"\n"), write("empty", ""), write("short", "EXAMPLE\n")
	env := func(k string) string {
		if k == "PAGERDUTY_ROUTING_KEY" {
			return routingKey
		}
		return ""
	}
	rk := secret.New(routingKey)
	for _, tc := range []struct {
		name     string
		cfg      Config
		want     []string // substrings of the error; none means valid
		endpoint string
	}{
		{"default host", Config{RoutingKey: rk}, nil, "https://events.pagerduty.com/v2/enqueue"},
		{"EU host", Config{RoutingKey: rk, BaseURL: EUBaseURL + "/"}, nil, "https://events.eu.pagerduty.com/v2/enqueue"},
		{"full URL", Config{RoutingKey: rk, BaseURL: "https://events.pagerduty.com/v2/enqueue"}, nil, "https://events.pagerduty.com/v2/enqueue"},
		{"proxy path", Config{RoutingKey: rk, BaseURL: "https://proxy.example:8443/pagerduty"}, nil, "https://proxy.example:8443/pagerduty/v2/enqueue"},
		{"plain http to a remote proxy", Config{RoutingKey: rk, BaseURL: "http://proxy.example:8080/pagerduty"}, []string{"base_url: must use https"}, ""},
		{"userinfo", Config{RoutingKey: rk, BaseURL: "https://u:EXAMPLE-proxy-password@proxy.example/"}, []string{"base_url: must not contain credentials"}, ""},
		{"env", Config{RoutingKey: secret.New("${PAGERDUTY_ROUTING_KEY}")}, nil, "https://events.pagerduty.com/v2/enqueue"},
		{"file", Config{RoutingKeyFile: keyFile}, nil, "https://events.pagerduty.com/v2/enqueue"},
		{"missing", Config{}, []string{"routing_key: missing"}, ""},
		{"both", Config{RoutingKey: rk, RoutingKeyFile: keyFile}, []string{"routing_key, routing_key_file:", "not both"}, ""},
		{"env unset", Config{RoutingKey: secret.New("${NOPE_EXAMPLE}")}, []string{"routing_key: environment variable NOPE_EXAMPLE is not set"}, ""},
		{"no file", Config{RoutingKeyFile: filepath.Join(dir, "nope")}, []string{"routing_key_file: read secret file", "no such file"}, ""},
		{"empty file", Config{RoutingKeyFile: empty}, []string{"routing_key_file: file", "is empty"}, ""},
		{"short in file", Config{RoutingKeyFile: short}, []string{"routing_key_file: is 7 characters long, want 32"}, ""},
		{"short", Config{RoutingKey: secret.New("EXAMPLE-KEY")}, []string{"routing_key: is 11 characters long, want 32"}, ""},
		{"spaces", Config{RoutingKey: secret.New("EXAMPLE ROUTING KEY EXAMPLE 0000")}, []string{"routing_key: contains spaces"}, ""},
		{"bad base_url", Config{RoutingKey: rk, BaseURL: "events.pagerduty.com"}, []string{"base_url: not an absolute URL"}, ""},
		{"base_url query", Config{RoutingKey: rk, BaseURL: "https://events.pagerduty.com/?x=1"}, []string{"base_url:"}, ""},
		{"base_url credentials", Config{RoutingKey: rk, BaseURL: "ftp://proxyuser:EXAMPLE-proxy-password@proxy.example"}, []string{"base_url:"}, ""},
		{"bad client_url", Config{RoutingKey: rk, ClientURL: "trailwatch.example.com"}, []string{"client_url:"}, ""},
		{"all at once", Config{BaseURL: "ftp://x", ClientURL: "x"}, []string{"routing_key: missing", "base_url:", "client_url:"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			err := c.Check(env)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.r.routingKey.Reveal() != routingKey || c.r.endpoint != tc.endpoint {
					t.Errorf("endpoint %q, want %q (or key not resolved)", c.r.endpoint, tc.endpoint)
				}
				if err := c.Check(env); err != nil || c.r.endpoint != tc.endpoint {
					t.Errorf("second Check: %v, endpoint %q", err, c.r.endpoint)
				}
				if _, err := New(c, notify.Options{}); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			notifytest.NoLeak(t, err.Error(), routingKey, "EXAMPLE-KEY", "EXAMPLE ROUTING KEY", "EXAMPLE-proxy-password")
			if _, err := New(c, notify.Options{}); err == nil {
				t.Error("New accepted an unchecked config")
			}
		})
	}
}

func TestConfigPrintsNoSecret(t *testing.T) {
	c := Config{RoutingKey: secret.New(routingKey)}
	if err := c.Check(noEnv); err != nil {
		t.Fatal(err)
	}
	n, _ := New(c, notify.Options{})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		notifytest.NoLeak(t, fmt.Sprintf(verb, c)+fmt.Sprintf(verb, n), routingKey)
	}
}

func TestEchoedRoutingKeyNeverLeaks(t *testing.T) {
	// The routing key travels in the body; a receiver echoing it back
	// must not put it into the error.
	mk := func(base string, logger *slog.Logger) notify.Notifier { return newNotifier(t, Config{}, base, logger) }
	notifytest.CheckEcho(t, mk, routingKey)
}
