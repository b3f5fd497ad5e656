// Package slack delivers findings to a Slack channel through an incoming
// webhook, as a Block Kit message with a plain-text fallback. Incoming
// webhooks cannot edit a message they posted, so an Update is posted as a
// new message marked as a repeat. The webhook URL embeds its token and is
// treated as a secret: it never appears in an error or a log.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// Slack's Block Kit limits, in characters.
const (
	maxBlocks      = 50
	maxHeader      = 150
	maxSectionText = 3000
	maxField       = 2000
	maxFields      = 10
	maxButtonText  = 75
	maxButtonURL   = 3000
	maxFallback    = 3000 // Slack accepts more; notifications show far less
)

// Config is a Slack channel's settings (the keys besides the common channel
// settings such as name, type and min_risk).
type Config struct {
	// WebhookURL is the incoming webhook URL (a secret: it embeds a token),
	// inline or as ${ENV}; WebhookURLFile reads it from a file instead.
	WebhookURL     secret.Secret `yaml:"webhook_url"`
	WebhookURLFile string        `yaml:"webhook_url_file"`
	// ShowActor, ShowResource and ShowChanges include who made the change,
	// the resource, and the changed settings; nil means true.
	ShowActor    *bool `yaml:"show_actor"`
	ShowResource *bool `yaml:"show_resource"`
	ShowChanges  *bool `yaml:"show_changes"`
	// Username and IconEmoji override the poster's name and icon (legacy
	// webhooks only; app webhooks ignore them).
	Username  string `yaml:"username"`
	IconEmoji string `yaml:"icon_emoji"`
	// Mention is put in front of alerts, e.g. "<!here>" or
	// "<!subteam^S0123ABCD>"; MentionAt is the lowest risk that gets it
	// (empty: every alert).
	Mention   string `yaml:"mention"`
	MentionAt string `yaml:"mention_at"`
	// AllowLinkLocal lets webhook_url point at a link-local or cloud
	// metadata address, which is refused by default.
	AllowLinkLocal bool `yaml:"allow_link_local"`

	// r holds what Check resolved, behind a pointer so that printing a
	// Config (%v, %+v) shows an address, not the secret.
	r *resolved
}

type resolved struct {
	webhookURL secret.Secret
	mentionAt  finding.Risk
}

var (
	mentionRe = regexp.MustCompile(`^<(!here|!channel|!everyone|@[UW][A-Z0-9]+|!subteam\^[A-Z0-9]+)>$`)
	emojiRe   = regexp.MustCompile(`^:[a-z0-9_+'-]+:$`)
)

// Check resolves the webhook URL (inline, ${ENV} or webhook_url_file) and
// validates every setting, joining all problems; each names its YAML key.
// It may be called again: it always starts from the configured values.
// getenv nil means os.Getenv.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	c.r = nil
	var r resolved
	u, err := secret.Setting("webhook_url", c.WebhookURL, c.WebhookURLFile, getenv, true)
	if err != nil {
		errs = append(errs, err)
	} else if _, err := notify.CheckURL(u.Reveal(), notify.URLPolicy{Query: true, LinkLocal: c.AllowLinkLocal}); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", keyOf("webhook_url", c.WebhookURLFile), err))
	}
	r.webhookURL = u
	if c.IconEmoji != "" && !emojiRe.MatchString(c.IconEmoji) {
		errs = append(errs, fmt.Errorf("icon_emoji: %q is not an emoji code such as :shield:", c.IconEmoji))
	}
	for _, m := range strings.Fields(c.Mention) {
		if !mentionRe.MatchString(m) {
			errs = append(errs, fmt.Errorf("mention: %q is not a Slack mention; write <!here>, <!channel>, <@U…> or <!subteam^S…>", m))
		}
	}
	if c.MentionAt != "" {
		risk, err := finding.ParseRisk(c.MentionAt)
		if err != nil {
			errs = append(errs, fmt.Errorf("mention_at: %w", err))
		}
		if c.Mention == "" {
			errs = append(errs, errors.New("mention_at: set without mention"))
		}
		r.mentionAt = risk
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

func on(b *bool) bool { return b == nil || *b }

// Format prints the configuration with its secrets redacted and without
// what Check resolved, under every verb (fmt cannot call a secret's own
// Format for an unexported field).
func (c Config) Format(f fmt.State, verb rune) {
	type plain Config // the same fields, without this method
	p := plain(c)
	p.r = nil
	fmt.Fprintf(f, fmt.FormatString(f, verb), p)
}

// Notifier posts messages to one incoming webhook.
type Notifier struct {
	cfg     Config
	o       notify.Options
	secrets *notify.Secrets
}

// New returns a notifier for a checked configuration.
func New(c Config, o notify.Options) (*Notifier, error) {
	if c.r == nil {
		return nil, errors.New("slack: configuration not checked")
	}
	o.AllowLinkLocal = c.AllowLinkLocal
	// Every part of the webhook URL's path is its token.
	return &Notifier{cfg: c, o: o.Defaults(), secrets: notify.NewSecrets().AddURL(c.r.webhookURL)}, nil
}

// Format prints the notifier as its configuration, secrets redacted.
func (n *Notifier) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "slack.Notifier{"+fmt.FormatString(f, verb)+"}", n.cfg)
}

