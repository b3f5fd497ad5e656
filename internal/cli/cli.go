// Package cli implements the trailwatch subcommands: parsing their flags,
// calling into app and the parts it wires, and printing results. It owns
// exit codes and output formats.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/trailwatch/trailwatch/internal/config"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitError    = 2
	ExitFindings = 3
)

// Env is what a command may touch of the process: streams, and whether
// stdout and stderr are terminals.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	StdoutTTY      bool
	StderrTTY      bool
	Getenv         func(string) string
	// Started, when set, learns the listen addresses of trailwatch run
	// once it is up (tests use it).
	Started func(addrs map[string]string)
}

// OSEnv is the real process environment.
func OSEnv() *Env {
	return &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdoutTTY: isatty.IsTerminal(os.Stdout.Fd()),
		StderrTTY: isatty.IsTerminal(os.Stderr.Fd()),
		Getenv:    os.Getenv,
	}
}

// Version is set at build time.
var Version = "dev"

type command struct {
	name, args, help string
	run              func(ctx context.Context, env *Env, args []string) int
}

func commands() []command {
	return []command{
		{"scan", "[flags] PATH|s3://…|- ...", "scan CloudTrail files, folders, S3 or stdin for configuration changes", runScan},
		{"run", "[--config FILE]", "watch in real time: sources in, findings stored, alerts out", runRun},
		{"findings", "list|show [flags]", "list stored findings, or show one in full", runFindings},
		{"rules", "list|show|test [flags]", "list the rule catalogue, show a rule, run every rule's tests", runRules},
		{"config", "check --config FILE", "validate a configuration file", runConfig},
		{"notify", "test --channel NAME", "send a clearly marked test message to a channel", runNotify},
		{"outbox", "list|retry|drop|deliver", "see and act on pending, stuck and dead deliveries", runOutbox},
		{"version", "", "print the version", func(_ context.Context, env *Env, _ []string) int {
			fmt.Fprintln(env.Stdout, "trailwatch", Version)
			return ExitOK
		}},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitError
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "trailwatch: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return ExitError
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "trailwatch: real-time monitor of AWS configuration changes")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  trailwatch %-9s %-26s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nRun 'trailwatch COMMAND -h' for a command's flags.")
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlags(env *Env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: trailwatch %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// multi is a repeatable string flag that also splits commas.
type multi []string

func (m *multi) String() string { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*m = append(*m, p)
		}
	}
	return nil
}

// loadConfig reads --config, or the defaults when it is empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// useDB applies --db: a SQLite file that replaces whatever store the
// configuration names (a PostgreSQL DSN included).
func useDB(cfg *config.Config, db string) {
	if db != "" {
		cfg.Store.Path, cfg.Store.DSN = db, ""
	}
}

// storeName says which store a command uses, without the DSN (a secret).
func storeName(cfg *config.Config) string {
	if cfg.Store.DSN != "" {
		return "PostgreSQL (store.dsn)"
	}
	return cfg.Store.Path
}

func flagErr(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitError
}

// newLogger logs JSON to stderr, warnings and above unless verbose.
func newLogger(env *Env, quiet bool) *slog.Logger {
	level := slog.LevelWarn
	if quiet {
		level = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
}

func fail(env *Env, err error) int {
	fmt.Fprintln(env.Stderr, "trailwatch:", err)
	return ExitError
}
