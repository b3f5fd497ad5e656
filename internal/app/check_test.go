package app

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/source/webhook"
)

// TestCheckFindsWhatRunWouldReject is the list of issue 8 §7: every one of
// these passed config check and then failed trailwatch run, or dead-lettered
// every delivery.
func TestCheckFindsWhatRunWouldReject(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(`store:
  dsn: postgres://tw:${PG_PASSWORD_UNSET}@db/tw
rules:
  EKS-TAG: {enabled: false}
  EKS-ACCESS-POLICY: {events: {DisassociateAccessPolcy: false}}
channels:
  - name: soc
    type: console
    template:
      body: "{{.Nope}}"
  - name: pd
    type: pagerduty
    routing_key: short-EXAMPLE
    componnet: eks
sources:
  - {name: a, type: webhook, listen: ":8443", api_key: EXAMPLE-key}
  - {name: b, type: webhook, listen: "127.0.0.1:8443", api_key: EXAMPLE-key}
  - {name: q, type: sqs}
admin: {listen: nonsense}
heartbeat: {max_silence: 1x}
`))
	if cfg == nil {
		t.Fatalf("Parse refused to decode: %v", err)
	}
	err = Check(cfg, CheckOptions{Getenv: func(string) string { return "" }})
	var ps *config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Check = %v, want *config.Problems", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"configuration:2: store.dsn: environment variable PG_PASSWORD_UNSET is not set",
		"configuration:4: rules.EKS-TAG: no such rule (did you mean EKS-TAGS?)",
		"configuration:5: rules.EKS-ACCESS-POLICY.events.DisassociateAccessPolcy: the rule does not watch this event (did you mean DisassociateAccessPolicy?)",
		"configuration:10: channels[0] (soc).template.body: {{.Nope}} (line 1, column 2 of the template) fails on every message: can't evaluate field Nope",
		"configuration:13: channels[1] (pd).routing_key",
		"configuration:14: channels[1] (pd).componnet: unknown key for channel type pagerduty (did you mean component?)",
		"configuration:17: sources[1] (b).listen: 127.0.0.1:8443 is also where sources[0] (a).listen listens",
		"configuration:18: sources[2] (q).queue_url",
		`configuration:19: admin.listen: "nonsense" is not host:port`,
		`configuration:20: heartbeat.max_silence: "1x": unknown unit "x"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check lacks %q:\n%s", want, msg)
		}
	}
	for _, leak := range []string{"notify.Message", "short-EXAMPLE", "postgres://"} {
		if strings.Contains(msg, leak) {
			t.Errorf("Check shows %q:\n%s", leak, msg)
		}
	}
	if !strings.HasPrefix(msg, "configuration: 10 problems") {
		t.Errorf("not every problem in one report, or more than expected:\n%s", msg)
	}
}

func TestCheckRendersTemplatesOfEveryKind(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(`channels:
  - name: ok
    type: console
    template: {title: "{{if eq .Kind \"update\"}}again: {{end}}{{.Finding.RuleTitle}}"}
  - name: broken-updates
    type: console
    template: {short: "{{if gt .Repeats 1}}{{.Finding.Nope}}{{end}}x"}
  - name: unparsable
    type: console
    template: {title: "{{.Finding.RuleTitle"}
`))
	if err != nil {
		t.Fatal(err)
	}
	msg := Check(cfg, CheckOptions{}).Error()
	for _, want := range []string{
		"configuration:7: channels[1] (broken-updates).template.short: {{.Finding.Nope}}",
		"configuration:10: channels[2] (unparsable).template.title: line 1 of the template: unclosed action",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "channels[0]") {
		t.Errorf("a good template reported:\n%s", msg)
	}
}

func TestDefaultWebhookListenIsTheWebhooksOwn(t *testing.T) {
	var c webhook.Config
	c.Check(func(string) string { return "" })
	if c.Listen != config.DefaultWebhookListen {
		t.Errorf("webhook default listen %q, config.DefaultWebhookListen %q: keep them equal", c.Listen, config.DefaultWebhookListen)
	}
}

// The series users alert on exist at 0 from the start.
func TestMetricsExistAtZero(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(`store: {path: ` + filepath.Join(t.TempDir(), "tw.db") + `}
admin: {listen: "127.0.0.1:0"}
sources: [{name: hook, type: webhook, listen: "127.0.0.1:0", api_key: "${TW_API_KEY}"}]
channels: [{name: quiet, type: console, stream: stderr}]
rules: {EKS-TAGS: {enabled: false}}
heartbeat: {max_silence: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	addrs, stop := start(t, cfg)
	defer stop()
	resp, err := http.Get("http://" + addrs["admin"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := string(b)
	for _, want := range []string{
		`trailwatch_findings_total{risk="HIGH",rule="EKS-CLUSTER-CONFIG"} 0`,
		`trailwatch_findings_total{risk="EXTREME",rule="EKS-ACCESS-POLICY"} 0`,
		`trailwatch_findings_total{risk="HIGH",rule="TRAILWATCH-TRAIL-SILENT"} 0`,
		`trailwatch_events_received_total{source="hook"} 0`,
		`trailwatch_errors_total{kind="read",source="hook"} 0`,
		`trailwatch_batches_total{result="failed",source="hook"} 0`,
		`trailwatch_notifications_total{channel="quiet",result="dead"} 0`,
		`trailwatch_outbox_depth{channel="quiet",status="dead"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, `rule="EKS-TAGS"`) {
		t.Error("a disabled rule has findings series")
	}
}

// Every duration is read in the one grammar, source settings included.
func TestDurationsInOneGrammar(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(strings.NewReader(`sources:
  - {name: logs, type: file, path: "` + dir + `", poll_interval: 2 minutes}
channels:
  - {name: mail, type: email, host: smtp.example.com, port: 587, from: tw@example.com, to: [soc@example.com], timeout: 1m30s, max_age: 2d}
rules: {EKS-TAGS: {ttl: 1w}}
heartbeat: {max_silence: 90m}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(cfg, CheckOptions{Getenv: func(string) string { return "" }}); err != nil {
		t.Errorf("Check: %v", err)
	}
}
