package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesListShowsReferenceAndCIS(t *testing.T) {
	r := run(t, "", "rules", "list")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"SIGNIN-ROOT-NO-MFA", "RTM-002", "ROOT-ACTIVITY", "IAM-052", "CIS 3.3/4.3/5.3", "VPC-SECURITY-GROUP", "RTM-009", "(off until configured)", "all events"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rules list lacks %q", want)
		}
	}
	r = run(t, "", "rules", "show", "SIGNIN-COUNTRY")
	for _, want := range []string{"Reference:   RTM-005", "off until configured", "Setting:     countries (countries, required)", "Setting:     geoip_database (geoip_database, required)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rules show lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, "", "rules", "show", "IAM-POLICY")
	if !strings.Contains(r.stdout, "CIS:         CIS v1.4 4.4") || !strings.Contains(r.stdout, "requestParameters.policyDocument") {
		t.Errorf("rules show IAM-POLICY:\n%s", r.stdout)
	}
}

func TestFindingsListControl(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	if r := run(t, "", "scan", "--db", db, examples); r.code != ExitOK {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	// The examples' root DeleteCluster is root use (CIS 3.3/4.3/5.3).
	r := run(t, "", "findings", "list", "--db", db, "--format", "jsonl", "--control", "CIS 4.3")
	fs := lines(r.stdout)
	if r.code != ExitOK || len(fs) != 1 || fs[0]["rule_id"] != "ROOT-ACTIVITY" {
		t.Fatalf("--control 'CIS 4.3': %d %v %s", r.code, fs, r.stderr)
	}
	if refs, _ := fs[0]["reference_ids"].([]any); len(refs) != 1 || refs[0] != "IAM-052" {
		t.Errorf("reference_ids %v", fs[0]["reference_ids"])
	}
	r = run(t, "", "findings", "list", "--db", db, "--format", "jsonl", "--control", "iam-052", "--control", "CIS v1.2 3.3")
	if len(lines(r.stdout)) != 1 {
		t.Errorf("--control IAM-052: %s", r.stdout)
	}
	r = run(t, "", "findings", "list", "--db", db, "--control", "nonsense control")
	if r.code != ExitError || !strings.Contains(r.stderr, "--control") {
		t.Errorf("bad control: %d %s", r.code, r.stderr)
	}
}

func TestImportSigma(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "sigma")
	os.Mkdir(src, 0o755)
	os.WriteFile(filepath.Join(src, "ok.yml"), []byte(`title: Root delete cluster
id: 11112222-3333-4444-5555-666677778888
author: Jane Example
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: eks.amazonaws.com
    eventName: DeleteCluster
    userIdentity.type: Root
  condition: selection
`), 0o600)
	os.WriteFile(filepath.Join(src, "bad.yml"), []byte(`title: Keywords
id: 99998888-3333-4444-5555-666677778888
logsource: {product: aws, service: cloudtrail}
detection:
  keywords: [mimikatz]
  condition: keywords
`), 0o600)
	rules := filepath.Join(dir, "rules")
	os.Mkdir(rules, 0o755)
	out := filepath.Join(rules, "sigma.yaml")
	r := run(t, "", "rules", "import-sigma", "--out", out, src)
	if r.code != ExitError || !strings.Contains(r.stdout, "1 rule imported, 1 skipped") || !strings.Contains(r.stderr, "keyword search") {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	// The imported rule runs with the built-in ones and names its author.
	db := filepath.Join(dir, "tw.db")
	r = run(t, "", "scan", "--db", db, "--rules", rules, examples)
	if r.code != ExitOK {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	var sigma map[string]any
	for _, f := range lines(r.stdout) {
		if f["rule_id"] == "SIGMA-1111222233334444" {
			sigma = f
		}
	}
	if sigma == nil || sigma["rule_author"] != "Jane Example" || !strings.Contains(sigma["summary"].(string), "(rule by Jane Example)") {
		t.Errorf("Sigma finding: %v", sigma)
	}
	if r = run(t, "", "rules", "test", "--rules", rules); r.code != ExitOK {
		t.Errorf("rules test with the imported rule: %d %s", r.code, r.stdout)
	}
}
