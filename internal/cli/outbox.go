package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/store"
)

var deliveryStates = []string{store.Pending, store.Sending, store.Done, store.Dead, store.Dropped}

func outboxCommand() *command {
	return &command{
		name:    "outbox",
		summary: "see and act on pending, stuck and dead deliveries",
		help: `The outbox holds every notification a finding owes a channel, with its state:
pending (waiting for its next attempt), sending (claimed by a dispatcher), done,
dead (gave up: a permanent error, too many attempts, too old) or dropped (by an
operator). trailwatch run delivers it; these commands look at it and act on it.`,
		examples: []string{
			"trailwatch outbox list --config trailwatch.yaml --status dead",
			"trailwatch outbox retry --config trailwatch.yaml --all-dead && trailwatch outbox deliver --config trailwatch.yaml",
		},
		subs: []*command{
			{
				name: "list", args: "[flags]", summary: "list deliveries, newest first",
				examples: []string{"trailwatch outbox list --status dead", "trailwatch outbox list --channel secops-slack --format json"},
				run:      outboxList,
			},
			{
				name: "retry", args: "[flags] ID ... | --all-dead", summary: "queue dead or dropped deliveries again",
				help: `Queue dead or dropped deliveries again (their attempts start over); trailwatch run,
or outbox deliver, sends them. Every ID must name a dead or dropped delivery: any
other is an error, and the rest are still queued.`,
				examples: []string{"trailwatch outbox retry 12 13", "trailwatch outbox retry --all-dead --channel secops-slack"},
				run:      outboxAct,
			},
			{
				name: "drop", args: "[flags] ID ... | --all-dead", summary: "drop pending or dead deliveries: they are never sent",
				help: `Drop deliveries: they are never sent (retry brings them back). Every ID must name
a pending, sending or dead delivery: any other is an error, and the rest are still
dropped.`,
				examples: []string{"trailwatch outbox drop 12", "trailwatch outbox drop --all-dead --channel old-pager"},
				run:      outboxAct,
			},
			{
				name: "route", args: "[flags]", summary: "route findings stored without alerting (a scan without --notify) to the channels",
				help: `Route the findings stored without routing (by a scan without --notify, such as a
backfill before going live) to the channels of --config: the deliveries they owe
are queued, once, and trailwatch run, or outbox deliver, sends them. --since
limits it to findings whose event is that recent. trailwatch run and scan
--notify also route such a finding when they see its event again.`,
				examples: []string{"trailwatch outbox route --config trailwatch.yaml --since 7d && trailwatch outbox deliver --config trailwatch.yaml"},
				run:      outboxRoute,
			},
			{
				name: "deliver", args: "[flags]", summary: "deliver what is due now, then stop",
				help: `Deliver every pending delivery now, with retries, until none is left or --timeout
ends, then stop (trailwatch run does this all the time). Exit status 2 when
deliveries ended dead or are still pending.`,
				examples: []string{"trailwatch outbox deliver --config trailwatch.yaml --timeout 5m"},
				run:      outboxDeliver,
			},
		},
	}
}

