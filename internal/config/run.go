package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/duration"
)

// Source is one entry of sources: its name, type and listen address (for
// sources that listen), and the YAML of the whole entry, which the
// source's package decodes strictly (DecodeStrict, through app).
type Source struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Listen is the entry's listen: key, if it has one.
	Listen string    `yaml:"listen"`
	Node   yaml.Node `yaml:"-"`
}

var sourceKeys = map[string]bool{"name": true, "type": true}

// keepNode keeps the entry and reads name, type and listen.
func (s *Source) keepNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "a source is a mapping with name, type and its settings, not %s", kindName(n))
		return
	}
	s.Node = *n
	for _, p := range pairs(n) {
		var dst *string
		switch p.k.Value {
		case "name":
			dst = &s.Name
		case "type":
			dst = &s.Type
		case "listen":
			dst = &s.Listen
		default:
			continue
		}
		d.value(p.v, reflect.ValueOf(dst).Elem(), join(path, p.k.Value))
	}
}

// DecodeStrict decodes the entry's keys other than name and type into dst,
// reporting every unknown key and wrong value as a *Problem.
func (s *Source) DecodeStrict(dst any) error {
	return decodeStrict(&s.Node, "source type "+s.Type, sourceKeys, dst)
}

// DefaultSources are what trailwatch run reads when no source is
// configured: a webhook on loopback that needs no authentication.
func DefaultSources() []Source {
	var out []Source
	mustDecode(`- {name: local-webhook, type: webhook, listen: "`+DefaultWebhookListen+`", allow_no_auth: true}`, &out)
	return out
}

// Admin configures the health and metrics endpoints of trailwatch run.
type Admin struct {
	// Listen is the address of /healthz, /readyz and /metrics; default
	// DefaultAdminListen; "off" disables them.
	Listen string `yaml:"listen"`
}

// Heartbeat raises a finding when a monitored trail goes silent.
type Heartbeat struct {
	// MaxSilence is how long an account and region may send nothing;
	// zero (absent) disables the heartbeat.
	MaxSilence duration.Duration `yaml:"max_silence"`
	// Expect lists account/region pairs that must keep sending; others
	// are watched from their first event on.
	Expect []Expect `yaml:"expect"`
}

// Expect is one account and region the heartbeat watches from the start.
type Expect struct {
	Account string `yaml:"account"`
	Region  string `yaml:"region"`
}

// Log configures logging.
type Log struct {
	// Level: debug, info (default), warn, error.
	Level string `yaml:"level"`
	// Format: json or text; default text on a terminal, JSON otherwise.
	Format string `yaml:"format"`
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"json", "text"}
	accountID  = regexp.MustCompile(`^\d{12}$`)
)

