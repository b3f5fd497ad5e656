package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
)

func runCommand() *command {
	return &command{
		name:    "run",
		args:    "[flags]",
		summary: "watch in real time: sources in, findings stored, alerts out",
		help: `Run the service: read the configured sources (SQS, S3, folders, a webhook for
EventBridge API destinations), store findings, acknowledge the sources only after
that, and deliver alerts to the channels. It serves /healthz, /readyz and Prometheus
/metrics on admin.listen.

With no --config it runs on local defaults: a webhook on ` + config.DefaultWebhookListen + `/events without
authentication, alerts on the console, SQLite in ./trailwatch.db (--db to choose
another file). SIGINT or SIGTERM stops it gracefully (exit status 0); a second one
stops it at once. Logs go to stderr: text on a terminal, JSON otherwise or as
log.format says.`,
		examples: []string{
			"trailwatch run --db run.db",
			"trailwatch run --config trailwatch.yaml",
		},
		run: runRun,
	}
}

func runRun(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	db := dbFlag(fs)
	var ruleDirs multi
	fs.Var(&ruleDirs, "rules", "`FOLDER` of extra rule files (repeatable)")
	if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
		return code
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	log := serviceLogger(env, cfg.Log)
	if *cfgPath == "" {
		log.Info("no --config: running on local defaults", "webhook", "http://"+config.DefaultWebhookListen+"/events",
			"admin", "http://"+config.DefaultAdminListen, "store", cfg.Store.Path)
	}
	svc, err := app.NewService(ctx, cfg, app.RunOptions{Getenv: env.Getenv, Logger: log, RuleDirs: ruleDirs, Started: env.Started,
		Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return fail(env, err)
	}
	if err := svc.Run(ctx); err != nil {
		return fail(env, fmt.Errorf("run: %w", err))
	}
	return ExitOK
}

// serviceLogger builds the structured logger of trailwatch run: text on a
// terminal, JSON otherwise, unless log.format says.
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
	return logger(env, c.Format, level)
}
