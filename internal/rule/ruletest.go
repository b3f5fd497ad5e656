package rule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/trailwatch/trailwatch/internal/event"
)

// TestResult is the outcome of one rule test.
type TestResult struct {
	RuleID, Test string
	// Problems is empty when the test passed.
	Problems []string
}

// ShapeCheck is the name of the test result that reports the real-shape
// field check of a rule.
const ShapeCheck = "real-shape field check"

// RunTests runs every rule's own tests through an engine built from the
// whole catalogue with default settings, so the index, the outcome and
// actor filters and the conditions are all exercised as in production.
// A test with settings (or of a rule that is off until configured) gets an
// engine with those settings for its rule. Every rule also gets the
// real-shape field check: each path it reads under requestParameters,
// responseElements or additionalEventData must appear in a real recorded
// event of its operations (the key-path index), or be named with a reason
// under paths_unseen.
func RunTests(c *Catalogue) ([]TestResult, error) {
	eng, err := NewEngine(c, nil)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "trailwatch-ruletest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	defer forgetGeoIP(tmp)
	var out []TestResult
	for _, r := range c.Rules {
		res := TestResult{RuleID: r.ID, Test: ShapeCheck}
		for _, p := range r.UnseenPaths() {
			res.Problems = append(res.Problems, fmt.Sprintf("reads %s, which no real recorded event of %s has; fix the path, or say why under paths_unseen", p, opsText(r)))
		}
		res.Problems = append(res.Problems, r.StaleExplanations()...)
		out = append(out, res)
		for i, t := range r.Tests {
			name := t.Name
			if name == "" {
				name = fmt.Sprintf("tests[%d]", i)
			}
			res := TestResult{RuleID: r.ID, Test: name}
			e := eng
			if len(t.Settings) > 0 || !r.DefaultOn() {
				params, err := testParams(t.Settings, tmp, fmt.Sprintf("%s-%d", r.ID, i))
				if err == nil {
					on := true
					e, err = NewEngine(c, map[string]Settings{r.ID: {Enabled: &on, Params: params}})
				}
				if err != nil {
					res.Problems = []string{fmt.Sprintf("settings: %v", err)}
					out = append(out, res)
					continue
				}
			}
			res.Problems = runTest(e, r, t)
			out = append(out, res)
		}
	}
	return out, nil
}

func opsText(r *Rule) string {
	if len(r.EventNames) == 1 {
		return r.EventSource + " " + r.EventNames[0]
	}
	return r.EventSource + " " + strings.Join(r.EventNames, "/")
}

// testParams writes a GeoIP database for {networks: {…}} settings.
func testParams(in map[string]any, dir, name string) (map[string]any, error) {
	out := make(map[string]any, len(in))
	for k, v := range in {
		m, ok := v.(map[string]any)
		nets, isNets := m["networks"].(map[string]any)
		if !ok || !isNets {
			out[k] = v
			continue
		}
		codes := map[string]string{}
		for cidr, c := range nets {
			codes[cidr], _ = c.(string)
		}
		db, err := WriteGeoIPDatabase(codes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		path := filepath.Join(dir, name+"-"+k+".mmdb")
		if err := os.WriteFile(path, db, 0o600); err != nil {
			return nil, err
		}
		out[k] = path
	}
	return out, nil
}

// forgetGeoIP closes the test databases opened under dir.
func forgetGeoIP(dir string) {
	geoDBs.Range(func(k, v any) bool {
		if strings.HasPrefix(k.(string), dir) {
			if r, ok := geoDBs.LoadAndDelete(k); ok {
				closeReader(r)
			}
		}
		return true
	})
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
	if !eng.WantsRecord([]byte(ev.EventSource), []byte(ev.EventName), raw) && t.Expect.Match {
		return []string{"the engine would not decode this record (its event name or the literals the condition needs are not in it)"}
	}
	var got *findingView
	for _, f := range eng.Evaluate(ev) {
		if f.RuleID == r.ID {
			got = &findingView{risk: f.Risk.String(), outcome: f.Outcome, reasons: f.RiskReasons, summary: f.Summary, method: f.AccessMethod, resource: f.Resource.Name, arn: f.Resource.ARN}
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
	if want.NoReason != "" {
		for _, r := range got.reasons {
			if strings.Contains(r, want.NoReason) {
				p = append(p, fmt.Sprintf("risk reason %q contains %q", r, want.NoReason))
			}
		}
	}
	if want.Summary != "" && !strings.Contains(got.summary, want.Summary) {
		p = append(p, fmt.Sprintf("summary %q does not contain %q", got.summary, want.Summary))
	}
	if want.Resource != "" && got.resource != want.Resource {
		p = append(p, fmt.Sprintf("resource = %q, want %q", got.resource, want.Resource))
	}
	if want.ARN != "" && got.arn != want.ARN {
		p = append(p, fmt.Sprintf("resource ARN = %q, want %q", got.arn, want.ARN))
	}
	return p
}

type findingView struct {
	risk, outcome, summary, method, resource, arn string
	reasons                                       []string
}
