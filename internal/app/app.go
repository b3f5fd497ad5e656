// Package app wires the parts together from a configuration: the rule
// catalogue and engine, the store, and (as they arrive) notifiers and
// sources. It is the only package that knows every part.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
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
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return c, e, nil
}

// Backend is what every store gives: findings, the outbox, checkpoints,
// and a health check.
type Backend interface {
	store.Store
	store.Outbox
	store.Checkpoints
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
	dsn, err := expandDSN(cfg.Store.DSN, getenv)
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

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandDSN replaces each ${VAR} with getenv(VAR); a variable unset or
// empty is an error naming it (and not the DSN).
func expandDSN(dsn string, getenv func(string) string) (string, error) {
	var errs []error
	out := envRef.ReplaceAllStringFunc(dsn, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("store.dsn: environment variable %s is not set", name))
		}
		return v
	})
	return out, errors.Join(errs...)
}
