package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/rule"
)

func rulesCommand() *command {
	return &command{
		name:    "rules",
		summary: "list the rule catalogue, show a rule, run every rule's tests",
		help: `The rule catalogue: the rules built into trailwatch, plus those in rule_paths
(--config) and --rules folders. See docs/rules.md for the format.`,
		examples: []string{"trailwatch rules list", "trailwatch rules show EKS-ACCESS-POLICY", "trailwatch rules test --rules ./my-rules"},
		subs: []*command{
			{
				name: "list", args: "[flags]", summary: "list every rule: id, default risk, events watched, title",
				examples: []string{"trailwatch rules list", "trailwatch rules list --format json | jq -r '.[].id'"},
				run:      rulesList,
			},
			{
				name: "show", args: "[flags] ID", summary: "show one rule: what it watches, when it fires, how risky and why",
				examples: []string{"trailwatch rules show EKS-ACCESS-POLICY", "trailwatch rules show --format json EKS-CLUSTER-CONFIG"},
				run:      rulesShow,
			},
			{
				name: "test", args: "[flags]", summary: "run every rule's own test events",
				help: `Run every rule's own test events (the tests: of each rule) through an engine built
from the whole catalogue, and report each failure. Exit status 2 when a test fails or
a rule file is broken.`,
				examples: []string{"trailwatch rules test", "trailwatch rules test --rules ./my-rules --format json"},
				run:      rulesTest,
			},
			{
				name: "import-sigma", args: "[flags] FILE|DIR ...", summary: "convert Sigma rules for CloudTrail into trailwatch rules",
				help: `Convert Sigma rules (logsource product aws, service cloudtrail) into a trailwatch
rule file. Field names are CloudTrail's own, so no mapping is needed. A rule that
cannot be converted is reported with the reason (an unsupported modifier, a field
CloudTrail does not have); the others are written. Put the file in a rules folder
(rule_paths or --rules) to run them with the same settings, store and channels as
the built-in rules; their findings name the Sigma rule's author.`,
				examples: []string{"trailwatch rules import-sigma --out rules/sigma.yaml ./sigma/rules/cloud/aws/cloudtrail/"},
				run:      rulesImportSigma,
			},
		},
	}
}

// catalogueFlags are the flags every rules subcommand takes.
func catalogueFlags(c *command) (fs *flag.FlagSet, cfgPath *string, dirs *multi) {
	fs = c.flags()
	cfgPath = configFlag(fs, "")
	dirs = &multi{}
	fs.Var(dirs, "rules", "`FOLDER` of extra rule files (repeatable)")
	return
}

func loadCatalogue(env *Env, cfgPath string, dirs multi) (*rule.Catalogue, error) {
	cfg, err := loadConfig(env, cfgPath)
	if err != nil {
		return nil, err
	}
	return app.Catalogue(cfg, dirs)
}

// ruleRow is a rule in rules list --format json.
type ruleRow struct {
	ID           string   `json:"id"`
	Title        string   `json:"title"`
	Service      string   `json:"service"`
	Risk         string   `json:"risk"`
	EventSource  string   `json:"event_source"`
	EventNames   []string `json:"event_names"`
	ReferenceIDs []string `json:"reference_ids"`
	CIS          []string `json:"cis"`
	OnByDefault  bool     `json:"on_by_default"`
	Author       string   `json:"author,omitempty"`
}

