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

// TestPackCoverage: each service pack watches every changing operation of
// its service that the SDK knows, in a rule for successful changes and in
// its DENIED rule, except the operations left out on purpose (named in the
// pack's header comment). The S3 and VPC packs watch curated lists
// (bucket-level calls; network families), so they are not here.
func TestPackCoverage(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source, denied string
		leftOut        []string
	}{
		{"iam.amazonaws.com", "IAM-DENIED", nil},
		{"cloudtrail.amazonaws.com", "CLOUDTRAIL-DENIED", []string{"CancelQuery", "StartQuery", "StartDashboardRefresh"}},
		{"config.amazonaws.com", "CONFIG-DENIED", []string{"DeliverConfigSnapshot", "PutEvaluations", "PutExternalEvaluation", "StartConfigRulesEvaluation", "StartResourceEvaluation", "StartRemediationExecution"}},
		{"kms.amazonaws.com", "KMS-DENIED", []string{"Decapsulate", "DeriveSharedSecret", "Encapsulate", "ReEncrypt"}},
		{"rds.amazonaws.com", "RDS-DENIED", nil},
		{"ecs.amazonaws.com", "ECS-DENIED", []string{"DiscoverPollEndpoint", "SubmitAttachmentStateChanges", "SubmitContainerStateChange", "SubmitTaskStateChange", "RegisterContainerInstance", "DeregisterContainerInstance", "UpdateContainerAgent", "UpdateTaskProtection", "PutAttributes", "DeleteAttributes", "RunTask", "StartTask", "StopTask"}},
		{"route53.amazonaws.com", "ROUTE53-DENIED", nil},
		{"route53domains.amazonaws.com", "ROUTE53DOMAINS-DENIED", []string{"ResendContactReachabilityEmail", "ResendOperationAuthorization"}},
		{"organizations.amazonaws.com", "ORGANIZATIONS-DENIED", nil},
		{"guardduty.amazonaws.com", "GUARDDUTY-DENIED", []string{"CreateSampleFindings", "SendObjectMalwareScan", "StartMalwareScan", "UpdateFindingsFeedback", "CreateInvestigation"}},
		{"securityhub.amazonaws.com", "SECURITYHUB-DENIED", []string{"BatchImportFindings", "CreateTicketV2"}},
	} {
		watched, denied := map[string]bool{}, map[string]bool{}
		for _, r := range c.Rules {
			if r.EventSource != tc.source {
				continue
			}
			for _, n := range r.EventNames {
				if r.ID == tc.denied {
					denied[n] = true
				} else if contains(r.Outcomes, "success") {
					watched[n] = true
				}
			}
		}
		svc, _ := awsapi.Lookup(tc.source)
		for _, op := range svc.Changing() {
			if contains(tc.leftOut, op) {
				continue
			}
			if !watched[op] {
				t.Errorf("%s: no rule watches successful %s", tc.source, op)
			}
			if !denied[op] {
				t.Errorf("%s: %s does not watch %s", tc.source, tc.denied, op)
			}
		}
	}
}
