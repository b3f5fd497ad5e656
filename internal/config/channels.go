package config

import (
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
)

// Channel is one entry of channels: the settings every channel has,
// decoded and validated here, and the YAML of the whole entry, which the
// channel's own package decodes strictly (DecodeStrict, through app) for
// its type-specific keys.
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
	MinRisk  finding.Risk `yaml:"min_risk"`
	Rules    []string     `yaml:"rules"`
	Services []string     `yaml:"services"`
	Accounts []string     `yaml:"accounts"`
	Regions  []string     `yaml:"regions"`
	Outcomes []string     `yaml:"outcomes"`
	Actors   []string     `yaml:"actors"`
	// SendRepeats delivers repeats of a live alert as updates; the
	// default depends on the type (on for incident and ticket systems,
	// off where a repeat would page again).
	SendRepeats *bool `yaml:"send_repeats"`
	// Delivery.
	RatePerMinute *float64          `yaml:"rate_per_minute"`
	Burst         int               `yaml:"burst"`
	Concurrency   int               `yaml:"concurrency"`
	MaxAttempts   int               `yaml:"max_attempts"`
	MaxAge        duration.Duration `yaml:"max_age"`
	// AttemptTimeout bounds one delivery attempt; a delivery in flight
	// when its process dies is taken up again after twice this.
	AttemptTimeout duration.Duration `yaml:"attempt_timeout"`
	DashboardURL   string            `yaml:"dashboard_url"`
	Template       Template          `yaml:"template"`
}

// Template overrides the message text (Go text/template; see
// docs/channels/README.md).
type Template struct {
	Title string `yaml:"title"`
	Body  string `yaml:"body"`
	Short string `yaml:"short"`
}

// Outcomes are the values outcome filters take.
var Outcomes = []string{"success", "denied", "failed"}

var commonFields = fieldsOf(reflect.TypeFor[Common]())

// keepNode keeps the entry and decodes the common keys; the others are
// the channel type's, checked by DecodeStrict.
func (c *Channel) keepNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "a channel is a mapping with name, type and its settings, not %s", kindName(n))
		return
	}
	c.Node = *n
	v := reflect.ValueOf(&c.Common).Elem()
	for _, p := range pairs(n) {
		if f, ok := commonFields[p.k.Value]; ok {
			d.value(p.v, v.FieldByIndex(f), join(path, p.k.Value))
		}
	}
}

// DecodeStrict decodes the entry's type-specific keys into dst (a pointer
// to a struct whose yaml fields, inline ones included, are the keys the
// type takes) and reports every unknown key and wrong value, each as a
// *Problem with its key and line.
func (c *Channel) DecodeStrict(dst any) error {
	return decodeStrict(&c.Node, "channel type "+c.Type, commonFields, dst)
}

// decodeStrict decodes the keys of n that are not in skip into dst.
func decodeStrict[V any](n *yaml.Node, what string, skip map[string]V, dst any) error {
	known := fieldsOf(reflect.TypeOf(dst))
	all := keysOf(known)
	for k := range skip {
		all = append(all, k)
	}
	filtered := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	d := &decoder{}
	for _, p := range pairs(n) {
		if _, ok := skip[p.k.Value]; ok {
			continue
		}
		if _, ok := known[p.k.Value]; !ok {
			d.fail(p.k.Value, p.k, "unknown key for %s%s", what, didYouMean(p.k.Value, all))
			continue
		}
		filtered.Content = append(filtered.Content, p.k, p.v)
	}
	d.value(filtered, reflect.ValueOf(dst).Elem(), "")
	if len(d.problems) == 0 {
		return nil
	}
	errs := make([]error, len(d.problems))
	for i, p := range d.problems {
		errs[i] = p
	}
	return joinErrors(errs)
}

func validateChannels(v *validator, chs []Channel) {
	seen := map[string]int{}
	for i, c := range chs {
		p := fmt.Sprintf("channels[%d]", i)
		if c.Name != "" {
			p += " (" + c.Name + ")"
		}
		if c.Name == "" {
			v.add(p+".name", "missing")
		} else if j, dup := seen[c.Name]; dup {
			v.add(p+".name", "%q is also the name of channels[%d]", c.Name, j)
		} else {
			seen[c.Name] = i
		}
		if c.Type == "" {
			v.add(p+".type", "missing")
		}
		for j, o := range c.Outcomes {
			if !contains(Outcomes, o) {
				v.add(fmt.Sprintf("%s.outcomes[%d]", p, j), "%q is not success, denied or failed%s", o, didYouMean(o, Outcomes))
			}
		}
		if c.RatePerMinute != nil && *c.RatePerMinute < 0 {
			v.add(p+".rate_per_minute", "must not be negative (0 means no limit)")
		}
		for key, n := range map[string]int{"burst": c.Burst, "concurrency": c.Concurrency, "max_attempts": c.MaxAttempts} {
			if n < 0 {
				v.add(p+"."+key, "must not be negative")
			}
		}
		if c.MaxAge < 0 {
			v.add(p+".max_age", "must not be negative")
		}
		if c.AttemptTimeout < 0 {
			v.add(p+".attempt_timeout", "must not be negative")
		}
	}
}

// DefaultChannels are the channels trailwatch run uses when none is
// configured: alerts printed on the console.
func DefaultChannels() []Channel {
	var out []Channel
	mustDecode("- {name: console, type: console}", &out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mustDecode decodes built-in YAML with the same decoder as a file.
func mustDecode(src string, dst any) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		panic(err)
	}
	d := &decoder{}
	d.value(n.Content[0], reflect.ValueOf(dst).Elem(), "")
	if len(d.problems) > 0 {
		panic(d.problems[0].Error())
	}
}
