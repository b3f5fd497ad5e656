package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
)

func runNotify(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(env.Stderr, "Usage: trailwatch notify test --config FILE --channel NAME")
		return ExitError
	}
	fs := newFlags(env, "notify test", "--config FILE --channel NAME")
	cfgPath := fs.String("config", "trailwatch.yaml", "configuration file")
	var names multi
	fs.Var(&names, "channel", "channel name (repeatable; default every channel)")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for the delivery")
	if _, err := parse(fs, args[1:]); err != nil {
		return flagErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(env, err)
	}
	chans, _, err := app.Channels(cfg, app.ChannelOptions{Getenv: env.Getenv, Logger: newLogger(env, false)})
	if err != nil {
		return fail(env, fmt.Errorf("config: %w", err))
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	m := notify.Message{Finding: TestFinding(time.Now()), Kind: notify.Test, Repeats: 1, IdempotencyKey: fmt.Sprintf("test-%d", time.Now().UnixNano())}
	code, sent := ExitOK, 0
	for _, c := range chans {
		if len(want) > 0 && !want[c.Name] {
			continue
		}
		delete(want, c.Name)
		sent++
		if c.DashboardURL != "" {
			m.DashboardURL = c.DashboardURL
		}
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		_, err := c.Notifier.Notify(cctx, m)
		cancel()
		if err != nil {
			kind := "will be retried in normal operation"
			if notify.IsPermanent(err) {
				kind = "permanent: fix the channel's configuration"
			}
			fmt.Fprintf(env.Stdout, "%s: FAILED (%s): %v\n", c.Name, kind, err)
			code = ExitError
			continue
		}
		fmt.Fprintf(env.Stdout, "%s: sent\n", c.Name)
	}
	for n := range want {
		fmt.Fprintf(env.Stderr, "trailwatch: no channel named %q in %s\n", n, *cfgPath)
		code = ExitError
	}
	if sent == 0 && len(names) == 0 {
		return fail(env, fmt.Errorf("%s configures no channels", *cfgPath))
	}
	return code
}

// TestFinding is the clearly marked finding test messages carry.
func TestFinding(now time.Time) finding.Finding {
	return finding.Finding{
		ID: "f-test", Fingerprint: "test", RuleID: "TRAILWATCH-TEST", RuleTitle: "trailwatch test message",
		Service: "eks", Risk: finding.Low, RiskReasons: []string{"this is a test: no change was made"},
		EventID: "test", EventTime: now.UTC(), EventSource: "eks.amazonaws.com", EventName: "UpdateClusterConfig",
		AccountID: "111122223333", Region: "us-east-1",
		Actor:        actor.Actor{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/trailwatch-test", Name: "trailwatch-test"},
		AccessMethod: "cli", UserAgent: "trailwatch notify test", SourceIP: "192.0.2.1", Outcome: "success",
		Resource: finding.Resource{Type: "cluster", Name: "example"},
		Summary:  "TEST: trailwatch can reach this channel. No AWS change happened.",
		Changes:  map[string]any{}, Remediation: "Nothing to do: this was a test.",
	}
}