// Notify posts one message. Slack answers 200 "ok"; its 4xx answers
// (invalid_payload, channel_not_found, no_service, …) are permanent, 429
// and 5xx retryable.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	txt, err := n.o.Templates.Render(m)
	if err != nil {
		return notify.Result{}, err
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(n.payload(m, txt)); err != nil {
		return notify.Result{}, notify.Permanentf("slack: encode message: %v", err)
	}
	resp, err := notify.Do(ctx, n.o.HTTPClient, notify.Request{
		Method:  "POST",
		URL:     n.cfg.r.webhookURL.Reveal(),
		Body:    body.Bytes(),
		Header:  map[string][]string{"Content-Type": {"application/json; charset=utf-8"}},
		Service: "slack",
		Secrets: n.secrets,
	})
	if err != nil {
		return notify.Result{}, err
	}
	// An incoming webhook answers "ok". A Web API URL configured by
	// mistake answers 200 with {"ok":false,"error":…}: not delivered.
	var api struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(resp.Body, &api) == nil && api.OK != nil && !*api.OK {
		return notify.Result{}, notify.Permanentf("slack: %s (is webhook_url an incoming webhook URL?)", n.secrets.Quote(api.Error, 100))
	}
	n.o.Logger.DebugContext(ctx, "slack message posted", "finding_id", m.Finding.ID, "kind", string(m.Kind))
	return notify.Result{}, nil
}

// Block Kit types: only what the message uses.
type (
	payload struct {
		Text      string  `json:"text"`
		Blocks    []block `json:"blocks"`
		Username  string  `json:"username,omitempty"`
		IconEmoji string  `json:"icon_emoji,omitempty"`
	}
	text struct {
		Type  string `json:"type"`
		Text  string `json:"text"`
		Emoji bool   `json:"emoji,omitempty"`
	}
	block struct {
		Type     string `json:"type"`
		Text     *text  `json:"text,omitempty"`
		Fields   []text `json:"fields,omitempty"`
		Elements []any  `json:"elements,omitempty"`
	}
	button struct {
		Type string `json:"type"`
		Text text   `json:"text"`
		URL  string `json:"url"`
	}
)

func mrkdwn(s string) *text { return &text{Type: "mrkdwn", Text: s} }

var riskEmoji = map[finding.Risk]string{
	finding.Extreme:  ":rotating_light:",
	finding.VeryHigh: ":red_circle:",
	finding.High:     ":large_orange_circle:",
	finding.Medium:   ":large_yellow_circle:",
	finding.Low:      ":large_blue_circle:",
}

