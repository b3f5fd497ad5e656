// Package rule owns the rule format, the embedded catalogue, the engine that
// turns events into findings, and rule self-tests. Rules are data (YAML with
// CEL expressions); evaluating them does no I/O and is safe from many
// goroutines. It imports event, actor, finding and awsapi.
package rule

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/awsapi"
	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
)

//go:embed rules/*.yaml
var embedded embed.FS

// Adjust changes a finding's risk when its condition holds.
type Adjust struct {
	When   string       `yaml:"when"`
	Risk   finding.Risk `yaml:"risk"`
	Reason string       `yaml:"reason"`
	prog   cel.Program
}

// ResourceSpec says how to name the resource a change touched: Type is
// fixed, Name and ARN are CEL expressions returning strings.
type ResourceSpec struct {
	Type string `yaml:"type"`
	Name string `yaml:"name"`
	ARN  string `yaml:"arn"`
}

// Expect is a rule test's expected verdict.
type Expect struct {
	Match   bool         `yaml:"match"`
	Risk    finding.Risk `yaml:"risk"`
	Outcome string       `yaml:"outcome"`
	// Reason, when set, must be a substring of one of the risk reasons.
	Reason string `yaml:"reason"`
	// Summary, when set, must be a substring of the summary.
	Summary string `yaml:"summary"`
	// Method, when set, is the expected access method.
	Method string `yaml:"method"`
	// NoReason, when set, must not be a substring of any risk reason.
	NoReason string `yaml:"no_reason"`
	// Resource and ARN, when set, are the expected resource name and ARN.
	Resource string `yaml:"resource"`
	ARN      string `yaml:"arn"`
}

// Test is one example event and the verdict the rule must give.
type Test struct {
	Name  string         `yaml:"name"`
	Event map[string]any `yaml:"event"`
	// Settings are the rule's settings for this test (as under
	// rules.<id>.settings); a rule that is off until configured runs with
	// them. A geoip_database setting may be {networks: {CIDR: CC}}: the
	// test builds that database on the spot.
	Settings map[string]any `yaml:"settings"`
	Expect   Expect         `yaml:"expect"`
}

// Any, as an event_source or the only event name, watches every source or
// every name.
const Any = "*"

// Rule is one detection: which calls it watches, when it fires, how risky
// the change is and why.
type Rule struct {
	ID      string `yaml:"id"`
	Title   string `yaml:"title"`
	Service string `yaml:"service"`
	// EventSource is the CloudTrail eventSource, or "*" for any.
	EventSource string `yaml:"event_source"`
	// EventNames are the event names watched; ["*"] watches every name
	// of the source.
	EventNames []string `yaml:"event_names"`
	// ReferenceIDs are Cloud One Conformity's ids of the rules this one
	// stands for (RTM-009, IAM-052, CT-013).
	ReferenceIDs []string `yaml:"reference_ids"`
	// CIS lists the CIS AWS Foundations Benchmark monitoring controls the
	// rule covers, as "v1.2 3.10", "v1.4 4.10", "v6 5.10".
	CIS []string `yaml:"cis"`
	// Author is who wrote the rule, shown with every finding it raises
	// (required for Sigma rules, DRL 1.1); Origin is where it came from.
	Author string `yaml:"author"`
	Origin string `yaml:"origin"`
	// Enabled false makes the rule off until configured: a rules.<id>
	// entry with enabled: true or with settings turns it on.
	Enabled *bool `yaml:"enabled"`
	// Settings the rule takes (rules.<id>.settings in trailwatch.yaml).
	Settings map[string]SettingSpec `yaml:"settings"`
	// WatchReads allows read-only event names (discovery detections).
	WatchReads bool `yaml:"watch_reads"`
	// Fallback rules fire only for events no other rule reported.
	Fallback bool `yaml:"fallback"`
	// PathsUnseen names record paths the rule reads that no real recorded
	// event of its operations has, each with the reason it reads them.
	PathsUnseen map[string]string `yaml:"paths_unseen"`
	// Outcomes the rule reports: success (the default), denied, failed.
	Outcomes    []string     `yaml:"outcomes"`
	Risk        finding.Risk `yaml:"risk"`
	Description string       `yaml:"description"`
	Remediation string       `yaml:"remediation"`
	References  []string     `yaml:"references"`
	// Condition, a CEL boolean, must hold for the rule to fire.
	Condition string `yaml:"condition"`
	// Adjust raises (or, for harmless changes, lowers) the risk.
	Adjust   []Adjust     `yaml:"adjust"`
	Resource ResourceSpec `yaml:"resource"`
	// Summary, a CEL string expression, overrides the generated summary.
	Summary string `yaml:"summary"`
	// TTL is how long repeats of the same finding fingerprint are one alert.
	TTL   Duration `yaml:"ttl"`
	Tests []Test   `yaml:"tests"`

	// File is where the rule was loaded from.
	File string `yaml:"-"`

	cond                 cel.Program
	resName, resARN, sum cel.Program
}

