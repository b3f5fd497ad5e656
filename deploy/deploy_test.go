// Tests of the deployment files: the CloudFormation template (parsed and its
// intrinsics evaluated for several parameter sets), the Terraform module
// (its structure; terraform fmt when terraform is installed), the Kubernetes
// manifests (and the trailwatch.yaml they carry, through trailwatch's own
// config loader; kubectl kustomize when kubectl is installed), the
// Dockerfile, and a scan for credentials. They need no AWS account, no
// cluster and no network.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
)

const (
	cfnPath     = "aws/cloudformation/trailwatch.yaml"
	patternPath = "aws/event-pattern.json"
	tfDir       = "aws/terraform"
	k8sDir      = "kubernetes"
)

// consumerActions is everything trailwatch may do on its queue.
var consumerActions = []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"}

// fullParams turns every option of the template on.
var fullParams = map[string]string{
	"EnableS3Notifications": "true",
	"TrailBucketName":       "org-trail-bucket",
	"TrailBucketAccountId":  "444455556666",
	"TrailKeyPrefix":        "org",
	"TrailBucketKmsKeyArn":  "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	"PrincipalArn":          "arn:aws:iam::999988887777:role/trailwatch",
	"ExtraEventSources":     "dynamodb.amazonaws.com,elasticfilesystem.amazonaws.com",
	"MaxReceiveCount":       "7",
}

func sharedPattern(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(patternPath)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", patternPath, err)
	}
	return p
}

// jsonRoundTrip makes YAML-decoded values (int) and JSON-decoded ones
// (float64) comparable.
func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// catalogueSources are the CloudTrail eventSource values the embedded rule
// catalogue names (rules of any source, "*", need no entry of their own).
func catalogueSources(t *testing.T) []any {
	t.Helper()
	c, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range c.Rules {
		if r.EventSource != "*" && r.EventSource != "" {
			seen[r.EventSource] = true
		}
	}
	var list []string
	for s := range seen {
		list = append(list, s)
	}
	sort.Strings(list)
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

func TestEventPatternFile(t *testing.T) {
	p := sharedPattern(t)
	want := map[string]any{
		"detail-type": []any{"AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"},
		"source":      []any{map[string]any{"prefix": "aws."}},
		"detail": map[string]any{
			// Exactly the services the catalogue watches, sorted.
			"eventSource": catalogueSources(t),
			// false, or no readOnly key at all: see the template's header.
			"readOnly": []any{false, map[string]any{"exists": false}},
		},
	}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("%s (-want +got); its eventSource list must be the catalogue's (internal/rule/rules/*.yaml):\n%s", patternPath, d)
	}

	eks := func(name string, readOnly any) map[string]any {
		d := map[string]any{"eventSource": "eks.amazonaws.com", "eventName": name}
		if readOnly != nil {
			d["readOnly"] = readOnly
		}
		return map[string]any{"detail-type": "AWS API Call via CloudTrail", "source": "aws.eks", "detail": d}
	}
	ecs := map[string]any{"detail-type": "AWS API Call via CloudTrail", "source": "aws.ecs",
		"detail": map[string]any{"eventSource": "ecs.amazonaws.com", "eventName": "CreateCluster", "readOnly": false}}
	iam := map[string]any{"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
		"detail": map[string]any{"eventSource": "iam.amazonaws.com", "eventName": "AttachRolePolicy", "readOnly": false}}
	signin := map[string]any{"detail-type": "AWS Console Sign In via CloudTrail", "source": "aws.signin",
		"detail": map[string]any{"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin"}}
	dynamo := map[string]any{"detail-type": "AWS API Call via CloudTrail", "source": "aws.dynamodb",
		"detail": map[string]any{"eventSource": "dynamodb.amazonaws.com", "eventName": "CreateTable", "readOnly": false}}
	notAWS := map[string]any{"detail-type": "AWS API Call via CloudTrail", "source": "custom.eks",
		"detail": map[string]any{"eventSource": "eks.amazonaws.com", "eventName": "CreateCluster", "readOnly": false}}
	for _, tc := range []struct {
		name  string
		event map[string]any
		want  bool
	}{
		{"change", eks("UpdateClusterConfig", false), true},
		{"change without readOnly", eks("CreateCluster", nil), true},
		{"read", eks("DescribeCluster", true), false},
		{"read sent as POST", eks("ListInsights", true), false},
		{"another watched service", ecs, true},
		{"IAM (global, us-east-1)", iam, true},
		{"console sign-in", signin, true},
		{"a service no rule watches", dynamo, false},
		{"a source outside aws.", notAWS, false},
	} {
		got, err := matches(p, tc.event)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: matches = %v, want %v", tc.name, got, tc.want)
		}
	}

	// The example events of the repository go through.
	f, err := os.Open(repoFile("examples", "eventbridge.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ok, err := matches(p, ev); err != nil || !ok {
			t.Errorf("examples/eventbridge.jsonl line %d: matches = %v, %v; want true", n+1, ok, err)
		}
		n++
	}
	if n == 0 {
		t.Error("examples/eventbridge.jsonl: no events")
	}
}

