package zendesk

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/trailwatch/trailwatch/internal/secret"

	"github.com/trailwatch/trailwatch/internal/notify"
)

// DefaultTicketType is the type of the tickets trailwatch opens.
const DefaultTicketType = "incident"

// Config is one Zendesk channel: the account, the API token, and how the
// tickets it opens are filed. The common channel settings (name, type,
// min_risk, …) live beside it in the channels: entry and are not decoded
// here; that is why the ticket type is ticket_type.
type Config struct {
	// Subdomain is the account: "acme" means https://acme.zendesk.com.
	// Give it or BaseURL.
	Subdomain string `yaml:"subdomain"`
	// BaseURL overrides the account address (a host-mapped domain, a
	// proxy, a test server).
	BaseURL string `yaml:"base_url"`

	// Email and APIToken sign in with Basic auth as "{email}/token".
	Email        string        `yaml:"email"`
	APIToken     secret.Secret `yaml:"api_token"`
	APITokenFile string        `yaml:"api_token_file"`

	// TicketType is problem, incident (default), question or task.
	TicketType string `yaml:"ticket_type"`
	// Tags replace the default tags: trailwatch, aws, the rule id and the
	// risk, lower-cased.
	Tags []string `yaml:"tags"`
	// GroupID and AssigneeID route new tickets; zero leaves it to
	// Zendesk's own rules.
	GroupID    int64 `yaml:"group_id"`
	AssigneeID int64 `yaml:"assignee_id"`
	// RequesterEmail makes that user the requester; empty means the API
	// user.
	RequesterEmail string `yaml:"requester_email"`
	// CustomFields are set on every new ticket.
	CustomFields []CustomField `yaml:"custom_fields"`
	// AllowLinkLocal lets base_url point at a link-local or cloud metadata
	// address, which is refused by default.
	AllowLinkLocal bool `yaml:"allow_link_local"`
}

// CustomField is one ticket field value: a text, number, checkbox or
// drop-down value, or a list for multi-select fields.
type CustomField struct {
	ID    int64 `yaml:"id" json:"id"`
	Value any   `yaml:"value" json:"value"`
}

var subdomainRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

var ticketTypes = map[string]bool{"problem": true, "incident": true, "question": true, "task": true}

// Check resolves the API token (inline, ${ENV} or api_token_file), fills
// defaults and validates the configuration. It reports every problem at
// once, each naming its YAML key, and never quotes a secret. getenv nil
// means os.Getenv.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	if v, err := secret.Setting("api_token", c.APIToken, c.APITokenFile, getenv, false); err != nil {
		errs = append(errs, err)
	} else if !v.Empty() {
		c.APIToken, c.APITokenFile = v, ""
	}
	tokBad := len(errs) > 0
	c.defaults()
	errs = append(errs, c.problems(tokBad)...)
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	c.Subdomain = strings.ToLower(strings.TrimSpace(c.Subdomain))
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	c.Email = strings.TrimSpace(c.Email)
	if c.TicketType == "" {
		c.TicketType = DefaultTicketType
	}
}

// problems validates everything but secret resolution; tokBad says the
// token was given but failed to resolve (already reported).
func (c *Config) problems(tokBad bool) []error {
	var errs []error
	switch {
	case c.Subdomain == "" && c.BaseURL == "":
		errs = append(errs, errors.New("subdomain: missing; give subdomain (acme for https://acme.zendesk.com) or base_url"))
	case c.Subdomain != "" && c.BaseURL != "":
		errs = append(errs, errors.New("subdomain, base_url: give one, not both"))
	case c.Subdomain != "":
		if strings.Contains(c.Subdomain, ".") || strings.Contains(c.Subdomain, "/") {
			errs = append(errs, errors.New("subdomain: give the subdomain only (acme for https://acme.zendesk.com); use base_url for a full address"))
		} else if !subdomainRE.MatchString(c.Subdomain) {
			errs = append(errs, fmt.Errorf("subdomain: %q is not a valid subdomain (letters, digits and hyphens)", c.Subdomain))
		}
	default:
		if _, err := notify.CheckURL(c.BaseURL, notify.URLPolicy{LinkLocal: c.AllowLinkLocal}); err != nil {
			errs = append(errs, fmt.Errorf("base_url: %w", err))
		}
	}

	switch {
	case c.Email == "":
		errs = append(errs, errors.New("email: missing (the agent the API token belongs to)"))
	case !validEmail(c.Email):
		errs = append(errs, errors.New("email: not an e-mail address"))
	}
	switch {
	case tokBad:
	case c.APIToken.Empty() && c.APITokenFile != "":
		errs = append(errs, errors.New("api_token_file: not read yet (Config.Check reads it)"))
	case c.APIToken.Empty():
		errs = append(errs, errors.New("api_token: missing; give api_token or api_token_file"))
	}

	if !ticketTypes[c.TicketType] {
		errs = append(errs, fmt.Errorf("ticket_type: %q is not problem, incident, question or task", c.TicketType))
	}
	for i, tag := range c.Tags {
		if tag == "" || strings.IndexFunc(tag, unicode.IsSpace) >= 0 || strings.Contains(tag, ",") {
			errs = append(errs, fmt.Errorf("tags[%d]: %q is not a tag (no spaces or commas; use _ or -)", i, tag))
		}
	}
	if c.GroupID < 0 {
		errs = append(errs, errors.New("group_id: must be a positive id"))
	}
	if c.AssigneeID < 0 {
		errs = append(errs, errors.New("assignee_id: must be a positive id"))
	}
	if c.RequesterEmail != "" && !validEmail(c.RequesterEmail) {
		errs = append(errs, errors.New("requester_email: not an e-mail address"))
	}
	for i, f := range c.CustomFields {
		if f.ID <= 0 {
			errs = append(errs, fmt.Errorf("custom_fields[%d].id: missing or not a positive id", i))
		}
		if f.Value == nil {
			errs = append(errs, fmt.Errorf("custom_fields[%d].value: missing", i))
		}
	}
	return errs
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n:/,<>")
}
