package rule

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
)

// SettingSpec declares one setting a rule takes under its settings in
// trailwatch.yaml (rules.<id>.settings.<name>). Rule expressions see the
// checked value as settings.<name>.
type SettingSpec struct {
	// Type is one of the SettingTypes.
	Type string `yaml:"type"`
	// Required settings must be given before the rule can run.
	Required    bool   `yaml:"required"`
	Description string `yaml:"description"`
	// Default is used when the setting is not given (lists only).
	Default []any `yaml:"default"`
}

// SettingTypes are the kinds of values a rule setting can hold, and what
// each accepts.
var SettingTypes = map[string]string{
	"strings":        "a list of non-empty strings",
	"countries":      "a list of ISO 3166-1 alpha-2 country codes (DE, US, …)",
	"cidrs":          "a list of IP addresses or CIDR blocks (203.0.113.0/24, 2001:db8::/32)",
	"regions":        "a list of AWS region names (us-east-1, eu-central-2, …)",
	"regexes":        "a list of regular expressions (RE2 syntax)",
	"api_patterns":   "a list of {event_source, event_name, identity_type} regular expressions; an empty one matches anything",
	"geoip_database": "the path of a MaxMind GeoIP2/GeoLite2 Country or City database file (.mmdb)",
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func (s SettingSpec) validate() error {
	if _, ok := SettingTypes[s.Type]; !ok {
		return fmt.Errorf("type %q is unknown (want one of %s)", s.Type, strings.Join(sortedKeys(SettingTypes), ", "))
	}
	if s.Default != nil {
		if _, err := resolveSetting(s.Type, s.Default, "default"); err != nil {
			return err
		}
	}
	return nil
}

// resolveSettings checks the values given for a rule's settings against
// what the rule declares and returns what its expressions see. path names
// the settings in errors (rules.RTM-005.settings).
func (r *Rule) resolveSettings(given map[string]any, path string) (map[string]any, error) {
	var errs []error
	out := map[string]any{}
	for _, name := range sortedKeys(given) {
		spec, ok := r.Settings[name]
		if !ok {
			if len(r.Settings) == 0 {
				errs = append(errs, fmt.Errorf("%s.%s: rule %s takes no settings", path, name, r.ID))
			} else {
				errs = append(errs, fmt.Errorf("%s.%s: rule %s has no such setting (it takes %s)", path, name, r.ID, strings.Join(sortedKeys(r.Settings), ", ")))
			}
			continue
		}
		v, err := resolveSetting(spec.Type, given[name], path+"."+name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = v
	}
	for _, name := range sortedKeys(r.Settings) {
		spec := r.Settings[name]
		if _, ok := out[name]; ok {
			continue
		}
		switch {
		case spec.Required:
			if _, given := given[name]; !given {
				errs = append(errs, fmt.Errorf("%s.%s: required by rule %s: %s", path, name, r.ID, firstNonEmpty(spec.Description, SettingTypes[spec.Type])))
			}
		case spec.Default != nil:
			v, _ := resolveSetting(spec.Type, spec.Default, path+"."+name)
			out[name] = v
		case spec.Type == "geoip_database":
			out[name] = ""
		default:
			out[name] = []any{}
		}
	}
	return out, errors.Join(errs...)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// resolveSetting checks one value and returns its normalised form.
func resolveSetting(typ string, v any, path string) (any, error) {
	if typ == "geoip_database" {
		p, ok := v.(string)
		if !ok || strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("%s: want %s", path, SettingTypes[typ])
		}
		if _, err := openGeoIP(p); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return p, nil
	}
	list, ok := v.([]any)
	if !ok {
		if s, isStr := v.(string); isStr && typ != "api_patterns" {
			list = []any{s}
		} else {
			return nil, fmt.Errorf("%s: want %s", path, SettingTypes[typ])
		}
	}
	var errs []error
	out := make([]any, 0, len(list))
	for i, x := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		if typ == "api_patterns" {
			m, err := apiPattern(x, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, m)
			continue
		}
		s, ok := x.(string)
		if !ok || strings.TrimSpace(s) == "" {
			errs = append(errs, fmt.Errorf("%s: want a non-empty string", p))
			continue
		}
		s = strings.TrimSpace(s)
		switch typ {
		case "countries":
			u := strings.ToUpper(s)
			if len(u) != 2 || u[0] < 'A' || u[0] > 'Z' || u[1] < 'A' || u[1] > 'Z' {
				errs = append(errs, fmt.Errorf("%s: %q is not an ISO 3166-1 alpha-2 country code (like DE or US)", p, s))
				continue
			}
			s = u
		case "cidrs":
			pr, err := parseCIDR(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not an IP address or CIDR block", p, s))
				continue
			}
			s = pr.String()
		case "regions":
			if !regionRE.MatchString(s) {
				errs = append(errs, fmt.Errorf("%s: %q is not an AWS region name (like eu-west-1)", p, s))
				continue
			}
		case "regexes":
			if _, err := regexp.Compile(s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p, err))
				continue
			}
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func apiPattern(x any, path string) (map[string]any, error) {
	m, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want {event_source, event_name, identity_type}", path)
	}
	out := map[string]any{"event_source": "", "event_name": "", "identity_type": ""}
	var errs []error
	for k, v := range m {
		if _, known := out[k]; !known {
			errs = append(errs, fmt.Errorf("%s.%s: unknown key (want event_source, event_name, identity_type)", path, k))
			continue
		}
		s, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("%s.%s: want a regular expression", path, k))
			continue
		}
		if _, err := regexp.Compile(s); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", path, k, err))
			continue
		}
		out[k] = s
	}
	if len(errs) == 0 && out["event_source"] == "" && out["event_name"] == "" && out["identity_type"] == "" {
		errs = append(errs, fmt.Errorf("%s: empty pattern would match every call", path))
	}
	return out, errors.Join(errs...)
}

// parseCIDR reads an IP address (as a /32 or /128) or a CIDR block.
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// geoDBs holds the GeoIP databases rules use, by path, opened once.
var geoDBs sync.Map // string → *maxminddb.Reader

func openGeoIP(path string) (*maxminddb.Reader, error) {
	if r, ok := geoDBs.Load(path); ok {
		return r.(*maxminddb.Reader), nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("GeoIP database: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("GeoIP database %s: not a regular file", path)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("GeoIP database %s: %w", path, err)
	}
	if got, _ := geoDBs.LoadOrStore(path, r); got != r {
		r.Close()
		return got.(*maxminddb.Reader), nil
	}
	return r, nil
}

func closeReader(r any) {
	if rd, ok := r.(*maxminddb.Reader); ok {
		rd.Close()
	}
}

// Country returns the ISO country code of an IP address in the GeoIP
// database at path (opened by a rule's settings), or "" when the address
// is not an IP (a service name such as cloudformation.amazonaws.com) or not
// in the database.
func Country(ip, path string) string {
	r, ok := geoDBs.Load(path)
	if !ok {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	var code string
	if err := r.(*maxminddb.Reader).Lookup(a.Unmap()).DecodePath(&code, "country", "iso_code"); err != nil {
		return ""
	}
	return code
}

// InCIDRs reports whether ip is an IP address inside one of the blocks.
func InCIDRs(ip string, blocks []string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, b := range blocks {
		if p, err := parseCIDR(b); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
