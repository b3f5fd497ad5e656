package rule

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/trailwatch/trailwatch/internal/event"
)

// TestResult is the outcome of one rule test.
type TestResult struct {
	RuleID, Test string
	// Problems is empty when the test passed.
	Problems []string
}

// RunTests runs every rule's own tests through an engine built from the
// whole catalogue with default settings, so the index, the outcome and
// actor filters and the conditions are all exercised as in production.
func RunTests(c *Catalogue) ([]TestResult, error) {
	eng, err := NewEngine(c, nil)
	if err != nil {
		return nil, err
	}
	var out []TestResult
	for _, r := range c.Rules {
		for i, t := range r.Tests {
			name := t.Name
			if name == "" {
				name = fmt.Sprintf("tests[%d]", i)
			}
			res := TestResult{RuleID: r.ID, Test: name}
			res.Problems = runTest(eng, r, t)
			out = append(out, res)
		}
	}
	return out, nil
}

func runTest(eng *Engine, r *Rule, t Test) []string {
	raw, err := json.Marshal(t.Event)
	if err != nil {
		return []string{fmt.Sprintf("event is not JSON-encodable: %v", err)}
	}
	ev, err := event.DecodeRecord(raw)
	if err != nil {
		return []string{fmt.Sprintf("event does not decode: %v", err)}
	}
	var got *findingView
	for _, f := range eng.Evaluate(ev) {
		if f.RuleID == r.ID {
			got = &findingView{risk: f.Risk.String(), outcome: f.Outcome, reasons: f.RiskReasons, summary: f.Summary, method: f.AccessMethod}
		}
	}
	want := t.Expect
	var p []string
	switch {
	case got == nil && want.Match:
		return []string{"expected a finding, got none"}
	case got != nil && !want.Match:
		return []string{fmt.Sprintf("expected no finding, got one (risk %s: %s)", got.risk, got.summary)}
	case got == nil:
		return nil
	}
	if want.Risk != 0 && got.risk != want.Risk.String() {
		p = append(p, fmt.Sprintf("risk = %s, want %s (reasons: %s)", got.risk, want.Risk, strings.Join(got.reasons, "; ")))
	}
	if want.Outcome != "" && got.outcome != want.Outcome {
		p = append(p, fmt.Sprintf("outcome = %s, want %s", got.outcome, want.Outcome))
	}
	if want.Method != "" && got.method != want.Method {
		p = append(p, fmt.Sprintf("access method = %s, want %s", got.method, want.Method))
	}
	if want.Reason != "" {
		found := false
		for _, r := range got.reasons {
			found = found || strings.Contains(r, want.Reason)
		}
		if !found {
			p = append(p, fmt.Sprintf("no risk reason contains %q (reasons: %s)", want.Reason, strings.Join(got.reasons, "; ")))
		}
	}
	if want.Summary != "" && !strings.Contains(got.summary, want.Summary) {
		p = append(p, fmt.Sprintf("summary %q does not contain %q", got.summary, want.Summary))
	}
	return p
}

type findingView struct {
	risk, outcome, summary, method string
	reasons                        []string
}