func TestCloudFormationStructure(t *testing.T) {
	tp := loadTemplate(t, cfnPath)
	if got := tp["AWSTemplateFormatVersion"]; got != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %v", got)
	}

	types := map[string][]string{}
	for id, r := range tp.section("Resources") {
		typ := fmt.Sprint(get(r, "Type"))
		types[typ] = append(types[typ], id)
	}
	for _, l := range types {
		sort.Strings(l)
	}
	wantTypes := map[string][]string{
		"AWS::SQS::Queue":         {"DeadLetterQueue", "Queue"},
		"AWS::SQS::QueuePolicy":   {"DeadLetterQueuePolicy", "QueuePolicy"},
		"AWS::Events::Rule":       {"Rule"},
		"AWS::IAM::ManagedPolicy": {"ConsumerPolicy"},
	}
	if d := cmp.Diff(wantTypes, types); d != "" {
		t.Errorf("resources by type (-want +got):\n%s", d)
	}

	params := tp.section("Parameters")
	for name, want := range map[string]struct{ typ, def string }{
		"QueueName":             {"String", "trailwatch-events"},
		"MessageRetention":      {"Number", "345600"},
		"MaxReceiveCount":       {"Number", "5"},
		"EnableS3Notifications": {"String", "false"},
		"TrailBucketName":       {"String", ""},
		"TrailBucketKmsKeyArn":  {"String", ""},
		"ExtraEventSources":     {"CommaDelimitedList", ""},
		"PrincipalArn":          {"String", ""},
	} {
		p, ok := params[name].(map[string]any)
		if !ok {
			t.Errorf("parameter %s missing", name)
			continue
		}
		if got := fmt.Sprint(p["Type"]); got != want.typ {
			t.Errorf("parameter %s: Type %s, want %s", name, got, want.typ)
		}
		if got := scalarString(p["Default"]); got != want.def {
			t.Errorf("parameter %s: Default %q, want %q", name, got, want.def)
		}
	}

	// Defaults and the values used below pass each parameter's own checks.
	for name, p := range params {
		pm := p.(map[string]any)
		vals := []string{scalarString(pm["Default"])}
		if v, ok := fullParams[name]; ok {
			vals = append(vals, v)
		}
		for _, v := range vals {
			if err := checkParam(pm, v); err != nil {
				t.Errorf("parameter %s = %q: %v", name, v, err)
			}
		}
	}
	for name, bad := range map[string]string{
		"ExtraEventSources": "aws.iam",
		"PrincipalArn":      "trailwatch",
		"QueueName":         "a name with spaces",
		"TrailKeyPrefix":    "org/",
	} {
		if err := checkParam(params[name].(map[string]any), bad); err == nil {
			t.Errorf("parameter %s accepts %q", name, bad)
		}
	}

	// Every reference names something the template defines, and every
	// parameter and condition is used.
	used := map[string]bool{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch k {
				case "Ref":
					used[fmt.Sprint(e)] = true
					if !defined(tp, fmt.Sprint(e)) {
						t.Errorf("%s: Ref to undefined %v", path, e)
					}
				case "Fn::GetAtt":
					l, _ := e.([]any)
					if len(l) != 2 || tp.section("Resources")[fmt.Sprint(l[0])] == nil {
						t.Errorf("%s: GetAtt %v", path, e)
					}
				case "Condition", "Fn::If":
					// A policy statement's Condition is a mapping, not a name.
					name, isName := e.(string)
					if l, ok := e.([]any); ok && k == "Fn::If" && len(l) == 3 {
						name, isName = fmt.Sprint(l[0]), true
					}
					if !isName {
						break
					}
					used[name] = true
					if _, ok := tp.section("Conditions")[name]; !ok {
						t.Errorf("%s: condition %q undefined", path, name)
					}
				case "Fn::Sub":
					text, _ := e.(string)
					vars := map[string]any{}
					if l, ok := e.([]any); ok && len(l) == 2 {
						text, _ = l[0].(string)
						vars, _ = l[1].(map[string]any)
					}
					for _, m := range subRe.FindAllString(text, -1) {
						name := m[2 : len(m)-1]
						if _, ok := vars[name]; ok || strings.HasPrefix(name, "!") {
							continue
						}
						res, _, _ := strings.Cut(name, ".")
						used[name] = true
						if !defined(tp, name) && tp.section("Resources")[res] == nil {
							t.Errorf("%s: ${%s} undefined", path, name)
						}
					}
				}
				walk(e, path+"."+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	for _, sec := range []string{"Rules", "Conditions", "Resources", "Outputs"} {
		walk(tp[sec], sec)
	}
	for name := range params {
		if !used[name] {
			t.Errorf("parameter %s is never used", name)
		}
	}
	for name := range tp.section("Conditions") {
		if !used[name] {
			t.Errorf("condition %s is never used", name)
		}
	}

	for _, name := range []string{"QueueUrl", "QueueArn", "DeadLetterQueueUrl", "ConsumerPolicyArn", "RuleArn"} {
		if _, ok := tp.section("Outputs")[name]; !ok {
			t.Errorf("output %s missing", name)
		}
	}
}

func defined(tp template, name string) bool {
	if strings.HasPrefix(name, "AWS::") {
		return slices.Contains([]string{"AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackName", "AWS::StackId", "AWS::URLSuffix", "AWS::NotificationARNs"}, name)
	}
	_, p := tp.section("Parameters")[name]
	_, r := tp.section("Resources")[name]
	return p || r
}

// checkParam applies a parameter's AllowedValues, AllowedPattern (to each
// element of a list) and MinValue/MaxValue to a value.
func checkParam(p map[string]any, v string) error {
	vals := []string{v}
	if strings.HasPrefix(fmt.Sprint(p["Type"]), "CommaDelimitedList") {
		vals = strings.Split(v, ",")
	}
	for _, v := range vals {
		if av, ok := p["AllowedValues"].([]any); ok && !slices.Contains(strs(av), v) {
			return fmt.Errorf("not in AllowedValues %v", av)
		}
		if pat, ok := p["AllowedPattern"].(string); ok {
			re, err := regexp.Compile(pat)
			if err != nil {
				return err
			}
			if loc := re.FindStringIndex(v); loc == nil || loc[0] != 0 || loc[1] != len(v) {
				return fmt.Errorf("does not match AllowedPattern %s", pat)
			}
		}
		if p["Type"] == "Number" {
			var n float64
			if _, err := fmt.Sscan(v, &n); err != nil {
				return err
			}
			if lo, ok := p["MinValue"].(int); ok && n < float64(lo) {
				return fmt.Errorf("below MinValue %d", lo)
			}
			if hi, ok := p["MaxValue"].(int); ok && n > float64(hi) {
				return fmt.Errorf("above MaxValue %d", hi)
			}
		}
	}
	return nil
}

func TestCloudFormationDefaults(t *testing.T) {
	tp := loadTemplate(t, cfnPath)
	st := newStack(t, tp, nil)
	res := st.resources(t)

	// The rule: the shared pattern exactly, on the default bus, to the queue.
	rule := res["Rule"]
	if got := get(rule, "Properties", "State"); got != "ENABLED" {
		t.Errorf("rule State = %v, want ENABLED (not ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS: reads stay out)", got)
	}
	if got := get(rule, "Properties", "EventBusName"); got != nil && got != "default" {
		t.Errorf("rule EventBusName = %v, want the default bus", got)
	}
	gotPattern := jsonRoundTrip(t, get(rule, "Properties", "EventPattern"))
	if d := cmp.Diff(any(sharedPattern(t)), gotPattern); d != "" {
		t.Errorf("rule EventPattern differs from %s (-file +template):\n%s", patternPath, d)
	}
	targets, _ := get(rule, "Properties", "Targets").([]any)
	if len(targets) != 1 {
		t.Fatalf("rule targets = %v, want one", targets)
	}
	if got := get(targets[0], "Arn"); got != "{GetAtt Queue.Arn}" {
		t.Errorf("rule target = %v, want the queue", got)
	}
	if got := get(targets[0], "DeadLetterConfig", "Arn"); got != "{GetAtt DeadLetterQueue.Arn}" {
		t.Errorf("rule target dead-letter = %v, want the dead-letter queue", got)
	}

	// Queues: encrypted; the main one redrives to the DLQ after MaxReceiveCount.
	for _, q := range []string{"Queue", "DeadLetterQueue"} {
		if got := get(res[q], "Properties", "SqsManagedSseEnabled"); got != true {
			t.Errorf("%s SqsManagedSseEnabled = %v, want true", q, got)
		}
	}
	if got := get(res["Queue"], "Properties", "QueueName"); got != "trailwatch-events" {
		t.Errorf("queue name = %v", got)
	}
	rp := get(res["Queue"], "Properties", "RedrivePolicy")
	if got := get(rp, "deadLetterTargetArn"); got != "{GetAtt DeadLetterQueue.Arn}" {
		t.Errorf("redrive target = %v", got)
	}
	if got := get(rp, "maxReceiveCount"); got != "5" {
		t.Errorf("maxReceiveCount = %v, want the MaxReceiveCount parameter (5)", got)
	}
	if got := get(tp.section("Resources"), "Queue", "Properties", "RedrivePolicy", "maxReceiveCount"); !cmp.Equal(got, map[string]any{"Ref": "MaxReceiveCount"}) {
		t.Errorf("maxReceiveCount = %v, want !Ref MaxReceiveCount", got)
	}
	allow := get(res["DeadLetterQueue"], "Properties", "RedriveAllowPolicy")
	if got := strs(get(allow, "sourceQueueArns")); !cmp.Equal(got, []string{"arn:aws:sqs:eu-west-1:111122223333:trailwatch-events"}) {
		t.Errorf("DLQ redrive allowed from %v, want the main queue", got)
	}

	checkQueuePolicy(t, res["QueuePolicy"], "{Ref Queue}", "{GetAtt Queue.Arn}", map[string]bool{"events.amazonaws.com": true}, false)
	checkQueuePolicy(t, res["DeadLetterQueuePolicy"], "{Ref DeadLetterQueue}", "{GetAtt DeadLetterQueue.Arn}", map[string]bool{"events.amazonaws.com": true}, false)

	actions := checkConsumerPolicy(t, res["ConsumerPolicy"])
	if d := cmp.Diff(consumerActions, actions); d != "" {
		t.Errorf("consumer policy actions (-want +got):\n%s", d)
	}

	outs := st.outputs(t)
	for name, want := range map[string]string{
		"QueueUrl":           "{Ref Queue}",
		"QueueArn":           "{GetAtt Queue.Arn}",
		"DeadLetterQueueUrl": "{Ref DeadLetterQueue}",
		"ConsumerPolicyArn":  "{Ref ConsumerPolicy}",
		"RuleArn":            "{GetAtt Rule.Arn}",
	} {
		if got := outs[name]; got != want {
			t.Errorf("output %s = %v, want %s", name, got, want)
		}
	}
	if _, ok := outs["S3NotificationConfiguration"]; ok {
		t.Error("S3NotificationConfiguration output without S3 notifications")
	}
}

func TestCloudFormationAllOptions(t *testing.T) {
	tp := loadTemplate(t, cfnPath)
	st := newStack(t, tp, fullParams)
	res := st.resources(t)

	// Extra services: appended to the catalogue's eventSource list; the
	// rest of the pattern stays.
	pattern := jsonRoundTrip(t, get(res["Rule"], "Properties", "EventPattern")).(map[string]any)
	want := sharedPattern(t)
	get(want, "detail").(map[string]any)["eventSource"] = append(catalogueSources(t), "dynamodb.amazonaws.com", "elasticfilesystem.amazonaws.com")
	if d := cmp.Diff(want, pattern); d != "" {
		t.Errorf("EventPattern with extra event sources (-want +got):\n%s", d)
	}
	dynamo := map[string]any{"detail-type": "AWS API Call via CloudTrail", "source": "aws.dynamodb",
		"detail": map[string]any{"eventSource": "dynamodb.amazonaws.com", "eventName": "CreateTable", "readOnly": false}}
	if ok, err := matches(pattern, dynamo); err != nil || !ok {
		t.Errorf("a DynamoDB change does not match the pattern with extra sources: %v %v", ok, err)
	}
	if got := get(res["Queue"], "Properties", "RedrivePolicy", "maxReceiveCount"); got != "7" {
		t.Errorf("maxReceiveCount = %v, want 7", got)
	}

	// The queue policy: the rule, the trail bucket, the consumer role.
	stmts := checkQueuePolicy(t, res["QueuePolicy"], "{Ref Queue}", "{GetAtt Queue.Arn}",
		map[string]bool{"events.amazonaws.com": true, "s3.amazonaws.com": true}, true)
	var s3, consumer map[string]any
	for _, s := range stmts {
		if slices.Contains(strs(get(s, "Principal", "Service")), "s3.amazonaws.com") {
			s3 = s
		}
		if get(s, "Principal", "AWS") != nil {
			consumer = s
		}
	}
	if got := get(s3, "Condition", "ArnEquals", "aws:SourceArn"); got != "arn:aws:s3:::org-trail-bucket" {
		t.Errorf("s3 statement aws:SourceArn = %v", got)
	}
	if got := get(s3, "Condition", "StringEquals", "aws:SourceAccount"); got != "444455556666" {
		t.Errorf("s3 statement aws:SourceAccount = %v", got)
	}
	if got := strs(get(consumer, "Principal", "AWS")); !cmp.Equal(got, []string{"arn:aws:iam::999988887777:root"}) {
		t.Errorf("consumer principal = %v", got)
	}
	if got := get(consumer, "Condition", "ArnEquals", "aws:PrincipalArn"); got != fullParams["PrincipalArn"] {
		t.Errorf("consumer aws:PrincipalArn = %v", got)
	}
	if d := cmp.Diff(consumerActions, strs(consumer["Action"])); d != "" {
		t.Errorf("consumer statement actions (-want +got):\n%s", d)
	}

	// The consumer policy: + log files of the bucket, + the key through S3.
	actions := checkConsumerPolicy(t, res["ConsumerPolicy"])
	wantActions := append(slices.Clone(consumerActions), "kms:Decrypt", "s3:GetObject")
	sort.Strings(wantActions)
	if d := cmp.Diff(wantActions, actions); d != "" {
		t.Errorf("consumer policy actions (-want +got):\n%s", d)
	}
	for _, s := range statements(t, get(res["ConsumerPolicy"], "Properties", "PolicyDocument")) {
		switch a := strs(s["Action"]); {
		case slices.Contains(a, "s3:GetObject"):
			if got := strs(s["Resource"]); !cmp.Equal(got, []string{"arn:aws:s3:::org-trail-bucket/org/AWSLogs/*/CloudTrail/*"}) {
				t.Errorf("s3:GetObject on %v", got)
			}
		case slices.Contains(a, "kms:Decrypt"):
			if got := strs(s["Resource"]); !cmp.Equal(got, []string{fullParams["TrailBucketKmsKeyArn"]}) {
				t.Errorf("kms:Decrypt on %v", got)
			}
			if got := get(s, "Condition", "StringEquals", "kms:ViaService"); got != "s3.eu-west-1.amazonaws.com" {
				t.Errorf("kms:ViaService = %v", got)
			}
		}
	}

	outs := st.outputs(t)
	raw, ok := outs["S3NotificationConfiguration"].(string)
	if !ok {
		t.Fatalf("S3NotificationConfiguration output = %v", outs["S3NotificationConfiguration"])
	}
	var notif map[string]any
	if err := json.Unmarshal([]byte(raw), &notif); err != nil {
		t.Fatalf("S3NotificationConfiguration is not JSON: %v\n%s", err, raw)
	}
	if got := notif["QueueArn"]; got != "{GetAtt Queue.Arn}" {
		t.Errorf("notification QueueArn = %v", got)
	}
	rules := get(notif, "Filter", "Key", "FilterRules")
	if d := cmp.Diff([]any{
		map[string]any{"Name": "prefix", "Value": "org/AWSLogs/"},
		map[string]any{"Name": "suffix", "Value": ".json.gz"},
	}, rules); d != "" {
		t.Errorf("notification filter (-want +got):\n%s", d)
	}
}

// checkQueuePolicy checks that a queue policy applies to the queue, that
// only the given service principals may send (each bound to its source by
// aws:SourceArn), that nothing is granted to "*", and that the only other
// grant is the consumer's (when consumer is true). It returns the statements.
func checkQueuePolicy(t *testing.T, pol map[string]any, queueRef, queueArn string, senders map[string]bool, consumer bool) []map[string]any {
	t.Helper()
	if got := strs(get(pol, "Properties", "Queues")); !cmp.Equal(got, []string{queueRef}) {
		t.Errorf("queue policy applies to %v, want %s", got, queueRef)
	}
	stmts := statements(t, get(pol, "Properties", "PolicyDocument"))
	seen := map[string]bool{}
	consumers := 0
	for _, s := range stmts {
		if s["Effect"] != "Allow" {
			t.Errorf("statement %v: only Allow statements expected", s["Sid"])
		}
		if p, ok := s["Principal"].(string); ok {
			t.Errorf("statement %v: principal %q", s["Sid"], p)
			continue
		}
		if got := strs(s["Resource"]); !cmp.Equal(got, []string{queueArn}) {
			t.Errorf("statement %v: resource %v, want %s", s["Sid"], got, queueArn)
		}
		if aws := get(s, "Principal", "AWS"); aws != nil {
			consumers++
			if !consumer {
				t.Errorf("statement %v grants to %v", s["Sid"], aws)
			}
			for _, a := range strs(aws) {
				if a == "*" {
					t.Errorf("statement %v grants to *", s["Sid"])
				}
			}
			if get(s, "Condition", "ArnEquals", "aws:PrincipalArn") == nil {
				t.Errorf("statement %v: consumer grant without aws:PrincipalArn", s["Sid"])
			}
			continue
		}
		svc := strs(get(s, "Principal", "Service"))
		if len(svc) != 1 || !senders[svc[0]] {
			t.Errorf("statement %v: principal %v, want one of %v", s["Sid"], get(s, "Principal"), senders)
			continue
		}
		seen[svc[0]] = true
		if got := strs(s["Action"]); !cmp.Equal(got, []string{"sqs:SendMessage"}) {
			t.Errorf("statement %v: actions %v, want sqs:SendMessage", s["Sid"], got)
		}
		src := get(s, "Condition", "ArnEquals", "aws:SourceArn")
		if src == nil {
			t.Errorf("statement %v: no aws:SourceArn condition", s["Sid"])
		}
		if svc[0] == "events.amazonaws.com" && src != "{GetAtt Rule.Arn}" {
			t.Errorf("statement %v: aws:SourceArn %v, want the rule", s["Sid"], src)
		}
		if svc[0] == "s3.amazonaws.com" && get(s, "Condition", "StringEquals", "aws:SourceAccount") == nil {
			t.Errorf("statement %v: no aws:SourceAccount condition", s["Sid"])
		}
	}
	for s := range senders {
		if !seen[s] {
			t.Errorf("no statement lets %s send", s)
		}
	}
	if consumer && consumers != 1 {
		t.Errorf("%d consumer statements, want 1", consumers)
	}
	return stmts
}

// checkConsumerPolicy checks the least-privilege rules and returns the
// sorted actions.
func checkConsumerPolicy(t *testing.T, pol map[string]any) []string {
	t.Helper()
	var actions []string
	for _, s := range statements(t, get(pol, "Properties", "PolicyDocument")) {
		if s["Effect"] != "Allow" {
			t.Errorf("statement %v: Effect %v", s["Sid"], s["Effect"])
		}
		if s["NotAction"] != nil || s["NotResource"] != nil {
			t.Errorf("statement %v: NotAction/NotResource", s["Sid"])
		}
		for _, a := range strs(s["Action"]) {
			if strings.Contains(a, "*") {
				t.Errorf("statement %v: wildcard action %q", s["Sid"], a)
			}
			actions = append(actions, a)
		}
		res := strs(s["Resource"])
		if len(res) == 0 {
			t.Errorf("statement %v: no resource", s["Sid"])
		}
		for _, r := range res {
			if r == "*" || !strings.HasPrefix(r, "arn:") && !strings.HasPrefix(r, "{GetAtt ") {
				t.Errorf("statement %v: resource %q", s["Sid"], r)
			}
		}
	}
	sort.Strings(actions)
	return actions
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTerraformModule(t *testing.T) {
	files := map[string]string{}
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} {
		files[f] = readFile(t, filepath.Join(tfDir, f))
	}
	var all strings.Builder
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf"} {
		src := files[f]
		if err := balanced(src); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		all.WriteString(src)
	}
	hcl := all.String()

	declared := func(kind string) map[string]bool {
		out := map[string]bool{}
		re := regexp.MustCompile(`(?m)^` + kind + ` "([a-z0-9_]+)" "([a-z0-9_]+)"`)
		for _, m := range re.FindAllStringSubmatch(hcl, -1) {
			out[m[1]+"."+m[2]] = true
		}
		return out
	}
	resources, data := declared("resource"), declared("data")
	count := func(typ string) int {
		n := 0
		for r := range resources {
			if strings.HasPrefix(r, typ+".") {
				n++
			}
		}
		return n
	}
	for typ, want := range map[string]int{
		"aws_cloudwatch_event_rule":   1,
		"aws_cloudwatch_event_target": 1,
		"aws_sqs_queue":               2,
		"aws_sqs_queue_policy":        2,
		"aws_iam_policy":              1,
	} {
		if got := count(typ); got != want {
			t.Errorf("%d %s resources, want %d", got, typ, want)
		}
	}

	// References point at what the module declares.
	for _, m := range regexp.MustCompile(`\b(data\.)?(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b`).FindAllStringSubmatch(hcl, -1) {
		key := m[2] + "." + m[3]
		if m[1] != "" && !data[key] {
			t.Errorf("reference to undeclared data.%s", key)
		}
		if m[1] == "" && !resources[key] {
			t.Errorf("reference to undeclared %s", key)
		}
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^variable "([a-z0-9_]+)"`).FindAllStringSubmatch(files["variables.tf"], -1) {
		vars[m[1]] = true
	}
	usedVars := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bvar\.([a-z0-9_]+)`).FindAllStringSubmatch(hcl, -1) {
		usedVars[m[1]] = true
		if !vars[m[1]] {
			t.Errorf("var.%s is not declared in variables.tf", m[1])
		}
	}
	for v := range vars {
		if !usedVars[v] {
			t.Errorf("variable %s is never used", v)
		}
		if !strings.Contains(files["README.md"], "`"+v+"`") {
			t.Errorf("variable %s is not documented in README.md", v)
		}
	}
	locals := map[string]bool{}
	if m := regexp.MustCompile(`(?s)\nlocals \{\n(.*?)\n\}\n`).FindStringSubmatch(files["main.tf"]); m != nil {
		for _, l := range regexp.MustCompile(`(?m)^  ([a-z0-9_]+)\s*=`).FindAllStringSubmatch(m[1], -1) {
			locals[l[1]] = true
		}
	}
	for _, m := range regexp.MustCompile(`\blocal\.([a-z0-9_]+)`).FindAllStringSubmatch(hcl, -1) {
		if !locals[m[1]] {
			t.Errorf("local.%s is not defined", m[1])
		}
	}

	// The same event pattern as CloudFormation: the shared file.
	if !strings.Contains(files["main.tf"], `file("${path.module}/../event-pattern.json")`) {
		t.Error("main.tf does not read ../event-pattern.json")
	}
	if !strings.Contains(files["main.tf"], "event_pattern = jsonencode(local.event_pattern)") {
		t.Error("the rule does not use the shared pattern")
	}

	// The consumer gets the same four actions; the only other statements are
	// the optional S3 and KMS ones; no wildcard action.
	block := regexp.MustCompile(`(?s)consumer_actions = \[(.*?)\]`).FindStringSubmatch(files["main.tf"])
	if block == nil {
		t.Fatal("main.tf: no consumer_actions")
	}
	var got []string
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(block[1], -1) {
		got = append(got, m[1])
	}
	sort.Strings(got)
	if d := cmp.Diff(consumerActions, got); d != "" {
		t.Errorf("consumer_actions (-want +got):\n%s", d)
	}
	for _, m := range regexp.MustCompile(`actions\s*=\s*\[([^\]]*)\]`).FindAllStringSubmatch(files["main.tf"], -1) {
		if strings.Contains(m[1], "*") {
			t.Errorf("wildcard action: %s", m[0])
		}
	}
	for _, m := range regexp.MustCompile(`resources\s*=\s*\[([^\]]*)\]`).FindAllStringSubmatch(files["main.tf"], -1) {
		if strings.TrimSpace(m[1]) == `"*"` {
			t.Errorf("resource *: %s", m[0])
		}
	}
	for _, want := range []string{
		`sqs_managed_sse_enabled = true`,
		`maxReceiveCount     = var.max_receive_count`,
		`identifiers = ["events.amazonaws.com"]`,
		`identifiers = ["s3.amazonaws.com"]`,
		`variable = "aws:SourceArn"`,
		`variable = "aws:SourceAccount"`,
		`identifiers = ["pods.eks.amazonaws.com"]`,
		`actions = ["sts:AssumeRole", "sts:TagSession"]`,
		`resource "aws_eks_pod_identity_association"`,
		`AWSLogs/*/CloudTrail/*`,
		`concat(local.base_pattern["detail"]["eventSource"], var.extra_event_sources)`,
	} {
		if !strings.Contains(hcl, want) {
			t.Errorf("terraform module lacks %s", want)
		}
	}
	for _, out := range []string{"queue_url", "queue_arn", "dead_letter_queue_url", "consumer_policy_arn", "rule_arn"} {
		if !strings.Contains(files["outputs.tf"], `output "`+out+`"`) {
			t.Errorf("output %s missing", out)
		}
	}
}

