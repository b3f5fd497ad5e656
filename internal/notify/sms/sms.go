// Package sms delivers findings as text messages through Amazon SNS or
// Twilio. A message is the rendered Short text, shortened to at most two
// segments with the finding's link or id kept whole. Phone numbers are
// personal data: errors and logs show them masked (+44••••••789). It imports
// notify, secret and finding only.
package sms

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// Providers.
const (
	ProviderSNS    = "sns"
	ProviderTwilio = "twilio"
)

// SMS types of Amazon SNS.
const (
	Transactional = "Transactional"
	Promotional   = "Promotional"
)

// DefaultTwilioURL is Twilio's API.
const DefaultTwilioURL = "https://api.twilio.com"

// maxLinkLen is the longest dashboard link put in a message; a longer one
// is replaced by the finding id.
const maxLinkLen = 120

// Config is one SMS channel.
type Config struct {
	// Provider is sns or twilio.
	Provider string `yaml:"provider"`
	// To lists the E.164 numbers to text (+447700900123).
	To []string `yaml:"to"`

	// Amazon SNS. Credentials come from the default AWS chain
	// (environment, shared files, web identity, ECS, EC2 instance role)
	// unless AccessKeyID and SecretAccessKey are both given.
	Region              string        `yaml:"region"`
	Endpoint            string        `yaml:"endpoint"`
	SenderID            string        `yaml:"sender_id"`
	OriginationNumber   string        `yaml:"origination_number"`
	SMSType             string        `yaml:"sms_type"`
	MaxPrice            float64       `yaml:"max_price"`
	AccessKeyID         secret.Secret `yaml:"access_key_id"`
	AccessKeyIDFile     string        `yaml:"access_key_id_file"`
	SecretAccessKey     secret.Secret `yaml:"secret_access_key"`
	SecretAccessKeyFile string        `yaml:"secret_access_key_file"`

	// Twilio.
	AccountSID          string        `yaml:"account_sid"`
	AuthToken           secret.Secret `yaml:"auth_token"`
	AuthTokenFile       string        `yaml:"auth_token_file"`
	From                string        `yaml:"from"`
	MessagingServiceSID string        `yaml:"messaging_service_sid"`
	BaseURL             string        `yaml:"base_url"`

	// AllowLinkLocal lets endpoint or base_url point at a link-local or
	// cloud metadata address, which is refused by default.
	AllowLinkLocal bool `yaml:"allow_link_local"`

	// res is what Check resolved; a pointer so that printing a Config
	// never reaches the resolved secrets.
	res *resolved
}

type resolved struct {
	accessKeyID, secretAccessKey, authToken secret.Secret
	endpoint, baseURL                       string
}

var (
	e164RE       = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)
	regionRE     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	senderIDRE   = regexp.MustCompile(`^[A-Za-z0-9]{1,11}$`)
	accountSIDRE = regexp.MustCompile(`^AC[0-9A-Za-z]{32}$`)
	serviceSIDRE = regexp.MustCompile(`^MG[0-9A-Za-z]{32}$`)
	shortCodeRE  = regexp.MustCompile(`^\d{3,8}$`)
	alphaFromRE  = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	letterRE     = regexp.MustCompile(`[A-Za-z]`)
)

