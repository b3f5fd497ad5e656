package servicenow

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/internal/secret"

	"github.com/trailwatch/trailwatch/internal/notify"
)

// Defaults of the optional settings.
const (
	DefaultTable    = "incident"
	DefaultCategory = "security"
)

// Config is one ServiceNow channel: where the instance is, how to sign in,
// and how the incidents it opens are filed. The common channel settings
// (name, type, min_risk, …) live beside it in the channels: entry and are
// not decoded here.
type Config struct {
	// Instance is the instance name: "acme" means
	// https://acme.service-now.com. Give it or BaseURL.
	Instance string `yaml:"instance"`
	// BaseURL overrides the instance address (a custom domain, a proxy,
	// a test server), e.g. https://servicenow.example.com.
	BaseURL string `yaml:"base_url"`

	// Username and Password sign in with Basic auth.
	Username     string        `yaml:"username"`
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// OAuthToken signs in with a Bearer token instead.
	OAuthToken     secret.Secret `yaml:"oauth_token"`
	OAuthTokenFile string        `yaml:"oauth_token_file"`

	// Table is the table records are created in (default incident; e.g.
	// sn_si_incident for Security Incident Response).
	Table string `yaml:"table"`
	// AssignmentGroup and CallerID are reference fields: a sys_id or the
	// display value (group name, user name).
	AssignmentGroup string `yaml:"assignment_group"`
	CallerID        string `yaml:"caller_id"`
	// Category defaults to security; Subcategory is sent when set.
	Category    string `yaml:"category"`
	Subcategory string `yaml:"subcategory"`
	// Fields are further columns set on every created record, such as
	// custom u_ fields. Columns trailwatch sets itself are refused.
	Fields map[string]string `yaml:"fields"`
	// AllowLinkLocal lets base_url point at a link-local or cloud metadata
	// address, which is refused by default.
	AllowLinkLocal bool `yaml:"allow_link_local"`
	// Resolve says how a finding resolved in trailwatch resolves its
	// incident.
	Resolve Resolve `yaml:"resolve"`
}

// Resolve is how an incident is resolved: the state value, and the
// columns and value of the close code and close notes (instances and
// tables such as sn_si_incident differ).
type Resolve struct {
	// State is the resolved state's value (default "6", Resolved).
	State string `yaml:"state"`
	// CloseCode is the close code set (default "Solved (Permanently)"),
	// in the column CloseCodeField (default close_code).
	CloseCode      string `yaml:"close_code"`
	CloseCodeField string `yaml:"close_code_field"`
	// CloseNotesField is the column of the close notes (default
	// close_notes): who resolved it in trailwatch, when, and their note.
	CloseNotesField string `yaml:"close_notes_field"`
}

// Defaults of Resolve.
const (
	DefaultResolvedState   = "6"
	DefaultCloseCode       = "Solved (Permanently)"
	DefaultCloseCodeField  = "close_code"
	DefaultCloseNotesField = "close_notes"
)

var (
	instanceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	columnRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// managed are the columns Notify sets itself; Fields may not override them.
var managed = map[string]string{
	"short_description":   "the message title",
	"description":         "the message body",
	"urgency":             "the risk",
	"impact":              "the risk",
	"category":            "the category key",
	"subcategory":         "the subcategory key",
	"assignment_group":    "the assignment_group key",
	"caller_id":           "the caller_id key",
	"correlation_id":      "the fingerprint",
	"correlation_display": "trailwatch",
	"work_notes":          "trailwatch",
}

// Check resolves the secrets (inline, ${ENV} or *_file), fills defaults and
// validates the configuration. It reports every problem at once, each
// naming its YAML key, and never quotes a secret. getenv nil means
// os.Getenv.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	pwBad, tokBad := false, false
	if v, err := pick("password", c.Password, c.PasswordFile, getenv); err != nil {
		errs = append(errs, err)
		pwBad = true
	} else if !v.Empty() {
		c.Password, c.PasswordFile = v, ""
	}
	if v, err := pick("oauth_token", c.OAuthToken, c.OAuthTokenFile, getenv); err != nil {
		errs = append(errs, err)
		tokBad = true
	} else if !v.Empty() {
		c.OAuthToken, c.OAuthTokenFile = v, ""
	}
	c.defaults()
	errs = append(errs, c.problems(pwBad, tokBad)...)
	return errors.Join(errs...)
}