// balanced checks {} [] () nesting outside strings and comments.
func balanced(src string) error {
	var stack []rune
	pairs := map[rune]rune{'}': '{', ']': '[', ')': '('}
	line := 1
	inStr, heredoc := false, ""
	lines := strings.Split(src, "\n")
	for _, l := range lines {
		if heredoc != "" {
			if strings.TrimSpace(l) == heredoc {
				heredoc = ""
			}
			line++
			continue
		}
		for i := 0; i < len(l); i++ {
			c := rune(l[i])
			switch {
			case inStr:
				if c == '\\' {
					i++
				} else if c == '"' {
					inStr = false
				}
			case c == '"':
				inStr = true
			case c == '#' || (c == '/' && i+1 < len(l) && l[i+1] == '/'):
				i = len(l)
			case c == '<' && strings.HasPrefix(l[i:], "<<"):
				heredoc = strings.TrimLeft(strings.TrimSpace(l[i+2:]), "-~")
				i = len(l)
			case c == '{' || c == '[' || c == '(':
				stack = append(stack, c)
			case c == '}' || c == ']' || c == ')':
				if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
					return fmt.Errorf("line %d: unbalanced %c", line, c)
				}
				stack = stack[:len(stack)-1]
			}
		}
		if inStr {
			return fmt.Errorf("line %d: unterminated string", line)
		}
		line++
	}
	if len(stack) > 0 {
		return fmt.Errorf("%d unclosed brackets", len(stack))
	}
	return nil
}

