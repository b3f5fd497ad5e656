package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/printable"
)

func notifyCommand() *command {
	return &command{
		name:     "notify",
		summary:  "send a clearly marked test message to channels",
		examples: []string{"trailwatch notify test --config trailwatch.yaml --channel secops-slack"},
		subs: []*command{{
			name: "test", args: "[flags]", summary: "send a clearly marked test message to channels",
			help: `Send a test message, marked as such ("TEST: trailwatch can reach this channel. No
AWS change happened."), to the channels named with --channel, or to every channel
of --config without it. Only the named channels receive anything; a name the
configuration does not have is an error, and then nothing is sent. Exit status 2
when a channel failed.`,
			examples: []string{
				"trailwatch notify test --config trailwatch.yaml --channel secops-slack",
				"trailwatch notify test --config trailwatch.yaml",
			},
			run: notifyTest,
		}},
	}
}

func notifyTest(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "trailwatch.yaml")
	var names multi
	fs.Var(&names, "channel", "channel `NAME` (repeatable; default every channel)")
	timeout := durationFlag(fs, "timeout", 30*time.Second, "`DURATION` allowed for each delivery")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	if len(cfg.Channels) == 0 {
		return fail(env, fmt.Errorf("%s configures no channels", printable.Quote(*cfgPath)))
	}
	// Every name must exist before anything is sent.
	var known []string
	for _, ch := range cfg.Channels {
		known = append(known, ch.Name)
	}
	want := map[string]bool{}
	bad := false
	for _, n := range names {
		if !contains(known, n) {
			fmt.Fprintf(env.Stderr, "trailwatch: no channel named %s in %s%s; its channels: %s\n", printable.Quote(n), printable.Quote(*cfgPath),
				config.DidYouMean(n, known), printable.Line(strings.Join(known, ", ")))
			bad = true
		}
		want[n] = true
	}
	if bad {
		return ExitError
	}
	chans, _, err := app.Channels(cfg, app.ChannelOptions{Getenv: env.Getenv, Logger: newLogger(env, cfg, false), Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return fail(env, cfg.Merge(err))
	}
	now := time.Now()
	m := notify.Message{Finding: app.TestFinding(now), Kind: notify.Test, Repeats: 1, IdempotencyKey: fmt.Sprintf("test-%d", now.UnixNano())}
	code := ExitOK
	for _, ch := range chans {
		if len(want) > 0 && !want[ch.Name] {
			continue
		}
		msg := m
		msg.DashboardURL = ch.DashboardURL
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		_, err := ch.Notifier.Notify(cctx, msg)
		cancel()
		if err != nil {
			kind := "will be retried in normal operation"
			if notify.IsPermanent(err) {
				kind = "permanent: fix the channel's configuration"
			}
			fmt.Fprintf(env.Stdout, "%s: FAILED (%s): %s\n", printable.Line(ch.Name), kind, printable.Line(err.Error()))
			code = ExitError
			continue
		}
		fmt.Fprintf(env.Stdout, "%s: sent\n", printable.Line(ch.Name))
	}
	return code
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
