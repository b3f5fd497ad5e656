package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
)

func runRun(ctx context.Context, env *Env, args []string) int {
	fs := newFlags(env, "run", "[flags]")
	cfgPath := fs.String("config", "", "configuration file (default: a webhook on 127.0.0.1:8080, console alerts, ./trailwatch.db)")
	var ruleDirs multi
	fs.Var(&ruleDirs, "rules", "folder of extra rule files (repeatable)")
	if _, err := parse(fs, args); err != nil {
		return flagErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(env, err)
	}
	log := serviceLogger(env, cfg.Log)
	if *cfgPath == "" {
		log.Info("no --config: running on local defaults", "webhook", "http://127.0.0.1:8080/events", "admin", "http://127.0.0.1:9090", "store", cfg.Store.Path)
	}
	svc, err := app.NewService(ctx, cfg, app.RunOptions{Getenv: env.Getenv, Logger: log, RuleDirs: ruleDirs, Started: env.Started})
	if err != nil {
		return fail(env, err)
	}
	if err := svc.Run(ctx); err != nil {
		return fail(env, fmt.Errorf("run: %w", err))
	}
	return ExitOK
}

// serviceLogger builds the structured logger of trailwatch run.
func serviceLogger(env *Env, c config.Log) *slog.Logger {
	level := slog.LevelInfo
	switch c.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(env.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(env.Stderr, opts))
}
