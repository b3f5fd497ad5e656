package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/store"
)

func findingsCommand() *command {
	return &command{
		name:    "findings",
		summary: "list stored findings, or show one in full",
		help:    "List the findings in the store (those scan and run saved), or show one in full with its raw event.",
		examples: []string{
			"trailwatch findings list --min-risk VERY_HIGH --since 2026-11-20",
			"trailwatch findings show f-1a2b3c4d",
		},
		subs: []*command{
			{
				name: "list", args: "[flags]", summary: "list stored findings, oldest first",
				help: `List stored findings matching every filter given, oldest first (with --limit N,
the newest N, still oldest first). Output: a table on a terminal (its ID column is a
short id that findings show accepts), JSON lines in a pipe, or --format json (an
array). An empty table says "no findings match".

--since and --until take a time (2026-11-20T10:00:00Z), a date (2026-11-20, UTC) or a
duration meaning that long ago (24h, 7d, 2w, 1h30m).`,
				examples: []string{
					"trailwatch findings list",
					"trailwatch findings list --min-risk VERY_HIGH --since 2026-11-20",
					"trailwatch findings list --rule 'EKS-ACCESS-*' --actor '*contractor*' --format json",
					"trailwatch findings list --outcome denied --since 7d",
					"trailwatch findings list --limit 5",
				},
				run: findingsList,
			},
			{
				name: "show", args: "[flags] ID", summary: "show one finding in full, with its raw event",
				help: `Show one finding in full: who, how, from where, the risk and why, the changes,
and the raw event as it came. ID is the full id or any unique prefix of it (the
short id of the tables, as git's); "f-" may be left out.`,
				examples: []string{
					"trailwatch findings show f-1a2b3c4d5e6f",
					"trailwatch findings show 1a2b3c",
					"trailwatch findings show --format json f-1a2b3c4d5e6f",
				},
				run: findingsShow,
			},
		},
	}
}

// parseWhen accepts RFC 3339, a date (UTC), or a duration meaning that
// long before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, nil
	}
	if d, err := duration.Parse(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s is not a time (use 2026-11-20, 2026-11-20T10:00:00Z, or a duration ago such as 24h, 7d or 2w)", printable.Quote(s))
}

func findingsList(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	format := fs.String("format", "", "output `FORMAT`: table, json or jsonl (default table on a terminal, jsonl in a pipe)")
	minRisk := riskFlag(fs, "min-risk", "only findings at or above this risk `LEVEL`")
	var rules, accounts, regions, outcomes, controls, services, methods multi
	fs.Var(&rules, "rule", "only this rule `ID`, or a glob such as 'EKS-*' (repeatable)")
	fs.Var(&accounts, "account", "only this account `ID` (repeatable)")
	fs.Var(&regions, "region", "only this `REGION` (repeatable)")
	fs.Var(&outcomes, "outcome", "only this `OUTCOME`: success, denied or failed (repeatable)")
	fs.Var(&services, "service", "only rules of this `SERVICE`: eks, iam, s3… (repeatable)")
	fs.Var(&methods, "method", "only changes made this way, the access `METHOD`: console, cli, sdk, terraform, cloudformation, aws-service… (repeatable)")
	fs.Var(&controls, "control", "only rules standing for this reference rule id (RTM-009) or covering this CIS `CONTROL` (\"CIS 4.3\", \"CIS v1.4 4.3\") (repeatable)")
	actor := fs.String("actor", "", "only actors whose ARN or readable name matches `PATTERN`, a glob such as '*alice*'")
	since := fs.String("since", "", "events at or after `WHEN`: a time, a date, or a duration ago (24h, 7d)")
	until := fs.String("until", "", "events before `WHEN`")
	limit := fs.Int("limit", 0, "at most `N`, the newest (printed oldest first)")
	raw := fs.Bool("raw", false, "include the raw event in JSON output")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if *format == "" {
		*format = defaultFormat(env)
	}
	if err := checkFormat(*format, "table", "json", "jsonl"); err != nil {
		return usageErr(env, c, err.Error())
	}
	f := store.Filter{Rules: rules, Accounts: accounts, Regions: regions, Outcomes: outcomes, Services: services, Methods: methods,
		Actor: *actor, Limit: *limit, MinRisk: *minRisk}
	if *limit < 0 {
		return usageErr(env, c, "--limit: must not be negative")
	}
	f.Controls = controls
	for _, ctl := range controls {
		if _, err := store.ParseControl(ctl); err != nil {
			return usageErr(env, c, "--control: "+err.Error())
		}
	}
	var err error
	now := time.Now()
	if *since != "" {
		if f.Since, err = parseWhen(*since, now); err != nil {
			return usageErr(env, c, "--since: "+err.Error())
		}
	}
	if *until != "" {
		if f.Until, err = parseWhen(*until, now); err != nil {
			return usageErr(env, c, "--until: "+err.Error())
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return usageErr(env, c, "--since must be before --until")
	}
	for _, o := range outcomes {
		if !slices.Contains(config.Outcomes, o) {
			return usageErr(env, c, fmt.Sprintf("--outcome: %s is not success, denied or failed%s", printable.Quote(o), config.DidYouMean(o, config.Outcomes)))
		}
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	st, err := app.OpenStoreMode(cfg, env.Getenv, app.StoreReadOnly)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	list, err := st.Findings(ctx, f)
	if err != nil {
		return fail(env, err)
	}
	if f.Limit > 0 { // the store gives the newest first: print in one order
		slices.Reverse(list)
	}
	if err := printFindings(env.Stdout, *format, list, env.colour(env.StdoutTTY), *raw); err != nil {
		return fail(env, err)
	}
	return ExitOK
}

var hexID = regexp.MustCompile(`^[0-9a-f]+$`)

// resolveID finds the one finding an id or unique prefix names.
func resolveID(ctx context.Context, st store.Store, id string) (string, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if hexID.MatchString(id) {
		id = "f-" + id
	}
	if _, err := st.Finding(ctx, id); err == nil {
		return id, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	const show = 10
	ids, err := st.FindingIDs(ctx, id, show+1)
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no finding %s: %w", printable.Quote(id), store.ErrNotFound)
	case 1:
		return ids[0], nil
	}
	list := ids
	if len(list) > show {
		list = list[:show]
	}
	extra := ""
	if len(ids) > show {
		extra = "\n  and more"
	}
	return "", fmt.Errorf("%s is ambiguous: several findings start with it (give more characters):\n  %s%s", printable.Quote(id), strings.Join(list, "\n  "), extra)
}

func findingsShow(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	format := fs.String("format", "text", "output `FORMAT`: text or json")
	ids, code, ok := c.parse(env, fs, args, 1, 1)
	if !ok {
		return code
	}
	if err := checkFormat(*format, "text", "json"); err != nil {
		return usageErr(env, c, err.Error())
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	st, err := app.OpenStoreMode(cfg, env.Getenv, app.StoreReadOnly)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	id, err := resolveID(ctx, st, ids[0])
	if errors.Is(err, store.ErrNotFound) {
		return fail(env, fmt.Errorf("no finding %s in %s (see trailwatch findings list)", printable.Quote(ids[0]), storeName(cfg)))
	}
	if err != nil {
		return fail(env, err)
	}
	f, err := st.Finding(ctx, id)
	if err != nil {
		return fail(env, err)
	}
	if *format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(f); err != nil {
			return fail(env, err)
		}
		return ExitOK
	}
	printDetail(env.Stdout, f)
	return ExitOK
}
