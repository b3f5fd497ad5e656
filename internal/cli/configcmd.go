package cli

import (
	"context"
	"fmt"

	"github.com/trailwatch/trailwatch/internal/app"
)

func runConfig(_ context.Context, env *Env, args []string) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(env.Stderr, "Usage: trailwatch config check --config FILE")
		return ExitError
	}
	fs := newFlags(env, "config check", "--config FILE")
	cfgPath := fs.String("config", "trailwatch.yaml", "configuration file")
	if _, err := parse(fs, args[1:]); err != nil {
		return flagErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(env, err)
	}
	cat, eng, err := app.Engine(cfg, nil)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintf(env.Stdout, "%s: ok (%d of %d rules enabled, store %s)\n", *cfgPath, eng.Rules(), len(cat.Rules), cfg.Store.Path)
	return ExitOK
}
