package rule

import (
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/finding"
)

const (
	aliceEvent = `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},
"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1",
"userAgent":"aws-cli/2.22.0","requestParameters":{"name":"prod","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"eventID":"e-1","recipientAccountId":"111122223333"}`
	roleEvent = `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/terraform-ci/run-42","accountId":"111122223333",
"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/terraform-ci","userName":"terraform-ci"}}},
"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"TagResource","awsRegion":"eu-west-1",
"requestParameters":{"resourceArn":"arn:aws:eks:eu-west-1:111122223333:cluster/prod","tags":{"a":"b"}},"eventID":"e-2","recipientAccountId":"111122223333"}`
	serviceEvent = `{"eventVersion":"1.09","userIdentity":{"type":"AWSService","invokedBy":"eks.amazonaws.com"},
"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1",
"requestParameters":{"name":"prod"},"eventID":"e-3","recipientAccountId":"111122223333"}`
)

func decode(t *testing.T, s string) *event.Event {
	t.Helper()
	ev, err := event.DecodeRecord([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func engine(t *testing.T, settings map[string]Settings) *Engine {
	t.Helper()
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(c, settings)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ptr[T any](v T) *T { return &v }

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]Settings
		event    string
		want     int
		risk     finding.Risk
		ttl      time.Duration
	}{
		{"defaults", nil, aliceEvent, 1, finding.VeryHigh, 24 * time.Hour},
		{"disabled", map[string]Settings{"EKS-CLUSTER-CONFIG": {Enabled: ptr(false)}}, aliceEvent, 0, 0, 0},
		{"event switched off", map[string]Settings{"EKS-CLUSTER-CONFIG": {Events: map[string]bool{"UpdateClusterConfig": false}}}, aliceEvent, 0, 0, 0},
		{"risk override is the base, escalations still apply", map[string]Settings{"EKS-TAGS": {Risk: finding.Medium}}, roleEvent, 1, finding.Low, 24 * time.Hour},
		{"override raises the base", map[string]Settings{"EKS-CLUSTER-CONFIG": {Risk: finding.Extreme, TTL: 2 * time.Hour}}, aliceEvent, 1, finding.Extreme, 2 * time.Hour},
		{"safelisted ARN", map[string]Settings{"EKS-CLUSTER-CONFIG": {Safelist: []string{"arn:aws:iam::111122223333:user/alice"}}}, aliceEvent, 0, 0, 0},
		{"safelist glob", map[string]Settings{"*": {Safelist: []string{"arn:aws:iam::*:user/a*"}}}, aliceEvent, 0, 0, 0},
		{"safelist by role of a session", map[string]Settings{"EKS-TAGS": {Safelist: []string{"arn:aws:iam::111122223333:role/terraform-*"}}}, roleEvent, 0, 0, 0},
		{"safelist other principal", map[string]Settings{"EKS-CLUSTER-CONFIG": {Safelist: []string{"arn:aws:iam::111122223333:user/bob"}}}, aliceEvent, 1, finding.VeryHigh, 24 * time.Hour},
		{"safelist regex", map[string]Settings{"EKS-CLUSTER-CONFIG": {SafelistRegex: []string{`:user/(alice|bob)$`}}}, aliceEvent, 0, 0, 0},
		{"AWS itself is skipped", nil, serviceEvent, 0, 0, 0},
		{"AWS itself when asked for", map[string]Settings{"EKS-CLUSTER-CONFIG": {IncludeAWSService: true}}, serviceEvent, 1, finding.High, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := engine(t, tc.settings).Evaluate(decode(t, tc.event))
			if len(fs) != tc.want {
				t.Fatalf("%d findings, want %d: %+v", len(fs), tc.want, fs)
			}
			if tc.want == 1 && (fs[0].Risk != tc.risk || fs[0].TTL != tc.ttl) {
				t.Errorf("risk %s ttl %s, want %s %s (%v)", fs[0].Risk, fs[0].TTL, tc.risk, tc.ttl, fs[0].RiskReasons)
			}
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	c, _ := Embedded()
	_, err := NewEngine(c, map[string]Settings{
		"EKS-NOPE":           {},
		"EKS-CLUSTER-CONFIG": {Events: map[string]bool{"DeleteCluster": false}, SafelistRegex: []string{"("}},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"rules.EKS-NOPE: no such rule", "rules.EKS-CLUSTER-CONFIG.events.DeleteCluster", "rules.EKS-CLUSTER-CONFIG.safelist_regex[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestFindingFields(t *testing.T) {
	fs := engine(t, nil).Evaluate(decode(t, aliceEvent))
	if len(fs) != 1 {
		t.Fatal(len(fs))
	}
	f := fs[0]
	if f.ID != finding.ID("e-1", "EKS-CLUSTER-CONFIG") || f.Fingerprint == "" || f.AccountID != "111122223333" || f.Region != "eu-west-1" ||
		f.Resource.ARN != "arn:aws:eks:eu-west-1:111122223333:cluster/prod" || f.AccessMethod != "cli" || f.Outcome != "success" ||
		f.Actor.Name != "alice" || f.Remediation == "" || f.Changes["name"] != "prod" {
		t.Errorf("finding fields: %+v", f)
	}
	// The same change later has the same fingerprint (TTL key), another id.
	later := strings.Replace(strings.Replace(aliceEvent, `"e-1"`, `"e-9"`, 1), "10:00:00", "11:00:00", 1)
	g := engine(t, nil).Evaluate(decode(t, later))[0]
	if g.Fingerprint != f.Fingerprint || g.ID == f.ID {
		t.Errorf("repeat: fingerprint %s/%s id %s/%s", g.Fingerprint, f.Fingerprint, g.ID, f.ID)
	}
}

func TestWants(t *testing.T) {
	e := engine(t, nil)
	for _, tc := range []struct {
		src, name string
		want      bool
	}{
		{"eks.amazonaws.com", "UpdateClusterConfig", true},
		{"eks.amazonaws.com", "DescribeCluster", false},
		{"redshift.amazonaws.com", "CreateCluster", false},
		{`eks.amazonaws.com`, `Update\u0043lusterConfig`, true},
		{`eks\u002eamazonaws.com`, `DeleteCluster`, true},
	} {
		rec := []byte(`{"eventSource":"x","eventName":"y","userIdentity":{"type":"IAMUser"}}`)
		if got := e.WantsRecord([]byte(tc.src), []byte(tc.name), rec); got != tc.want {
			t.Errorf("WantsRecord(%s, %s) = %v", tc.src, tc.name, got)
		}
	}
	rec := []byte(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice"},"eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1"}`)
	if n := testing.AllocsPerRun(100, func() { e.WantsRecord([]byte("s3.amazonaws.com"), []byte("GetObject"), rec) }); n != 0 {
		t.Errorf("WantsRecord allocates %v times per call", n)
	}
}

func TestRuleTestsCanFail(t *testing.T) {
	c, _ := Embedded()
	r, _ := c.Get("EKS-CLUSTER-DELETE")
	bad := *r
	bad.Tests = []Test{{Name: "wrong", Event: r.Tests[0].Event, Expect: Expect{Match: true, Risk: finding.Low, Reason: "nonsense"}}}
	c2, err := NewCatalogue([]*Rule{&bad})
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunTests(c2)
	if err != nil {
		t.Fatal(err)
	}
	var wrong []TestResult
	for _, r := range res {
		if r.Test == "wrong" {
			wrong = append(wrong, r)
		}
	}
	if len(wrong) != 1 || len(wrong[0].Problems) != 2 {
		t.Errorf("want 2 problems (risk, reason), got %+v", res)
	}
}

func TestAddendumMarksCorrected(t *testing.T) {
	e := engine(t, nil)
	if f := e.Evaluate(decode(t, aliceEvent))[0]; f.Corrected {
		t.Error("a plain event is marked corrected")
	}
	late := strings.Replace(aliceEvent, `"eventID":"e-1"`, `"eventID":"e-1","addendum":{"reason":"DELIVERY_DELAY","originalEventID":"e-1"}`, 1)
	if f := e.Evaluate(decode(t, late))[0]; !f.Corrected || f.ID != finding.ID("e-1", "EKS-CLUSTER-CONFIG") {
		t.Errorf("addendum: corrected %v, id %s", f.Corrected, f.ID)
	}
}

func TestEffectiveSettings(t *testing.T) {
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	off := false
	var id, event string
	for _, r := range cat.Rules {
		if r.DefaultOn() && len(r.EventNames) > 1 && r.EventNames[0] != Any {
			id, event = r.ID, r.EventNames[0]
			break
		}
	}
	var other string
	for _, r := range cat.Rules {
		if r.DefaultOn() && r.ID != id {
			other = r.ID
			break
		}
	}
	e, err := NewEngine(cat, map[string]Settings{
		id:    {Risk: finding.Extreme, TTL: 2 * time.Hour, Events: map[string]bool{event: false}, Safelist: []string{"arn:aws:iam::*:role/ci"}},
		other: {Enabled: &off},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Effective{}
	for _, x := range e.Effective() {
		got[x.Rule.ID] = x
	}
	if len(got) != len(cat.Rules) {
		t.Fatalf("%d rules reported, catalogue has %d", len(got), len(cat.Rules))
	}
	x := got[id]
	if !x.Enabled || x.Risk != finding.Extreme || x.TTL != 2*time.Hour || contains(x.Events, event) || len(x.Events) != len(x.Rule.EventNames)-1 || len(x.Safelist) != 1 {
		t.Errorf("%s: %+v", id, x)
	}
	if y := got[other]; y.Enabled || y.Risk != y.Rule.Risk {
		t.Errorf("%s switched off: %+v", other, y)
	}
}
