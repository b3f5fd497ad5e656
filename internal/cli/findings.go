package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

func runFindings(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "Usage: trailwatch findings list|show [flags]")
		return ExitError
	}
	switch args[0] {
	case "list":
		return findingsList(ctx, env, args[1:])
	case "show":
		return findingsShow(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "trailwatch findings: unknown subcommand %q (want list or show)\n", args[0])
	return ExitError
}

// parseWhen accepts RFC 3339, a date, or a duration meaning that long ago.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if strings.HasSuffix(s, "d") {
		if d, err := time.ParseDuration(strings.TrimSuffix(s, "d") + "h"); err == nil {
			return now.Add(-24 * d), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (use 2026-11-20, 2026-11-20T10:00:00Z or a duration such as 24h or 7d)", s)
}

func findingsList(ctx context.Context, env *Env, args []string) int {
	fs := newFlags(env, "findings list", "[flags]")
	cfgPath := fs.String("config", "", "configuration file")
	db := fs.String("db", "", "SQLite database (default from config, else trailwatch.db)")
	format := fs.String("format", "", "output: table, json or jsonl")
	minRisk := fs.String("min-risk", "", "only findings at or above this risk")
	var rules, accounts, regions, outcomes, controls multi
	fs.Var(&rules, "rule", "rule id or glob (repeatable)")
	fs.Var(&accounts, "account", "account id (repeatable)")
	fs.Var(&regions, "region", "region (repeatable)")
	fs.Var(&outcomes, "outcome", "success, denied or failed (repeatable)")
	fs.Var(&controls, "control", `reference rule id (RTM-009) or CIS control ("CIS 4.3", "CIS v1.4 4.3") (repeatable)`)
	actor := fs.String("actor", "", "actor ARN or name (glob)")
	since := fs.String("since", "", "events at or after this time (RFC 3339, date, or duration ago: 24h, 7d)")
	until := fs.String("until", "", "events before this time")
	limit := fs.Int("limit", 0, "at most this many, newest first")
	raw := fs.Bool("raw", false, "include the raw event in JSON output")
	if _, err := parse(fs, args); err != nil {
		return flagErr(err)
	}
	if *format == "" {
		*format = defaultFormat(env)
	}
	if err := checkFormat(*format); err != nil {
		return fail(env, err)
	}
	f := store.Filter{Rules: rules, Accounts: accounts, Regions: regions, Outcomes: outcomes, Controls: controls, Actor: *actor, Limit: *limit}
	for _, c := range controls {
		if _, err := store.ParseControl(c); err != nil {
			return fail(env, fmt.Errorf("--control: %w", err))
		}
	}
	var err error
	if *minRisk != "" {
		if f.MinRisk, err = finding.ParseRisk(*minRisk); err != nil {
			return fail(env, fmt.Errorf("--min-risk: %w", err))
		}
	}
	now := time.Now()
	if *since != "" {
		if f.Since, err = parseWhen(*since, now); err != nil {
			return fail(env, fmt.Errorf("--since: %w", err))
		}
	}
	if *until != "" {
		if f.Until, err = parseWhen(*until, now); err != nil {
			return fail(env, fmt.Errorf("--until: %w", err))
		}
	}
	for _, o := range outcomes {
		if o != "success" && o != "denied" && o != "failed" {
			return fail(env, fmt.Errorf("--outcome: %q is not success, denied or failed", o))
		}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	st, err := app.OpenStore(cfg, env.Getenv)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	list, err := st.Findings(ctx, f)
	if err != nil {
		return fail(env, err)
	}
	if err := printFindings(env.Stdout, *format, list, env.StdoutTTY, *raw); err != nil {
		return fail(env, err)
	}
	return ExitOK
}

func findingsShow(ctx context.Context, env *Env, args []string) int {
	fs := newFlags(env, "findings show", "[flags] ID")
	cfgPath := fs.String("config", "", "configuration file")
	db := fs.String("db", "", "SQLite database (default from config, else trailwatch.db)")
	format := fs.String("format", "text", "output: text or json")
	ids, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(ids) != 1 {
		fmt.Fprintln(env.Stderr, "Usage: trailwatch findings show [flags] ID")
		return ExitError
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	st, err := app.OpenStore(cfg, env.Getenv)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	f, err := st.Finding(ctx, ids[0])
	if errors.Is(err, store.ErrNotFound) {
		return fail(env, fmt.Errorf("no finding %s in %s", ids[0], storeName(cfg)))
	}
	if err != nil {
		return fail(env, err)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(f); err != nil {
			return fail(env, err)
		}
	case "text":
		printDetail(env.Stdout, f)
	default:
		return fail(env, fmt.Errorf("unknown format %q (want text or json)", *format))
	}
	return ExitOK
}
