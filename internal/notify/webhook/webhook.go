// Package webhook delivers findings as JSON to any HTTP endpoint. The body
// is the finding as trailwatch's JSON contract defines it, wrapped with the
// delivery kind; when a secret is configured the body is signed with
// HMAC-SHA256 so the receiver can check it came from trailwatch and was not
// replayed.
//
// # Verifying a delivery
//
// A signed request carries two headers:
//
//	X-Trailwatch-Timestamp: 1795173300
//	X-Trailwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The receiver recomputes the HMAC over the timestamp header, a dot and the
// raw request body (before any JSON parsing), compares it with the
// signature in constant time (Verify does both), and rejects timestamps
// more than a few minutes from its own clock, which stops replays.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// Header names and defaults.
const (
	DefaultSignatureHeader = "X-Trailwatch-Signature"
	TimestampHeader        = "X-Trailwatch-Timestamp"
	IdempotencyHeader      = "Idempotency-Key"
	// minSecret is the shortest HMAC key accepted.
	minSecret = 16
)

// Config is a webhook channel's settings (the keys besides the common
// channel settings such as name, type and min_risk).
type Config struct {
	// URL receives the POST (a secret: URLs often embed tokens), inline,
	// as ${ENV}, or read from URLFile.
	URL     secret.Secret `yaml:"url"`
	URLFile string        `yaml:"url_file"`
	// Secret is the HMAC key that signs each body (optional), inline, as
	// ${ENV}, or read from SecretFile.
	Secret     secret.Secret `yaml:"secret"`
	SecretFile string        `yaml:"secret_file"`
	// Headers are added to every request (e.g. an Authorization header);
	// values may use ${ENV} and are secrets: they never print.
	Headers map[string]secret.Secret `yaml:"headers"`
	// SignatureHeader names the signature header (default
	// X-Trailwatch-Signature).
	SignatureHeader string `yaml:"signature_header"`
	// AllowLinkLocal lets url point at a link-local or cloud metadata
	// address, which is refused by default.
	AllowLinkLocal bool `yaml:"allow_link_local"`

	// r holds what Check resolved, behind a pointer so that printing a
	// Config (%v, %+v) shows an address, not the secrets.
	r *resolved
}

type resolved struct {
	url, secret secret.Secret
	headers     http.Header
}

// reserved headers are set by trailwatch or by Go's HTTP client.
var reserved = []string{"Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection", TimestampHeader, IdempotencyHeader}

// Check resolves the URL, the secret and the header values (inline, ${ENV}
// or *_file) and validates every setting, joining all problems; each names
// its YAML key and none quotes a secret. It may be called again: it always
// starts from the configured values. getenv nil means os.Getenv.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	c.r = nil
	r := resolved{headers: http.Header{}}
	var err error
	if r.url, err = secret.Setting("url", c.URL, c.URLFile, getenv, true); err != nil {
		errs = append(errs, err)
	} else if _, err := notify.CheckURL(r.url.Reveal(), notify.URLPolicy{Query: true, LinkLocal: c.AllowLinkLocal}); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", keyOf("url", c.URLFile), err))
	}
	if r.secret, err = secret.Setting("secret", c.Secret, c.SecretFile, getenv, false); err != nil {
		errs = append(errs, err)
	}
	if n := len(r.secret.Reveal()); n > 0 && n < minSecret {
		errs = append(errs, fmt.Errorf("%s: too short (%d characters); use at least %d random characters", keyOf("secret", c.SecretFile), n, minSecret))
	}
	sig := c.signatureHeader()
	if !validName(sig) {
		errs = append(errs, fmt.Errorf("signature_header: %q is not a valid header name", c.SignatureHeader))
	} else if isReserved(sig) {
		errs = append(errs, fmt.Errorf("signature_header: %s is set by trailwatch", sig))
	}
	if c.SignatureHeader != "" && r.secret.Empty() {
		errs = append(errs, errors.New("signature_header: set without secret"))
	}
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		key := "headers." + k
		switch {
		case !validName(k):
			errs = append(errs, fmt.Errorf("%s: not a valid header name", key))
			continue
		case isReserved(k) || (!r.secret.Empty() && http.CanonicalHeaderKey(k) == sig):
			errs = append(errs, fmt.Errorf("%s: set by trailwatch; remove it", key))
			continue
		}
		v := c.Headers[k]
		if err := v.Resolve(getenv); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		if strings.ContainsAny(v.Reveal(), "\r\n\x00") {
			errs = append(errs, fmt.Errorf("%s: value contains a line break", key))
			continue
		}
		r.headers.Set(k, v.Reveal())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.r = &r
	return nil
}

func (c *Config) signatureHeader() string {
	if c.SignatureHeader == "" {
		return DefaultSignatureHeader
	}
	return http.CanonicalHeaderKey(c.SignatureHeader)
}

func isReserved(name string) bool {
	name = http.CanonicalHeaderKey(name)
	return slices.Contains(reserved, name)
}