// Duration is a time.Duration written as "24h" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a duration in the grammar of package duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a duration in the one grammar of package duration
// ("90m", "24h", "7d", ...).
func ParseDuration(s string) (time.Duration, error) { return duration.Parse(s) }

// DefaultTTL is how long an alert lives when a rule names no TTL.
const DefaultTTL = finding.DefaultTTL

// file is the YAML form of a rule file: shared defaults and the rules.
type file struct {
	// Defaults fill fields a rule leaves empty; their adjustments and
	// test event are shared by every rule of the file.
	Defaults struct {
		Service     string         `yaml:"service"`
		EventSource string         `yaml:"event_source"`
		Author      string         `yaml:"author"`
		Risk        finding.Risk   `yaml:"risk"`
		Outcomes    []string       `yaml:"outcomes"`
		References  []string       `yaml:"references"`
		Adjust      []Adjust       `yaml:"adjust"`
		TTL         Duration       `yaml:"ttl"`
		TestEvent   map[string]any `yaml:"test_event"`
	} `yaml:"defaults"`
	Rules []*Rule `yaml:"rules"`
}

// Catalogue is a validated set of rules.
type Catalogue struct {
	Rules []*Rule
	byID  map[string]*Rule
}

// Get returns the rule with the given id.
func (c *Catalogue) Get(id string) (*Rule, bool) {
	r, ok := c.byID[id]
	return r, ok
}

// Embedded loads the catalogue built into the binary.
func Embedded() (*Catalogue, error) {
	sub, err := fs.Sub(embedded, "rules")
	if err != nil {
		return nil, err
	}
	return Load(sub, "builtin:")
}

// LoadDir loads every *.yaml / *.yml file of a folder (recursively).
func LoadDir(dir string) (*Catalogue, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("rules folder: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("rules folder %s: not a folder", dir)
	}
	return Load(os.DirFS(dir), dir+string(filepath.Separator))
}

// Load reads and validates every rule file in fsys. Every problem is
// reported, each naming its file and rule.
func Load(fsys fs.FS, prefix string) (*Catalogue, error) {
	var errs []error
	c := &Catalogue{byID: map[string]*Rule{}}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		data, err := fs.ReadFile(fsys, path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", prefix, path, err))
			return nil
		}
		rules, err := parseFile(prefix+path, data)
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range rules {
			if prev, dup := c.byID[r.ID]; dup {
				errs = append(errs, fmt.Errorf("%s: rule %s: duplicate id (also in %s)", r.File, r.ID, prev.File))
				continue
			}
			c.byID[r.ID] = r
			c.Rules = append(c.Rules, r)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(c.Rules) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%sno rule files (*.yaml)", prefix))
	}
	sort.Slice(c.Rules, func(i, j int) bool { return c.Rules[i].ID < c.Rules[j].ID })
	return c, errors.Join(errs...)
}

