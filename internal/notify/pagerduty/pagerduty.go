// Package pagerduty raises PagerDuty alerts through the Events API v2.
//
// Every delivery is a trigger event whose dedup_key is derived from the
// finding's fingerprint, so repeats of a change while its alert is open
// are appended to the same PagerDuty alert instead of opening new
// incidents. An escalation (another principal, a higher risk, a new risk
// reason) is a trigger with a dedup_key of its own, at its own severity:
// PagerDuty appends a trigger with an open alert's dedup_key to that alert
// without notifying anyone, so joining it would hide the escalation. Test messages use a dedup_key of their own so they never merge
// with a real incident. The routing key is a secret: it never appears in
// an error or a log.
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// Defaults and the Events API's limits.
const (
	DefaultBaseURL = "https://events.pagerduty.com"
	// EUBaseURL serves accounts hosted in PagerDuty's EU service region.
	EUBaseURL     = "https://events.eu.pagerduty.com"
	DefaultSource = "trailwatch"
	enqueuePath   = "/v2/enqueue"
	maxSummary    = 1024 // bytes; PagerDuty truncates longer summaries
	maxDedupKey   = 255
	routingKeyLen = 32
	// maxChanges bounds the changes shown in custom_details; the whole
	// event must stay well under PagerDuty's 512 KB.
	maxChanges = 16 << 10
	maxLinks   = 5
)

// Config is a PagerDuty channel's settings (the keys besides the common
// channel settings such as name, type and min_risk).
type Config struct {
	// RoutingKey is the Integration Key of an Events API v2 integration
	// (32 characters), inline, as ${ENV}, or read from RoutingKeyFile.
	RoutingKey     secret.Secret `yaml:"routing_key"`
	RoutingKeyFile string        `yaml:"routing_key_file"`
	// BaseURL is the Events API host (default https://events.pagerduty.com;
	// EU accounts use https://events.eu.pagerduty.com).
	BaseURL string `yaml:"base_url"`
	// Source is payload.source (default "trailwatch").
	Source string `yaml:"source"`
	// Component, Group and Class replace the derived payload fields
	// (resource type/name, account/region, rule id).
	Component string `yaml:"component"`
	Group     string `yaml:"group"`
	Class     string `yaml:"class"`
	// ClientURL is shown as the link of the "trailwatch" client.
	ClientURL string `yaml:"client_url"`
	// AllowLinkLocal lets base_url point at a link-local or cloud metadata
	// address, which is refused by default.
	AllowLinkLocal bool `yaml:"allow_link_local"`

	// r holds what Check resolved, behind a pointer so that printing a
	// Config (%v, %+v) shows an address, not the key.
	r *resolved
}

type resolved struct {
	routingKey secret.Secret
	endpoint   string
}

