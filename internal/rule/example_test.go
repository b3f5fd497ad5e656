package rule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
)

// docBlock returns the fenced block that follows a marker in docs/rules.md.
func docBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "<!-- example:"+marker+" -->")
	if i < 0 {
		t.Fatalf("docs/rules.md has no example:%s block", marker)
	}
	rest := doc[i:]
	start := strings.Index(rest, "```yaml\n") + len("```yaml\n")
	end := strings.Index(rest[start:], "```")
	return rest[start : start+end]
}

// TestDocumentedTeamRule proves the worked example of docs/rules.md: the
// team's rule loads beside the catalogue, its tests and the real-shape
// check pass, the configuration turns it on with its settings, and it
// reports what it should.
func TestDocumentedTeamRule(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules", "acme.yaml"), []byte(docBlock(t, "rule")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(strings.NewReader(docBlock(t, "config")))
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	team, err := rule.LoadDir(filepath.Join(dir, "rules"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := rule.NewCatalogue(append(append([]*rule.Rule(nil), builtin.Rules...), team.Rules...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := rule.RunTests(cat)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, r := range res {
		if r.RuleID == "ACME-BUCKET-SHARED-OUTSIDE" {
			ran++
			for _, p := range r.Problems {
				t.Errorf("%s: %s", r.Test, p)
			}
		}
	}
	if ran != 3 { // two tests and the real-shape check
		t.Errorf("%d results for the team rule", ran)
	}

	eng, err := rule.NewEngine(cat, cfg.RuleSettings())
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},
"eventTime":"2026-11-20T10:15:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"eu-west-1","recipientAccountId":"111122223333","eventID":"e-acme",
"requestParameters":{"bucketName":"prod-invoices","Host":"prod-invoices.s3.eu-west-1.amazonaws.com","bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::777788889999:root"},"Action":"s3:GetObject","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"s3:GetObject","Resource":"*"}]}}}`
	ev, err := event.DecodeRecord([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	var got *finding.Finding
	for _, f := range eng.Evaluate(ev) {
		if f.RuleID == "ACME-BUCKET-SHARED-OUTSIDE" {
			got = &f
		}
	}
	if got == nil || got.Risk != finding.VeryHigh || got.Resource.ARN != "arn:aws:s3:::prod-invoices" {
		t.Fatalf("finding %+v", got)
	}
	// The safelisted Terraform role is left alone.
	safe := strings.Replace(rec, `"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice"`, `"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/platform-terraform/run-1"`, 1)
	ev, _ = event.DecodeRecord([]byte(safe))
	for _, f := range eng.Evaluate(ev) {
		if f.RuleID == "ACME-BUCKET-SHARED-OUTSIDE" {
			t.Error("a safelisted principal was reported")
		}
	}
	// Without settings the rule is off; enabled without them is refused.
	off, _ := rule.NewEngine(cat, nil)
	ev, _ = event.DecodeRecord([]byte(rec))
	for _, f := range off.Evaluate(ev) {
		if f.RuleID == "ACME-BUCKET-SHARED-OUTSIDE" {
			t.Error("the rule ran without its settings")
		}
	}
	on := true
	_, err = rule.NewEngine(cat, map[string]rule.Settings{"ACME-BUCKET-SHARED-OUTSIDE": {Enabled: &on}})
	want := "rules.ACME-BUCKET-SHARED-OUTSIDE.settings.partners: required by rule ACME-BUCKET-SHARED-OUTSIDE: account ids buckets may be shared with"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestDocsListEveryRule: the catalogue table of docs/rules.md names every
// built-in rule.
func TestDocsListEveryRule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Rules {
		if !strings.Contains(string(b), "| "+r.ID+" |") {
			t.Errorf("docs/rules.md does not list %s", r.ID)
		}
	}
}