// Check fills defaults, resolves the secrets (inline, ${ENV} or *_file)
// and validates the configuration, reporting every problem at once, each
// naming its YAML key. Secrets, credentials in URLs and full phone numbers
// never appear in an error. Check may be called more than once. getenv nil
// means os.Getenv.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.res = nil
	r := &resolved{}

	c.Provider = strings.ToLower(strings.TrimSpace(c.Provider))
	switch c.Provider {
	case ProviderSNS, ProviderTwilio:
	case "":
		add("provider", "required (sns or twilio)")
	default:
		add("provider", "%q is not sns or twilio", c.Provider)
	}

	if len(c.To) == 0 {
		add("to", "at least one phone number is required")
	}
	seen := map[string]bool{}
	for i, n := range c.To {
		key := fmt.Sprintf("to[%d]", i)
		switch {
		case !e164RE.MatchString(n):
			add(key, "%s is not an E.164 number (+, country code and number, digits only)", maskLoose(n))
		case seen[n]:
			add(key, "%s is listed twice", Mask(n))
		}
		seen[n] = true
	}

	onlyFor := func(provider string, fields map[string]bool) {
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if fields[k] {
				add(k, "only for provider %s", provider)
			}
		}
	}

	switch c.Provider {
	case ProviderSNS:
		onlyFor(ProviderTwilio, map[string]bool{
			"account_sid": c.AccountSID != "", "auth_token": !c.AuthToken.Empty(), "auth_token_file": c.AuthTokenFile != "",
			"from": c.From != "", "messaging_service_sid": c.MessagingServiceSID != "", "base_url": c.BaseURL != "",
		})
		switch {
		case c.Region == "":
			add("region", "required for provider sns")
		case !regionRE.MatchString(c.Region):
			add("region", "%q is not an AWS region", c.Region)
		}
		if c.Endpoint != "" {
			u, err := c.checkURL(c.Endpoint)
			if err != nil {
				add("endpoint", "%v", err)
			}
			r.endpoint = u
		}
		if c.SenderID != "" && (!senderIDRE.MatchString(c.SenderID) || !letterRE.MatchString(c.SenderID)) {
			add("sender_id", "%q must be 1 to 11 letters and digits with at least one letter", c.SenderID)
		}
		if c.OriginationNumber != "" && !e164RE.MatchString(c.OriginationNumber) {
			add("origination_number", "not an E.164 number")
		}
		switch strings.ToLower(c.SMSType) {
		case "", "transactional":
			c.SMSType = Transactional
		case "promotional":
			c.SMSType = Promotional
		default:
			add("sms_type", "%q is not Transactional or Promotional", c.SMSType)
		}
		if c.MaxPrice < 0 {
			add("max_price", "%v is negative", c.MaxPrice)
		}
		var idErr, keyErr error
		if r.accessKeyID, idErr = secret.Setting("access_key_id", c.AccessKeyID, c.AccessKeyIDFile, getenv, false); idErr != nil {
			errs = append(errs, idErr)
		}
		if r.secretAccessKey, keyErr = secret.Setting("secret_access_key", c.SecretAccessKey, c.SecretAccessKeyFile, getenv, false); keyErr != nil {
			errs = append(errs, keyErr)
		}
		if idErr == nil && keyErr == nil && r.accessKeyID.Empty() != r.secretAccessKey.Empty() {
			add("access_key_id", "give access_key_id and secret_access_key together, or neither to use the default AWS credential chain")
		}
	case ProviderTwilio:
		onlyFor(ProviderSNS, map[string]bool{
			"region": c.Region != "", "endpoint": c.Endpoint != "", "sender_id": c.SenderID != "",
			"origination_number": c.OriginationNumber != "", "sms_type": c.SMSType != "", "max_price": c.MaxPrice != 0,
			"access_key_id": !c.AccessKeyID.Empty(), "access_key_id_file": c.AccessKeyIDFile != "",
			"secret_access_key": !c.SecretAccessKey.Empty(), "secret_access_key_file": c.SecretAccessKeyFile != "",
		})
		switch {
		case c.AccountSID == "":
			add("account_sid", "required for provider twilio")
		case !accountSIDRE.MatchString(c.AccountSID):
			add("account_sid", "must be AC followed by 32 letters or digits")
		}
		tok, err := secret.Setting("auth_token", c.AuthToken, c.AuthTokenFile, getenv, true)
		if err != nil {
			errs = append(errs, err)
		}
		r.authToken = tok
		switch {
		case c.From == "" && c.MessagingServiceSID == "":
			add("from", "give from or messaging_service_sid")
		case c.From != "" && c.MessagingServiceSID != "":
			add("from", "give from or messaging_service_sid, not both")
		case c.From != "" && !e164RE.MatchString(c.From) && !shortCodeRE.MatchString(c.From) &&
			!(alphaFromRE.MatchString(c.From) && letterRE.MatchString(c.From)):
			add("from", "must be an E.164 number, a short code or an alphanumeric sender id of up to 11 characters")
		case c.MessagingServiceSID != "" && !serviceSIDRE.MatchString(c.MessagingServiceSID):
			add("messaging_service_sid", "must be MG followed by 32 letters or digits")
		}
		r.baseURL = DefaultTwilioURL
		if c.BaseURL != "" {
			u, err := c.checkURL(c.BaseURL)
			if err != nil {
				add("base_url", "%v", err)
			}
			r.baseURL = u
		}
	}

	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.res = r
	return nil
}

// checkURL applies the channels' URL policy (notify.CheckURL) and returns
// the URL without a trailing slash.
func (c *Config) checkURL(s string) (string, error) {
	if _, err := notify.CheckURL(s, notify.URLPolicy{LinkLocal: c.AllowLinkLocal}); err != nil {
		return "", err
	}
	return strings.TrimRight(s, "/"), nil
}

// Mask hides the middle of a phone number: +447700900789 → +44••••••789.
func Mask(number string) string {
	d := strings.TrimPrefix(number, "+")
	if len(d) < 6 {
		return "+" + strings.Repeat("•", 6)
	}
	return "+" + d[:2] + "••••••" + d[len(d)-3:]
}

// maskLoose masks whatever was configured as a number, valid or not.
func maskLoose(s string) string {
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits < 6 {
		return strconv.Quote(s)
	}
	return strconv.Quote(Mask(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)))
}

// sender sends one text to one number. Its errors are notify errors whose
// text may quote the provider; Notifier masks numbers in them.
type sender interface {
	send(ctx context.Context, to, body string) (id string, err error)
}

// Notifier sends findings as text messages. It is safe for concurrent
// use.
//
// Every field that leads to a secret is a pointer, so that printing a
// Notifier with %v shows addresses: fmt cannot call the redacting methods
// of values in unexported fields.
type Notifier struct {
	cfg     *Config
	o       notify.Options
	sender  sender
	secrets *notify.Secrets
}