// Check resolves the routing key (inline, ${ENV} or routing_key_file) and
// validates every setting, joining all problems; each names its YAML key
// and none quotes the key. It may be called again: it always starts from
// the configured values. getenv nil means os.Getenv.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	c.r = nil
	var r resolved
	key := keyOf("routing_key", c.RoutingKeyFile)
	rk, err := secret.Setting("routing_key", c.RoutingKey, c.RoutingKeyFile, getenv, true)
	switch {
	case err != nil:
		errs = append(errs, err)
	case len(rk.Reveal()) != routingKeyLen:
		errs = append(errs, fmt.Errorf("%s: is %d characters long, want %d (the Integration Key of an Events API v2 integration)", key, len(rk.Reveal()), routingKeyLen))
	case strings.ContainsAny(rk.Reveal(), " \t\r\n\"\\"):
		errs = append(errs, fmt.Errorf("%s: contains spaces or quotes", key))
	}
	r.routingKey = rk

	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if _, err := notify.CheckURL(base, notify.URLPolicy{LinkLocal: c.AllowLinkLocal}); err != nil {
		errs = append(errs, fmt.Errorf("base_url: %w (such as %s)", err, DefaultBaseURL))
	} else {
		// Accept the full enqueue URL as well as the host.
		r.endpoint = strings.TrimSuffix(strings.TrimSuffix(base, "/"), enqueuePath) + enqueuePath
	}
	if c.ClientURL != "" {
		if u, err := url.Parse(c.ClientURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("client_url: %s is not an http(s) URL", notify.QuoteSetting(c.ClientURL)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.r = &r
	return nil
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

// Notifier sends events to one PagerDuty integration.
type Notifier struct {
	cfg     Config
	o       notify.Options
	secrets *notify.Secrets
}

// New returns a notifier for a checked configuration.
func New(c Config, o notify.Options) (*Notifier, error) {
	if c.r == nil {
		return nil, errors.New("pagerduty: configuration not checked")
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	o.AllowLinkLocal = c.AllowLinkLocal
	return &Notifier{cfg: c, o: o.Defaults(), secrets: notify.NewSecrets(c.r.routingKey)}, nil
}

// The Events API v2 request and response.
type (
	event struct {
		RoutingKey  string  `json:"routing_key"`
		EventAction string  `json:"event_action"`
		DedupKey    string  `json:"dedup_key"`
		Payload     payload `json:"payload"`
		Links       []link  `json:"links,omitempty"`
		Client      string  `json:"client"`
		ClientURL   string  `json:"client_url,omitempty"`
	}
	payload struct {
		Summary       string  `json:"summary"`
		Source        string  `json:"source"`
		Severity      string  `json:"severity"`
		Timestamp     string  `json:"timestamp,omitempty"`
		Component     string  `json:"component,omitempty"`
		Group         string  `json:"group,omitempty"`
		Class         string  `json:"class,omitempty"`
		CustomDetails details `json:"custom_details"`
	}
	link struct {
		Href string `json:"href"`
		Text string `json:"text,omitempty"`
	}
	details struct {
		Summary      string      `json:"summary"`
		Risk         string      `json:"risk"`
		RiskReasons  []string    `json:"risk_reasons"`
		Actor        actor.Actor `json:"actor"`
		AccessMethod string      `json:"access_method"`
		UserAgent    string      `json:"user_agent,omitempty"`
		SourceIP     string      `json:"source_ip,omitempty"`
		Outcome      string      `json:"outcome"`
		ErrorCode    string      `json:"error_code,omitempty"`
		Resource     string      `json:"resource,omitempty"`
		Event        string      `json:"event"`
		Changes      any         `json:"changes,omitempty"`
		Remediation  string      `json:"remediation,omitempty"`
		EventID      string      `json:"event_id"`
		FindingID    string      `json:"finding_id"`
		RuleID       string      `json:"rule_id"`
		Repeats      int         `json:"repeats"`
		Test         bool        `json:"test,omitempty"`
		// Escalation says why an escalation was raised.
		Escalation *notify.Escalated `json:"escalation,omitempty"`
	}
	response struct {
		Status   string `json:"status"`
		Message  string `json:"message"`
		DedupKey string `json:"dedup_key"`
	}
)

// Format prints the notifier as its configuration, secrets redacted.
func (n *Notifier) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "pagerduty.Notifier{"+fmt.FormatString(f, verb)+"}", n.cfg)
}

// Notify sends one trigger event. 202 is success and Result.Ref is the
// dedup_key PagerDuty reports; 400 is permanent; 429 and 5xx retryable.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	if m.Kind == notify.Acknowledge || m.Kind == notify.Resolve {
		return n.lifecycle(ctx, m)
	}
	txt, err := n.o.Templates.Render(m)
	if err != nil {
		return notify.Result{}, err
	}
	ev := n.event(m, txt)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return notify.Result{}, notify.Permanentf("pagerduty: encode event: %v", err)
	}
	resp, err := notify.Do(ctx, n.o.HTTPClient, notify.Request{
		Method:  "POST",
		URL:     n.cfg.r.endpoint,
		Body:    buf.Bytes(),
		Header:  map[string][]string{"Content-Type": {"application/json"}},
		Service: "pagerduty",
		Secrets: n.secrets,
	})
	if err != nil {
		return notify.Result{}, err
	}
	var r response
	if err := json.Unmarshal(resp.Body, &r); err == nil && r.Status != "" && r.Status != "success" {
		// Not documented for 2xx, but never take a refusal for a delivery.
		return notify.Result{}, notify.Permanentf("pagerduty: %s: %s", n.secrets.Quote(r.Status, 100), n.secrets.Quote(r.Message, 200))
	}
	ref := r.DedupKey
	if ref == "" {
		ref = ev.DedupKey
	}
	n.o.Logger.DebugContext(ctx, "pagerduty event accepted", "finding_id", m.Finding.ID, "kind", string(m.Kind), "dedup_key", ref)
	return notify.Result{Ref: ref}, nil
}

// lifecycleEvent is an acknowledge or resolve event: the Events API v2
// needs only the routing key, the action and the dedup_key.
type lifecycleEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
}

// lifecycle sends an acknowledge or resolve event for the finding's
// alert: to its trigger's dedup_key, and to the alert's latest reference
// (an escalation's own PagerDuty alert) when that differs. Both are
// idempotent on PagerDuty's side, so a retry after a partial failure
// repeats them harmlessly.
func (n *Notifier) lifecycle(ctx context.Context, m notify.Message) (notify.Result, error) {
	action := "acknowledge"
	if m.Kind == notify.Resolve {
		action = "resolve"
	}
	keys := []string{DedupKey(m.Finding)}
	if m.Ref != "" && m.Ref != keys[0] {
		keys = append(keys, m.Ref)
	}
	for _, k := range keys {
		b, err := json.Marshal(lifecycleEvent{RoutingKey: n.cfg.r.routingKey.Reveal(), EventAction: action, DedupKey: k})
		if err != nil {
			return notify.Result{}, notify.Permanentf("pagerduty: encode event: %v", err)
		}
		resp, err := notify.Do(ctx, n.o.HTTPClient, notify.Request{
			Method:  "POST",
			URL:     n.cfg.r.endpoint,
			Body:    b,
			Header:  map[string][]string{"Content-Type": {"application/json"}},
			Service: "pagerduty",
			Secrets: n.secrets,
		})
		if err != nil {
			return notify.Result{}, err
		}
		var r response
		if err := json.Unmarshal(resp.Body, &r); err == nil && r.Status != "" && r.Status != "success" {
			return notify.Result{}, notify.Permanentf("pagerduty: %s: %s", n.secrets.Quote(r.Status, 100), n.secrets.Quote(r.Message, 200))
		}
		n.o.Logger.DebugContext(ctx, "pagerduty event accepted", "finding_id", m.Finding.ID, "kind", string(m.Kind), "dedup_key", k)
	}
	return notify.Result{}, nil
}

