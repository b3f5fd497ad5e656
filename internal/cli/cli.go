// Package cli implements the trailwatch commands: their flags, help and
// exit codes, calling into app and the parts it wires, and printing the
// results for people (tables, escaped) and for programs (JSON, snake_case).
// docs/cli.md documents every command, output and exit code.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/printable"
)

// Exit codes (docs/cli.md). When several apply, the first in this order
// wins: interrupted, error, findings.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitError: bad usage, bad configuration, input that could not be
	// read, deliveries that ended dead or pending; the work that could be
	// done was done.
	ExitError = 2
	// ExitFindings: scan --fail-on found a finding at or above the level.
	ExitFindings = 3
	// ExitInterrupted: stopped by SIGINT (cmd/trailwatch turns it into
	// 143 for SIGTERM) before it finished.
	ExitInterrupted = 130
)

// Env is what a command may touch of the process: streams, whether they
// are terminals, and the environment.
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

// Version is the release version, set at build time with
// -ldflags "-X github.com/trailwatch/trailwatch/internal/cli.Version=…" (the
// Dockerfile does); empty means the module version of the build.
var Version = ""

// colour reports whether output to a terminal may use ANSI colours: not
// when NO_COLOR is set (https://no-color.org) or TERM is dumb.
func (env *Env) colour(tty bool) bool {
	return tty && env.Getenv("NO_COLOR") == "" && env.Getenv("TERM") != "dumb"
}

// command is one command or subcommand: its help, and either a run
// function (a leaf) or subcommands (a group).
type command struct {
	name     string // "list"
	path     string // "findings list", filled by tree
	args     string // what follows the name in the usage line
	summary  string // one line, for the parent's list
	help     string // paragraphs
	examples []string
	run      func(ctx context.Context, env *Env, c *command, args []string) int
	subs     []*command
	hidden   bool
}

// commands builds the command tree on first use, not in an init function:
// a program that imports cli for a constant (bench/cmd/scanbench) then
// links none of the commands' dependencies.
func commands() *command {
	rootOnce.Do(buildTree)
	return root
}

var (
	rootOnce sync.Once
	root     *command
)

func buildTree() {
	root = &command{
		name:    "trailwatch",
		summary: "real-time monitor of AWS configuration changes",
		help: `trailwatch reads CloudTrail events (log files, EventBridge, S3, SQS), judges each
configuration change with its rules (who, how, from where, how risky), stores the
findings and alerts your channels.`,
		examples: []string{
			"trailwatch scan examples/",
			"trailwatch findings list --min-risk VERY_HIGH",
			"trailwatch run --config trailwatch.yaml",
			"trailwatch help findings list",
		},
	}
	root.subs = []*command{scanCommand(), runCommand(), findingsCommand(), rulesCommand(), configCommand(),
		notifyCommand(), outboxCommand(), uiCommand(), silencesCommand(), tokensCommand(), usersCommand(), versionCommand()}
	tree(root, "")
}

// tree fills the paths.
func tree(c *command, parent string) {
	c.path = strings.TrimSpace(parent + " " + c.name)
	if parent == "" {
		c.path = c.name
	}
	for _, s := range c.subs {
		tree(s, c.path)
	}
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, env *Env, args []string) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = []string{"version"}
	}
	code := runGroup(ctx, env, commands(), args)
	if code != ExitOK && ctx.Err() != nil {
		fmt.Fprintln(env.Stderr, "trailwatch: interrupted")
		return ExitInterrupted
	}
	return code
}

// runGroup runs a group: its subcommand, or its help.
func runGroup(ctx context.Context, env *Env, c *command, args []string) int {
	if c.run != nil {
		return c.run(ctx, env, c, args)
	}
	if len(args) == 0 {
		fmt.Fprintf(env.Stderr, "%s: name a command\n\n", c.path)
		printHelp(env.Stderr, c, nil)
		return ExitError
	}
	if isHelp(args[0]) {
		// "help", "help SUB [SUB]", "-h"
		target := c
		for _, a := range args[1:] {
			s := c.sub(a)
			if s == nil || strings.HasPrefix(a, "-") {
				if strings.HasPrefix(a, "-") {
					break
				}
				return unknown(env, target, a)
			}
			target = s
			if s.run != nil {
				break
			}
			c = s
		}
		if target.run != nil {
			return target.run(ctx, env, target, []string{"--help"})
		}
		printHelp(env.Stdout, target, nil)
		return ExitOK
	}
	s := c.sub(args[0])
	if s == nil || s.hidden && args[0] != s.name {
		return unknown(env, c, args[0])
	}
	return runGroup(ctx, env, s, args[1:])
}

func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

func unknown(env *Env, c *command, name string) int {
	var names []string
	for _, s := range c.subs {
		if !s.hidden {
			names = append(names, s.name)
		}
	}
	what := "command"
	if c != commands() {
		what = "subcommand"
	}
	fmt.Fprintf(env.Stderr, "%s: unknown %s %s%s\nRun '%s --help' for the list: %s.\n", c.path, what, printable.Quote(name),
		config.DidYouMean(name, names), c.path, strings.Join(names, ", "))
	return ExitError
}

