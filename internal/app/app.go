// Package app wires the parts together from a configuration: the rule
// catalogue and engine, the store, and (as they arrive) notifiers and
// sources. It is the only package that knows every part.
package app

import (
	"errors"
	"fmt"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/rule"
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

// OpenStore opens the configured store.
func OpenStore(cfg *config.Config) (*sqlite.Store, error) {
	return sqlite.Open(cfg.Store.Path, nil)
}