func parseFile(name string, data []byte) ([]*Rule, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	var out []*Rule
	d := f.Defaults
	for i, r := range f.Rules {
		if r == nil {
			errs = append(errs, fmt.Errorf("%s: rules[%d]: empty", name, i))
			continue
		}
		r.File = name
		if r.Service == "" {
			r.Service = d.Service
		}
		if r.EventSource == "" {
			r.EventSource = d.EventSource
		}
		if r.Author == "" {
			r.Author = d.Author
		}
		if r.Risk == 0 {
			r.Risk = d.Risk
		}
		if len(r.Outcomes) == 0 {
			r.Outcomes = d.Outcomes
		}
		if len(r.Outcomes) == 0 {
			r.Outcomes = []string{"success"}
		}
		r.References = append(r.References, d.References...)
		// Shared adjustments come after the rule's own; copies, because
		// each rule compiles its own programs.
		for _, a := range d.Adjust {
			r.Adjust = append(r.Adjust, Adjust{When: a.When, Risk: a.Risk, Reason: a.Reason})
		}
		if r.TTL == 0 {
			r.TTL = d.TTL
		}
		if r.TTL == 0 {
			r.TTL = Duration(DefaultTTL)
		}
		if d.TestEvent != nil {
			for j := range r.Tests {
				r.Tests[j].Event = merge(d.TestEvent, r.Tests[j].Event)
			}
		}
		if err := r.compile(); err != nil {
			errs = append(errs, fmt.Errorf("%s: rule %s: %w", name, ruleName(r, i), err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// ParseOne reads and validates one rule file's text (name is used in
// errors), as Load does for each file.
func ParseOne(name string, data []byte) (*Rule, error) {
	rules, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	if len(rules) != 1 {
		return nil, fmt.Errorf("%s: %d rules, want one", name, len(rules))
	}
	return rules[0], nil
}

func ruleName(r *Rule, i int) string {
	if r.ID != "" {
		return r.ID
	}
	return fmt.Sprintf("rules[%d]", i)
}

// merge deep-merges over onto base: maps merge key by key, anything else in
// over replaces; a null in over deletes the key.
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = merge(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

var cisRE = regexp.MustCompile(`^v[0-9]+(\.[0-9]+)* [0-9]+\.[0-9]+$`)

// validateNames checks event_source and event_names against the names
// CloudTrail really logs: SDK operations plus the CloudTrail-only list.
func (r *Rule) validateNames() []error {
	var errs []error
	if len(r.EventNames) == 0 {
		errs = append(errs, errors.New("event_names: missing"))
	}
	anyName := len(r.EventNames) == 1 && r.EventNames[0] == Any
	var svc *awsapi.Service
	known := false
	switch r.EventSource {
	case "":
		errs = append(errs, errors.New("event_source: missing"))
	case Any:
	default:
		svc, known = awsapi.Lookup(r.EventSource)
		if !known {
			errs = append(errs, fmt.Errorf("event_source: %q is not a service with a generated operation list (internal/awsapi)", r.EventSource))
		}
	}
	if anyName {
		return errs
	}
	seen := map[string]bool{}
	for _, n := range r.EventNames {
		if seen[n] {
			errs = append(errs, fmt.Errorf("event_names: %s listed twice", n))
		}
		seen[n] = true
		if n == Any {
			errs = append(errs, errors.New(`event_names: "*" must be the only name`))
			continue
		}
		if r.EventSource == Any {
			if len(awsapi.SourcesOf(n)) == 0 {
				errs = append(errs, fmt.Errorf("event_names: %s is not an event name CloudTrail logs for any known service", n))
			}
			continue
		}
		if !known {
			continue
		}
		k, ok := svc.Kind(n)
		switch {
		case !ok:
			hint := ""
			if others := awsapi.SourcesOf(n); len(others) > 0 {
				hint = " (it is one of " + strings.Join(others, ", ") + ")"
			}
			errs = append(errs, fmt.Errorf("event_names: %s is not an operation of %s%s", n, r.EventSource, hint))
		case k == awsapi.Read && !r.WatchReads:
			errs = append(errs, fmt.Errorf("event_names: %s is read-only, not a configuration change (set watch_reads: true to watch reads on purpose)", n))
		}
	}
	return errs
}

// validate checks the rule against the format and the real AWS API.
func (r *Rule) validate() error {
	var errs []error
	if r.ID == "" {
		errs = append(errs, errors.New("id: missing"))
	}
	if r.Title == "" {
		errs = append(errs, errors.New("title: missing"))
	}
	if r.Risk == 0 {
		errs = append(errs, errors.New("risk: missing"))
	}
	if r.Description == "" {
		errs = append(errs, errors.New("description: missing"))
	}
	if r.Remediation == "" {
		errs = append(errs, errors.New("remediation: missing"))
	}
	if r.Resource.Type == "" {
		errs = append(errs, errors.New("resource.type: missing"))
	}
	for _, o := range r.Outcomes {
		switch o {
		case "success", "denied", "failed":
		default:
			errs = append(errs, fmt.Errorf("outcomes: unknown outcome %q (want success, denied or failed)", o))
		}
	}
	errs = append(errs, r.validateNames()...)
	for _, c := range r.CIS {
		if !cisRE.MatchString(c) {
			errs = append(errs, fmt.Errorf("cis: %q: want a version and control, like \"v1.4 4.3\"", c))
		}
	}
	for _, name := range sortedKeys(r.Settings) {
		if err := r.Settings[name].validate(); err != nil {
			errs = append(errs, fmt.Errorf("settings.%s: %w", name, err))
		}
	}
	for _, name := range sortedKeys(r.Settings) {
		if r.Settings[name].Required && r.DefaultOn() {
			errs = append(errs, fmt.Errorf("settings.%s: required, so the rule must be off until configured (enabled: false)", name))
		}
	}
	if r.Enabled != nil && *r.Enabled {
		errs = append(errs, errors.New("enabled: rules are on by default; only enabled: false (off until configured) means something here"))
	}
	for p, why := range r.PathsUnseen {
		if strings.TrimSpace(why) == "" {
			errs = append(errs, fmt.Errorf("paths_unseen.%s: say why the rule reads a path no real event has", p))
		}
	}
	if len(r.Tests) == 0 && !strings.HasPrefix(r.Origin, "Sigma rule") {
		errs = append(errs, errors.New("tests: a rule needs at least one test event"))
	}
	for i, a := range r.Adjust {
		if a.Risk == 0 {
			errs = append(errs, fmt.Errorf("adjust[%d].risk: missing", i))
		}
		if a.Reason == "" {
			errs = append(errs, fmt.Errorf("adjust[%d].reason: missing", i))
		}
	}
	return errors.Join(errs...)
}

func (r *Rule) compile() error {
	errs := []error{r.validate()}
	var err error
	if r.Condition != "" {
		if r.cond, err = compileExpr(r.Condition, cel.BoolType); err != nil {
			errs = append(errs, fmt.Errorf("condition: %w", err))
		}
	}
	for i := range r.Adjust {
		if r.Adjust[i].prog, err = compileExpr(r.Adjust[i].When, cel.BoolType); err != nil {
			errs = append(errs, fmt.Errorf("adjust[%d].when: %w", i, err))
		}
	}
	if r.Resource.Name != "" {
		if r.resName, err = compileExpr(r.Resource.Name, cel.StringType); err != nil {
			errs = append(errs, fmt.Errorf("resource.name: %w", err))
		}
	}
	if r.Resource.ARN != "" {
		if r.resARN, err = compileExpr(r.Resource.ARN, cel.StringType); err != nil {
			errs = append(errs, fmt.Errorf("resource.arn: %w", err))
		}
	}
	if r.Summary != "" {
		if r.sum, err = compileExpr(r.Summary, cel.StringType); err != nil {
			errs = append(errs, fmt.Errorf("summary: %w", err))
		}
	}
	for _, src := range r.expressions() {
		for _, ref := range settingRefs(src) {
			if _, ok := r.Settings[ref]; !ok {
				errs = append(errs, fmt.Errorf("settings.%s is read by an expression but not declared under settings", ref))
			}
		}
	}
	return errors.Join(errs...)
}

// expressions returns every CEL expression of the rule.
func (r *Rule) expressions() []string {
	out := []string{r.Condition, r.Resource.Name, r.Resource.ARN, r.Summary}
	for _, a := range r.Adjust {
		out = append(out, a.When)
	}
	return out
}

// Paths returns the record paths the rule's expressions read (ReadPaths).
func (r *Rule) Paths() []string {
	set := map[string]bool{}
	for _, src := range r.expressions() {
		if src == "" {
			continue
		}
		ps, _ := ReadPaths(src)
		for _, p := range ps {
			set[p] = true
		}
	}
	return sortedKeys(set)
}

// DefaultOn reports whether the rule runs without configuration.
func (r *Rule) DefaultOn() bool { return r.Enabled == nil || *r.Enabled }

// NewCatalogue builds a catalogue from rules already loaded, rejecting
// duplicate ids.
func NewCatalogue(rules []*Rule) (*Catalogue, error) {
	c := &Catalogue{byID: map[string]*Rule{}}
	var errs []error
	for _, r := range rules {
		if prev, dup := c.byID[r.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: rule %s: duplicate id (also in %s)", r.File, r.ID, prev.File))
			continue
		}
		c.byID[r.ID] = r
		c.Rules = append(c.Rules, r)
	}
	sort.Slice(c.Rules, func(i, j int) bool { return c.Rules[i].ID < c.Rules[j].ID })
	return c, errors.Join(errs...)
}

// FormatDuration writes a duration as package duration does (days where
// they divide).
func FormatDuration(d Duration) string { return duration.Format(time.Duration(d)) }