func openOutbox(env *Env, cfgPath, db string) (*config.Config, app.Backend, error) {
	cfg, err := loadConfig(env, cfgPath)
	if err != nil {
		return nil, nil, err
	}
	useDB(cfg, db)
	st, err := app.OpenStore(cfg, env.Getenv)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// deliveryJSON is a delivery in outbox list --format json.
type deliveryJSON struct {
	ID          int64      `json:"id"`
	Channel     string     `json:"channel"`
	Kind        string     `json:"kind"`
	Status      string     `json:"status"`
	FindingID   string     `json:"finding_id"`
	RuleID      string     `json:"rule_id"`
	Risk        string     `json:"risk"`
	Summary     string     `json:"summary"`
	Repeats     int        `json:"repeats"`
	Attempts    int        `json:"attempts"`
	NextAttempt *time.Time `json:"next_attempt"`
	LastError   string     `json:"last_error"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func outboxList(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	var status, channels multi
	fs.Var(&status, "status", "only deliveries in this `STATE`: pending, sending, done, dead or dropped (repeatable)")
	fs.Var(&channels, "channel", "only deliveries to this channel `NAME` (repeatable)")
	limit := fs.Int("limit", 100, "at most `N`, newest first (0: all)")
	format := fs.String("format", "table", "output `FORMAT`: table or json")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	for _, s := range status {
		if !slices.Contains(deliveryStates, s) {
			return usageErr(env, c, fmt.Sprintf("--status: %s is not one of pending, sending, done, dead, dropped%s", printable.Quote(s), config.DidYouMean(s, deliveryStates)))
		}
	}
	if err := checkFormat(*format, "table", "json"); err != nil {
		return usageErr(env, c, err.Error())
	}
	if *limit < 0 {
		return usageErr(env, c, "--limit: must not be negative")
	}
	_, st, err := openOutbox(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	list, err := st.Deliveries(ctx, store.OutboxFilter{Status: status, Channel: channels, Limit: *limit})
	if err != nil {
		return fail(env, err)
	}
	if *format == "json" {
		rows := []deliveryJSON{}
		for _, d := range list {
			row := deliveryJSON{ID: d.ID, Channel: d.Channel, Kind: d.Kind, Status: d.Status, FindingID: d.FindingID, RuleID: d.Finding.RuleID,
				Summary: d.Finding.Summary, Repeats: d.Repeats, Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
			if d.Finding.Risk != 0 {
				row.Risk = d.Finding.Risk.String()
			}
			if d.Status == store.Pending {
				t := d.NextAttempt
				row.NextAttempt = &t
			}
			rows = append(rows, row)
		}
		return writeJSON(env, rows)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "no deliveries match")
		return ExitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHANNEL\tKIND\tSTATUS\tATTEMPTS\tNEXT\tFINDING\tLAST ERROR")
	for _, d := range list {
		next := ""
		if d.Status == store.Pending {
			next = d.NextAttempt.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, printable.Line(d.Channel), d.Kind, d.Status, d.Attempts, next,
			printable.Line(shortID(d.FindingID)), printable.Line(notify.Truncate(d.LastError, 120)))
	}
	tw.Flush()
	return ExitOK
}

// outboxAct is retry and drop: each named delivery must be one the action
// applies to.
func outboxAct(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	allDead := fs.Bool("all-dead", false, "every dead delivery (of --channel, if given)")
	var channels multi
	fs.Var(&channels, "channel", "with --all-dead, only this channel `NAME` (repeatable)")
	pos, code, ok := c.parse(env, fs, args, 0, -1)
	if !ok {
		return code
	}
	if len(pos) == 0 && !*allDead {
		return usageErr(env, c, "name delivery ids (see trailwatch outbox list), or --all-dead")
	}
	if len(pos) > 0 && *allDead {
		return usageErr(env, c, "name delivery ids or --all-dead, not both")
	}
	if len(channels) > 0 && !*allDead {
		return usageErr(env, c, "--channel goes with --all-dead")
	}
	ids := make([]int64, 0, len(pos))
	for _, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return usageErr(env, c, fmt.Sprintf("%s is not a delivery id (a number from trailwatch outbox list)", printable.Quote(p)))
		}
		ids = append(ids, id)
	}
	_, st, err := openOutbox(env, *cfgPath, *db)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	if *allDead {
		dead, err := st.Deliveries(ctx, store.OutboxFilter{Status: []string{store.Dead}, Channel: channels})
		if err != nil {
			return fail(env, err)
		}
		for _, d := range dead {
			ids = append(ids, d.ID)
		}
	}
	now := time.Now()
	act, verb, want := st.Requeue, "queued again", "dead or dropped"
	if c.name == "drop" {
		act, verb, want = st.Drop, "dropped", "pending, sending or dead"
	}
	done := 0
	var missed []int64
	if *allDead {
		n, err := act(ctx, ids, now)
		if err != nil {
			return fail(env, err)
		}
		done = n
	} else {
		// One at a time, so that each id that is not eligible is named.
		for _, id := range ids {
			n, err := act(ctx, []int64{id}, now)
			if err != nil {
				return fail(env, err)
			}
			if n == 0 {
				missed = append(missed, id)
			}
			done += n
		}
	}
	msg := fmt.Sprintf("%s %s", plural(int64(done), "delivery", "deliveries"), verb)
	if c.name == "retry" && done > 0 {
		msg += " (trailwatch run, or trailwatch outbox deliver, sends them)"
	}
	fmt.Fprintln(env.Stdout, msg)
	for _, id := range missed {
		fmt.Fprintf(env.Stderr, "trailwatch: delivery %d: no such delivery, or not %s (see trailwatch outbox list)\n", id, want)
	}
	if len(missed) > 0 {
		return ExitError
	}
	return ExitOK
}

func outboxDeliver(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	timeout := durationFlag(fs, "timeout", 2*time.Minute, "`DURATION` of delivering, retries included")
	attempt := durationFlag(fs, "attempt-timeout", 30*time.Second, "`DURATION` allowed for one delivery attempt")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	p, err := app.NewPipeline(cfg, app.PipelineOptions{Getenv: env.Getenv, Logger: newLogger(env, cfg, false), NoRules: true, Deliver: true,
		AttemptTimeout: *attempt, Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return fail(env, err)
	}
	defer p.Close()
	d, err := p.Drain(ctx, *timeout)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintf(env.Stdout, "%d delivered, %d dead, %d still pending%s\n", d.Sent, d.Dead, d.Left, seeOutbox(d.Dead, int64(d.Left)))
	if d.Failed() {
		return ExitError
	}
	return ExitOK
}

func outboxRoute(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	since := durationFlag(fs, "since", 0, "only findings whose event is at most `DURATION` old (default: all)")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	if len(cfg.Channels) == 0 {
		return fail(env, fmt.Errorf("no channels configured to route to (add channels: to the --config file; see docs/channels/README.md)"))
	}
	useDB(cfg, *db)
	p, err := app.NewPipeline(cfg, app.PipelineOptions{Getenv: env.Getenv, Logger: newLogger(env, cfg, false), NoRules: true, Deliver: true,
		Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return fail(env, err)
	}
	defer p.Close()
	var from time.Time
	if *since > 0 {
		from = time.Now().Add(-*since)
	}
	n, err := p.RouteUnrouted(ctx, from)
	if err != nil {
		return fail(env, err)
	}
	msg := plural(int64(n), "finding", "findings") + " routed"
	if n > 0 {
		msg += " (trailwatch run, or trailwatch outbox deliver, sends what they owe)"
	}
	fmt.Fprintln(env.Stdout, msg)
	return ExitOK
}
