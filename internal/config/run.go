package config

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Source is one entry of sources: its name and type, and the YAML of the
// whole entry, which the source's package decodes strictly.
type Source struct {
	Name string    `yaml:"name"`
	Type string    `yaml:"type"`
	Node yaml.Node `yaml:"-"`
}

// UnmarshalYAML keeps the node and reads name and type.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a source is a mapping with name, type and its fields", n.Line)
	}
	s.Node = *n
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "name":
			s.Name = n.Content[i+1].Value
		case "type":
			s.Type = n.Content[i+1].Value
		}
	}
	return nil
}

// DecodeStrict decodes the entry into dst, reporting unknown keys.
func (s *Source) DecodeStrict(dst any) error { return decodeStrict(&s.Node, s.Type, dst) }

// Admin configures the health and metrics endpoints of trailwatch run.
type Admin struct {
	// Listen is the address of /healthz, /readyz and /metrics; default
	// 127.0.0.1:9090; "off" disables them.
	Listen string `yaml:"listen"`
}

// Heartbeat raises a finding when a monitored trail goes silent.
type Heartbeat struct {
	// MaxSilence is how long an account and region may send nothing;
	// empty disables the heartbeat.
	MaxSilence string `yaml:"max_silence"`
	// Expect lists account/region pairs that must keep sending; others
	// are watched from their first event on.
	Expect []struct {
		Account string `yaml:"account"`
		Region  string `yaml:"region"`
	} `yaml:"expect"`
}

// Log configures logging.
type Log struct {
	// Level: debug, info (default), warn, error.
	Level string `yaml:"level"`
	// Format: json (default) or text.
	Format string `yaml:"format"`
}

func validateRun(c *Config) []error {
	var errs []error
	seen := map[string]int{}
	for i, s := range c.Sources {
		p := fmt.Sprintf("sources[%d]", i)
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: missing", p))
		} else if j, dup := seen[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is also the name of sources[%d]", p, s.Name, j))
		} else {
			seen[s.Name] = i
		}
		if s.Type == "" {
			errs = append(errs, fmt.Errorf("%s.type: missing", p))
		}
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not json or text", c.Log.Format))
	}
	if len(errs) == 0 {
		return nil
	}
	return []error{errors.Join(errs...)}
}
