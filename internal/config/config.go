// Package config is trailwatch.yaml: its schema, strict decoding, explicit
// defaults, and the validation of everything that can be judged without
// the parts it configures. Every problem is reported in one pass, each with
// its YAML path and line, a "did you mean" for near misses, and no Go type
// names. Channel and source entries keep their YAML so that their own
// packages decode their type-specific keys (through app). It imports rule,
// finding and duration.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/duration"
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
	// Channels are where alerts go; none means the console for
	// trailwatch run (DefaultChannels).
	Channels []Channel `yaml:"channels"`
	// DashboardURL links alerts to a finding ("{id}" is replaced), for
	// channels without their own.
	DashboardURL string `yaml:"dashboard_url"`
	// Sources feed trailwatch run; none means a webhook on loopback
	// (DefaultSources).
	Sources   []Source  `yaml:"sources"`
	Admin     Admin     `yaml:"admin"`
	UI        UI        `yaml:"ui"`
	Heartbeat Heartbeat `yaml:"heartbeat"`
	Log       Log       `yaml:"log"`

	// File is the file the configuration was read from; empty for the
	// defaults or a configuration parsed from a stream.
	File string `yaml:"-"`

	lines    map[string]int // YAML path → line
	problems []*Problem     // found while loading
}

// topKeys are the top-level keys, for locating errors by path.
var topKeys = func() map[string]bool {
	m := map[string]bool{}
	for k := range fieldsOf(reflect.TypeFor[Config]()) {
		m[k] = true
	}
	return m
}()

// Store configures persistence.
type Store struct {
	// Path of the SQLite database; ":memory:" keeps nothing.
	Path string `yaml:"path"`
	// DSN of a PostgreSQL database; when set, it is used instead of path,
	// so several instances can share one database. ${VAR} in it is
	// replaced from the environment (ResolveDSN). It may hold a password:
	// never print it.
	DSN string `yaml:"dsn"`
	// LeasePeriod bounds how long the work one instance leased (an S3
	// account and region, judging the heartbeat) waits for another when
	// that instance dies: it is renewed every third of the period and
	// lapses two thirds of it after its last renewal. Default
	// DefaultLeasePeriod.
	LeasePeriod duration.Duration `yaml:"lease_period"`
	// Retention deletes findings whose event is older (with their
	// deliveries and history), in small batches, while trailwatch run
	// runs; zero keeps everything.
	Retention duration.Duration `yaml:"retention"`
}

// DefaultLeasePeriod is store.lease_period's default.
const DefaultLeasePeriod = 30 * time.Second

// Lease returns the lease period, its default applied.
func (s Store) Lease() time.Duration {
	if s.LeasePeriod <= 0 {
		return DefaultLeasePeriod
	}
	return s.LeasePeriod.D()
}

// Defaults, explicit: what an absent key means.
const (
	// DefaultStorePath is where findings go when nothing else is said.
	DefaultStorePath = "trailwatch.db"
	// DefaultAdminListen is where /healthz, /readyz and /metrics listen.
	DefaultAdminListen = "127.0.0.1:9090"
	// DefaultWebhookListen is where a webhook source without listen:
	// listens (the webhook package's own default; a test in app keeps
	// them equal).
	DefaultWebhookListen = "127.0.0.1:8080"
	// MaxFileSize bounds a configuration file.
	MaxFileSize = 4 << 20
)

