package rule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/finding"
)

func TestReadPaths(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{`request.?name.orValue("")`, []string{"requestParameters.name"}},
		{`request.ipPermissions.items.exists(p, p.?ipRanges.?items.orValue([]).exists(r, r.cidrIp == "0.0.0.0/0"))`,
			[]string{"requestParameters.ipPermissions", "requestParameters.ipPermissions.items", "requestParameters.ipPermissions.items[]", "requestParameters.ipPermissions.items[].ipRanges", "requestParameters.ipPermissions.items[].ipRanges.items", "requestParameters.ipPermissions.items[].ipRanges.items[]", "requestParameters.ipPermissions.items[].ipRanges.items[].cidrIp"}},
		{`event.?additionalEventData.MFAUsed == "No" && response["ConsoleLogin"] == "Failure"`,
			[]string{"additionalEventData", "additionalEventData.MFAUsed", "responseElements.ConsoleLogin"}},
		{`field(event, "requestParameters.containerDefinitions.command").exists(v, text(v).contains("x"))`,
			[]string{"requestParameters.containerDefinitions.command"}},
		{`has(request.policyDocument) && allowsAll(request.policyDocument)`, []string{"requestParameters.policyDocument"}},
		{`actor.root && method == "cli"`, nil},
	} {
		got, err := ReadPaths(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, got, cmpEmpty); d != "" {
			t.Errorf("ReadPaths(%s) (-want +got):\n%s", tc.src, d)
		}
	}
}