// pick resolves one secret and names its key in errors.
func pick(key string, inline secret.Secret, file string, getenv func(string) string) (secret.Secret, error) {
	return secret.Setting(key, inline, file, getenv, false)
}

func (c *Config) defaults() {
	c.Instance = strings.ToLower(strings.TrimSpace(c.Instance))
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.Category == "" {
		c.Category = DefaultCategory
	}
	r := &c.Resolve
	for _, d := range []struct {
		v   *string
		def string
	}{{&r.State, DefaultResolvedState}, {&r.CloseCode, DefaultCloseCode}, {&r.CloseCodeField, DefaultCloseCodeField}, {&r.CloseNotesField, DefaultCloseNotesField}} {
		if strings.TrimSpace(*d.v) == "" {
			*d.v = d.def
		}
	}
}

// problems validates everything but secret resolution; pwBad and tokBad
// say a secret was given but failed to resolve (already reported).
func (c *Config) problems(pwBad, tokBad bool) []error {
	var errs []error
	switch {
	case c.Instance == "" && c.BaseURL == "":
		errs = append(errs, errors.New("instance: missing; give instance (acme for https://acme.service-now.com) or base_url"))
	case c.Instance != "" && c.BaseURL != "":
		errs = append(errs, errors.New("instance, base_url: give one, not both"))
	case c.Instance != "":
		if strings.Contains(c.Instance, ".") || strings.Contains(c.Instance, "/") {
			errs = append(errs, errors.New("instance: give the instance name only (acme for https://acme.service-now.com); use base_url for a full address"))
		} else if !instanceRE.MatchString(c.Instance) {
			errs = append(errs, fmt.Errorf("instance: %q is not a valid instance name (letters, digits and hyphens)", c.Instance))
		}
	default:
		if _, err := notify.CheckURL(c.BaseURL, notify.URLPolicy{LinkLocal: c.AllowLinkLocal}); err != nil {
			errs = append(errs, fmt.Errorf("base_url: %w", err))
		}
	}

	hasPw := !c.Password.Empty() || pwBad
	hasTok := !c.OAuthToken.Empty() || tokBad
	switch {
	case hasTok && (c.Username != "" || hasPw):
		errs = append(errs, errors.New("oauth_token: give oauth_token or username and password, not both"))
	case hasTok:
	case c.Username == "" && !hasPw:
		errs = append(errs, notRead("password", c.PasswordFile, errors.New("username, password: missing; give username and password (Basic auth) or oauth_token (Bearer)")))
	case c.Username == "":
		errs = append(errs, errors.New("username: missing (password is set)"))
	case !hasPw:
		errs = append(errs, notRead("password", c.PasswordFile, errors.New("password: missing; give password or password_file")))
	}
	if strings.Contains(c.Username, ":") {
		errs = append(errs, errors.New("username: must not contain a colon (Basic auth)"))
	}
	if c.OAuthToken.Empty() && c.OAuthTokenFile != "" && !tokBad {
		errs = append(errs, errors.New("oauth_token_file: not read yet (Config.Check reads it)"))
	}

	for key, col := range map[string]string{"resolve.close_code_field": c.Resolve.CloseCodeField, "resolve.close_notes_field": c.Resolve.CloseNotesField} {
		if !columnRE.MatchString(col) {
			errs = append(errs, fmt.Errorf("%s: %q is not a column name (lower-case letters, digits, underscores)", key, col))
		}
	}
	if !columnRE.MatchString(c.Table) {
		errs = append(errs, fmt.Errorf("table: %q is not a table name (lower-case letters, digits, underscores)", c.Table))
	}
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if why, ok := managed[k]; ok {
			errs = append(errs, fmt.Errorf("fields.%s: set by trailwatch from %s", k, why))
		} else if !columnRE.MatchString(k) {
			errs = append(errs, fmt.Errorf("fields: %q is not a column name (lower-case letters, digits, underscores)", k))
		}
	}
	return errs
}

// notRead refines a missing-secret error when a file was named but not
// read (New called without Check).
func notRead(key, file string, err error) error {
	if file != "" {
		return fmt.Errorf("%s_file: not read yet (Config.Check reads it)", key)
	}
	return err
}