// RuleSettings is the YAML form of rule.Settings.
type RuleSettings struct {
	Enabled           *bool             `yaml:"enabled"`
	Risk              finding.Risk      `yaml:"risk"`
	Events            map[string]bool   `yaml:"events"`
	Safelist          []string          `yaml:"safelist"`
	SafelistRegex     []string          `yaml:"safelist_regex"`
	TTL               duration.Duration `yaml:"ttl"`
	IncludeAWSService bool              `yaml:"include_aws_service"`
	// Settings are the rule's own settings (countries, CIDRs, regions,
	// patterns, a GeoIP database path), checked by the rule package
	// against what the rule declares; giving them turns on a rule that is
	// off until configured.
	Settings map[string]any `yaml:"settings"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{Store: Store{Path: DefaultStorePath}, Admin: Admin{Listen: DefaultAdminListen}, lines: map[string]int{}}
}

// Load reads and validates a configuration file: a regular file of at
// most MaxFileSize bytes. On problems it returns them all as *Problems;
// the *Config is returned too when the file could be decoded (so that
// config check can add the problems only the configured parts find), and
// is nil when it could not.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data, path)
}

// readFile reads a configuration file without blocking on a FIFO or
// reading a device without end.
func readFile(path string) ([]byte, error) {
	q := strconv.Quote(path)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("config %s: %w", q, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", q, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config %s: not a regular file", q)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("config %s: %d bytes, more than the %d MiB a configuration may have", q, st.Size(), MaxFileSize>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", q, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config %s: more than the %d MiB a configuration may have", q, MaxFileSize>>20)
	}
	return data, nil
}

// Parse decodes and validates a configuration from a stream (at most
// MaxFileSize bytes), like Load.
func Parse(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("configuration: more than the %d MiB a configuration may have", MaxFileSize>>20)
	}
	return parse(data, "")
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxProblem turns a YAML parser error into a problem with its line.
func syntaxProblem(err error) *Problem {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		if parserError(m[2]) {
			n++ // the YAML library counts these from 0, scanner errors from 1
		}
		return &Problem{Line: n, Msg: "YAML syntax: " + m[2]}
	}
	return &Problem{Msg: "YAML syntax: " + s}
}

// parserError reports whether a YAML library message comes from its
// parser (which reports the line of the construct being parsed, counted
// from 0) rather than its scanner.
func parserError(msg string) bool {
	if strings.HasPrefix(msg, "did not find expected") {
		return true
	}
	switch msg {
	case "found undefined tag handle", "found duplicate %YAML directive", "found incompatible YAML document", "found duplicate %TAG directive":
		return true
	}
	return false
}

func parse(data []byte, file string) (*Config, error) {
	ps := &Problems{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty file: every default
			c := Default()
			c.File = file
			return c, nil
		}
		ps.List = append(ps.List, syntaxProblem(err))
		return nil, ps.err()
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		ps.List = append(ps.List, syntaxProblem(err))
		return nil, ps.err()
	default:
		line := next.Line
		if len(next.Content) > 0 {
			line = next.Content[0].Line
		}
		ps.List = append(ps.List, &Problem{Line: max(line-1, 1), Msg: "a second YAML document (after ---): trailwatch reads one; put everything in the first"})
	}
	// The YAML library's own checks first: excessive aliasing (alias
	// bombs) and keys written twice.
	var probe any
	if err := doc.Decode(&probe); err != nil {
		for _, l := range strings.Split(yamlErrText(err), "\n") {
			ps.List = append(ps.List, syntaxProblem(errors.New(strings.TrimSpace(l))))
		}
		return nil, ps.err()
	}
	c := Default()
	c.File = file
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = resolve(root.Content[0])
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		c.problems = ps.List
		return c, ps.err()
	}
	recordLines(root, "", c.lines, 0)
	d := &decoder{}
	d.value(root, reflect.ValueOf(c).Elem(), "")
	ps.List = append(ps.List, d.problems...)
	ps.List = append(ps.List, c.validate()...)
	for _, p := range ps.List {
		if p.Line == 0 {
			p.Line = c.Line(p.Path)
		}
	}
	c.problems = ps.List
	if err := ps.err(); err != nil {
		return c, err
	}
	return c, nil
}

// Validate checks what can be judged from the configuration alone and
// returns every problem, each with its path and line.
func (c *Config) Validate() error {
	ps := &Problems{File: c.File, List: c.validate()}
	for _, p := range ps.List {
		if p.Line == 0 {
			p.Line = c.Line(p.Path)
		}
	}
	return ps.err()
}

func (c *Config) validate() []*Problem {
	var v validator
	if c.Store.Path == "" && c.Store.DSN == "" {
		v.add("store.path", "empty (give a SQLite file, or store.dsn for PostgreSQL)")
	}
	if c.Store.Retention < 0 {
		v.add("store.retention", "must be positive (400d), or absent to keep everything")
	} else if c.Store.Retention > 0 && c.Store.Retention.D() < 24*time.Hour {
		v.add("store.retention", "%s is less than a day: findings would vanish before anyone triaged them", c.Store.Retention.D())
	}
	if c.Store.DSN != "" {
		for _, name := range badEnvRefs(c.Store.DSN) {
			v.add("store.dsn", "%q is not a valid ${VAR} reference (letters, digits and _ only)", name)
		}
	}
	if c.Store.LeasePeriod != 0 && c.Store.LeasePeriod.D() < time.Second {
		v.add("store.lease_period", "must be at least 1s")
	}
	c.RuleDefaults.validate(&v, "rule_defaults")
	for _, id := range sortedKeys(c.Rules) {
		s := c.Rules[id]
		s.validate(&v, "rules."+id)
	}
	validateChannels(&v, c.Channels)
	validateRun(&v, c)
	return v.problems
}

func (s RuleSettings) validate(v *validator, path string) {
	if len(s.Settings) > 0 && path == "rule_defaults" {
		v.add("rule_defaults.settings", "settings belong to one rule (rules.<id>.settings)")
	}
	if s.TTL < 0 {
		v.add(path+".ttl", "must not be negative")
	}
	for i, p := range s.Safelist {
		if strings.TrimSpace(p) == "" {
			v.add(fmt.Sprintf("%s.safelist[%d]", path, i), "empty")
		}
	}
	for i, p := range s.SafelistRegex {
		if _, err := regexp.Compile(p); err != nil {
			v.add(fmt.Sprintf("%s.safelist_regex[%d]", path, i), "not a regular expression: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	}
}

func (s RuleSettings) settings() rule.Settings {
	return rule.Settings{Enabled: s.Enabled, Risk: s.Risk, Events: s.Events, Safelist: s.Safelist,
		SafelistRegex: s.SafelistRegex, TTL: s.TTL.D(), IncludeAWSService: s.IncludeAWSService, Params: s.Settings}
}

// RuleSettings converts the rule settings for rule.NewEngine: per-rule
// entries inherit rule_defaults where they say nothing.
func (c *Config) RuleSettings() map[string]rule.Settings {
	out := map[string]rule.Settings{}
	def := c.RuleDefaults.settings()
	out["*"] = def
	for id, s := range c.Rules {
		rs := s.settings()
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

// validator collects problems.
type validator struct{ problems []*Problem }

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