// printHelp writes a command's help: usage line, description, its
// subcommands or flags, and examples.
func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	args := c.args
	if c.run == nil && args == "" {
		args = "COMMAND [flags]"
	}
	fmt.Fprintf(w, "Usage: %s %s\n", c.path, args)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	} else if c.summary != "" {
		fmt.Fprintf(w, "\n%s.\n", strings.ToUpper(c.summary[:1])+c.summary[1:])
	}
	if len(c.subs) > 0 {
		fmt.Fprintln(w, "\nCommands:")
		for _, s := range c.subs {
			if !s.hidden {
				fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
			}
		}
	}
	if fs != nil {
		printFlags(w, fs)
	}
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	switch {
	case c == commands():
		fmt.Fprintln(w, "\nRun 'trailwatch COMMAND --help' for a command's flags; docs/cli.md has all of them, the outputs and exit codes.")
		fmt.Fprintln(w, "Exit codes: 0 ok, 2 error, 3 scan --fail-on found a finding, 130 interrupted (143 on SIGTERM).")
	case len(c.subs) > 0:
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", c.path)
	}
}

// printFlags lists flags as --name VALUE  usage (default).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			if name == "" {
				name = "VALUE"
			}
			left += " " + name
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "[]" {
			usage += " (default " + def + ")"
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.left, r.usage)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "-h, --help", "show this help")
}

// flags returns a leaf command's flag set; parse reads it.
func (c *command) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(c.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positional ones. -h/--help prints the help on
// stdout; ok is false when the command should return code.
func (c *command) parse(env *Env, fs *flag.FlagSet, args []string, minPos, maxPos int) (pos []string, code int, ok bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			printHelp(env.Stdout, c, fs)
			return nil, ExitOK, false
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr(env, c, flagError(fs, err)), false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < minPos:
		return nil, usageErr(env, c, "missing "+strings.Fields(strings.ReplaceAll(c.args, "[flags]", ""))[0]), false
	case maxPos >= 0 && len(pos) > maxPos:
		extra := pos[maxPos:]
		if maxPos == 0 {
			return nil, usageErr(env, c, "takes no arguments, got "+printable.Quote(extra[0])), false
		}
		return nil, usageErr(env, c, "too many arguments: "+printable.Quote(extra[0])), false
	}
	return pos, ExitOK, true
}

var flagName = regexp.MustCompile(`(flag|defined:|argument:) -(-?)([\w.-]+)`)

// flagError words the flag package's errors with --flags, and suggests
// the flag meant when an unknown one is near a known one.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	var unknown string
	msg = flagName.ReplaceAllStringFunc(msg, func(m string) string {
		sub := flagName.FindStringSubmatch(m)
		if sub[1] == "defined:" {
			unknown = sub[3]
		}
		return sub[1] + " --" + sub[3]
	})
	msg = strings.Replace(msg, "flag provided but not defined:", "unknown flag", 1)
	if unknown != "" {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		msg += config.DidYouMean(unknown, names)
		if d := config.DidYouMean(unknown, names); d != "" {
			msg = strings.Replace(msg, "(did you mean ", "(did you mean --", 1)
		}
	}
	return msg
}

// usageErr reports bad usage: the problem, the usage line, where help is.
func usageErr(env *Env, c *command, msg string) int {
	fmt.Fprintf(env.Stderr, "%s: %s\nUsage: %s %s\nRun '%s --help' for more.\n", c.path, printable.Line(msg), c.path, c.args, c.path)
	return ExitError
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

// common flags, named and described alike everywhere.

func configFlag(fs *flag.FlagSet, def string) *string {
	if def == "" {
		return fs.String("config", "", "configuration `FILE` (trailwatch.yaml; default: none, the built-in defaults)")
	}
	return fs.String("config", def, "configuration `FILE`")
}

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "SQLite database `FILE`, instead of the configured store (default: store in --config, else ./trailwatch.db; :memory: keeps nothing)")
}

const riskLevels = "LOW, MEDIUM, HIGH, VERY_HIGH or EXTREME"

// loadConfig reads --config, or the defaults when it is empty. A file
// with problems is reported with every problem the configured parts find
// too (app.Check), so that one run shows them all.
func loadConfig(env *Env, path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	cfg, err := config.Load(path)
	if err != nil && cfg != nil {
		return nil, app.Check(cfg, app.CheckOptions{Getenv: env.Getenv})
	}
	return cfg, err
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
	return printable.Quote(cfg.Store.Path)
}

// newLogger logs to stderr: text on a terminal, JSON when piped or when
// log.format says so; warnings and above (errors only with quiet).
func newLogger(env *Env, cfg *config.Config, quiet bool) *slog.Logger {
	level := slog.LevelWarn
	if quiet {
		level = slog.LevelError
	}
	format := ""
	if cfg != nil {
		format = cfg.Log.Format
	}
	return logger(env, format, level)
}

func logger(env *Env, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "" {
		format = "json"
		if env.StderrTTY {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(env.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(env.Stderr, opts))
}

// fail prints an error, each of its lines escaped, and returns ExitError.
func fail(env *Env, err error) int {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = printable.Line(l)
	}
	fmt.Fprintln(env.Stderr, "trailwatch: "+strings.Join(lines, "\n"))
	return ExitError
}

// plural writes "1 file", "2 files".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