// payload lays out the message. Every text is cut to Slack's limits, and
// the message has at most eight blocks.
func (n *Notifier) payload(m notify.Message, txt notify.Text) payload {
	f := m.Finding
	showActor, showResource, showChanges := on(n.cfg.ShowActor), on(n.cfg.ShowResource), on(n.cfg.ShowChanges)

	emoji := riskEmoji[f.Risk]
	if emoji == "" {
		emoji = ":white_circle:"
	}
	title := txt.Title
	if title == "" {
		title = f.RuleTitle
	}
	header := emoji + " " + title
	if m.Kind == notify.Test {
		header = "[TEST] " + emoji + " " + strings.TrimSpace(strings.TrimPrefix(title, "[TEST]"))
	}

	mention := ""
	if n.cfg.Mention != "" && (m.Kind == notify.Trigger || m.Kind == notify.Escalation) && f.Risk >= n.cfg.r.mentionAt {
		mention = strings.Join(strings.Fields(n.cfg.Mention), " ") + " "
	}
	fallback := title
	if m.Kind == notify.Update {
		fallback = fmt.Sprintf("Repeat #%d of %s", repeatNo(m), title)
	}
	if m.Kind == notify.Test && !strings.HasPrefix(fallback, "[TEST]") {
		fallback = "[TEST] " + fallback
	}

	blocks := []block{{Type: "header", Text: &text{Type: "plain_text", Text: notify.TruncateRunes(header, maxHeader), Emoji: true}}}

	// The summary, preceded by the mention and the repeat or test notice.
	summary := f.Summary
	if !showActor {
		summary = hideActor(summary, f)
	}
	var lead string
	switch m.Kind {
	case notify.Update:
		lead = fmt.Sprintf(":repeat: *Repeat #%d* of an alert that is still open (seen %d times).\n", repeatNo(m), m.Repeats)
	case notify.Test:
		lead = ":test_tube: *Test message from trailwatch: no action needed.*\n"
	case notify.Escalation:
		lead = ":rotating_light: *Escalated:* an alert of this change is open, and this is new: "
		if m.Escalated != nil {
			lead += escapeCut(strings.Join(m.Escalated.Why, "; "), maxSectionText/2)
		}
		lead += ".\n"
	}
	lead = mention + lead
	blocks = append(blocks, block{Type: "section", Text: mrkdwn(lead + escapeCut(summary, maxSectionText-runes(lead)))})

	// The facts as fields.
	var fields []text
	field := func(name, value string) {
		if value == "" || len(fields) == maxFields {
			return
		}
		head := "*" + name + "*\n"
		fields = append(fields, text{Type: "mrkdwn", Text: head + escapeCut(value, maxField-runes(head))})
	}
	field("Risk", f.Risk.String())
	outcome := f.Outcome
	if f.ErrorCode != "" {
		outcome += " (" + f.ErrorCode + ")"
	}
	field("Outcome", outcome)
	if showActor {
		who := f.Actor.Name
		if f.Actor.Type != "" {
			who += " (" + f.Actor.Type + ")"
		}
		if f.Actor.MFA {
			who += ", MFA"
		} else if f.Actor.Type != "" && !f.Actor.Automatic {
			who += ", no MFA"
		}
		field("Actor", who)
		how := f.AccessMethod
		if f.Actor.InvokedBy != "" {
			how += " via " + f.Actor.InvokedBy
		}
		if f.UserAgent != "" {
			how += " (" + notify.TruncateRunes(f.UserAgent, 200) + ")"
		}
		field("Access method", strings.TrimSpace(how))
	}
	field("Account/Region", joinNonEmpty(" / ", f.AccountID, f.Region))
	if showResource {
		res := joinNonEmpty(" ", f.Resource.Type, f.Resource.Name)
		if f.Resource.ARN != "" {
			res += "\n" + f.Resource.ARN
		}
		field("Resource", strings.TrimSpace(res))
	}
	if showActor {
		field("Source IP", f.SourceIP)
	}
	event := joinNonEmpty(" ", f.EventSource, f.EventName)
	if !f.EventTime.IsZero() {
		event += " at " + f.EventTime.UTC().Format("2006-01-02 15:04:05Z")
	}
	field("Event", event)
	blocks = append(blocks, block{Type: "section", Fields: fields})

	if len(f.RiskReasons) > 0 {
		blocks = append(blocks, block{Type: "section", Text: mrkdwn(reasons(f))})
	}
	if f.Remediation != "" {
		head := "*What to do*\n"
		blocks = append(blocks, block{Type: "section", Text: mrkdwn(head + escapeCut(f.Remediation, maxSectionText-runes(head)))})
	}
	if showChanges && len(f.Changes) > 0 {
		blocks = append(blocks, block{Type: "section", Text: mrkdwn(changes(f.Changes))})
	}
	if m.DashboardURL != "" && utf8.RuneCountInString(m.DashboardURL) <= maxButtonURL {
		blocks = append(blocks, block{Type: "actions", Elements: []any{button{
			Type: "button",
			Text: text{Type: "plain_text", Text: notify.TruncateRunes("Open finding in trailwatch", maxButtonText)},
			URL:  m.DashboardURL,
		}}})
	}
	ids := fmt.Sprintf("Rule `%s` · Event `%s` · Finding `%s`", escape(f.RuleID), escape(f.EventID), escape(f.ID))
	blocks = append(blocks, block{Type: "context", Elements: []any{mrkdwn(notify.TruncateRunes(ids, maxSectionText))}})
	if len(blocks) > maxBlocks { // cannot happen with this layout; keep the promise anyway
		blocks = blocks[:maxBlocks]
	}

	return payload{
		Text:      mention + escapeCut(fallback, maxFallback-runes(mention)),
		Blocks:    blocks,
		Username:  n.cfg.Username,
		IconEmoji: n.cfg.IconEmoji,
	}
}

