package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/store"
)

func uiCommand() *command {
	return &command{
		name: "ui", args: "[flags]", summary: "serve the HTTP API over an existing store, without sources",
		help: `Serve the HTTP API (docs/api.md) over the store that scan or run filled, without
reading any source or sending any alert: for teams that only scan. It listens on
ui.listen (default ` + config.DefaultUIListen + `, or --listen), under ui.base_path, with the
authentication of ui.users and ui.tokens (docs/auth.md). Without authentication it
listens on loopback only, and every request is admin. SIGINT or SIGTERM stops it.`,
		examples: []string{
			"trailwatch ui --db trailwatch.db",
			"trailwatch ui --config trailwatch.yaml --listen 127.0.0.1:8081",
		},
		run: uiRun,
	}
}

func uiRun(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	listen := fs.String("listen", "", "`ADDRESS` to listen on, instead of ui.listen (default "+config.DefaultUIListen+")")
	var ruleDirs multi
	fs.Var(&ruleDirs, "rules", "`FOLDER` of extra rule files (repeatable)")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if *listen != "" {
		if err := config.CheckListen(*listen); err != nil {
			return usageErr(env, c, "--listen: "+err.Error())
		}
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	if cfg.Store.DSN == "" && cfg.Store.Path != ":memory:" {
		if _, err := os.Stat(cfg.Store.Path); err != nil {
			return fail(env, fmt.Errorf("open store %s: no database file there (trailwatch scan and run create it)", printable.Quote(cfg.Store.Path)))
		}
	}
	_, eng, err := app.Engine(cfg, ruleDirs)
	if err != nil {
		return fail(env, err)
	}
	st, err := app.OpenStore(cfg, env.Getenv)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	log := serviceLogger(env, cfg.Log)
	srv, err := app.NewUI(cfg, st, eng, app.UIOptions{Listen: *listen, Logger: log, Getenv: env.Getenv})
	if err != nil {
		return fail(env, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	log.Info("serving the API", "url", srv.URL()+strings.TrimRight(cfg.UI.BasePath, "/")+api.Prefix, "store", storeName(cfg))
	if env.Started != nil {
		env.Started(map[string]string{"ui": srv.Addr()})
	}
	select {
	case err := <-done:
		return fail(env, fmt.Errorf("ui: %w", err))
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return ExitOK
}

// openFull opens the store read-write, for commands that change triage
// state, silences or tokens.
func openFull(env *Env, cfgPath, db string) (store.Full, func(), error) {
	_, st, err := openOutbox(env, cfgPath, db)
	if err != nil {
		return nil, nil, err
	}
	full, ok := st.(store.Full)
	if !ok {
		st.Close()
		return nil, nil, errors.New("this store cannot keep silences or tokens")
	}
	return full, func() { st.Close() }, nil
}

func tokensCommand() *command {
	return &command{
		name:    "tokens",
		summary: "create, list and revoke API tokens",
		help: `API tokens authenticate programs to the HTTP API (Authorization: Bearer), each with
a role (viewer, responder or admin) and an optional expiry. Only a hash of each token
is stored; its secret is printed once, by create. The API accepts them when ui.tokens
is true (docs/auth.md).`,
		examples: []string{"trailwatch tokens create --name ci --role viewer --expires 90d", "trailwatch tokens list", "trailwatch tokens revoke t-1a2b3c4d5e6f"},
		subs: []*command{
			{
				name: "create", args: "[flags]", summary: "create a token and print its secret, once",
				help: `Create an API token and print its secret on stdout (only this once: the store keeps
a hash). Its id, to revoke it, goes to stderr.`,
				examples: []string{"trailwatch tokens create --name ci --role viewer --expires 90d"},
				run:      tokensCreate,
			},
			{
				name: "list", args: "[flags]", summary: "list tokens: id, name, role, expiry, last use (never secrets)",
				help:     "List the API tokens, newest first: id, name, role, when created, expires, last used and revoked. Secrets are never shown.",
				examples: []string{"trailwatch tokens list", "trailwatch tokens list --format json"},
				run:      tokensList,
			},
			{
				name: "revoke", args: "[flags] ID", summary: "revoke a token for good",
				help:     "Revoke an API token: the API refuses it from now on.",
				examples: []string{"trailwatch tokens revoke t-1a2b3c4d5e6f"},
				run:      tokensRevoke,
			},
		},
	}
}

func tokensCreate(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath, db := configFlag(fs, ""), dbFlag(fs)
	name := fs.String("name", "", "what the token is for (`NAME`)")
	role := fs.String("role", "", "`ROLE`: viewer, responder or admin")
	expires := fs.String("expires", "", "expire after `DURATION` (90d); default never")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if *name == "" || *role == "" {
		return usageErr(env, c, "--name and --role are required")
	}
	st, closeStore, err := openFull(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer closeStore()
	t, secret, err := api.MakeToken(ctx, st, *name, *role, *expires, cliUser(env), time.Now())
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintln(env.Stdout, secret)
	exp := "never expires"
	if !t.Expires.IsZero() {
		exp = "expires " + t.Expires.Format(time.RFC3339)
	}
	fmt.Fprintf(env.Stderr, "created token %s (%s, %s, %s); its secret is above and is not shown again\n", t.ID, printable.Quote(t.Name), t.Role, exp)
	return ExitOK
}

// cliUser names who ran a command, for the records it makes.
func cliUser(env *Env) string {
	if u := env.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func tokensList(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath, db := configFlag(fs, ""), dbFlag(fs)
	format := fs.String("format", "table", "output `FORMAT`: table or json")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if err := checkFormat(*format, "table", "json"); err != nil {
		return usageErr(env, c, err.Error())
	}
	st, closeStore, err := openFull(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer closeStore()
	list, err := st.Tokens(ctx)
	if err != nil {
		return fail(env, err)
	}
	if *format == "json" {
		if list == nil {
			list = []store.Token{}
		}
		return writeJSON(env, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "no tokens")
		return ExitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, printable.Line(t.Name), t.Role, when(t.Created), when(t.Expires), when(t.LastUsed), when(t.Revoked))
	}
	tw.Flush()
	return ExitOK
}

func tokensRevoke(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath, db := configFlag(fs, ""), dbFlag(fs)
	pos, code, ok := c.parse(env, fs, args, 1, 1)
	if !ok {
		return code
	}
	st, closeStore, err := openFull(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer closeStore()
	if err := st.RevokeToken(ctx, pos[0], time.Now()); err != nil {
		return fail(env, fmt.Errorf("no token %s: %w", printable.Quote(pos[0]), store.ErrNotFound))
	}
	fmt.Fprintf(env.Stderr, "revoked token %s\n", pos[0])
	return ExitOK
}

func silencesCommand() *command {
	return &command{
		name:    "silences",
		summary: "add, list and expire silences",
		help: `A silence stores the findings its matchers match as silenced, and they owe no
notification, from its start until its end (or until it is expired). Every matcher
given must match: rule id (glob), account, region, actor (glob on ARN or name),
resource (glob on ARN or name), service, and --max-risk (the finding's risk at most).
Config safelists describe policy; silences are operational and recorded with who
made them and why.`,
		examples: []string{
			"trailwatch silences add --rule 'EKS-*' --account 111122223333 --duration 2h --comment 'cluster upgrade'",
			"trailwatch silences list",
			"trailwatch silences expire s-1a2b3c4d5e6f7a8b",
		},
		subs: []*command{
			{
				name: "add", args: "[flags]", summary: "add a silence",
				help:     "Add a silence, starting now (or --start) and lasting --duration (or until --end). --comment says why; it is required.",
				examples: []string{"trailwatch silences add --actor '*terraform*' --max-risk MEDIUM --duration 7d --comment 'pipeline noise, ticket OPS-1'"},
				run:      silencesAdd,
			},
			{
				name: "list", args: "[flags]", summary: "list silences, newest first",
				help:     "List silences, newest first: those active or to come, or every one with --all.",
				examples: []string{"trailwatch silences list", "trailwatch silences list --all --format json"},
				run:      silencesList,
			},
			{
				name: "expire", args: "[flags] ID", summary: "end a silence now",
				help:     "End a silence now: findings saved from now on are no longer silenced by it.",
				examples: []string{"trailwatch silences expire s-1a2b3c4d5e6f7a8b"},
				run:      silencesExpire,
			},
		},
	}
}

func silencesAdd(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath, db := configFlag(fs, ""), dbFlag(fs)
	var m store.Matchers
	fs.StringVar(&m.Rule, "rule", "", "rule `ID` or glob such as 'EKS-*'")
	fs.StringVar(&m.Account, "account", "", "account `ID`")
	fs.StringVar(&m.Region, "region", "", "`REGION`")
	fs.StringVar(&m.Actor, "actor", "", "actor ARN or name `PATTERN` (glob)")
	fs.StringVar(&m.Resource, "resource", "", "resource ARN or name `PATTERN` (glob)")
	fs.StringVar(&m.Service, "service", "", "`SERVICE` (eks, iam, …)")
	maxRisk := riskFlag(fs, "max-risk", "only findings at or below this risk `LEVEL`")
	start := fs.String("start", "", "start `WHEN` (default now)")
	end := fs.String("end", "", "end `WHEN`")
	dur := fs.String("duration", "", "how long it lasts (`DURATION`: 2h, 7d)")
	comment := fs.String("comment", "", "why (`TEXT`, required)")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	m.MaxRisk = *maxRisk
	now := time.Now()
	sl := store.Silence{Matchers: m, Start: now, Creator: cliUser(env), Comment: strings.TrimSpace(*comment)}
	var err error
	if *start != "" {
		if sl.Start, err = parseWhen(*start, now); err != nil {
			return usageErr(env, c, "--start: "+err.Error())
		}
	}
	switch {
	case *end != "" && *dur != "":
		return usageErr(env, c, "give --end or --duration, not both")
	case *end != "":
		if sl.End, err = parseWhen(*end, now); err != nil {
			return usageErr(env, c, "--end: "+err.Error())
		}
	case *dur != "":
		d, err := duration.Parse(*dur)
		if err != nil || d <= 0 {
			return usageErr(env, c, "--duration: "+printable.Quote(*dur)+" is not a duration such as 2h or 7d")
		}
		sl.End = sl.Start.Add(d)
	default:
		return usageErr(env, c, "say how long: --duration 2h, or --end WHEN")
	}
	if m.Empty() {
		return usageErr(env, c, "give at least one matcher: --rule, --account, --region, --actor, --resource, --service or --max-risk")
	}
	if sl.Comment == "" {
		return usageErr(env, c, "--comment: say why findings are silenced")
	}
	if !sl.End.After(now) {
		return usageErr(env, c, "the silence would end in the past")
	}
	st, closeStore, err := openFull(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer closeStore()
	added, err := st.AddSilence(ctx, sl)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintln(env.Stdout, added.ID)
	fmt.Fprintf(env.Stderr, "silence %s until %s\n", added.ID, added.End.Format(time.RFC3339))
	return ExitOK
}

func matchersText(m store.Matchers) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("rule", m.Rule)
	add("account", m.Account)
	add("region", m.Region)
	add("actor", m.Actor)
	add("resource", m.Resource)
	add("service", m.Service)
	if m.MaxRisk != 0 {
		add("max_risk", m.MaxRisk.String())
	}
	return strings.Join(parts, " ")
}

func silencesList(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath, db := configFlag(fs, ""), dbFlag(fs)
	all := fs.Bool("all", false, "also those that ended")
	format := fs.String("format", "table", "output `FORMAT`: table or json")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if err := checkFormat(*format, "table", "json"); err != nil {
		return usageErr(env, c, err.Error())
	}
	st, closeStore, err := openFull(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer closeStore()
	list, err := st.Silences(ctx)
	if err != nil {
		return fail(env, err)
	}
	now := time.Now()
	out := []store.Silence{}
	for _, s := range list {
		if *all || s.End.After(now) {
			out = append(out, s)
		}
	}
	if *format == "json" {
		return writeJSON(env, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(env.Stdout, "no silences")
		return ExitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMATCHERS\tSTART\tEND\tCREATOR\tCOMMENT")
	for _, s := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, printable.Line(matchersText(s.Matchers)), when(s.Start), when(s.End),
			printable.Line(s.Creator), printable.Line(s.Comment))
	}
	tw.Flush()
	return ExitOK
}

func silencesExpire(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath, db := configFlag(fs, ""), dbFlag(fs)
	pos, code, ok := c.parse(env, fs, args, 1, 1)
	if !ok {
		return code
	}
	st, closeStore, err := openFull(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer closeStore()
	s, err := st.ExpireSilence(ctx, pos[0], time.Now())
	if err != nil {
		return fail(env, fmt.Errorf("no silence %s: %w", printable.Quote(pos[0]), store.ErrNotFound))
	}
	fmt.Fprintf(env.Stderr, "silence %s ended at %s\n", s.ID, s.End.Format(time.RFC3339))
	return ExitOK
}

func usersCommand() *command {
	return &command{
		name:    "users",
		summary: "tools for the API's users (ui.users)",
		help:    "Users of the HTTP API are configured in ui.users, each with a bcrypt password hash and a role (docs/auth.md).",
		examples: []string{
			"trailwatch users hash-password < password.txt",
		},
		subs: []*command{
			{
				name: "hash-password", args: "[flags]", summary: "print the bcrypt hash of a password read from stdin",
				help: `Read a password from the first line of stdin (never from the command line, where
other users and shell history would see it) and print its bcrypt hash, for
ui.users[].password_hash. The password must be 8 to 72 bytes.`,
				examples: []string{"trailwatch users hash-password < password.txt", "printf '%s\\n' \"$PASSWORD\" | trailwatch users hash-password"},
				run:      usersHashPassword,
			},
		},
	}
}

func usersHashPassword(_ context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	if f, ok := env.Stdin.(*os.File); ok && env.StderrTTY {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(env.Stderr, "password (it will be shown as you type; end with Enter): ")
		}
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(env, err)
	}
	pw := strings.TrimRight(line, "\r\n")
	h, err := api.HashPassword(pw)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintln(env.Stdout, h)
	return ExitOK
}