// manifests reads every object of the Kubernetes folder, by "Kind/name".
func manifests(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	paths, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	for _, p := range paths {
		if filepath.Base(p) == "kustomization.yaml" {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(readFile(t, p)))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if obj == nil {
				continue
			}
			key := fmt.Sprintf("%v/%v", obj["kind"], get(obj, "metadata", "name"))
			if obj["apiVersion"] == nil || obj["kind"] == nil || get(obj, "metadata", "name") == nil {
				t.Errorf("%s: object without apiVersion, kind or name: %v", p, key)
			}
			if _, dup := out[key]; dup {
				t.Errorf("%s: %s defined twice", p, key)
			}
			obj["_file"] = filepath.Base(p)
			out[key] = obj
		}
	}
	return out
}

func TestKubernetesManifests(t *testing.T) {
	objs := manifests(t)
	for _, want := range []string{
		"Namespace/trailwatch", "ServiceAccount/trailwatch", "ConfigMap/trailwatch-config",
		"Secret/trailwatch-slack", "PersistentVolumeClaim/trailwatch-data", "Deployment/trailwatch",
		"Service/trailwatch-admin",
	} {
		if objs[want] == nil {
			t.Errorf("%s missing", want)
		}
	}
	for key, o := range objs {
		if o["kind"] != "Namespace" && get(o, "metadata", "namespace") != "trailwatch" {
			t.Errorf("%s: namespace %v, want trailwatch", key, get(o, "metadata", "namespace"))
		}
	}

	dep := objs["Deployment/trailwatch"]
	spec := get(dep, "spec").(map[string]any)
	if spec["replicas"] != 1 {
		t.Errorf("replicas = %v, want 1 (SQLite has one writer)", spec["replicas"])
	}
	if get(spec, "strategy", "type") != "Recreate" {
		t.Errorf("strategy = %v, want Recreate (a ReadWriteOnce volume and one SQLite writer)", get(spec, "strategy"))
	}
	pod := get(spec, "template", "spec").(map[string]any)
	labels := get(spec, "template", "metadata", "labels").(map[string]any)
	for k, v := range get(spec, "selector", "matchLabels").(map[string]any) {
		if labels[k] != v {
			t.Errorf("selector %s=%v does not select the pod template", k, v)
		}
	}
	if pod["serviceAccountName"] != "trailwatch" || objs["ServiceAccount/trailwatch"] == nil {
		t.Errorf("serviceAccountName = %v", pod["serviceAccountName"])
	}
	psc := get(pod, "securityContext")
	if get(psc, "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	uid, _ := get(psc, "runAsUser").(int)
	if uid == 0 {
		t.Errorf("pod runAsUser = %v", get(psc, "runAsUser"))
	}
	if get(psc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	containers := pod["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0].(map[string]any)
	sc := get(c, "securityContext")
	for k, want := range map[string]any{"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "runAsNonRoot": true} {
		if got := get(sc, k); got != want {
			t.Errorf("container securityContext.%s = %v, want %v", k, got, want)
		}
	}
	if got := strs(get(sc, "capabilities", "drop")); !cmp.Equal(got, []string{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", got)
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory"} {
			if get(c, "resources", kind, r) == nil {
				t.Errorf("resources.%s.%s not set", kind, r)
			}
		}
	}

	// Probes on the admin port.
	ports := map[string]int{}
	for _, p := range c["ports"].([]any) {
		ports[fmt.Sprint(get(p, "name"))] = get(p, "containerPort").(int)
	}
	port := func(v any) int {
		if n, ok := v.(int); ok {
			return n
		}
		return ports[fmt.Sprint(v)]
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := get(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path = %v, want %s", probe, got, path)
		}
		if got := port(get(c, probe, "httpGet", "port")); got != 9090 {
			t.Errorf("%s port = %v, want 9090", probe, got)
		}
	}

	// Volumes: the config from the ConfigMap, the database on the PVC.
	volumes := map[string]map[string]any{}
	for _, v := range pod["volumes"].([]any) {
		vm := v.(map[string]any)
		volumes[fmt.Sprint(vm["name"])] = vm
	}
	mounts := map[string]map[string]any{}
	for _, m := range c["volumeMounts"].([]any) {
		mm := m.(map[string]any)
		mounts[fmt.Sprint(mm["mountPath"])] = mm
		if volumes[fmt.Sprint(mm["name"])] == nil {
			t.Errorf("mount %v of undeclared volume %v", mm["mountPath"], mm["name"])
		}
	}
	args := strs(nil)
	for _, a := range c["args"].([]any) {
		args = append(args, fmt.Sprint(a))
	}
	if len(args) != 3 || args[0] != "run" || args[1] != "--config" {
		t.Fatalf("args = %v, want run --config FILE", args)
	}
	cfgFile := args[2]
	cfgMount := mounts[filepath.Dir(cfgFile)]
	if cfgMount == nil {
		t.Fatalf("nothing mounted at %s", filepath.Dir(cfgFile))
	}
	cmName := get(volumes[fmt.Sprint(cfgMount["name"])], "configMap", "name")
	cm := objs[fmt.Sprintf("ConfigMap/%v", cmName)]
	if cm == nil {
		t.Fatalf("config volume refers to ConfigMap %v, which is not defined", cmName)
	}
	cfgText, ok := get(cm, "data", filepath.Base(cfgFile)).(string)
	if !ok {
		t.Fatalf("ConfigMap %v has no key %s", cmName, filepath.Base(cfgFile))
	}
	dataMount := mounts["/var/lib/trailwatch"]
	if dataMount == nil {
		t.Fatal("nothing mounted at /var/lib/trailwatch")
	}
	claim := get(volumes[fmt.Sprint(dataMount["name"])], "persistentVolumeClaim", "claimName")
	if objs[fmt.Sprintf("PersistentVolumeClaim/%v", claim)] == nil {
		t.Errorf("data volume claims %v, which is not defined", claim)
	}
	if mounts["/tmp"] == nil {
		t.Error("no writable /tmp (the root filesystem is read-only)")
	}

	// The environment: the Slack webhook from the Secret.
	env := map[string]map[string]any{}
	for _, e := range c["env"].([]any) {
		em := e.(map[string]any)
		env[fmt.Sprint(em["name"])] = em
	}
	ref := get(env["SLACK_WEBHOOK_URL"], "valueFrom", "secretKeyRef")
	secret := objs[fmt.Sprintf("Secret/%v", get(ref, "name"))]
	if secret == nil {
		t.Fatalf("SLACK_WEBHOOK_URL comes from Secret %v, which is not defined", get(ref, "name"))
	}
	hook, _ := get(secret, "stringData", fmt.Sprint(get(ref, "key"))).(string)
	if !strings.Contains(hook, "EXAMPLE") {
		t.Errorf("the example Secret's %v is not a placeholder containing EXAMPLE: %q", get(ref, "key"), hook)
	}
	getenv := func(k string) string {
		if k == "SLACK_WEBHOOK_URL" {
			return hook
		}
		if e := env[k]; e != nil {
			return fmt.Sprint(e["value"])
		}
		return ""
	}

	checkConfig(t, cfgText, dataMount, getenv)

	// The Service reaches the admin port of the pod.
	svc := objs["Service/trailwatch-admin"]
	for k, v := range get(svc, "spec", "selector").(map[string]any) {
		if labels[k] != v {
			t.Errorf("service selector %s=%v does not select the pod", k, v)
		}
	}
	svcPorts := get(svc, "spec", "ports").([]any)
	if len(svcPorts) != 1 || get(svcPorts[0], "port") != 9090 || port(get(svcPorts[0], "targetPort")) != 9090 {
		t.Errorf("service ports = %v, want 9090 to the admin port", svcPorts)
	}
	if get(svc, "metadata", "annotations", "prometheus.io/path") != "/metrics" {
		t.Error("service lacks the prometheus.io/path annotation")
	}

	// kustomization.yaml lists existing files, and not the example Secret.
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(k8sDir, "kustomization.yaml"))), &kust); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range kust.Resources {
		listed[r] = true
		if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
	for key, o := range objs {
		f := fmt.Sprint(o["_file"])
		if o["kind"] == "Secret" && listed[f] {
			t.Errorf("kustomization.yaml applies the example %s", key)
		}
		if o["kind"] != "Secret" && !listed[f] {
			t.Errorf("kustomization.yaml does not list %s (%s)", f, key)
		}
	}
}

// checkConfig loads the ConfigMap's trailwatch.yaml with trailwatch's own
// strict loader and checks what the deployment relies on.
func checkConfig(t *testing.T, text string, dataMount map[string]any, getenv func(string) string) {
	t.Helper()
	cfg, err := config.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("trailwatch.yaml in the ConfigMap: %v", err)
	}
	if dir := filepath.Dir(cfg.Store.Path); dir != dataMount["mountPath"] {
		t.Errorf("store.path %s is not on the data volume (%v)", cfg.Store.Path, dataMount["mountPath"])
	}
	if cfg.Admin.Listen != "0.0.0.0:9090" {
		t.Errorf("admin.listen = %q, want 0.0.0.0:9090 (probes come from outside the pod)", cfg.Admin.Listen)
	}
	if cfg.Log.Level != "info" || cfg.Log.Format != "json" {
		t.Errorf("log = %+v, want info/json", cfg.Log)
	}
	if cfg.Heartbeat.MaxSilence.D() != 2*time.Hour {
		t.Errorf("heartbeat.max_silence = %s", cfg.Heartbeat.MaxSilence)
	}
	if len(cfg.Sources) != 1 || cfg.Sources[0].Type != "sqs" || cfg.Sources[0].Name != "eventbridge-queue" {
		t.Fatalf("sources = %+v, want one sqs source eventbridge-queue", cfg.Sources)
	}
	var src map[string]any
	if err := cfg.Sources[0].Node.Decode(&src); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if d := cmp.Diff([]string{"name", "queue_url", "type", "wait_seconds"}, keys); d != "" {
		t.Errorf("sqs source keys (-want +got):\n%s", d)
	}
	if !regexp.MustCompile(`^https://sqs\.[a-z0-9-]+\.amazonaws\.com/[0-9]{12}/trailwatch-events$`).MatchString(fmt.Sprint(src["queue_url"])) {
		t.Errorf("queue_url = %v, want the QueueUrl output's form", src["queue_url"])
	}
	if src["wait_seconds"] != 20 {
		t.Errorf("wait_seconds = %v, want 20", src["wait_seconds"])
	}
	if !slices.Contains(app.SourceTypes(), "sqs") {
		t.Logf("note: this build of trailwatch has no sqs source yet (source types: %v); only the YAML was checked", app.SourceTypes())
	}

	if len(cfg.Channels) != 1 {
		t.Fatalf("channels = %+v, want one", cfg.Channels)
	}
	ch := cfg.Channels[0]
	if ch.Name != "secops-slack" || ch.Type != "slack" || ch.MinRisk != finding.High {
		t.Errorf("channel = %s/%s min_risk %s, want secops-slack/slack HIGH", ch.Name, ch.Type, ch.MinRisk)
	}
	var chm map[string]any
	if err := ch.Node.Decode(&chm); err != nil {
		t.Fatal(err)
	}
	if chm["webhook_url"] != "${SLACK_WEBHOOK_URL}" {
		t.Errorf("webhook_url = %v, want ${SLACK_WEBHOOK_URL}", chm["webhook_url"])
	}
	// The Slack channel builds (strict keys, URL resolved from the Secret).
	chans, _, err := app.Channels(cfg, app.ChannelOptions{Getenv: getenv})
	if err != nil {
		t.Fatalf("channels of the ConfigMap's trailwatch.yaml: %v", err)
	}
	if len(chans) != 1 || chans[0].Name != "secops-slack" {
		t.Errorf("built channels = %v", chans)
	}
}

