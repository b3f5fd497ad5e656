// Package app wires the parts together from a configuration: the rule
// catalogue and engine, the store, the channels and the sources, checks a
// configuration against all of them (Check), and runs trailwatch run
// (Service). It is the only package that knows every part.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/postgres"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// Catalogue loads the embedded rules plus those in the configured and the
// extra folders. A rule in a folder may not reuse an embedded id.
func Catalogue(cfg *config.Config, extraDirs []string) (*rule.Catalogue, error) {
	c, err := rule.Embedded()
	if err != nil {
		return nil, fmt.Errorf("embedded rules: %w", err)
	}
	dirs := append(append([]string(nil), cfg.RulePaths...), extraDirs...)
	if len(dirs) == 0 {
		return c, nil
	}
	var errs []error
	all := append([]*rule.Rule(nil), c.Rules...)
	for _, d := range dirs {
		dc, err := rule.LoadDir(d)
		if err != nil {
			errs = append(errs, err)
		}
		if dc != nil {
			all = append(all, dc.Rules...)
		}
	}
	merged, err := rule.NewCatalogue(all)
	if err != nil {
		errs = append(errs, err)
	}
	return merged, errors.Join(errs...)
}

// Engine loads the catalogue and builds the engine with the configured
// rule settings.
func Engine(cfg *config.Config, extraDirs []string) (*rule.Catalogue, *rule.Engine, error) {
	c, err := Catalogue(cfg, extraDirs)
	if err != nil {
		return nil, nil, err
	}
	e, err := rule.NewEngine(c, cfg.RuleSettings())
	if err != nil {
		return nil, nil, suggestRules(c, err)
	}
	return c, e, nil
}

var (
	noSuchRule  = regexp.MustCompile(`^rules\.(\S+): no such rule$`)
	noSuchEvent = regexp.MustCompile(`^rules\.(\S+)\.events\.(\S+): the rule does not watch this event`)
)

// suggestRules adds "did you mean" to the engine's errors about rule ids
// the catalogue does not have.
func suggestRules(c *rule.Catalogue, err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		j = joined{err}
	}
	var ids []string
	for _, r := range c.Rules {
		ids = append(ids, r.ID)
	}
	var out []error
	for _, e := range j.Unwrap() {
		if m := noSuchRule.FindStringSubmatch(e.Error()); m != nil {
			e = fmt.Errorf("%s%s (see trailwatch rules list)", e, config.DidYouMean(m[1], ids))
		} else if m := noSuchEvent.FindStringSubmatch(e.Error()); m != nil {
			if r, ok := c.Get(m[1]); ok {
				if d := config.DidYouMean(m[2], r.EventNames); d != "" {
					e = fmt.Errorf("%s: the rule does not watch this event%s", strings.SplitN(e.Error(), ":", 2)[0], d)
				}
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

type joined []error

func (j joined) Unwrap() []error { return j }

// enabledRules lists the ids of the rules the engine runs, as
// rule.NewEngine decides it: a rule's own settings, else rule_defaults.
func enabledRules(eng *rule.Engine) []string {
	var out []string
	for _, x := range eng.Effective() {
		if x.Enabled {
			out = append(out, x.Rule.ID)
		}
	}
	return out
}

// Backend is what every store gives: findings, the outbox, checkpoints,
// the quarantine, and a health check.
type Backend interface {
	store.Store
	store.Outbox
	store.Checkpoints
	store.Leases
	store.Activity
	store.Quarantine
	Ping(ctx context.Context) error
}

var (
	_ Backend = (*sqlite.Store)(nil)
	_ Backend = (*postgres.Store)(nil)
)

// StoreMode says what a command needs of the store.
type StoreMode int

// The store modes.
const (
	// StoreReadWrite creates and migrates the database as needed.
	StoreReadWrite StoreMode = iota
	// StoreReadOnly is for commands that only read (findings list and
	// show): a SQLite file is opened read-only, so it works on a file the
	// user may not write, and nothing is created.
	StoreReadOnly
	// StoreRun is trailwatch run: a SQLite file is locked to one run
	// process at a time (PostgreSQL is made for several).
	StoreRun
)

// OpenStore opens the configured store: PostgreSQL when store.dsn is set
// (${VAR} in it replaced from getenv; nil means os.Getenv), else the
// SQLite file at store.path. The DSN is never part of an error.
func OpenStore(cfg *config.Config, getenv func(string) string) (Backend, error) {
	return OpenStoreMode(cfg, getenv, StoreReadWrite)
}

// OpenStoreMode is OpenStore for a mode.
func OpenStoreMode(cfg *config.Config, getenv func(string) string, mode StoreMode) (Backend, error) {
	if cfg.Store.DSN == "" {
		var opts []sqlite.Option
		switch mode {
		case StoreReadOnly:
			opts = append(opts, sqlite.ReadOnly())
		case StoreRun:
			opts = append(opts, sqlite.Exclusive())
		}
		s, err := sqlite.Open(cfg.Store.Path, nil, opts...)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return s, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	dsn, err := cfg.Store.ResolveDSN(getenv)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// CheckOptions are what Check needs besides the configuration.
type CheckOptions struct {
	// Getenv resolves ${VAR} references; nil means os.Getenv.
	Getenv func(string) string
	// RuleDirs are extra rule folders.
	RuleDirs []string
}

// Check validates everything trailwatch run would build from cfg, without
// starting anything: the configuration's own problems, the rules and their
// settings, every channel (type-specific keys, secrets, templates rendered
// against a sample alert), every source, and the store's DSN. It returns
// every problem at once, each at its YAML path and line (*config.Problems),
// or nil.
func Check(cfg *config.Config, o CheckOptions) error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	_, _, engErr := Engine(cfg, o.RuleDirs)
	_, _, chErr := Channels(cfg, ChannelOptions{Getenv: o.Getenv, DefaultConsole: true})
	// Building a source does no I/O; it is closed unstarted.
	srcs, srcErr := Sources(cfg, SourceEnv{Getenv: o.Getenv})
	for _, s := range srcs {
		s.Close(context.Background())
	}
	var dsnErr error
	if cfg.Store.DSN != "" {
		_, dsnErr = cfg.Store.ResolveDSN(o.Getenv)
	}
	return cfg.Merge(engErr, chErr, srcErr, dsnErr, uiSecrets(cfg, o.Getenv))
}
