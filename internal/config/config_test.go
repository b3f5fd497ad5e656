package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
)

func parseString(t *testing.T, s string) (*Config, error) {
	t.Helper()
	return Parse(strings.NewReader(s))
}

// problems returns the problems of err as "line: path: msg" strings.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v is not *Problems", err)
	}
	var out []string
	for _, p := range ps.List {
		out = append(out, p.Error())
	}
	return out
}

func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	got := problems(t, err)
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems lack %q:\n%s", w, all)
		}
	}
	for _, g := range got {
		for _, goType := range []string{"config.", "rule.", "finding.", "string into", "!!str", "[]string", "*bool"} {
			if strings.Contains(g, goType) {
				t.Errorf("problem names a Go type (%s): %s", goType, g)
			}
		}
	}
}

func TestEveryProblemWithPathLineAndSuggestion(t *testing.T) {
	_, err := parseString(t, `store: {path: x.db}
rule_default:
  safelist: [arn:aws:iam::111122223333:role/ops]
rules:
  EKS-TAGS:
    enabeld: false
    risk: SEVERE
    ttl: soon
  EKS-ACCESS-POLICY:
    enabled: "yes please"
    safelist: arn:aws:iam::111122223333:role/ops
channels:
  - name: soc
    type: webhook
    min_risk: HIHG
    outcomes: [succes]
    concurrency: many
    max_age: -1h
heartbeat:
  max_silence: 1x
admin:
  listen: nonsense
log: {level: loud, fromat: text}
`)
	wantProblems(t, err,
		"line 2: rule_default: unknown key (did you mean rule_defaults?)",
		"line 6: rules.EKS-TAGS.enabeld: unknown key (did you mean enabled?)",
		`line 7: rules.EKS-TAGS.risk: unknown risk level "SEVERE" (want LOW, MEDIUM, HIGH, VERY_HIGH or EXTREME)`,
		`line 8: rules.EKS-TAGS.ttl: "soon" is not a duration`,
		`line 10: rules.EKS-ACCESS-POLICY.enabled: want true or false, not "yes please"`,
		`line 11: rules.EKS-ACCESS-POLICY.safelist: want a list, not "arn:aws:iam::111122223333:role/ops"`,
		`line 15: channels[0].min_risk: unknown risk level "HIHG"`,
		`line 16: channels[0] (soc).outcomes[0]: "succes" is not success, denied or failed (did you mean success?)`,
		`line 17: channels[0].concurrency: want a whole number, not "many"`,
		`line 18: channels[0].max_age: "-1h": a duration cannot be negative`,
		`line 20: heartbeat.max_silence: "1x": unknown unit "x"`,
		`line 22: admin.listen: "nonsense" is not host:port`,
		`line 23: log.fromat: unknown key (did you mean format?)`,
		`line 23: log.level: "loud" is not debug, info, warn or error`,
	)
	// In line order, in one message naming how many.
	got := problems(t, err)
	if len(got) != 14 || !strings.HasPrefix(got[0], "line 2:") || !strings.HasPrefix(got[len(got)-1], "line 23:") {
		t.Errorf("problems out of order or counted wrong:\n%s", strings.Join(got, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "configuration: 14 problems\n  configuration:2: rule_default: unknown key") {
		t.Errorf("message:\n%s", err)
	}
}

func TestSyntaxErrorsHaveTheirLine(t *testing.T) {
	_, err := parseString(t, "store:\n  path: x.db\nrules:\n  EKS-TAGS: {enabled: false\n")
	wantProblems(t, err, "line 4: YAML syntax: did not find expected ',' or '}'")
	_, err = parseString(t, "store: {path: x.db}\n  oops: 1\n")
	wantProblems(t, err, "line 2: YAML syntax:")
	_, err = parseString(t, "store: {path: x.db}\nstore: {path: y.db}\n")
	wantProblems(t, err, `line 2: YAML syntax: mapping key "store" already defined at line 1`)
}

func TestSecondDocumentIsAnError(t *testing.T) {
	_, err := parseString(t, "store: {path: x.db}\n---\nrules: {EKS-TAGS: {enabled: false}}\n")
	wantProblems(t, err, "line 2: a second YAML document")
}

func TestAnchorsAliasesAndMerges(t *testing.T) {
	c, err := parseString(t, `rules:
  EKS-TAGS: &quiet {enabled: false, ttl: 7d}
  EKS-ADDON: *quiet
channels:
  - &base
    name: soc
    type: console
    rules: &r [EKS-*]
    actors: *r
    min_risk: HIGH
  - <<: *base
    name: soc-2
    max_age: 2w
`)
	if err != nil {
		t.Fatal(err)
	}
	if *c.Rules["EKS-ADDON"].Enabled || c.Rules["EKS-ADDON"].TTL.D() != 7*duration.Day {
		t.Errorf("alias: %+v", c.Rules["EKS-ADDON"])
	}
	if got := c.Channels[0].Actors; len(got) != 1 || got[0] != "EKS-*" {
		t.Errorf("actors through an alias: %v", got)
	}
	b := c.Channels[1]
	if b.Name != "soc-2" || b.Type != "console" || b.MinRisk != finding.High || b.MaxAge.D() != 14*duration.Day {
		t.Errorf("merged channel: %+v", b.Common)
	}
	// The channel's own decoding sees merged keys too.
	var spec struct {
		Stream string `yaml:"stream"`
	}
	if err := b.DecodeStrict(&spec); err != nil {
		t.Errorf("DecodeStrict of a merged entry: %v", err)
	}
}

func TestDecodeStrictReportsKeysWithLines(t *testing.T) {
	c, err := parseString(t, "channels:\n  - name: pd\n    type: pagerduty\n    severty: loud\n    port: many\n")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Severity string `yaml:"severity"`
		Port     int    `yaml:"port"`
		Timeout  time.Duration
	}
	err = c.Channels[0].DecodeStrict(&spec)
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("DecodeStrict = %v", err)
	}
	msg := fmt.Sprint(c.Locate(err))
	for _, want := range []string{"line 4: severty: unknown key for channel type pagerduty (did you mean severity?)", `line 5: port: want a whole number, not "many"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("DecodeStrict problems lack %q: %s", want, msg)
		}
	}
}

func TestLocatePlacesPathErrors(t *testing.T) {
	c, err := parseString(t, "store: {path: x.db}\nrules:\n  EKS-NOPE: {}\nchannels:\n  - name: pd\n    type: pagerduty\n    routing_key: short\n")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Merge(errors.Join(
		errors.New("rules.EKS-NOPE: no such rule"),
		errors.New("channels[0] (pd).routing_key, routing_key_file: is 5 characters long"),
		errors.New("something without a path"),
	))
	wantProblems(t, err, "line 3: rules.EKS-NOPE: no such rule", "line 7: channels[0] (pd).routing_key: ", "something without a path")
}

func TestListenAddresses(t *testing.T) {
	_, err := parseString(t, `sources:
  - {name: a, type: webhook, listen: "0.0.0.0:8443", api_key: EXAMPLE}
  - {name: b, type: webhook, listen: "127.0.0.1:8443", api_key: EXAMPLE}
  - {name: c, type: webhook, api_key: EXAMPLE}
admin: {listen: "localhost:8080"}
`)
	wantProblems(t, err,
		"line 3: sources[1] (b).listen: 127.0.0.1:8443 is also where sources[0] (a).listen listens",
		"line 5: admin.listen: localhost:8080 is also where sources[2] (c).listen listens")
	// The default webhook, when no source is configured, counts too.
	_, err = parseString(t, "admin: {listen: \"127.0.0.1:8080\"}\n")
	wantProblems(t, err, "admin.listen: 127.0.0.1:8080 is also where sources (none: the default webhook) listens")
	if _, err := parseString(t, "admin: {listen: \"127.0.0.1:0\"}\nsources: [{name: a, type: webhook, listen: \"127.0.0.1:0\"}]\n"); err != nil {
		t.Errorf("port 0 twice: %v", err)
	}
}

func TestHeartbeatAndDurations(t *testing.T) {
	c, err := parseString(t, "heartbeat:\n  max_silence: 90 minutes\n  expect: [{account: \"111122223333\", region: eu-west-1}]\n")
	if err != nil || c.Heartbeat.MaxSilence.D() != 90*time.Minute {
		t.Fatalf("heartbeat: %+v %v", c.Heartbeat, err)
	}
	_, err = parseString(t, "heartbeat:\n  expect: [{account: 1234, region: \"\"}]\n")
	wantProblems(t, err, "heartbeat.max_silence: required with heartbeat.expect", `heartbeat.expect[0].account: "1234" is not a 12-digit AWS account id`, "heartbeat.expect[0].region: missing")
}

func TestResolveDSN(t *testing.T) {
	s := Store{DSN: "postgres://tw:${PGPASS_EXAMPLE}@db/tw?x=${UNSET_EXAMPLE}"}
	env := map[string]string{"PGPASS_EXAMPLE": "s3cretEXAMPLE"}
	got, err := s.ResolveDSN(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "store.dsn: environment variable UNSET_EXAMPLE is not set") || strings.Contains(err.Error(), "postgres://") {
		t.Errorf("unset variable: %v", err)
	}
	env["UNSET_EXAMPLE"] = "1"
	if got, err = s.ResolveDSN(func(k string) string { return env[k] }); err != nil || got != "postgres://tw:s3cretEXAMPLE@db/tw?x=1" {
		t.Errorf("ResolveDSN = %q, %v", got, err)
	}
	_, err = parseString(t, "store: {dsn: \"postgres://db/${1BAD}\"}\n")
	wantProblems(t, err, `line 1: store.dsn: "${1BAD}" is not a valid ${VAR} reference`)
}

func TestLoadRefusesWhatIsNotAConfigurationFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	// A FIFO without a writer would block a plain open forever.
	if _, err := Load(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileSize)+"\n"), 0o600)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "more than the 4 MiB") {
		t.Errorf("big file: %v", err)
	}
	if _, err := Parse(strings.NewReader(strings.Repeat("#", MaxFileSize+1))); err == nil {
		t.Error("big stream accepted")
	}
	if _, err := Load(filepath.Join(dir, "absent\n.yaml")); err == nil || !strings.Contains(err.Error(), `"`+dir+`/absent\n.yaml": no such file`) {
		t.Errorf("absent file, name quoted: %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o600)
	if c, err := Load(empty); err != nil || c.Store.Path != DefaultStorePath || c.Admin.Listen != DefaultAdminListen {
		t.Errorf("empty file: %+v %v", c, err)
	}
}

func TestExplicitDefaults(t *testing.T) {
	s := DefaultSources()
	if len(s) != 1 || s[0].Type != "webhook" || s[0].Listen != DefaultWebhookListen || s[0].Node.Kind == 0 {
		t.Errorf("default sources: %+v", s)
	}
	var spec struct {
		Listen      string `yaml:"listen"`
		AllowNoAuth bool   `yaml:"allow_no_auth"`
	}
	if err := s[0].DecodeStrict(&spec); err != nil || !spec.AllowNoAuth {
		t.Errorf("default webhook entry: %+v %v", spec, err)
	}
	ch := DefaultChannels()
	if len(ch) != 1 || ch[0].Type != "console" || ch[0].Node.Kind == 0 {
		t.Errorf("default channels: %+v", ch)
	}
}

func TestAliasBombIsRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("b%d", i)
		fmt.Fprintf(&b, "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	done := make(chan error, 1)
	go func() { _, err := parseString(t, b.String()); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
			t.Errorf("alias bomb: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("alias bomb: still decoding after a minute")
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"rule_defaults", "rules", "channels", "sources", "store"}
	for word, want := range map[string]string{"rule_default": "rule_defaults", "chanels": "channels", "stroe": "store", "xyzzy": "", "xyz": ""} {
		if got := Suggest(word, keys); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestProblemsQuoteOddFileNames(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad\nname.yaml")
	os.WriteFile(p, []byte("stroe: {}\n"), 0o600)
	_, err := Load(p)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `bad\nname.yaml":1: stroe: unknown key (did you mean store?)`) {
		t.Errorf("odd file name: %q", err)
	}
}