func TestDockerfile(t *testing.T) {
	src := readFile(t, "Dockerfile")
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(src, "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var froms []string
	var entrypoint, cmd, user, goVersion string
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "ARG":
			if v, ok := strings.CutPrefix(rest, "GO_VERSION="); ok {
				goVersion = v
			}
		case "FROM":
			froms = append(froms, rest)
		case "ENTRYPOINT":
			entrypoint = rest
		case "CMD":
			cmd = rest
		case "USER":
			user = rest
		}
	}
	if len(froms) != 2 {
		t.Fatalf("FROM lines = %v, want a builder and a final stage", froms)
	}
	if !strings.Contains(froms[0], "golang:${GO_VERSION}") || !strings.HasSuffix(froms[0], " AS build") {
		t.Errorf("builder = %q, want golang:${GO_VERSION} AS build", froms[0])
	}
	gomod := readFile(t, repoFile("go.mod"))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil || goVersion != m[1] {
		t.Errorf("ARG GO_VERSION=%s, go.mod says go %v", goVersion, m)
	}
	if !strings.HasPrefix(froms[1], "gcr.io/distroless/static") || !strings.HasSuffix(froms[1], ":nonroot") {
		t.Errorf("final stage = %q, want distroless static nonroot", froms[1])
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build -trimpath", `-ldflags "-s -w`, "./cmd/trailwatch", "COPY --from=build /out/trailwatch /trailwatch"} {
		if !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	// The version variable the build sets exists.
	if !strings.Contains(src, "-X github.com/trailwatch/trailwatch/internal/cli.Version=") ||
		!strings.Contains(readFile(t, repoFile("internal", "cli", "cli.go")), "var Version = ") {
		t.Error("the -X flag does not set internal/cli.Version")
	}
	var ep, cm []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || !cmp.Equal(ep, []string{"/trailwatch"}) {
		t.Errorf("ENTRYPOINT = %s, want [\"/trailwatch\"]", entrypoint)
	}
	if err := json.Unmarshal([]byte(cmd), &cm); err != nil || !cmp.Equal(cm, []string{"run", "--config", "/etc/trailwatch/trailwatch.yaml"}) {
		t.Errorf("CMD = %s", cmd)
	}

	// The Deployment runs the same command as the image, as the same user.
	dep := manifests(t)["Deployment/trailwatch"]
	c := get(dep, "spec", "template", "spec", "containers").([]any)[0]
	var args []string
	for _, a := range get(c, "args").([]any) {
		args = append(args, fmt.Sprint(a))
	}
	if !cmp.Equal(args, cm) {
		t.Errorf("Deployment args %v differ from the image's CMD %v", args, cm)
	}
	uid := fmt.Sprint(get(dep, "spec", "template", "spec", "securityContext", "runAsUser"))
	if u, _, _ := strings.Cut(user, ":"); u != uid {
		t.Errorf("image USER %s, Deployment runAsUser %s", user, uid)
	}

	// The ignore file keeps what the build needs.
	ignore := readFile(t, "Dockerfile.dockerignore")
	for _, l := range strings.Split(ignore, "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "/")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		for _, need := range []string{"go.mod", "go.sum", "cmd", "internal"} {
			if l == need || l == "*" || l == "**" {
				t.Errorf("Dockerfile.dockerignore excludes %s", need)
			}
		}
	}
}

// TestNoCredentials fails on anything that looks like a real AWS access key
// id or Slack webhook in the deployment files and their docs.
func TestNoCredentials(t *testing.T) {
	keyRe := regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`)
	hookRe := regexp.MustCompile(`hooks\.slack\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+`)
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, repoFile("docs", "setup.md"), repoFile("docs", "deploy.md"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue // the patterns above
		}
		for i, l := range strings.Split(readFile(t, f), "\n") {
			if keyRe.MatchString(l) && !strings.Contains(l, "EXAMPLE") {
				t.Errorf("%s:%d: looks like an AWS access key: %s", f, i+1, keyRe.FindString(l))
			}
			if h := hookRe.FindString(l); h != "" && !strings.Contains(h, "EXAMPLE") {
				t.Errorf("%s:%d: looks like a Slack webhook: %s", f, i+1, h)
			}
		}
	}
}