func validateRun(v *validator, c *Config) {
	seen := map[string]int{}
	type listener struct{ path, addr string }
	var listeners []listener
	for i, s := range c.Sources {
		p := fmt.Sprintf("sources[%d]", i)
		if s.Name != "" {
			p += " (" + s.Name + ")"
		}
		if s.Name == "" {
			v.add(p+".name", "missing")
		} else if j, dup := seen[s.Name]; dup {
			v.add(p+".name", "%q is also the name of sources[%d]", s.Name, j)
		} else {
			seen[s.Name] = i
		}
		if s.Type == "" {
			v.add(p+".type", "missing")
		}
		addr := s.Listen
		if addr == "" && s.Type == "webhook" {
			addr = DefaultWebhookListen
		}
		if addr != "" {
			if err := CheckListen(addr); err != nil {
				v.add(p+".listen", "%v", err)
			} else {
				listeners = append(listeners, listener{p + ".listen", addr})
			}
		}
	}
	if len(c.Sources) == 0 {
		listeners = append(listeners, listener{"sources (none: the default webhook)", DefaultWebhookListen})
	}
	if c.Admin.Listen != "off" && c.Admin.Listen != "" {
		if err := CheckListen(c.Admin.Listen); err != nil {
			v.add("admin.listen", "%v (or \"off\")", err)
		} else {
			listeners = append(listeners, listener{"admin.listen", c.Admin.Listen})
		}
	}
	if c.UI.Listen != "off" && c.UI.Listen != "" && CheckListen(c.UI.Listen) == nil {
		listeners = append(listeners, listener{"ui.listen", c.UI.Listen})
	}
	validateUI(v, c.UI)
	for i := range listeners {
		for j := 0; j < i; j++ {
			if SameListener(listeners[i].addr, listeners[j].addr) {
				v.add(listeners[i].path, "%s is also where %s listens: give each its own port", listeners[i].addr, listeners[j].path)
			}
		}
	}
	if c.Heartbeat.MaxSilence < 0 {
		v.add("heartbeat.max_silence", "must be positive")
	}
	if c.Heartbeat.MaxSilence == 0 && len(c.Heartbeat.Expect) > 0 {
		v.add("heartbeat.max_silence", "required with heartbeat.expect")
	}
	for i, e := range c.Heartbeat.Expect {
		p := fmt.Sprintf("heartbeat.expect[%d]", i)
		if e.Account == "" {
			v.add(p+".account", "missing")
		} else if !accountID.MatchString(e.Account) {
			v.add(p+".account", "%q is not a 12-digit AWS account id (quote it so YAML keeps leading zeros)", e.Account)
		}
		if e.Region == "" {
			v.add(p+".region", "missing")
		}
	}
	if c.Log.Level != "" && !contains(logLevels, c.Log.Level) {
		v.add("log.level", "%q is not debug, info, warn or error%s", c.Log.Level, didYouMean(c.Log.Level, logLevels))
	}
	if c.Log.Format != "" && !contains(logFormats, c.Log.Format) {
		v.add("log.format", "%q is not json or text%s", c.Log.Format, didYouMean(c.Log.Format, logFormats))
	}
}

// CheckListen checks a host:port listen address (the host may be empty,
// for every interface; the port is a number, 0 for any free port).
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080 or :8080)", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /:@") {
		return fmt.Errorf("%q: %q is not a host name or IP address", addr, host)
	}
	return nil
}

// SameListener reports whether two listen addresses would compete for one
// port: the same non-zero port, and the same host or either on every
// interface.
func SameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	norm := func(h string) string {
		switch h {
		case "", "0.0.0.0", "::", "[::]":
			return "*"
		case "localhost":
			return "127.0.0.1"
		}
		if ip := net.ParseIP(h); ip != nil {
			return ip.String()
		}
		return h
	}
	na, nb := norm(ha), norm(hb)
	return na == "*" || nb == "*" || na == nb
}

var (
	envRef    = regexp.MustCompile(`\$\{([^}]*)\}`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	errNoDSN  = errors.New("store.dsn: not set")
	dsnPrefix = "store.dsn: "
)

func badEnvRefs(s string) []string {
	var out []string
	for _, m := range envRef.FindAllStringSubmatch(s, -1) {
		if !envName.MatchString(m[1]) {
			out = append(out, m[0])
		}
	}
	return out
}

// ResolveDSN returns the DSN with each ${VAR} replaced by getenv(VAR). A
// variable unset or empty is an error naming it, and never the DSN (which
// may hold a password).
func (s Store) ResolveDSN(getenv func(string) string) (string, error) {
	if s.DSN == "" {
		return "", errNoDSN
	}
	var errs []error
	out := envRef.ReplaceAllStringFunc(s.DSN, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		if !envName.MatchString(name) {
			return ref
		}
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%senvironment variable %s is not set", dsnPrefix, name))
		}
		return v
	})
	return out, errors.Join(errs...)
}

// joinErrors is errors.Join for a slice.
func joinErrors(errs []error) error { return errors.Join(errs...) }
