package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Channel is one entry of channels: the settings every channel has, and
// the YAML of the whole entry, which the channel's own package decodes
// strictly (app.Channels) for its type-specific fields.
type Channel struct {
	Common
	// Node is the entry as written.
	Node yaml.Node `yaml:"-"`
}

// Common are the settings every channel has.
type Common struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Routing: which findings the channel receives.
	MinRisk  string   `yaml:"min_risk"`
	Rules    []string `yaml:"rules"`
	Services []string `yaml:"services"`
	Accounts []string `yaml:"accounts"`
	Regions  []string `yaml:"regions"`
	Outcomes []string `yaml:"outcomes"`
	Actors   []string `yaml:"actors"`
	// SendRepeats delivers repeats of a live alert as updates; the
	// default depends on the type (on for incident and ticket systems,
	// off where a repeat would page again).
	SendRepeats *bool `yaml:"send_repeats"`
	// Delivery.
	RatePerMinute *float64 `yaml:"rate_per_minute"`
	Burst         int      `yaml:"burst"`
	Concurrency   int      `yaml:"concurrency"`
	MaxAttempts   int      `yaml:"max_attempts"`
	MaxAge        string   `yaml:"max_age"`
	DashboardURL  string   `yaml:"dashboard_url"`
	Template      Template `yaml:"template"`
}

// Template overrides the message text (Go text/template; see
// docs/channels/README.md).
type Template struct {
	Title string `yaml:"title"`
	Body  string `yaml:"body"`
	Short string `yaml:"short"`
}

// UnmarshalYAML keeps the node and reads the common settings.
func (c *Channel) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a channel is a mapping with name, type and its fields", n.Line)
	}
	c.Node = *n
	// The common part alone, leniently: the type-specific keys are
	// checked by the channel's own decoder.
	var m map[string]yaml.Node
	if err := n.Decode(&m); err != nil {
		return err
	}
	common := map[string]yaml.Node{}
	for _, k := range commonKeys {
		if v, ok := m[k]; ok {
			common[k] = v
		}
	}
	b, err := yaml.Marshal(common)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, &c.Common)
}

var commonKeys = []string{"name", "type", "min_risk", "rules", "services", "accounts", "regions", "outcomes", "actors",
	"send_repeats", "rate_per_minute", "burst", "concurrency", "max_attempts", "max_age", "dashboard_url", "template"}

// DecodeStrict decodes the whole entry into dst (a pointer to a struct
// whose yaml fields, inline ones included, are the keys allowed), and
// reports every unknown key with its line.
func (c *Channel) DecodeStrict(dst any) error { return decodeStrict(&c.Node, c.Type, dst) }

func decodeStrict(n *yaml.Node, typ string, dst any) error {
	known := map[string]bool{}
	yamlKeys(reflect.TypeOf(dst), known)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !known[k.Value] {
			errs = append(errs, fmt.Errorf("%s: unknown field (line %d) for type %s", k.Value, k.Line, typ))
		}
	}
	if err := n.Decode(dst); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// yamlKeys collects the YAML keys a struct type accepts.
func yamlKeys(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			yamlKeys(f.Type, into)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = true
	}
}

func validateChannels(chs []Channel) []error {
	var errs []error
	seen := map[string]int{}
	for i, c := range chs {
		p := fmt.Sprintf("channels[%d]", i)
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: missing", p))
		} else if j, dup := seen[c.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is also the name of channels[%d]", p, c.Name, j))
		} else {
			seen[c.Name] = i
		}
		if c.Type == "" {
			errs = append(errs, fmt.Errorf("%s.type: missing", p))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return []error{errors.Join(errs...)}
}