// repeatNo numbers the repeats: the second sighting is repeat #1.
func repeatNo(m notify.Message) int { return max(m.Repeats-1, 1) }

// reasons lists the risk reasons within one section, saying how many did
// not fit.
func reasons(f finding.Finding) string {
	var b strings.Builder
	b.WriteString("*Why " + f.Risk.String() + "*")
	for i, r := range f.RiskReasons {
		line := "\n• " + escapeCut(r, 500)
		rest := len(f.RiskReasons) - i - 1
		more := ""
		if rest > 0 {
			more = fmt.Sprintf("\n…and %d more", rest)
		}
		if runes(b.String())+runes(line)+len(more) > maxSectionText {
			fmt.Fprintf(&b, "\n…and %d more", rest+1)
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// changes shows the changed settings as indented JSON in a code block.
func changes(c map[string]any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return "*Changes*\n(not shown: " + escape(err.Error()) + ")"
	}
	// A ``` inside the JSON would end the code block early.
	js := strings.ReplaceAll(strings.TrimSpace(b.String()), "```", "``\u200b`")
	const head, tail = "*Changes*\n```", "```"
	return head + escapeCut(js, maxSectionText-runes(head)-runes(tail)) + tail
}

// hideActor removes who made the change from the summary.
func hideActor(s string, f finding.Finding) string {
	const hidden = "[actor hidden]"
	a := f.Actor
	if a.Name != "" && a.Type != "" {
		s = strings.ReplaceAll(s, a.Name+" ("+a.Type+")", hidden)
	}
	for _, v := range []string{a.ARN, a.Name, a.SessionName, a.SourceIdentity} {
		if len(v) >= 3 {
			s = strings.ReplaceAll(s, v, hidden)
		}
	}
	if f.SourceIP != "" {
		s = strings.ReplaceAll(s, f.SourceIP, "[source hidden]")
	}
	return s
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape encodes Slack's control characters &, < and >.
func escape(s string) string { return escaper.Replace(s) }

// escapeCut escapes s and cuts the result to at most n characters without
// splitting an entity, marking a cut with an ellipsis.
func escapeCut(s string, n int) string {
	e := escape(s)
	if runes(e) <= n {
		return e
	}
	if n < 1 {
		return ""
	}
	var b strings.Builder
	count := 0
	for _, r := range s {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		k := utf8.RuneCountInString(piece)
		if count+k > n-1 {
			break
		}
		b.WriteString(piece)
		count += k
	}
	return b.String() + "…"
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
