package sigma

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/rule"
)

const sample = `
title: Test rule
id: 0123abcd-0000-4000-8000-000000000001
author: Jane Example
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  source:
    eventSource: iam.amazonaws.com
    eventName:
      - CreateAccessKey
      - CreateUser
  selection_ua:
    userAgent|contains: 'S3 Browser'
  selection_ip:
    sourceIPAddress|cidr: 203.0.113.0/24
  filter_ok:
    requestParameters.userName|startswith: 'svc-'
  filter_null:
    errorCode: null
  condition: source and 1 of selection_* and not filter_ok and filter_null
---
title: Wildcards and regular expressions
id: 9876fedc-0000-4000-8000-000000000002
author: John Example
level: low
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    userIdentity.arn|re: '.+:assumed-role/aws:.+'
    eventName: 'Get*'
  condition: selection
`

func load(t *testing.T) (*rule.Catalogue, []Result) {
	t.Helper()
	rules, errs := Read("test.yml", []byte(sample))
	if len(errs) > 0 || len(rules) != 2 {
		t.Fatalf("read: %d rules, %v", len(rules), errs)
	}
	var body strings.Builder
	var res []Result
	for _, r := range rules {
		c := Convert(r)
		if c.Err != nil {
			t.Fatalf("%s: %v", r.Name(), c.Err)
		}
		res = append(res, c)
		body.WriteString(c.YAML)
	}
	cat, err := rule.Load(fstest.MapFS{"s.yaml": {Data: []byte("rules:\n" + body.String())}}, "test:")
	if err != nil {
		t.Fatal(err)
	}
	return cat, res
}

func TestConvertedRulesJudgeEvents(t *testing.T) {
	cat, res := load(t)
	if res[0].ID != "SIGMA-0123ABCD00004000" {
		t.Errorf("id %s", res[0].ID)
	}
	r, _ := cat.Get(res[0].ID)
	if r.EventSource != "iam.amazonaws.com" || strings.Join(r.EventNames, ",") != "CreateAccessKey,CreateUser" || r.Author != "Jane Example" || r.Risk.String() != "HIGH" {
		t.Errorf("index/metadata: %s %v %q %s", r.EventSource, r.EventNames, r.Author, r.Risk)
	}
	eng, err := rule.NewEngine(cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := `{"eventVersion":"1.09","eventSource":"iam.amazonaws.com","eventName":"CreateUser","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice"},"recipientAccountId":"111122223333","awsRegion":"us-east-1"`
	for _, tc := range []struct {
		name, rec string
		want      bool
	}{
		{"S3 Browser agent", base + `,"userAgent":"S3 Browser 9.5.5 https://s3browser.com","sourceIPAddress":"198.51.100.1","requestParameters":{"userName":"bob"}}`, true},
		{"case-insensitive contains", base + `,"userAgent":"s3 browser 9.5","requestParameters":{"userName":"bob"}}`, true},
		{"from the CIDR", base + `,"userAgent":"aws-cli/2","sourceIPAddress":"203.0.113.9","requestParameters":{"userName":"bob"}}`, true},
		{"neither selection", base + `,"userAgent":"aws-cli/2","sourceIPAddress":"198.51.100.1","requestParameters":{"userName":"bob"}}`, false},
		{"filtered service user", base + `,"userAgent":"S3 Browser","requestParameters":{"userName":"svc-backup"}}`, false},
		{"an error is not null", base + `,"userAgent":"S3 Browser","errorCode":"EntityAlreadyExists","requestParameters":{"userName":"bob"}}`, false},
	} {
		ev, err := event.DecodeRecord([]byte(tc.rec))
		if err != nil {
			t.Fatal(err)
		}
		fs := eng.Evaluate(ev)
		got := false
		for _, f := range fs {
			if f.RuleID == res[0].ID {
				got = true
				if !strings.Contains(f.Summary, "(rule by Jane Example)") || f.RuleAuthor != "Jane Example" {
					t.Errorf("%s: no attribution: %q", tc.name, f.Summary)
				}
			}
		}
		if got != tc.want {
			t.Errorf("%s: fired %v, want %v", tc.name, got, tc.want)
		}
	}
	r2, _ := cat.Get(res[1].ID)
	if r2.EventSource != rule.Any || r2.EventNames[0] != rule.Any {
		t.Errorf("a wildcard name must watch every event: %s %v", r2.EventSource, r2.EventNames)
	}
	ev, _ := event.DecodeRecord([]byte(`{"eventVersion":"1.09","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-1"}}`))
	if fs := eng.Evaluate(ev); len(fs) != 1 || fs[0].RuleID != res[1].ID {
		t.Errorf("regular expression and wildcard: %+v", fs)
	}
}

func TestConvertRefusesWithReasons(t *testing.T) {
	for _, tc := range []struct{ detection, want string }{
		{"selection: {eventName: X, src_ip: 1.2.3.4}\n  condition: selection", "field src_ip is not a CloudTrail field"},
		{"selection: {eventName|base64: X}\n  condition: selection", `modifier "base64" is not supported`},
		{"keywords: [mimikatz]\n  condition: keywords", "keyword search"},
		{"selection: {eventSource: route53.amazonaws.com, eventName: DisableDomainTransferLock}\n  condition: selection", "CloudTrail logs it as route53domains.amazonaws.com"},
		{"selection: {eventName: ConsoleLogin}\n  condition: selection | count() > 5", "aggregations"},
	} {
		src := "title: t\nid: 1\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  " + tc.detection + "\n"
		rules, errs := Read("t.yml", []byte(src))
		if len(errs) > 0 || len(rules) != 1 {
			t.Fatalf("%v", errs)
		}
		res := Convert(rules[0])
		if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.detection, res.Err, tc.want)
		}
	}
}

// TestCorpusSigmaRules: all 58 SigmaHQ CloudTrail rules of the shared
// corpus import, except the four that cannot, each for its stated reason.
func TestCorpusSigmaRules(t *testing.T) {
	dir := os.Getenv("TRAILWATCH_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "corpus")
	}
	data, err := os.ReadFile(filepath.Join(dir, "peer-tests", "sigma-aws-cloudtrail-rules.jsonl"))
	if err != nil {
		t.Skipf("no shared corpus (%v); set TRAILWATCH_CORPUS to run this test", err)
	}
	rules, errs := Read("sigma-aws-cloudtrail-rules.jsonl", data)
	if len(errs) > 0 || len(rules) != 58 {
		t.Fatalf("%d rules, %v", len(rules), errs)
	}
	refused := map[string]string{
		"AWS Console Login Monitoring":                       "field src_country is not a CloudTrail field",
		"AWS SAML Provider Deletion Activity":                "field status is not a CloudTrail field",
		"AWS Route 53 Domain Transfer Lock Disabled":         "CloudTrail logs it as route53domains.amazonaws.com",
		"AWS Route 53 Domain Transferred to Another Account": "CloudTrail logs it as route53domains.amazonaws.com",
	}
	ids := map[string]bool{}
	imported := 0
	for _, r := range rules {
		res := Convert(r)
		want, bad := refused[r.Name()]
		switch {
		case bad && (res.Err == nil || !strings.Contains(res.Err.Error(), want)):
			t.Errorf("%s: error %v, want %q", r.Name(), res.Err, want)
		case !bad && res.Err != nil:
			t.Errorf("%s: %v", r.Name(), res.Err)
		case !bad:
			imported++
			if ids[res.ID] {
				t.Errorf("%s: id %s used twice", r.Name(), res.ID)
			}
			ids[res.ID] = true
		}
	}
	if imported != 54 {
		t.Errorf("%d imported, want 54", imported)
	}
}
