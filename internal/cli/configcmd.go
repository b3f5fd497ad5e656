package cli

import (
	"context"
	"fmt"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/printable"
)

func configCommand() *command {
	return &command{
		name:     "config",
		summary:  "validate a configuration file",
		examples: []string{"trailwatch config check --config trailwatch.yaml"},
		subs: []*command{{
			name: "check", args: "[flags]", summary: "validate a configuration file as trailwatch run would",
			help: `Check a configuration file as trailwatch run would, without starting anything:
every key (unknown keys are errors, with a suggestion for near misses), every value,
the rules and their settings, every channel (secrets resolved, templates rendered
against a sample alert), every source, listen addresses (valid, none used twice) and
the store's DSN. Every problem is reported at once, with its YAML path and line.
Secrets are never printed. See docs/configuration.md.`,
			examples: []string{"trailwatch config check --config trailwatch.yaml"},
			run:      configCheck,
		}},
	}
}

func configCheck(_ context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "trailwatch.yaml")
	var ruleDirs multi
	fs.Var(&ruleDirs, "rules", "`FOLDER` of extra rule files (repeatable)")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if cfg == nil {
		return fail(env, err)
	}
	// The same checks trailwatch run makes, without starting anything.
	if err := app.Check(cfg, app.CheckOptions{Getenv: env.Getenv, RuleDirs: ruleDirs}); err != nil {
		return fail(env, err)
	}
	cat, eng, _ := app.Engine(cfg, ruleDirs)
	nch, nsrc := len(cfg.Channels), len(cfg.Sources)
	chans, srcs := plural(int64(nch), "channel", "channels"), plural(int64(nsrc), "source", "sources")
	if nch == 0 {
		chans = "no channels (run prints alerts on the console)"
	}
	if nsrc == 0 {
		srcs = "no sources (run listens on " + config.DefaultWebhookListen + ")"
	}
	fmt.Fprintf(env.Stdout, "%s: ok (%d of %d rules enabled, %s, %s, store %s)\n", printable.Quote(*cfgPath), eng.Rules(), len(cat.Rules), chans, srcs, storeName(cfg))
	return ExitOK
}
