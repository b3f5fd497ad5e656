package cli

import (
	"context"
	"errors"
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
	// The same code trailwatch run uses, without starting anything.
	cat, eng, engErr := app.Engine(cfg, nil)
	chans, _, chErr := app.Channels(cfg, app.ChannelOptions{Getenv: env.Getenv})
	_, srcErr := app.Sources(context.Background(), cfg, app.SourceEnv{Getenv: env.Getenv, CheckOnly: true})
	if err := errors.Join(engErr, chErr, srcErr); err != nil {
		return fail(env, fmt.Errorf("%s:\n%w", *cfgPath, err))
	}
	nsrc := len(cfg.Sources)
	if nsrc == 0 {
		nsrc = 1 // the default webhook
	}
	fmt.Fprintf(env.Stdout, "%s: ok (%d of %d rules enabled, %d channels, %d sources, store %s)\n", *cfgPath, eng.Rules(), len(cat.Rules), len(chans), nsrc, storeName(cfg))
	return ExitOK
}