// DedupKey is the dedup_key of a finding's alert: one per fingerprint, so
// repeats update the open alert.
func DedupKey(f finding.Finding) string {
	id := f.Fingerprint
	if id == "" {
		id = f.ID
	}
	return notify.Truncate("trailwatch-"+id, maxDedupKey)
}

// EscalationKey is the dedup_key of an alert's nth escalation: a new
// PagerDuty alert, so it notifies; later repeats join it.
func EscalationKey(f finding.Finding, n int) string {
	suffix := "-escalation-" + strconv.Itoa(n)
	return notify.Truncate(DedupKey(f), maxDedupKey-len(suffix)) + suffix
}

// Severity maps a risk to a PagerDuty severity.
func Severity(r finding.Risk) string {
	switch {
	case r >= finding.VeryHigh:
		return "critical"
	case r == finding.High:
		return "error"
	case r == finding.Low:
		return "info"
	default: // MEDIUM, and an unset risk rather than under-alerting
		return "warning"
	}
}

func (n *Notifier) event(m notify.Message, txt notify.Text) event {
	f := m.Finding
	dedup := DedupKey(f)
	switch {
	case m.Kind == notify.Escalation:
		n := 1
		if m.Escalated != nil {
			n = m.Escalated.Number
		}
		dedup = EscalationKey(f, n)
	case m.Kind == notify.Update && m.Ref != "":
		dedup = m.Ref // what PagerDuty reported for the trigger or the latest escalation
	}
	summary := txt.Title
	if summary == "" {
		summary = f.Summary
	}
	if m.Kind == notify.Test {
		dedup = "trailwatch-test-" + strconv.FormatInt(n.o.Now().UnixNano(), 10)
		if !strings.HasPrefix(summary, "[TEST]") {
			summary = "[TEST] " + summary
		}
	}
	ts := f.EventTime
	if ts.IsZero() {
		ts = n.o.Now()
	}
	d := details{
		Summary:      f.Summary,
		Risk:         f.Risk.String(),
		RiskReasons:  f.RiskReasons,
		Actor:        f.Actor,
		AccessMethod: f.AccessMethod,
		UserAgent:    f.UserAgent,
		SourceIP:     f.SourceIP,
		Outcome:      f.Outcome,
		ErrorCode:    f.ErrorCode,
		Resource:     first(f.Resource.ARN, strings.TrimSpace(f.Resource.Type+" "+f.Resource.Name)),
		Event:        strings.TrimSpace(f.EventSource + " " + f.EventName),
		Changes:      changes(f.Changes),
		Remediation:  f.Remediation,
		EventID:      f.EventID,
		FindingID:    f.ID,
		RuleID:       f.RuleID,
		Repeats:      m.Repeats,
		Test:         m.Kind == notify.Test,
		Escalation:   m.Escalated,
	}
	if d.RiskReasons == nil {
		d.RiskReasons = []string{}
	}
	ev := event{
		RoutingKey:  n.cfg.r.routingKey.Reveal(),
		EventAction: "trigger",
		DedupKey:    dedup,
		Payload: payload{
			Summary:       notify.Truncate(summary, maxSummary),
			Source:        n.cfg.Source,
			Severity:      Severity(f.Risk),
			Timestamp:     ts.UTC().Format(time.RFC3339),
			Component:     first(n.cfg.Component, joinNonEmpty("/", f.Resource.Type, f.Resource.Name)),
			Group:         first(n.cfg.Group, joinNonEmpty("/", f.AccountID, f.Region)),
			Class:         first(n.cfg.Class, f.RuleID),
			CustomDetails: d,
		},
		Client:    "trailwatch",
		ClientURL: n.cfg.ClientURL,
	}
	if m.DashboardURL != "" {
		ev.Links = append(ev.Links, link{Href: m.DashboardURL, Text: "Finding in trailwatch"})
	}
	for _, r := range f.References {
		if len(ev.Links) == maxLinks {
			break
		}
		if strings.HasPrefix(r, "https://") || strings.HasPrefix(r, "http://") {
			ev.Links = append(ev.Links, link{Href: r, Text: "Reference"})
		}
	}
	return ev
}

// changes returns the changed settings as they are, or as cut JSON text
// when they are too large for an event.
func changes(c map[string]any) any {
	if len(c) == 0 {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "(not shown: " + err.Error() + ")"
	}
	if len(b) <= maxChanges {
		return c
	}
	return notify.Truncate(string(b), maxChanges)
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
