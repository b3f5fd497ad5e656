package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/rule"
)

func runRules(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "Usage: trailwatch rules list|show|test|import-sigma [flags]")
		return ExitError
	}
	sub := args[0]
	if sub == "import-sigma" {
		return runImportSigma(ctx, env, args[1:])
	}
	fs := newFlags(env, "rules "+sub, "[flags]")
	cfgPath := fs.String("config", "", "configuration file")
	var ruleDirs multi
	fs.Var(&ruleDirs, "rules", "folder of extra rule files (repeatable)")
	format := fs.String("format", "table", "output: table or json (list, show)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return flagErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(env, err)
	}
	cat, err := app.Catalogue(cfg, ruleDirs)
	if err != nil {
		return fail(env, err)
	}
	switch sub {
	case "list":
		if *format == "json" {
			type row struct {
				ID, Title, Service, Risk, EventSource string
				EventNames                            []string
				ReferenceIDs, CIS                     []string
				OnByDefault                           bool
				Author                                string `json:",omitempty"`
			}
			var rows []row
			for _, r := range cat.Rules {
				rows = append(rows, row{r.ID, r.Title, r.Service, r.Risk.String(), r.EventSource, r.EventNames, r.ReferenceIDs, r.CIS, r.DefaultOn(), r.Author})
			}
			return writeJSON(env, rows)
		}
		for _, r := range cat.Rules {
			events := fmt.Sprintf("%3d events", len(r.EventNames))
			if len(r.EventNames) == 1 && r.EventNames[0] == rule.Any {
				events = "all events"
			}
			off := ""
			if !r.DefaultOn() {
				off = " (off until configured)"
			}
			fmt.Fprintf(env.Stdout, "%-26s %-9s %s  %-28s %-22s %s%s\n", r.ID, r.Risk, events, strings.Join(r.ReferenceIDs, ","), cisShort(r.CIS), r.Title, off)
		}
		return ExitOK
	case "show":
		if len(pos) != 1 {
			fmt.Fprintln(env.Stderr, "Usage: trailwatch rules show [flags] ID")
			return ExitError
		}
		r, ok := cat.Get(pos[0])
		if !ok {
			return fail(env, fmt.Errorf("no rule %s (see trailwatch rules list)", pos[0]))
		}
		if *format == "json" {
			return writeJSON(env, r)
		}
		showRule(env, r)
		return ExitOK
	case "test":
		res, err := rule.RunTests(cat)
		if err != nil {
			return fail(env, err)
		}
		passed, failed := 0, 0
		for _, r := range res {
			if len(r.Problems) == 0 {
				passed++
				continue
			}
			failed++
			for _, p := range r.Problems {
				fmt.Fprintf(env.Stdout, "FAIL %s / %s: %s\n", r.RuleID, r.Test, p)
			}
		}
		fmt.Fprintf(env.Stdout, "rules: %d passed, %d failed\n", passed, failed)
		if failed > 0 {
			return ExitError
		}
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "trailwatch rules: unknown subcommand %q (want list, show or test)\n", sub)
	return ExitError
}

func writeJSON(env *Env, v any) int {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fail(env, err)
	}
	return ExitOK
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
	fmt.Fprintf(w, "%s: %s\n", r.ID, r.Title)
	if len(r.ReferenceIDs) > 0 {
		fmt.Fprintf(w, "Reference:   %s\n", strings.Join(r.ReferenceIDs, ", "))
	}
	for _, c := range r.CIS {
		fmt.Fprintf(w, "CIS:         CIS %s\n", c)
	}
	if r.Author != "" {
		fmt.Fprintf(w, "Author:      %s\n", r.Author)
	}
	if r.Origin != "" {
		fmt.Fprintf(w, "Origin:      %s\n", r.Origin)
	}
	if !r.DefaultOn() {
		fmt.Fprintf(w, "Enabled:     off until configured (rules.%s in trailwatch.yaml)\n", r.ID)
	}
	for _, name := range sortedSettingNames(r) {
		s := r.Settings[name]
		req := ""
		if s.Required {
			req = ", required"
		}
		fmt.Fprintf(w, "Setting:     %s (%s%s) %s\n", name, s.Type, req, s.Description)
	}
	fmt.Fprintf(w, "Service:     %s (%s)\n", r.Service, r.EventSource)
	fmt.Fprintf(w, "Risk:        %s (default)\n", r.Risk)
	fmt.Fprintf(w, "Outcomes:    %s\n", strings.Join(r.Outcomes, ", "))
	fmt.Fprintf(w, "Events:      %s\n", strings.Join(r.EventNames, ", "))
	fmt.Fprintf(w, "TTL:         %s\n", rule.FormatDuration(r.TTL))
	fmt.Fprintf(w, "Source:      %s\n", r.File)
	fmt.Fprintf(w, "\n%s\n", r.Description)
	if r.Condition != "" {
		fmt.Fprintf(w, "\nFires when:  %s\n", r.Condition)
	}
	if len(r.Adjust) > 0 {
		fmt.Fprintln(w, "\nRisk adjustments:")
		for _, a := range r.Adjust {
			fmt.Fprintf(w, "  %-9s %s\n            when %s\n", a.Risk, a.Reason, strings.Join(strings.Fields(a.When), " "))
		}
	}
	fmt.Fprintf(w, "\nRemediation: %s\n", r.Remediation)
	for _, ref := range r.References {
		fmt.Fprintf(w, "See:         %s\n", ref)
	}
	fmt.Fprintf(w, "Tests:       %d\n", len(r.Tests))
	if ps := r.Paths(); len(ps) > 0 {
		fmt.Fprintf(w, "Reads:       %s\n", strings.Join(ps, ", "))
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
