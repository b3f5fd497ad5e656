package slack

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
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/secret"
)

const (
	hookPath = "/services/T000EXAMPLE/B000EXAMPLE/XXXXEXAMPLEXXXX"
	hookURL  = "https://hooks.slack.example" + hookPath
)

func noEnv(string) string { return "" }

// newNotifier checks a config for the webhook at base+hookPath.
func newNotifier(t *testing.T, c Config, base string, logger *slog.Logger) *Notifier {
	t.Helper()
	c.WebhookURL = secret.New(base + hookPath)
	if err := c.Check(noEnv); err != nil {
		t.Fatal(err)
	}
	n, err := New(c, notify.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func messages() map[string]notify.Message {
	trigger := notifytest.Message()
	trigger.DashboardURL = "https://trailwatch.example.com/findings/f-0123456789abcdef01234567"
	upd := notifytest.Message()
	upd.Kind, upd.Repeats = notify.Update, 3
	test := notifytest.Message()
	test.Kind = notify.Test
	return map[string]notify.Message{"trigger": trigger, "update": upd, "test": test, "escalation": notifytest.Escalation()}
}

func TestNotifyGolden(t *testing.T) {
	yes, no := true, false
	configs := map[string]Config{
		"":        {ShowActor: &yes, Mention: "<!here>", MentionAt: "VERY_HIGH", Username: "trailwatch", IconEmoji: ":shield:"},
		"_hidden": {ShowActor: &no, ShowResource: &no, ShowChanges: &no, Mention: "<!here>", MentionAt: "EXTREME"},
	}
	for suffix, cfg := range configs {
		for kind, m := range messages() {
			if suffix != "" && kind != "trigger" {
				continue
			}
			name := kind + suffix
			t.Run(name, func(t *testing.T) {
				var got []byte
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodPost || r.URL.Path != hookPath {
						t.Errorf("request %s %s", r.Method, r.URL.Path)
					}
					if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("Content-Type %q", ct)
					}
					got, _ = io.ReadAll(r.Body)
					io.WriteString(w, "ok")
				}))
				defer srv.Close()
				res, err := newNotifier(t, cfg, srv.URL, nil).Notify(context.Background(), m)
				if err != nil {
					t.Fatal(err)
				}
				if res.Ref != "" {
					t.Errorf("Ref = %q, want none (webhooks cannot edit)", res.Ref)
				}
				notifytest.Golden(t, name, got)
				checkLimits(t, got)
			})
		}
	}
}

// checkLimits asserts Slack's Block Kit limits on a payload.
func checkLimits(t *testing.T, body []byte) {
	t.Helper()
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
			Elements []struct {
				Type string `json:"type"`
				Text any    `json:"text"`
				URL  string `json:"url"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	n := utf8.RuneCountInString
	if p.Text == "" || n(p.Text) > maxFallback {
		t.Errorf("fallback text has %d characters", n(p.Text))
	}
	if len(p.Blocks) == 0 || len(p.Blocks) > 50 {
		t.Errorf("%d blocks", len(p.Blocks))
	}
	for i, b := range p.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || b.Text.Text == "" || n(b.Text.Text) > 150 {
				t.Errorf("block %d: bad header %+v", i, b.Text)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("block %d: empty section", i)
			}
			if b.Text != nil && (b.Text.Text == "" || n(b.Text.Text) > 3000) {
				t.Errorf("block %d: section text has %d characters", i, n(b.Text.Text))
			}
			if len(b.Fields) > 10 {
				t.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if f.Text == "" || n(f.Text) > 2000 {
					t.Errorf("block %d: field has %d characters", i, n(f.Text))
				}
			}
		case "context", "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				t.Errorf("block %d: %d elements", i, len(b.Elements))
			}
		default:
			t.Errorf("block %d: unexpected type %q", i, b.Type)
		}
	}
}

func TestLimits(t *testing.T) {
	m := notifytest.Message()
	f := &m.Finding
	f.RuleTitle = strings.Repeat("Very long rule title <&> ", 20)
	f.Summary = strings.Repeat("a <b> & c ", 1000)
	f.Remediation = strings.Repeat("fix & <it> ", 1000)
	f.RiskReasons = nil
	for i := range 200 {
		f.RiskReasons = append(f.RiskReasons, fmt.Sprintf("reason %d: %s", i, strings.Repeat("<x>&", 40)))
	}
	big := map[string]any{}
	for i := range 500 {
		big[fmt.Sprintf("key%03d", i)] = strings.Repeat("value <&> ```", 30)
	}
	f.Changes = big
	f.Actor.Name = strings.Repeat("é", 5000)
	f.Resource.ARN = strings.Repeat("arn:aws:eks:", 500)
	f.UserAgent = strings.Repeat("ua", 5000)
	m.DashboardURL = "https://trailwatch.example.com/f/" + strings.Repeat("x", 4000) // too long for a button
	for _, kind := range []notify.Kind{notify.Trigger, notify.Update, notify.Escalation, notify.Test} {
		m.Kind, m.Repeats = kind, 7
		n := newNotifier(t, Config{Mention: "<!channel> <!subteam^S0EXAMPLE>"}, "https://hooks.slack.example", nil)
		txt, err := n.o.Templates.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(n.payload(m, txt))
		if err != nil {
			t.Fatal(err)
		}
		checkLimits(t, body)
		if strings.Contains(string(body), "<x>") || strings.Contains(string(body), "<b>") {
			t.Errorf("%s: unescaped control characters", kind)
		}
		if !strings.Contains(string(body), "more") {
			t.Errorf("%s: cut reasons not counted", kind)
		}
	}
}

func TestEscapeCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a<b>&c", 100, "a&lt;b&gt;&amp;c"},
		{"a<b>&c", 6, "a&lt;…"},
		{"a<b>&c", 5, "a…"}, // never half an entity
		{"héllo", 3, "hé…"},
		{"", 0, ""},
	} {
		if got := escapeCut(tc.in, tc.n); got != tc.want {
			t.Errorf("escapeCut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestMention(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		kind    notify.Kind
		risk    finding.Risk
		mention bool
	}{
		{"every alert", Config{Mention: "<!here>"}, notify.Trigger, finding.Low, true},
		{"at or above", Config{Mention: "<!here>", MentionAt: "very high"}, notify.Trigger, finding.VeryHigh, true},
		{"below", Config{Mention: "<!here>", MentionAt: "EXTREME"}, notify.Trigger, finding.VeryHigh, false},
		{"not on repeats", Config{Mention: "<!here>"}, notify.Update, finding.Extreme, false},
		{"on escalations", Config{Mention: "<!here>", MentionAt: "HIGH"}, notify.Escalation, finding.VeryHigh, true},
		{"not on tests", Config{Mention: "<!here>"}, notify.Test, finding.Extreme, false},
		{"none configured", Config{}, notify.Trigger, finding.Extreme, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := notifytest.Message()
			m.Kind, m.Finding.Risk = tc.kind, tc.risk
			n := newNotifier(t, tc.cfg, "https://hooks.slack.example", nil)
			p := n.payload(m, notify.Text{Title: "title"})
			got := strings.HasPrefix(p.Text, "<!here> ") && strings.HasPrefix(p.Blocks[1].Text.Text, "<!here> ")
			if got != tc.mention {
				t.Errorf("mentioned = %v, want %v: %q", got, tc.mention, p.Text)
			}
		})
	}
}

func TestStatuses(t *testing.T) {
	mk := func(base string, logger *slog.Logger) notify.Notifier { return newNotifier(t, Config{}, base, logger) }
	secrets := []string{hookPath, "XXXXEXAMPLEXXXX"}
	notifytest.CheckStatuses(t, mk, secrets...)
	notifytest.CheckUnreachable(t, mk, secrets...)
	notifytest.CheckTimeout(t, mk, secrets...)
}

func TestSlackErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		permanent bool
		want      string
	}{
		{400, "invalid_payload", true, "invalid_payload"},
		{403, "action_prohibited", true, "action_prohibited"},
		{404, "channel_not_found", true, "channel_not_found"},
		{404, "no_service", true, "no_service"},
		{410, "channel_is_archived", true, "channel_is_archived"},
		{500, "rollup_error", false, "rollup_error"},
		{200, `{"ok":false,"error":"not_authed"}`, true, "not_authed"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		_, err := newNotifier(t, Config{}, srv.URL, nil).Notify(context.Background(), notifytest.Message())
		srv.Close()
		if err == nil || notify.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("HTTP %d %s: err = %v, want permanent=%v", tc.status, tc.body, err, tc.permanent)
			continue
		}
		notifytest.NoLeak(t, err.Error(), hookPath, srv.URL)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "hook")
	os.WriteFile(good, []byte(hookURL+"\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	notURL := filepath.Join(dir, "not-url")
	os.WriteFile(notURL, []byte("XXXXEXAMPLEXXXX\n"), 0o600)
	env := func(k string) string {
		if k == "SLACK_WEBHOOK_URL" {
			return hookURL
		}
		return ""
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"inline", Config{WebhookURL: secret.New(hookURL)}, nil},
		{"env", Config{WebhookURL: secret.New("${SLACK_WEBHOOK_URL}")}, nil},
		{"file", Config{WebhookURLFile: good}, nil},
		{"missing", Config{}, []string{"webhook_url: missing"}},
		{"both", Config{WebhookURL: secret.New(hookURL), WebhookURLFile: good}, []string{"webhook_url, webhook_url_file:", "not both"}},
		{"env unset", Config{WebhookURL: secret.New("${NOPE_EXAMPLE}")}, []string{"webhook_url: environment variable NOPE_EXAMPLE is not set"}},
		{"no file", Config{WebhookURLFile: filepath.Join(dir, "nope")}, []string{"webhook_url_file: read secret file", "no such file"}},
		{"empty file", Config{WebhookURLFile: empty}, []string{"webhook_url_file: file", "is empty"}},
		{"bad url", Config{WebhookURL: secret.New("hooks.slack.example/services/XXXXEXAMPLEXXXX")}, []string{"webhook_url: not an absolute URL"}},
		{"bad url in file", Config{WebhookURLFile: notURL}, []string{"webhook_url_file: not an absolute URL"}},
		{"ftp", Config{WebhookURL: secret.New("ftp://hooks.slack.example/XXXXEXAMPLEXXXX")}, []string{"webhook_url: must be an https URL"}},
		{"mention", Config{WebhookURL: secret.New(hookURL), Mention: "@here"}, []string{`mention: "@here" is not a Slack mention`}},
		{"mentions", Config{WebhookURL: secret.New(hookURL), Mention: "<!here> <@U0EXAMPLE1> <!subteam^S0EXAMPLE>"}, nil},
		{"mention_at", Config{WebhookURL: secret.New(hookURL), Mention: "<!here>", MentionAt: "CRITICAL"}, []string{"mention_at: unknown risk level"}},
		{"mention_at alone", Config{WebhookURL: secret.New(hookURL), MentionAt: "HIGH"}, []string{"mention_at: set without mention"}},
		{"icon", Config{WebhookURL: secret.New(hookURL), IconEmoji: "shield"}, []string{"icon_emoji:"}},
		{"all at once", Config{Mention: "@here", IconEmoji: "x"}, []string{"webhook_url: missing", "mention:", "icon_emoji:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			err := c.Check(env)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.r.webhookURL.Reveal() != hookURL {
					t.Errorf("resolved URL wrong")
				}
				if err := c.Check(env); err != nil { // Check is repeatable
					t.Errorf("second Check: %v", err)
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
			notifytest.NoLeak(t, err.Error(), hookURL, hookPath, "XXXXEXAMPLEXXXX")
			if _, err := New(c, notify.Options{}); err == nil {
				t.Error("New accepted an unchecked config")
			}
		})
	}
}

func TestConfigPrintsNoSecret(t *testing.T) {
	c := Config{WebhookURL: secret.New(hookURL)}
	if err := c.Check(noEnv); err != nil {
		t.Fatal(err)
	}
	n, _ := New(c, notify.Options{})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		notifytest.NoLeak(t, fmt.Sprintf(verb, c)+fmt.Sprintf(verb, n), hookURL, hookPath)
	}
}

func TestEchoedWebhookURLNeverLeaks(t *testing.T) {
	// A receiver answering 500 with the request line ("Cannot POST
	// /services/…") must not put any part of the URL's path into the error.
	mk := func(base string, logger *slog.Logger) notify.Notifier { return newNotifier(t, Config{}, base, logger) }
	notifytest.CheckEcho(t, mk, hookPath, "T000EXAMPLE", "B000EXAMPLE", "XXXXEXAMPLEXXXX")
}