// validName reports whether s is an HTTP header name (an RFC 9110 token).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x80 || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func keyOf(key, file string) string {
	if file != "" {
		return key + "_file"
	}
	return key
}

// Format prints the configuration with its secrets redacted and without
// what Check resolved, under every verb (fmt cannot call a secret's own
// Format for an unexported field).
func (c Config) Format(f fmt.State, verb rune) {
	type plain Config // the same fields, without this method
	p := plain(c)
	p.r = nil
	fmt.Fprintf(f, fmt.FormatString(f, verb), p)
}

// Notifier posts findings to one URL.
type Notifier struct {
	cfg     Config
	o       notify.Options
	sig     string
	secrets *notify.Secrets
}

// New returns a notifier for a checked configuration.
func New(c Config, o notify.Options) (*Notifier, error) {
	if c.r == nil {
		return nil, errors.New("webhook: configuration not checked")
	}
	o.AllowLinkLocal = c.AllowLinkLocal
	n := &Notifier{cfg: c, o: o.Defaults(), sig: c.signatureHeader()}
	n.secrets = notify.NewSecrets(c.r.secret).AddURL(c.r.url)
	for _, vs := range c.r.headers {
		for _, v := range vs {
			n.secrets.Add(secret.New(v))
		}
	}
	return n, nil
}

// StatusChanged is the event of an acknowledge or resolve delivery.
const StatusChanged = "finding.status_changed"

// Body is what the webhook POSTs. Its JSON form is a contract receivers
// script against: fields are added, never renamed or removed.
type Body struct {
	// Kind is trigger, update, escalation or test; acknowledge or resolve
	// for a status change (Event finding.status_changed).
	Kind notify.Kind `json:"kind"`
	// Event is finding.status_changed for acknowledge and resolve, with
	// the change in Transition; empty otherwise.
	Event      string             `json:"event,omitempty"`
	Transition *notify.Transition `json:"transition,omitempty"`
	// Escalation says why an escalation was raised: another principal,
	// a higher risk or a new risk reason on an open alert.
	Escalation *notify.Escalated `json:"escalation,omitempty"`
	// Repeats counts sightings of the fingerprint while its alert was
	// open, this one included (1 for a trigger).
	Repeats int `json:"repeats"`
	// Finding is the finding as trailwatch marshals it, without the raw
	// event.
	Finding finding.Finding `json:"finding"`
	// DashboardURL links to the finding; empty without a dashboard.
	DashboardURL string `json:"dashboard_url"`
}

// Format prints the notifier as its configuration, secrets redacted.
func (n *Notifier) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "webhook.Notifier{"+fmt.FormatString(f, verb)+"}", n.cfg)
}

// Notify posts one message. Any 2xx is success; 408, 429 and 5xx are
// retryable, other statuses permanent.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	f := m.Finding
	f.Raw = nil
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := Body{Kind: m.Kind, Escalation: m.Escalated, Repeats: m.Repeats, Finding: f, DashboardURL: m.DashboardURL}
	if m.Kind == notify.Acknowledge || m.Kind == notify.Resolve {
		b.Event, b.Transition = StatusChanged, m.Transition
	}
	if err := enc.Encode(b); err != nil {
		return notify.Result{}, notify.Permanentf("webhook: encode body: %v", err)
	}
	body := buf.Bytes()
	h := n.cfg.r.headers.Clone()
	h.Set("Content-Type", "application/json")
	if m.IdempotencyKey != "" {
		h.Set(IdempotencyHeader, m.IdempotencyKey)
	}
	if !n.cfg.r.secret.Empty() {
		ts := strconv.FormatInt(n.o.Now().Unix(), 10)
		h.Set(TimestampHeader, ts)
		h.Set(n.sig, Sign([]byte(n.cfg.r.secret.Reveal()), ts, body))
	}
	_, err := notify.Do(ctx, n.o.HTTPClient, notify.Request{
		Method:  "POST",
		URL:     n.cfg.r.url.Reveal(),
		Body:    body,
		Header:  h,
		Service: "webhook",
		Secrets: n.secrets,
	})
	if err != nil {
		return notify.Result{}, err
	}
	n.o.Logger.DebugContext(ctx, "webhook delivered", "finding_id", m.Finding.ID, "kind", string(m.Kind))
	return notify.Result{}, nil
}

// Sign returns the signature header value for a body sent at timestamp
// (Unix seconds): "sha256=" and the hex HMAC-SHA256 of timestamp + "." +
// body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is the signature of body sent at
// timestamp under secret, comparing in constant time. It does not judge
// the timestamp: the receiver should also reject one more than a few
// minutes from its clock, so a captured request cannot be replayed.
func Verify(secret []byte, timestamp string, body []byte, signature string) bool {
	if len(secret) == 0 || timestamp == "" {
		return false
	}
	got, ok := strings.CutPrefix(strings.TrimSpace(signature), "sha256=")
	if !ok {
		return false
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, timestamp, body), "sha256="))
	return hmac.Equal(gotMAC, want)
}