var cmpEmpty = cmp.Transformer("empty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

// TestShapeCheckCatchesInventedPaths: a rule reading the SDK member name
// clusterName of CreateAccessEntry, which CloudTrail never writes, fails
// the real-shape check; naming why under paths_unseen passes it.
func TestShapeCheckCatchesInventedPaths(t *testing.T) {
	src := `
rules:
  - id: T-1
    title: t
    service: eks
    event_source: eks.amazonaws.com
    event_names: [CreateAccessEntry]
    risk: HIGH
    description: d
    remediation: r
    resource: {type: cluster, name: 'request.?clusterName.orValue(request.?name.orValue(""))'}
    tests: [{name: t, event: {eventSource: eks.amazonaws.com, eventName: CreateAccessEntry, eventVersion: "1.09"}, expect: {match: true}}]
`
	c, err := Load(fstest.MapFS{"t.yaml": {Data: []byte(src)}}, "test:")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := RunTests(c)
	var problems []string
	for _, r := range res {
		if r.Test == ShapeCheck {
			problems = r.Problems
		}
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "requestParameters.clusterName") {
		t.Fatalf("shape check problems: %q", problems)
	}
	src2 := strings.Replace(src, "    tests:", "    paths_unseen: {requestParameters.clusterName: read for old exports}\n    tests:", 1)
	c, err = Load(fstest.MapFS{"t.yaml": {Data: []byte(src2)}}, "test:")
	if err != nil {
		t.Fatal(err)
	}
	res, _ = RunTests(c)
	for _, r := range res {
		for _, p := range r.Problems {
			t.Errorf("%s: %s", r.Test, p)
		}
	}
}

func TestPolicyFunctions(t *testing.T) {
	admin := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`
	encoded := "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22*%22%5D%2C%22Resource%22%3A%22*%22%7D%5D%7D"
	public := map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}}
	orgOnly := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sqs:SendMessage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}]}`
	trust := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::999988887777:root","111122223333"]},"Action":"sts:AssumeRole"}]}`
	deny := `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Principal":"*"}]}`
	for _, tc := range []struct {
		name     string
		doc      any
		all, pub bool
		accounts []string
	}{
		{"admin", admin, true, false, nil},
		{"url-encoded admin", encoded, true, false, nil},
		{"public object", public, false, true, nil},
		{"org-only", orgOnly, false, false, nil},
		{"cross-account trust", trust, false, false, []string{"999988887777", "111122223333"}},
		{"deny is no grant", deny, false, false, nil},
		{"not a policy", "nonsense", false, false, nil},
	} {
		if got := PolicyAllowsAll(tc.doc); got != tc.all {
			t.Errorf("%s: PolicyAllowsAll = %v", tc.name, got)
		}
		if got := PolicyPublic(tc.doc); got != tc.pub {
			t.Errorf("%s: PolicyPublic = %v", tc.name, got)
		}
		if d := cmp.Diff(tc.accounts, PolicyAccounts(tc.doc), cmpEmpty); d != "" {
			t.Errorf("%s: PolicyAccounts: %s", tc.name, d)
		}
	}
}

func TestGeoIPDatabase(t *testing.T) {
	db, err := WriteGeoIPDatabase(map[string]string{"198.51.100.0/24": "FR", "198.51.100.128/25": "DE", "203.0.113.7": "US"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.mmdb")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openGeoIP(path); err != nil {
		t.Fatal(err)
	}
	defer forgetGeoIP(filepath.Dir(path))
	for ip, want := range map[string]string{"198.51.100.1": "FR", "198.51.100.200": "DE", "203.0.113.7": "US", "203.0.113.8": "", "192.0.2.1": "", "cloudformation.amazonaws.com": ""} {
		if got := Country(ip, path); got != want {
			t.Errorf("Country(%s) = %q, want %q", ip, got, want)
		}
	}
	if _, err := openGeoIP(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("a missing database opened")
	}
}

const settingsRules = `
rules:
  - id: S-1
    title: sign-in from a country not approved
    service: signin
    event_source: signin.amazonaws.com
    event_names: [ConsoleLogin]
    risk: HIGH
    enabled: false
    settings:
      countries: {type: countries, required: true}
      geoip_database: {type: geoip_database, required: true}
    condition: 'country(event.sourceIPAddress, settings.geoip_database) != "" && !(country(event.sourceIPAddress, settings.geoip_database) in settings.countries)'
    description: d
    remediation: r
    resource: {type: user, name: 'actor.name'}
    tests:
      - name: from France, approved Germany
        settings: {countries: [de], geoip_database: {networks: {"198.51.100.0/24": FR}}}
        event: {eventSource: signin.amazonaws.com, eventName: ConsoleLogin, eventVersion: "1.09", sourceIPAddress: 198.51.100.7}
        expect: {match: true}
      - name: from France, approved France
        settings: {countries: [FR], geoip_database: {networks: {"198.51.100.0/24": FR}}}
        event: {eventSource: signin.amazonaws.com, eventName: ConsoleLogin, eventVersion: "1.09", sourceIPAddress: 198.51.100.7}
        expect: {match: false}
`

func TestSettingsOffUntilConfigured(t *testing.T) {
	c, err := Load(fstest.MapFS{"s.yaml": {Data: []byte(settingsRules)}}, "test:")
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunTests(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		for _, p := range r.Problems {
			t.Errorf("%s: %s", r.Test, p)
		}
	}
	e, err := NewEngine(c, nil)
	if err != nil || e.Rules() != 0 {
		t.Errorf("unconfigured: %d rules on, err %v; want the rule off", e.Rules(), err)
	}
	on := true
	_, err = NewEngine(c, map[string]Settings{"S-1": {Enabled: &on}})
	if err == nil || !strings.Contains(err.Error(), "rules.S-1.settings.countries: required") || !strings.Contains(err.Error(), "rules.S-1.settings.geoip_database: required") {
		t.Errorf("enabled without settings: %v", err)
	}
	_, err = NewEngine(c, map[string]Settings{"S-1": {Params: map[string]any{"countries": []any{"Germany", "DE"}, "geoip_database": "/nonexistent.mmdb", "colour": "red"}}})
	for _, want := range []string{`rules.S-1.settings.countries[0]: "Germany" is not an ISO 3166-1 alpha-2`, "rules.S-1.settings.geoip_database: GeoIP database", "rules.S-1.settings.colour: rule S-1 has no such setting"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad settings: error %v lacks %q", err, want)
		}
	}
}

func TestSettingValues(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		in   any
		want any
		err  string
	}{
		{"cidrs", []any{"203.0.113.7", "198.51.100.0/24", "2001:db8::/32"}, []any{"203.0.113.7/32", "198.51.100.0/24", "2001:db8::/32"}, ""},
		{"cidrs", []any{"300.1.1.1"}, nil, "not an IP address or CIDR block"},
		{"regions", []any{"eu-west-1", "us-gov-west-1"}, []any{"eu-west-1", "us-gov-west-1"}, ""},
		{"regions", []any{"Frankfurt"}, nil, "not an AWS region name"},
		{"regexes", []any{"("}, nil, "missing closing )"},
		{"api_patterns", []any{map[string]any{"event_name": "^Delete"}}, []any{map[string]any{"event_source": "", "event_name": "^Delete", "identity_type": ""}}, ""},
		{"api_patterns", []any{map[string]any{}}, nil, "empty pattern"},
	} {
		got, err := resolveSetting(tc.typ, tc.in, "x")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: error %v, want %q", tc.typ, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("%s %v = %v, %v; want %v", tc.typ, tc.in, got, err, tc.want)
		}
	}
}

