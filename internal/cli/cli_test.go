package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const examples = "../../examples"

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := Main(context.Background(), env, args)
	return result{code, out.String(), errb.String()}
}

func lines(s string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			panic(err)
		}
		out = append(out, m)
	}
	return out
}

func TestScanExamples(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	r := run(t, "", "scan", "--db", db, examples)
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	fs := lines(r.stdout)
	// 14 of the EKS pack, plus the ECS cluster (ECS-CHANGE) and the root
	// user's DeleteCluster (ROOT-ACTIVITY) of the whole catalogue.
	if len(fs) != 16 {
		t.Fatalf("%d findings, want 16:\n%s", len(fs), r.stdout)
	}
	// The output contract users script against.
	for _, k := range []string{"id", "fingerprint", "rule_id", "rule_title", "risk", "risk_reasons", "event_id", "event_time", "event_source",
		"event_name", "account_id", "region", "actor", "access_method", "user_agent", "source_ip", "outcome", "resource", "summary", "changes", "remediation"} {
		if _, ok := fs[0][k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
	for _, k := range []string{"type", "arn", "name", "mfa"} {
		if _, ok := fs[0]["actor"].(map[string]any)[k]; !ok {
			t.Errorf("actor lacks %q", k)
		}
	}
	byRule := map[string][]map[string]any{}
	for _, f := range fs {
		byRule[f["rule_id"].(string)] = append(byRule[f["rule_id"].(string)], f)
	}
	// who and how
	create := byRule["EKS-CLUSTER-CREATE"][0]
	if create["access_method"] != "cloudformation" || create["actor"].(map[string]any)["invoked_by"] != "cloudformation.amazonaws.com" ||
		create["actor"].(map[string]any)["name"] != "platform-deployer/deploy-prod" {
		t.Errorf("CloudFormation create: %v %v", create["access_method"], create["actor"])
	}
	denied := byRule["EKS-DENIED"][0]
	if denied["outcome"] != "denied" || denied["error_code"] != "AccessDeniedException" || denied["access_method"] != "sdk" {
		t.Errorf("denied: %v", denied)
	}
	if del := byRule["EKS-CLUSTER-DELETE"][0]; del["actor"].(map[string]any)["type"] != "Root" || del["access_method"] != "console" {
		t.Errorf("root delete: %v", del)
	}
	// The service-linked role scaling a node group is not a finding, and
	// the ECS cluster is no EKS finding; read-only calls are none.
	if n := len(byRule["EKS-NODEGROUP"]); n != 1 {
		t.Errorf("%d node group findings, want only the eksctl one", n)
	}
	if !strings.Contains(r.stderr, "16 findings (16 new, 0 already stored)") {
		t.Errorf("summary: %s", r.stderr)
	}
	// A second scan of the same files adds nothing.
	r = run(t, "", "scan", "--db", db, "--format", "json", examples)
	if r.code != ExitOK || !strings.Contains(r.stderr, "(0 new, 16 already stored)") {
		t.Errorf("rescan: exit %d: %s", r.code, r.stderr)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &arr); err != nil || len(arr) != 16 {
		t.Errorf("--format json is not an array of 16: %v", err)
	}
	// Stored findings can be listed and filtered.
	r = run(t, "", "findings", "list", "--db", db, "--min-risk", "EXTREME")
	if got := lines(r.stdout); r.code != 0 || len(got) != 1 || got[0]["rule_id"] != "EKS-ACCESS-POLICY" {
		t.Errorf("findings list --min-risk EXTREME: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "", "findings", "list", "--db", db, "--outcome", "denied", "--rule", "EKS-*")
	if got := lines(r.stdout); len(got) != 1 {
		t.Errorf("denied: %s", r.stdout)
	}
	// By service and access method: every finding listed has them, and
	// together the methods' lists add up to the whole.
	r = run(t, "", "findings", "list", "--db", db, "--format", "jsonl")
	byMethod := map[string]int{}
	for _, f := range lines(r.stdout) {
		byMethod[f["access_method"].(string)]++
	}
	if len(byMethod) < 2 {
		t.Fatalf("the examples' findings have one access method: %v", byMethod)
	}
	for m, n := range byMethod {
		r = run(t, "", "findings", "list", "--db", db, "--method", m, "--service", "eks", "--service", "iam", "--service", "s3", "--format", "jsonl")
		got := lines(r.stdout)
		for _, f := range got {
			if f["access_method"] != m {
				t.Errorf("--method %s listed %v", m, f["access_method"])
			}
		}
		if len(got) == 0 || len(got) > n {
			t.Errorf("--method %s: %d findings of %d", m, len(got), n)
		}
	}
	r = run(t, "", "findings", "list", "--db", db, "--service", "nosuchservice")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("an unknown service: %d %q", r.code, r.stdout)
	}
	r = run(t, "", "findings", "list", "--db", db, "--actor", "*bob@example.com*", "--since", "2026-11-20T10:04:00Z")
	if got := lines(r.stdout); len(got) != 3 {
		t.Errorf("bob since 10:04: %d findings\n%s", len(got), r.stdout)
	}
	r = run(t, "", "findings", "show", "--db", db, create["id"].(string))
	if r.code != 0 || !strings.Contains(r.stdout, "Raw event:") || !strings.Contains(r.stdout, `"eventName":"CreateCluster"`) {
		t.Errorf("findings show: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, "", "findings", "show", "--db", db, "f-nope"); r.code != ExitError || !strings.Contains(r.stderr, `no finding "f-nope"`) {
		t.Errorf("show missing: %d %s", r.code, r.stderr)
	}
}

func TestScanFailOnAndMinRisk(t *testing.T) {
	r := run(t, "", "scan", "--db", ":memory:", "--fail-on", "EXTREME", "--min-risk", "EXTREME", examples)
	if r.code != ExitFindings || len(lines(r.stdout)) != 1 {
		t.Errorf("--fail-on EXTREME: exit %d, %d findings", r.code, len(lines(r.stdout)))
	}
	r = run(t, "", "scan", "--db", ":memory:", "--fail-on", "extreme", "--quiet", filepath.Join(examples, "eventbridge.jsonl"))
	if r.code != ExitOK || r.stderr != "" {
		t.Errorf("no EXTREME in eventbridge.jsonl: exit %d %q", r.code, r.stderr)
	}
	if r = run(t, "", "scan", "--min-risk", "SEVERE", examples); r.code != ExitError || !strings.Contains(r.stderr, "--min-risk") {
		t.Errorf("bad risk: %d %s", r.code, r.stderr)
	}
}

func TestScanStdinAndBadInput(t *testing.T) {
	dir := t.TempDir()
	eb, _ := os.ReadFile(filepath.Join(examples, "eventbridge.jsonl"))
	// A truncated gzip file, a non-JSON file and a good file.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"Records":[` + strings.Repeat(`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"x"},`, 50)))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "truncated.json.gz"), gz.Bytes()[:gz.Len()/2], 0o600)
	os.WriteFile(filepath.Join(dir, "notjson.json"), []byte("hello, I am not JSON\n"), 0o600)
	// JSON lines with one corrupt line between two good events.
	good := strings.Split(strings.TrimSpace(string(eb)), "\n")
	os.WriteFile(filepath.Join(dir, "mixed.jsonl"), []byte(good[0]+"\n{\"detail\": oops\n"+good[1]+"\n"), 0o600)
	r := run(t, "", "scan", "--db", ":memory:", dir)
	if r.code != ExitError {
		t.Errorf("exit %d, want 2", r.code)
	}
	for _, want := range []string{"truncated.json.gz", "notjson.json", `mixed.jsonl": record 1`, "3 errors in 3 files"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := len(lines(r.stdout)); n != 2 {
		t.Errorf("%d findings from the good lines, want 2\n%s", n, r.stderr)
	}
	// stdin
	r = run(t, string(eb), "scan", "--db", ":memory:", "-")
	if r.code != ExitOK || len(lines(r.stdout)) != 2 {
		t.Errorf("stdin: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r = run(t, "", "scan", "--db", ":memory:", filepath.Join(dir, "absent.json")); r.code != ExitError || !strings.Contains(r.stderr, "absent.json") {
		t.Errorf("missing file: %d %s", r.code, r.stderr)
	}
}

func TestRulesCommands(t *testing.T) {
	r := run(t, "", "rules", "test")
	if r.code != 0 || !strings.Contains(r.stdout, " passed, 0 failed") {
		t.Errorf("rules test: %d %s", r.code, r.stdout)
	}
	r = run(t, "", "rules", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "EKS-ACCESS-POLICY") {
		t.Errorf("rules list: %s", r.stdout)
	}
	r = run(t, "", "rules", "show", "EKS-CLUSTER-CONFIG")
	if r.code != 0 || !strings.Contains(r.stdout, "UpdateClusterConfig") || !strings.Contains(r.stdout, "0.0.0.0/0") {
		t.Errorf("rules show: %s", r.stdout)
	}
	// A folder of extra rules, one of them broken.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("rules:\n  - id: X\n    event_source: eks.amazonaws.com\n    event_names: [Nope]\n"), 0o600)
	r = run(t, "", "rules", "test", "--rules", dir)
	if r.code != ExitError || !strings.Contains(r.stderr, "bad.yaml") || !strings.Contains(r.stderr, "Nope is not an operation") {
		t.Errorf("broken rule folder: %d %s", r.code, r.stderr)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`
store: {path: `+filepath.Join(dir, "x.db")+`}
rule_defaults:
  safelist: ["arn:aws:iam::111122223333:role/platform-*"]
rules:
  EKS-TAGS: {enabled: false}
  EKS-ACCESS-POLICY: {risk: very_high, ttl: 12h, events: {DisassociateAccessPolicy: false}}
`), 0o600)
	r := run(t, "", "config", "check", "--config", good)
	if r.code != 0 || !strings.Contains(r.stdout, "ok (77 of 83 rules enabled") {
		t.Errorf("good config: %d %s %s", r.code, r.stdout, r.stderr)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  EKS-TAGS: {risk: SEVERE, ttl: soon}\n  EKS-NOPE: {}\n"), 0o600)
	r = run(t, "", "config", "check", "--config", bad)
	for _, want := range []string{"rules.EKS-TAGS.risk", "rules.EKS-TAGS.ttl", "bad.yaml"} {
		if r.code != ExitError || !strings.Contains(r.stderr, want) {
			t.Errorf("bad config: stderr lacks %q: %s", want, r.stderr)
		}
	}
	// Channels and sources are checked too, every problem with its path,
	// and no secret is ever shown.
	chans := filepath.Join(dir, "chans.yaml")
	os.WriteFile(chans, []byte(`
channels:
  - {name: ok-slack, type: slack, webhook_url: "https://hooks.slack.example/services/T000EXAMPLE/B000EXAMPLE/SECRETEXAMPLEtoken"}
  - {name: pd, type: pagerduty, routing_key: "short-EXAMPLE-key", severity: loud}
sources:
  - {name: q, type: sqs}
`), 0o600)
	r = run(t, "", "config", "check", "--config", chans)
	for _, want := range []string{"channels[1] (pd).severity: unknown key", "channels[1] (pd).routing_key", "sources[0] (q).queue_url"} {
		if r.code != ExitError || !strings.Contains(r.stderr, want) {
			t.Errorf("channels config: stderr lacks %q: %s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr+r.stdout, "SECRETEXAMPLEtoken") || strings.Contains(r.stderr+r.stdout, "short-EXAMPLE-key") {
		t.Errorf("config check shows a secret: %s", r.stderr)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("stroe: {path: x}\n"), 0o600)
	if r = run(t, "", "config", "check", "--config", unknown); r.code != ExitError || !strings.Contains(r.stderr, "stroe") {
		t.Errorf("unknown key: %d %s", r.code, r.stderr)
	}
}