// New builds a Notifier. A Config that has not been through Check is
// checked here with the process environment. For provider sns without
// static keys, New loads the default AWS configuration (files and
// environment; no network call).
func New(c Config, o notify.Options) (*Notifier, error) {
	if c.res == nil {
		if err := c.Check(nil); err != nil {
			return nil, err
		}
	}
	o.AllowLinkLocal = c.AllowLinkLocal
	o = o.Defaults()
	n := &Notifier{cfg: &c, o: o, secrets: notify.NewSecrets(c.res.accessKeyID, c.res.secretAccessKey, c.res.authToken)}
	if c.Provider == ProviderTwilio {
		n.secrets.AddBasicAuth(c.AccountSID, c.res.authToken)
	}
	switch c.Provider {
	case ProviderSNS:
		s, err := newSNS(c, o)
		if err != nil {
			return nil, err
		}
		n.sender = s
	case ProviderTwilio:
		n.sender = newTwilio(c, o)
	}
	return n, nil
}

// Notify texts every configured number, one after the other, and fails
// when any of them failed. The error names the failed numbers (masked) and
// is permanent only when every failure was permanent (a bad or opted-out
// number, a refused login): retrying a transient failure sends the message
// again to every number, so people who already got it get it twice. The
// Notifier keeps no state between attempts; a duplicate text is the
// lesser harm than a page that never arrives. Result.Ref lists the
// provider's message ids.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	txt, err := n.o.Templates.Render(m)
	if err != nil {
		return notify.Result{}, err
	}
	body := Text(m, txt.Short)

	var ids, failed []string
	var errs []error
	permanent := true
	var after time.Duration
	for _, to := range n.cfg.To {
		if err := ctx.Err(); err != nil {
			failed = append(failed, Mask(to))
			errs = append(errs, notify.Retryable(fmt.Errorf("%s: not sent: %w", Mask(to), err), 0))
			permanent = false
			continue
		}
		id, err := n.sender.send(ctx, to, body)
		if err != nil {
			err = n.mask(err, to)
			failed = append(failed, Mask(to))
			errs = append(errs, err)
			if !notify.IsPermanent(err) {
				permanent = false
			}
			after = max(after, notify.RetryAfter(err))
			continue
		}
		ids = append(ids, id)
		n.o.Logger.Debug("sms sent", "provider", n.cfg.Provider, "to", Mask(to), "message_id", id, "finding_id", m.Finding.ID)
	}
	if len(errs) == 0 {
		return notify.Result{Ref: strings.Join(ids, ",")}, nil
	}
	e := fmt.Errorf("sms %s: %d of %d numbers failed (%s): %w", n.cfg.Provider, len(failed), len(n.cfg.To), strings.Join(failed, ", "), failures(errs))
	if permanent {
		return notify.Result{}, notify.Permanent(e)
	}
	return notify.Result{}, notify.Retryable(e, after)
}

// Text is the SMS for a message: the Short text, marked for a test or a
// repeat, with the dashboard link (or the finding id) appended and the
// whole cut to at most MaxSegments segments.
func Text(m notify.Message, short string) string {
	s := strings.TrimSpace(short)
	if m.Kind == notify.Test && !strings.Contains(strings.ToUpper(s), "TEST") {
		s = "TEST: " + s
	}
	if m.Kind == notify.Update && m.Repeats > 1 {
		s = fmt.Sprintf("Repeat (%dx): %s", m.Repeats, s)
	}
	ref := m.DashboardURL
	if ref == "" || len(ref) > maxLinkLen || strings.ContainsAny(ref, " \r\n") {
		ref = m.Finding.ID
	}
	switch {
	case ref == "":
	case strings.HasSuffix(s, ref):
		s = strings.TrimSpace(strings.TrimSuffix(s, ref))
	case strings.Contains(s, ref):
		ref = ""
	}
	return Fit(s, ref)
}

var anyNumberRE = regexp.MustCompile(`\+?[1-9]\d{6,14}`)

// mask removes phone numbers and secrets from an error's text, keeping
// whether it is permanent and how long to wait.
func (n *Notifier) mask(err error, to string) error {
	scrub := func(s string) string {
		s = n.secrets.Scrub(s)
		for _, num := range append([]string{to}, n.cfg.To...) {
			s = strings.ReplaceAll(s, num, Mask(num))
			s = strings.ReplaceAll(s, strings.TrimPrefix(num, "+"), Mask(num))
			s = strings.ReplaceAll(s, url.QueryEscape(num), Mask(num))
		}
		return anyNumberRE.ReplaceAllStringFunc(s, func(x string) string {
			if strings.HasPrefix(x, "+") {
				return Mask(x)
			}
			return x // account ids and the like stay readable
		})
	}
	masked := notify.Reword(err, func(s string) string { return Mask(to) + ": " + scrub(s) })
	var ne *notify.Error
	if !errors.As(err, &ne) {
		return notify.Retryable(masked, 0)
	}
	return masked
}

// failures joins the errors of several numbers on one line.
type failures []error

func (f failures) Error() string {
	parts := make([]string, len(f))
	for i, e := range f {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (f failures) Unwrap() []error { return f }
