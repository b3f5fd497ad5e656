package cli

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/store"
)

func runOutbox(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "Usage: trailwatch outbox list|retry|drop|deliver [flags]")
		return ExitError
	}
	sub := args[0]
	fs := newFlags(env, "outbox "+sub, "[flags] [ID ...]")
	cfgPath := fs.String("config", "", "configuration file")
	db := fs.String("db", "", "SQLite database (default from config, else trailwatch.db)")
	var status, channels multi
	fs.Var(&status, "status", "list: pending, sending, done, dead or dropped (repeatable)")
	fs.Var(&channels, "channel", "only this channel (repeatable)")
	allDead := fs.Bool("all-dead", false, "retry or drop every dead delivery (of --channel, if given)")
	limit := fs.Int("limit", 100, "list: at most this many, newest first")
	format := fs.String("format", "table", "list: table or json")
	timeout := fs.Duration("timeout", 2*time.Minute, "deliver: how long to keep delivering")
	attempt := fs.Duration("attempt-timeout", 30*time.Second, "deliver: time allowed for one delivery attempt")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return flagErr(err)
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
	ids := make([]int64, 0, len(pos))
	for _, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return fail(env, fmt.Errorf("%q is not a delivery id", p))
		}
		ids = append(ids, id)
	}
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
	switch sub {
	case "list":
		list, err := st.Deliveries(ctx, store.OutboxFilter{Status: status, Channel: channels, Limit: *limit})
		if err != nil {
			return fail(env, err)
		}
		if *format == "json" {
			type row struct {
				ID                                          int64
				Channel, Kind, Status, FindingID, LastError string
				Repeats, Attempts                           int
				NextAttempt, CreatedAt                      time.Time
				Summary                                     string
			}
			var rows []row
			for _, d := range list {
				rows = append(rows, row{d.ID, d.Channel, d.Kind, d.Status, d.FindingID, d.LastError, d.Repeats, d.Attempts, d.NextAttempt, d.CreatedAt, d.Finding.Summary})
			}
			return writeJSON(env, rows)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCHANNEL\tKIND\tSTATUS\tATTEMPTS\tNEXT\tFINDING\tLAST ERROR")
		for _, d := range list {
			next := ""
			if d.Status == store.Pending {
				next = d.NextAttempt.Local().Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.Channel, d.Kind, d.Status, d.Attempts, next, d.FindingID, notify.Truncate(d.LastError, 120))
		}
		tw.Flush()
		return ExitOK
	case "retry":
		if len(ids) == 0 {
			return fail(env, fmt.Errorf("outbox retry: name delivery ids or --all-dead"))
		}
		n, err := st.Requeue(ctx, ids, now)
		if err != nil {
			return fail(env, err)
		}
		fmt.Fprintf(env.Stdout, "%d deliveries queued again (run trailwatch outbox deliver, or trailwatch run, to send them)\n", n)
		return ExitOK
	case "drop":
		if len(ids) == 0 {
			return fail(env, fmt.Errorf("outbox drop: name delivery ids or --all-dead"))
		}
		n, err := st.Drop(ctx, ids, now)
		if err != nil {
			return fail(env, err)
		}
		fmt.Fprintf(env.Stdout, "%d deliveries dropped\n", n)
		return ExitOK
	case "deliver":
		chans, _, err := app.Channels(cfg, app.ChannelOptions{Getenv: env.Getenv, Logger: newLogger(env, false)})
		if err != nil {
			return fail(env, fmt.Errorf("config: %w", err))
		}
		d := dispatch.New(st, chans, dispatch.Options{Logger: newLogger(env, false), AttemptTimeout: *attempt})
		dctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		left, err := d.Drain(dctx)
		if err != nil {
			return fail(env, err)
		}
		var sent, dead int64
		for _, s := range d.Stats() {
			sent += s.Sent
			dead += s.Dead
		}
		fmt.Fprintf(env.Stdout, "%d delivered, %d dead, %d still pending\n", sent, dead, left)
		if left > 0 || dead > 0 {
			return ExitError
		}
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "trailwatch outbox: unknown subcommand %q (want list, retry, drop or deliver)\n", sub)
	return ExitError
}
