package rule_test

import (
	"fmt"
	"testing/fstest"

	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/rule"
)

// A team's own rule: it watches one EKS call, fires on a condition, raises
// the risk with a reason when the change is dangerous, names the resource,
// and carries a test event of the shape CloudTrail really writes (the
// cluster is requestParameters.name). rules test runs its tests; the engine
// evaluates events against it.
func Example() {
	const yaml = `
rules:
  - id: ACME-EKS-VERSION
    title: EKS cluster upgraded outside the change window
    service: eks
    event_source: eks.amazonaws.com
    event_names: [UpdateClusterVersion]
    risk: MEDIUM
    description: A cluster's Kubernetes version was changed.
    remediation: Check the change ticket for the upgrade.
    resource: {type: cluster, name: 'request.?name.orValue("")'}
    # Every path a rule reads is checked against real recorded events;
    # none of this call is recorded yet, so say where the names come from.
    paths_unseen:
      requestParameters.name: wire name from the EKS API reference (UpdateClusterVersion)
      requestParameters.force: wire name from the EKS API reference (UpdateClusterVersion)
    adjust:
      - when: 'request.?force.orValue(false) == true'
        risk: HIGH
        reason: forced past failed upgrade checks
    tests:
      - name: forced upgrade
        event:
          eventVersion: "1.09"
          eventTime: "2026-11-20T10:15:00Z"
          eventSource: eks.amazonaws.com
          eventName: UpdateClusterVersion
          awsRegion: eu-west-1
          eventID: 00000000-0000-4000-8000-000000000001
          userIdentity: {type: IAMUser, arn: "arn:aws:iam::111122223333:user/alice", accountId: "111122223333", userName: alice}
          userAgent: aws-cli/2.22.0
          requestParameters: {name: prod, version: "1.31", force: true}
        expect: {match: true, risk: HIGH, reason: forced}
`
	cat, err := rule.Load(fstest.MapFS{"acme.yaml": {Data: []byte(yaml)}}, "example:")
	if err != nil {
		fmt.Println(err)
		return
	}
	results, _ := rule.RunTests(cat)
	for _, r := range results {
		fmt.Println(r.RuleID, r.Test, "problems:", len(r.Problems))
	}

	eng, _ := rule.NewEngine(cat, nil)
	ev, _ := event.DecodeRecord([]byte(`{"eventVersion":"1.09","eventTime":"2026-11-20T11:00:00Z","eventSource":"eks.amazonaws.com",
		"eventName":"UpdateClusterVersion","awsRegion":"eu-west-1","eventID":"00000000-0000-4000-8000-000000000002",
		"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","userName":"bob"},
		"userAgent":"aws-cli/2.22.0","requestParameters":{"name":"payments","version":"1.31"}}`))
	for _, f := range eng.Evaluate(ev) {
		fmt.Println(f.RuleID, f.Risk, f.Resource.Name, f.RiskReasons)
	}
	// Output:
	// ACME-EKS-VERSION real-shape field check problems: 0
	// ACME-EKS-VERSION forced upgrade problems: 0
	// ACME-EKS-VERSION MEDIUM payments [EKS cluster upgraded outside the change window: default risk of the rule]
}