// runTool runs a tool the machine may not have; the test is skipped when it
// is missing. It never reaches the network: terraform fmt and kubectl
// kustomize work on local files (CHECKPOINT_DISABLE stops terraform's
// version check).
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (the machine image provides terraform, kubectl and cfn-lint; none can be installed from the registries CI reaches)", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestTerraformFmt(t *testing.T) {
	runTool(t, "terraform", "fmt", "-check", "-diff", "-no-color", tfDir)
}

func TestKustomizeBuild(t *testing.T) {
	out := runTool(t, "kubectl", "kustomize", k8sDir)
	dec := yaml.NewDecoder(strings.NewReader(out))
	var kinds []string
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, fmt.Sprint(obj["kind"]))
		if obj["kind"] == "Deployment" {
			c := get(obj, "spec", "template", "spec", "containers").([]any)[0]
			if got := get(c, "image"); got != "registry.example.com/trailwatch:0.1.0" {
				t.Errorf("image = %v", got)
			}
		}
	}
	sort.Strings(kinds)
	want := []string{"ConfigMap", "Deployment", "Namespace", "PersistentVolumeClaim", "Service", "ServiceAccount"}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("kustomize build kinds (-want +got):\n%s", d)
	}
}

// TestCfnLint runs cfn-lint, which checks every resource property against
// the CloudFormation resource schemas, when it is installed.
func TestCfnLint(t *testing.T) {
	runTool(t, "cfn-lint", cfnPath)
}

// TestCloudFormationParameterGroups checks the console's grouping: every
// parameter in exactly one group, each group a label and known parameters.
func TestCloudFormationParameterGroups(t *testing.T) {
	tp := loadTemplate(t, cfnPath)
	groups, ok := get(map[string]any(tp), "Metadata", "AWS::CloudFormation::Interface", "ParameterGroups").([]any)
	if !ok {
		t.Fatal("no Metadata.AWS::CloudFormation::Interface.ParameterGroups")
	}
	seen := map[string]int{}
	for i, g := range groups {
		gm, _ := g.(map[string]any)
		label, _ := get(gm, "Label").(map[string]any)
		if _, ok := label["default"].(string); !ok || len(label) != 1 || len(gm) != 2 {
			t.Errorf("group %d: want {Label: {default: TEXT}, Parameters: [...]}, got %v", i, g)
		}
		for _, p := range strs(gm["Parameters"]) {
			seen[p]++
			if tp.section("Parameters")[p] == nil {
				t.Errorf("group %d names unknown parameter %s", i, p)
			}
		}
	}
	for p := range tp.section("Parameters") {
		if seen[p] != 1 {
			t.Errorf("parameter %s is in %d groups, want 1", p, seen[p])
		}
	}
}
