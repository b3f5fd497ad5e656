package rule

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/trailwatch/trailwatch/internal/awsapi"
)

func TestEmbeddedCatalogueTests(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunTests(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatal("no rule tests ran")
	}
	for _, r := range res {
		for _, p := range r.Problems {
			t.Errorf("%s / %s: %s", r.RuleID, r.Test, p)
		}
	}
}

// TestEKSCoverage checks the pack watches every changing EKS operation the
// SDK knows, except the ones left out on purpose.
func TestEKSCoverage(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	leftOut := map[string]string{"StartInsightsRefresh": "re-runs upgrade checks, changes no configuration"}
	watched := map[string]bool{}
	denied := map[string]bool{}
	for _, r := range c.Rules {
		if r.Service != "eks" {
			continue
		}
		if !strings.HasPrefix(r.ID, "EKS-") {
			t.Errorf("rule %s of the EKS pack does not start with EKS-", r.ID)
		}
		for _, n := range r.EventNames {
			if r.ID == "EKS-DENIED" {
				denied[n] = true
			} else {
				watched[n] = true
			}
		}
	}
	svc, _ := awsapi.Lookup("eks.amazonaws.com")
	for _, op := range svc.Changing() {
		if _, ok := leftOut[op]; ok {
			continue
		}
		if !watched[op] {
			t.Errorf("no rule watches successful %s", op)
		}
		if !denied[op] {
			t.Errorf("EKS-DENIED does not watch %s", op)
		}
	}
}

func TestLoadRejectsBadRules(t *testing.T) {
	fsys := fstest.MapFS{"bad.yaml": {Data: []byte(`
rules:
  - id: X-1
    title: t
    service: eks
    event_source: eks.amazonaws.com
    event_names: [CreateClusterz, DescribeCluster]
    risk: HIGH
    description: d
    remediation: r
    resource: {type: cluster}
    condition: 'request.name =='
    tests: [{name: t, event: {}, expect: {match: false}}]
`)}, "worse.yaml": {Data: []byte(`
rules:
  - id: X-2
    title: t
    event_source: ecs.amazonaws.com
    event_names: [CreateCluster]
    risk: SEVERE
`)}}
	_, err := Load(fsys, "test:")
	if err == nil {
		t.Fatal("no error for a bad rule file")
	}
	msg := err.Error()
	for _, want := range []string{"CreateClusterz is not an operation of eks.amazonaws.com", "DescribeCluster is read-only", "condition:", "unknown risk level \"SEVERE\"", "test:bad.yaml", "test:worse.yaml"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}