const wideRules = `
rules:
  - id: W-ROOT
    title: root activity
    service: iam
    event_source: "*"
    event_names: ["*"]
    outcomes: [success, denied, failed]
    condition: 'actor.root && event.?eventType.orValue("") != "AwsServiceEvent"'
    risk: VERY_HIGH
    description: d
    remediation: r
    resource: {type: account, name: 'account'}
    tests: [{name: t, event: {eventSource: s3.amazonaws.com, eventName: ListBuckets, eventVersion: "1.09", userIdentity: {type: Root}}, expect: {match: true}}]
  - id: W-DENIED
    title: denied
    service: aws
    event_source: "*"
    event_names: ["*"]
    outcomes: [denied]
    fallback: true
    risk: LOW
    description: d
    remediation: r
    resource: {type: principal, name: 'actor.name'}
    tests: [{name: t, event: {eventSource: s3.amazonaws.com, eventName: ListBuckets, eventVersion: "1.09", errorCode: AccessDenied}, expect: {match: true}}]
  - id: E-DENIED
    title: EKS denied
    service: eks
    event_source: eks.amazonaws.com
    event_names: [DeleteCluster]
    outcomes: [denied]
    risk: MEDIUM
    description: d
    remediation: r
    resource: {type: cluster, name: 'request.?name.orValue("")'}
    paths_unseen: {requestParameters.name: test}
    tests: [{name: t, event: {eventSource: eks.amazonaws.com, eventName: DeleteCluster, eventVersion: "1.09", errorCode: AccessDenied}, expect: {match: true}}]
`

func TestWideRulesAndFallback(t *testing.T) {
	c, err := Load(fstest.MapFS{"w.yaml": {Data: []byte(wideRules)}}, "test:")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rec  string
		want bool
	}{
		{`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"IAMUser"}}`, false},
		{`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"Root"}}`, true},
		{`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"AccessDenied"}`, true},
		{`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"NoSuchKey"}`, false},
	} {
		if got := e.WantsRecord([]byte("s3.amazonaws.com"), []byte("GetObject"), []byte(tc.rec)); got != tc.want {
			t.Errorf("WantsRecord(%s) = %v", tc.rec, got)
		}
		it, err := event.NewSplitter(strings.NewReader(tc.rec), 0).Next()
		if err != nil {
			t.Fatal(err)
		}
		if got := e.WantsItem(&it); got != tc.want {
			t.Errorf("WantsItem(%s) = %v", tc.rec, got)
		}
	}
	// The splitter's spans keep a "Root" elsewhere in the record from
	// making the record a candidate for root activity.
	rec := `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{"key":"Root"},"userIdentity":{"type":"IAMUser"}}`
	it, _ := event.NewSplitter(strings.NewReader(rec), 0).Next()
	if e.WantsItem(&it) {
		t.Error("WantsItem looked outside userIdentity")
	}
	// The type is read where CloudTrail writes it, first in userIdentity;
	// elsewhere in userIdentity it is still found.
	for rec, want := range map[string]bool{
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"Root","arn":"x"}}`:                   true,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"IAMUser","userName":"Root"}}`:        false,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"arn":"arn:aws:iam::1:root","type":"Root"}}`: true,
	} {
		it, _ := event.NewSplitter(strings.NewReader(rec), 0).Next()
		if got := e.WantsItem(&it); got != want {
			t.Errorf("WantsItem(%s) = %v", rec, got)
		}
	}
	if !e.Wants([]byte("s3.amazonaws.com"), []byte("GetObject")) {
		t.Error("Wants without the record must say yes while rules of every event are on")
	}
	// A denied EKS call: the EKS rule reports it, the fallback stays quiet.
	fs := e.Evaluate(decode(t, `{"eventVersion":"1.09","eventSource":"eks.amazonaws.com","eventName":"DeleteCluster","errorCode":"AccessDenied","requestParameters":{"name":"prod"}}`))
	if len(fs) != 1 || fs[0].RuleID != "E-DENIED" {
		t.Errorf("denied EKS call: %+v", fs)
	}
	fs = e.Evaluate(decode(t, `{"eventVersion":"1.09","eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"AccessDenied"}`))
	if len(fs) != 1 || fs[0].RuleID != "W-DENIED" || fs[0].Risk != finding.Low {
		t.Errorf("denied S3 call: %+v", fs)
	}
	res, _ := RunTests(c)
	for _, r := range res {
		for _, p := range r.Problems {
			t.Errorf("%s/%s: %s", r.RuleID, r.Test, p)
		}
	}
}

func TestUndeclaredSettingIsAnError(t *testing.T) {
	src := strings.Replace(settingsRules, "!(country(event.sourceIPAddress, settings.geoip_database) in settings.countries)", "!(country(event.sourceIPAddress, settings.geoip_database) in settings.?regions.orValue([]))", 1)
	_, err := Load(fstest.MapFS{"s.yaml": {Data: []byte(src)}}, "test:")
	if err == nil || !strings.Contains(err.Error(), "settings.regions is read by an expression but not declared") {
		t.Errorf("error %v", err)
	}
}