func rulesList(_ context.Context, env *Env, c *command, args []string) int {
	fs, cfgPath, dirs := catalogueFlags(c)
	format := fs.String("format", "table", "output `FORMAT`: table or json")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if err := checkFormat(*format, "table", "json"); err != nil {
		return usageErr(env, c, err.Error())
	}
	cat, err := loadCatalogue(env, *cfgPath, *dirs)
	if err != nil {
		return fail(env, err)
	}
	if *format == "json" {
		rows := []ruleRow{}
		for _, r := range cat.Rules {
			rows = append(rows, ruleRow{r.ID, r.Title, r.Service, r.Risk.String(), r.EventSource, r.EventNames,
				nonNil(r.ReferenceIDs), nonNil(r.CIS), r.DefaultOn(), r.Author})
		}
		return writeJSON(env, rows)
	}
	width := 0
	for _, r := range cat.Rules {
		width = max(width, len(r.ID))
	}
	for _, r := range cat.Rules {
		events := fmt.Sprintf("%3d %-6s", len(r.EventNames), pluralWord(len(r.EventNames), "event", "events"))
		if len(r.EventNames) == 1 && r.EventNames[0] == rule.Any {
			events = "all events"
		}
		off := ""
		if !r.DefaultOn() {
			off = " (off until configured)"
		}
		fmt.Fprintf(env.Stdout, "%-*s  %-9s  %s  %-28s %-22s %s%s\n", width, printable.Line(r.ID), r.Risk, events,
			printable.Line(strings.Join(r.ReferenceIDs, ",")), printable.Line(cisShort(r.CIS)), printable.Line(r.Title), off)
	}
	return ExitOK
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ruleDetail is a rule in rules show --format json.
type ruleDetail struct {
	ID          string       `json:"id"`
	Title       string       `json:"title"`
	Service     string       `json:"service"`
	EventSource string       `json:"event_source"`
	EventNames  []string     `json:"event_names"`
	Outcomes    []string     `json:"outcomes"`
	Risk        string       `json:"risk"`
	TTL         string       `json:"ttl"`
	Description string       `json:"description"`
	Condition   string       `json:"condition,omitempty"`
	Adjust      []adjustJSON `json:"adjust"`
	Remediation string       `json:"remediation"`
	References  []string     `json:"references"`
	Tests       int          `json:"tests"`
	File        string       `json:"file"`
	// Cloud One Conformity rule ids, CIS controls, a Sigma rule's
	// author, whether the rule is on without settings, and the event
	// paths its expressions read.
	ReferenceIDs []string `json:"reference_ids"`
	CIS          []string `json:"cis"`
	Author       string   `json:"author,omitempty"`
	OnByDefault  bool     `json:"on_by_default"`
	Reads        []string `json:"reads"`
}

type adjustJSON struct {
	Risk   string `json:"risk"`
	Reason string `json:"reason"`
	When   string `json:"when"`
}

func rulesShow(_ context.Context, env *Env, c *command, args []string) int {
	fs, cfgPath, dirs := catalogueFlags(c)
	format := fs.String("format", "text", "output `FORMAT`: text or json")
	pos, code, ok := c.parse(env, fs, args, 1, 1)
	if !ok {
		return code
	}
	if err := checkFormat(*format, "text", "json"); err != nil {
		return usageErr(env, c, err.Error())
	}
	cat, err := loadCatalogue(env, *cfgPath, *dirs)
	if err != nil {
		return fail(env, err)
	}
	r, ok := cat.Get(pos[0])
	if !ok {
		var ids []string
		for _, r := range cat.Rules {
			ids = append(ids, r.ID)
		}
		return fail(env, fmt.Errorf("no rule %s%s (see trailwatch rules list)", printable.Quote(pos[0]), config.DidYouMean(pos[0], ids)))
	}
	if *format == "json" {
		d := ruleDetail{ID: r.ID, Title: r.Title, Service: r.Service, EventSource: r.EventSource, EventNames: r.EventNames,
			Outcomes: r.Outcomes, Risk: r.Risk.String(), TTL: rule.FormatDuration(r.TTL), Description: strings.TrimSpace(r.Description),
			Condition: r.Condition, Adjust: []adjustJSON{}, Remediation: strings.TrimSpace(r.Remediation), References: r.References,
			Tests: len(r.Tests), File: r.File, ReferenceIDs: nonNil(r.ReferenceIDs), CIS: nonNil(r.CIS), Author: r.Author,
			OnByDefault: r.DefaultOn(), Reads: nonNil(r.Paths())}
		for _, a := range r.Adjust {
			d.Adjust = append(d.Adjust, adjustJSON{a.Risk.String(), a.Reason, strings.Join(strings.Fields(a.When), " ")})
		}
		if d.References == nil {
			d.References = []string{}
		}
		return writeJSON(env, d)
	}
	showRule(env, r)
	return ExitOK
}

// testResult is one failed rule test in rules test --format json.
type testResult struct {
	RuleID   string   `json:"rule_id"`
	Test     string   `json:"test"`
	Problems []string `json:"problems"`
}

func rulesTest(_ context.Context, env *Env, c *command, args []string) int {
	fs, cfgPath, dirs := catalogueFlags(c)
	format := fs.String("format", "text", "output `FORMAT`: text or json")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if err := checkFormat(*format, "text", "json"); err != nil {
		return usageErr(env, c, err.Error())
	}
	cat, err := loadCatalogue(env, *cfgPath, *dirs)
	if err != nil {
		return fail(env, err)
	}
	res, err := rule.RunTests(cat)
	if err != nil {
		return fail(env, err)
	}
	passed, failed := 0, 0
	failures := []testResult{}
	for _, r := range res {
		if len(r.Problems) == 0 {
			passed++
			continue
		}
		failed++
		failures = append(failures, testResult{r.RuleID, r.Test, r.Problems})
	}
	code := ExitOK
	if failed > 0 {
		code = ExitError
	}
	if *format == "json" {
		if c := writeJSON(env, struct {
			Passed   int          `json:"passed"`
			Failed   int          `json:"failed"`
			Failures []testResult `json:"failures"`
		}{passed, failed, failures}); c != ExitOK {
			return c
		}
		return code
	}
	for _, f := range failures {
		for _, p := range f.Problems {
			fmt.Fprintf(env.Stdout, "FAIL %s / %s: %s\n", printable.Line(f.RuleID), printable.Line(f.Test), printable.Line(p))
		}
	}
	fmt.Fprintf(env.Stdout, "rules: %d passed, %d failed\n", passed, failed)
	return code
}

// cisShort writes a rule's CIS controls compactly for the list:
// "CIS 3.3/4.3/5.3".
func cisShort(cis []string) string {
	if len(cis) == 0 {
		return "-"
	}
	var nums []string
	for _, c := range cis {
		if f := strings.Fields(c); len(f) == 2 {
			nums = append(nums, f[1])
		}
	}
	return "CIS " + strings.Join(nums, "/")
}

func showRule(env *Env, r *rule.Rule) {
	w := env.Stdout
	l, t := printable.Line, printable.Text
	fmt.Fprintf(w, "%s: %s\n", l(r.ID), l(r.Title))
	if len(r.ReferenceIDs) > 0 {
		fmt.Fprintf(w, "Reference:   %s\n", l(strings.Join(r.ReferenceIDs, ", ")))
	}
	for _, c := range r.CIS {
		fmt.Fprintf(w, "CIS:         CIS %s\n", l(c))
	}
	if r.Author != "" {
		fmt.Fprintf(w, "Author:      %s\n", l(r.Author))
	}
	if r.Origin != "" {
		fmt.Fprintf(w, "Origin:      %s\n", l(r.Origin))
	}
	if !r.DefaultOn() {
		fmt.Fprintf(w, "Enabled:     off until configured (rules.%s in trailwatch.yaml)\n", l(r.ID))
	}
	for _, name := range sortedSettingNames(r) {
		s := r.Settings[name]
		req := ""
		if s.Required {
			req = ", required"
		}
		fmt.Fprintf(w, "Setting:     %s (%s%s) %s\n", l(name), l(s.Type), req, l(s.Description))
	}
	fmt.Fprintf(w, "Service:     %s (%s)\n", l(r.Service), l(r.EventSource))
	fmt.Fprintf(w, "Risk:        %s (default)\n", r.Risk)
	fmt.Fprintf(w, "Outcomes:    %s\n", l(strings.Join(r.Outcomes, ", ")))
	fmt.Fprintf(w, "Events:      %s\n", l(strings.Join(r.EventNames, ", ")))
	fmt.Fprintf(w, "TTL:         %s\n", rule.FormatDuration(r.TTL))
	fmt.Fprintf(w, "Source:      %s\n", l(r.File))
	fmt.Fprintf(w, "\n%s\n", t(strings.TrimSpace(r.Description)))
	if r.Condition != "" {
		fmt.Fprintf(w, "\nFires when:  %s\n", t(r.Condition))
	}
	if len(r.Adjust) > 0 {
		fmt.Fprintln(w, "\nRisk adjustments:")
		for _, a := range r.Adjust {
			fmt.Fprintf(w, "  %-9s %s\n            when %s\n", a.Risk, l(a.Reason), l(strings.Join(strings.Fields(a.When), " ")))
		}
	}
	fmt.Fprintf(w, "\nRemediation: %s\n", t(strings.TrimSpace(r.Remediation)))
	for _, ref := range r.References {
		fmt.Fprintf(w, "See:         %s\n", l(ref))
	}
	fmt.Fprintf(w, "Tests:       %d\n", len(r.Tests))
	if ps := r.Paths(); len(ps) > 0 {
		fmt.Fprintf(w, "Reads:       %s\n", l(strings.Join(ps, ", ")))
	}
}

func sortedSettingNames(r *rule.Rule) []string {
	var out []string
	for n := range r.Settings {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
