// Package config is trailwatch.yaml: its schema, strict decoding (unknown
// keys are errors), defaults, and validation that reports every problem
// with its path. It imports rule and finding for the types it fills.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
)

// Config is the whole configuration file.
type Config struct {
	Store Store `yaml:"store"`
	// RulePaths are folders of extra rule files, loaded beside the
	// embedded catalogue.
	RulePaths []string `yaml:"rule_paths"`
	// RuleDefaults apply to every rule without settings of its own.
	RuleDefaults RuleSettings `yaml:"rule_defaults"`
	// Rules holds per-rule settings by rule id.
	Rules map[string]RuleSettings `yaml:"rules"`
	// Channels are where alerts go; none means the console.
	Channels []Channel `yaml:"channels"`
	// DashboardURL links alerts to a finding ("{id}" is replaced), for
	// channels without their own.
	DashboardURL string `yaml:"dashboard_url"`
	// Sources feed trailwatch run; none means a webhook on loopback.
	Sources   []Source  `yaml:"sources"`
	Admin     Admin     `yaml:"admin"`
	Heartbeat Heartbeat `yaml:"heartbeat"`
	Log       Log       `yaml:"log"`
}

// Store configures persistence.
type Store struct {
	// Path of the SQLite database; ":memory:" keeps nothing.
	Path string `yaml:"path"`
	// DSN of a PostgreSQL database; when set, it is used instead of path,
	// so several instances can share one database. ${VAR} in it is
	// replaced from the environment. It may hold a password: never print
	// it.
	DSN string `yaml:"dsn"`
}

// DefaultStorePath is where findings go when nothing else is said.
const DefaultStorePath = "trailwatch.db"

// RuleSettings is the YAML form of rule.Settings.
type RuleSettings struct {
	Enabled           *bool           `yaml:"enabled"`
	Risk              string          `yaml:"risk"`
	Events            map[string]bool `yaml:"events"`
	Safelist          []string        `yaml:"safelist"`
	SafelistRegex     []string        `yaml:"safelist_regex"`
	TTL               string          `yaml:"ttl"`
	IncludeAWSService bool            `yaml:"include_aws_service"`
	// Settings are the rule's own settings (countries, CIDRs, regions,
	// patterns, a GeoIP database path), checked by the rule package
	// against what the rule declares; giving them turns on a rule that is
	// off until configured.
	Settings map[string]any `yaml:"settings"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{Store: Store{Path: DefaultStorePath}}
}

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a configuration.
func Parse(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && err != io.EOF {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks every field and joins all problems, each with its path.
func (c *Config) Validate() error {
	var errs []error
	if c.Store.Path == "" && c.Store.DSN == "" {
		errs = append(errs, errors.New("store.path: empty"))
	}
	if _, err := c.RuleDefaults.settings("rule_defaults"); err != nil {
		errs = append(errs, err)
	}
	for _, id := range sortedKeys(c.Rules) {
		if _, err := c.Rules[id].settings("rules." + id); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, validateChannels(c.Channels)...)
	errs = append(errs, validateRun(c)...)
	return errors.Join(errs...)
}

func (s RuleSettings) settings(path string) (rule.Settings, error) {
	var errs []error
	out := rule.Settings{Enabled: s.Enabled, Events: s.Events, Safelist: s.Safelist, SafelistRegex: s.SafelistRegex, IncludeAWSService: s.IncludeAWSService, Params: s.Settings}
	if len(s.Settings) > 0 && path == "rule_defaults" {
		errs = append(errs, errors.New("rule_defaults.settings: settings belong to one rule (rules.<id>.settings)"))
	}
	if s.Risk != "" {
		r, err := finding.ParseRisk(s.Risk)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.risk: %w", path, err))
		}
		out.Risk = r
	}
	if s.TTL != "" {
		d, err := rule.ParseDuration(s.TTL)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.ttl: %w", path, err))
		}
		out.TTL = d
	}
	for i, p := range s.Safelist {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("%s.safelist[%d]: empty", path, i))
		}
	}
	return out, errors.Join(errs...)
}

// RuleSettings converts the rule settings for rule.NewEngine: per-rule
// entries inherit rule_defaults where they say nothing.
func (c *Config) RuleSettings() map[string]rule.Settings {
	out := map[string]rule.Settings{}
	def, _ := c.RuleDefaults.settings("rule_defaults")
	out["*"] = def
	for id, s := range c.Rules {
		rs, _ := s.settings("rules." + id)
		if rs.Enabled == nil {
			rs.Enabled = def.Enabled
		}
		if rs.Risk == 0 {
			rs.Risk = def.Risk
		}
		if rs.TTL == 0 {
			rs.TTL = def.TTL
		}
		rs.Safelist = append(append([]string(nil), def.Safelist...), rs.Safelist...)
		rs.SafelistRegex = append(append([]string(nil), def.SafelistRegex...), rs.SafelistRegex...)
		rs.IncludeAWSService = rs.IncludeAWSService || def.IncludeAWSService
		out[id] = rs
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
