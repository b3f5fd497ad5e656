// Package zendesk opens Zendesk Support tickets through the Tickets API. A
// trigger creates one ticket whose external_id is "trailwatch-" plus the
// finding's fingerprint; repeats while the alert is alive become private
// comments on it. Before writing, Notify lists the tickets with that
// external_id, so a trigger retried after a crash (the ticket was made but
// trailwatch never recorded it) comments instead of opening a second
// ticket, and a repeat whose ticket is solved or closed opens a follow-up
// instead of commenting into a finished ticket. It imports notify, finding
// and secret only.
package zendesk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
)

const (
	service = "zendesk"
	// externalPrefix starts every external_id trailwatch sets.
	externalPrefix = "trailwatch-"
	// testTag marks test tickets; their external_id has a unique suffix
	// so they never merge with each other or with real alerts.
	testTag    = "trailwatch-test"
	maxSubject = 250
	// maxExternalID keeps external_id well inside Zendesk's limit.
	maxExternalID = 255
)

// Notifier creates and comments on Zendesk tickets. It is safe for
// concurrent use.
type Notifier struct {
	c       Config
	base    string // https://acme.zendesk.com
	auth    string // Authorization header value
	secrets *notify.Secrets
	o       notify.Options
	seq     atomic.Uint64 // test message suffixes
}

// New builds a Notifier from a checked Config (see Config.Check).
func New(c Config, o notify.Options) (*Notifier, error) {
	c.defaults()
	if err := errors.Join(c.problems(false)...); err != nil {
		return nil, fmt.Errorf("zendesk: %w", err)
	}
	o.AllowLinkLocal = c.AllowLinkLocal
	n := &Notifier{c: c, o: o.Defaults()}
	if c.BaseURL != "" {
		n.base = c.BaseURL
	} else {
		n.base = "https://" + c.Subdomain + ".zendesk.com"
	}
	basic := base64.StdEncoding.EncodeToString([]byte(c.Email + "/token:" + c.APIToken.Reveal()))
	n.auth = "Basic " + basic
	n.secrets = notify.NewSecrets(c.APIToken).AddBasicAuth(c.Email+"/token", c.APIToken)
	return n, nil
}

// Notify delivers one message. A Trigger opens a ticket, or comments on
// the open ticket with the same external_id; an Update comments on m.Ref
// or on the open ticket found by external_id, and opens a follow-up when
// that ticket is solved or closed; an Escalation does the same but raises
// the ticket's priority to the highest risk alerted and says why; a Test
// opens a marked ticket of its own. The Result's Ref is the ticket id.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	if m.Kind == notify.Acknowledge || m.Kind == notify.Resolve {
		return n.lifecycle(ctx, m)
	}
	txt, err := n.o.Templates.Render(m)
	if err != nil {
		return notify.Result{}, err
	}
	switch m.Kind {
	case notify.Test:
		return n.create(ctx, n.ticket(m, txt, n.testExternalID(), txt.Body, nil), "")
	case notify.Trigger, notify.Update, notify.Escalation:
	default:
		return notify.Result{}, notify.Permanentf("zendesk: unknown message kind %q", m.Kind)
	}

	again := m.Kind == notify.Update || m.Kind == notify.Escalation
	var ref int64
	if again && m.Ref != "" {
		if ref, err = strconv.ParseInt(m.Ref, 10, 64); err != nil || ref <= 0 {
			n.o.Logger.Warn("zendesk: ignoring a ref that is not a ticket id; looking the ticket up", "finding_id", m.Finding.ID)
			ref = 0
		}
	}
	ext := externalID(m)
	if ext == "" && ref != 0 {
		// Nothing to look up by: trust the ref.
		if m.Kind == notify.Escalation {
			return n.escalate(ctx, ref, m, txt)
		}
		return n.comment(ctx, ref, repeatNote(m, txt))
	}
	tickets, err := n.lookup(ctx, ext)
	if err != nil {
		return notify.Result{}, err
	}
	open, prev := choose(tickets, ref)
	if open != nil {
		if m.Kind == notify.Escalation {
			return n.escalate(ctx, open.ID, m, txt)
		}
		if m.Kind == notify.Update {
			return n.comment(ctx, open.ID, repeatNote(m, txt))
		}
		n.o.Logger.Info("zendesk: open ticket found for the fingerprint; commenting instead of opening a second ticket",
			"finding_id", m.Finding.ID, "ticket_id", open.ID)
		return n.comment(ctx, open.ID, againNote(m, txt))
	}

	body := txt.Body
	switch {
	case m.Kind == notify.Escalation && prev != nil:
		body = fmt.Sprintf("Follow-up to ticket #%d, which is %s: this alert is ESCALATED.\n%s\n%s", prev.ID, prev.Status, whyLines(m), body)
	case m.Kind == notify.Escalation:
		body = fmt.Sprintf("Escalation of a trailwatch alert whose ticket was not found: opened this ticket for it.\n%s\n%s", whyLines(m), body)
	case m.Kind == notify.Update && prev != nil:
		body = fmt.Sprintf("Follow-up to ticket #%d, which is %s: this alert was seen again (repeat #%d).\n\n%s", prev.ID, prev.Status, m.Repeats, body)
	case m.Kind == notify.Update:
		body = fmt.Sprintf("Repeat #%d of a trailwatch alert whose ticket was not found: opened this ticket for it.\n\n%s", m.Repeats, body)
	case prev != nil:
		body = fmt.Sprintf("An earlier ticket for this alert, #%d, is %s.\n\n%s", prev.ID, prev.Status, body)
	}
	key := ""
	if m.Kind == notify.Trigger || m.Kind == notify.Escalation {
		key = m.IdempotencyKey
	}
	return n.create(ctx, n.ticket(m, txt, ext, body, prev), key)
}

// lifecycle carries a status change to the alert's open ticket (m.Ref,
// or the open one with the fingerprint's external_id): acknowledging adds
// a private comment; resolving sets it solved with that comment. No open
// ticket (never created, or already solved there) is nothing to do.
func (n *Notifier) lifecycle(ctx context.Context, m notify.Message) (notify.Result, error) {
	var ref int64
	if m.Ref != "" {
		if r, err := strconv.ParseInt(m.Ref, 10, 64); err == nil && r > 0 {
			ref = r
		}
	}
	id := ref
	if ext := externalID(m); ext != "" {
		tickets, err := n.lookup(ctx, ext)
		if err != nil {
			return notify.Result{}, err
		}
		id = 0
		if open, _ := choose(tickets, ref); open != nil {
			id = open.ID
		}
	}
	if id == 0 {
		n.o.Logger.Info("zendesk: no open ticket for the finding's alert; nothing to "+string(m.Kind), "finding_id", m.Finding.ID)
		return notify.Result{}, nil
	}
	verb := "Acknowledged"
	t := ticket{}
	if m.Kind == notify.Resolve {
		verb, t.Status = "Resolved", "solved"
	}
	text := verb + " in trailwatch"
	if tr := m.Transition; tr != nil {
		text += " by " + tr.Actor + " at " + tr.At.UTC().Format("2006-01-02 15:04:05 UTC")
		if tr.Note != "" {
			text += ": " + tr.Note
		}
	}
	text += " (finding " + m.Finding.ID + ")"
	if m.DashboardURL != "" {
		text += "\n" + m.DashboardURL
	}
	t.Comment = &comment{Body: text}
	body, err := json.Marshal(map[string]ticket{"ticket": t})
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("zendesk: encode update: %w", err))
	}
	if _, err := n.do(ctx, http.MethodPut, n.base+"/api/v2/tickets/"+strconv.FormatInt(id, 10)+".json", body, ""); err != nil {
		return notify.Result{}, err
	}
	return notify.Result{}, nil
}

// ticket is the JSON of a ticket to create or update.
type ticket struct {
	Subject             string        `json:"subject,omitempty"`
	Comment             *comment      `json:"comment,omitempty"`
	Priority            string        `json:"priority,omitempty"`
	Type                string        `json:"type,omitempty"`
	Tags                []string      `json:"tags,omitempty"`
	ExternalID          string        `json:"external_id,omitempty"`
	GroupID             int64         `json:"group_id,omitempty"`
	AssigneeID          int64         `json:"assignee_id,omitempty"`
	Requester           *requester    `json:"requester,omitempty"`
	CustomFields        []CustomField `json:"custom_fields,omitempty"`
	ViaFollowupSourceID int64         `json:"via_followup_source_id,omitempty"`
	Status              string        `json:"status,omitempty"`
}

type comment struct {
	Body   string `json:"body"`
	Public bool   `json:"public"`
}

type requester struct {
	Email string `json:"email"`
}

// ticket builds a new ticket; prev is the finished ticket it follows, if
// any.
func (n *Notifier) ticket(m notify.Message, txt notify.Text, ext, body string, prev *found) ticket {
	subject, priority := txt.Title, priorityOf(m.Finding.Risk)
	tags := n.tags(m.Finding)
	if m.Kind == notify.Test {
		if !strings.HasPrefix(subject, "[TEST]") {
			subject = "[TEST] " + subject
		}
		priority = "low" // a test never pages anyone
		tags = appendTag(tags, testTag)
	}
	t := ticket{
		Subject:      notify.TruncateRunes(subject, maxSubject),
		Comment:      &comment{Body: body},
		Priority:     priority,
		Type:         n.c.TicketType,
		Tags:         tags,
		ExternalID:   ext,
		GroupID:      n.c.GroupID,
		AssigneeID:   n.c.AssigneeID,
		CustomFields: n.c.CustomFields,
	}
	if n.c.RequesterEmail != "" {
		t.Requester = &requester{Email: n.c.RequesterEmail}
	}
	if prev != nil && prev.Status == "closed" {
		// Only a closed ticket can have follow-ups; tags given here
		// replace the ones the follow-up would inherit.
		t.ViaFollowupSourceID = prev.ID
	}
	return t
}

// priorityOf maps a risk to a ticket priority.
func priorityOf(r finding.Risk) string {
	switch {
	case r >= finding.VeryHigh:
		return "urgent"
	case r == finding.High:
		return "high"
	case r == finding.Low:
		return "low"
	default:
		return "normal"
	}
}

// tags are the configured tags, or trailwatch, aws, the rule id and the
// risk.
func (n *Notifier) tags(f finding.Finding) []string {
	if len(n.c.Tags) > 0 {
		return append([]string(nil), n.c.Tags...)
	}
	tags := []string{"trailwatch", "aws"}
	tags = appendTag(tags, tagOf(f.RuleID))
	if f.Risk >= finding.Low && f.Risk <= finding.Extreme {
		tags = appendTag(tags, tagOf(f.Risk.String()))
	}
	return tags
}

// tagOf lower-cases s and replaces what Zendesk would split a tag on.
func tagOf(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == ',' {
			return '_'
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(s))
}

func appendTag(tags []string, tag string) []string {
	if tag == "" {
		return tags
	}
	for _, t := range tags {
		if t == tag {
			return tags
		}
	}
	return append(tags, tag)
}

// repeatNote is the comment of a repeat: "Repeat #N: <summary>" and the
// details (the default body already starts with the summary).
func repeatNote(m notify.Message, txt notify.Text) string {
	note := fmt.Sprintf("Repeat #%d: ", m.Repeats)
	if !strings.HasPrefix(txt.Body, m.Finding.Summary) {
		note += m.Finding.Summary + "\n\n"
	}
	return note + txt.Body
}

// escalatedRisk is the highest risk alerted on the ticket, this escalation
// included: priority follows it and never drops.
func escalatedRisk(m notify.Message) finding.Risk {
	r := m.Finding.Risk
	if m.Escalated != nil {
		r = max(r, m.Escalated.PreviousRisk)
	}
	return r
}

// bodyLists reports whether the rendered body already says why (the
// default template does).
func bodyLists(body string, m notify.Message) bool {
	if m.Escalated == nil {
		return true
	}
	for _, w := range m.Escalated.Why {
		if !strings.Contains(body, w) {
			return false
		}
	}
	return true
}

// whyLines lists what made the escalation, one "- " line each.
func whyLines(m notify.Message) string {
	var b strings.Builder
	if m.Escalated != nil {
		for _, w := range m.Escalated.Why {
			b.WriteString("- " + w + "\n")
		}
	}
	return b.String()
}

func againNote(m notify.Message, txt notify.Text) string {
	return fmt.Sprintf("trailwatch raised this alert again (finding %s) while this ticket was open; noted here instead of opening a second ticket.\n\n%s", m.Finding.ID, txt.Body)
}

// externalID is "trailwatch-" and the fingerprint, or failing that the
// idempotency key.
func externalID(m notify.Message) string {
	v := m.Finding.Fingerprint
	if v == "" {
		v = m.IdempotencyKey
	}
	if v == "" {
		return ""
	}
	return notify.Truncate(externalPrefix+v, maxExternalID)
}

func (n *Notifier) testExternalID() string {
	return testTag + "-" + n.o.Now().UTC().Format("20060102T150405.000000000Z") + "-" + strconv.FormatUint(n.seq.Add(1), 10)
}

// found is the part of a listed ticket trailwatch reads.
type found struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	ExternalID string `json:"external_id"`
}

// finished reports whether a ticket is solved or closed: a repeat then
// opens a follow-up rather than commenting into it.
func (t *found) finished() bool { return t.Status == "solved" || t.Status == "closed" }

// choose picks the ticket to comment on (ref if it is still open, else the
// newest open one) or, when none is open, the finished ticket a new one
// follows (ref, else the newest).
func choose(ts []found, ref int64) (open, prev *found) {
	var byRef, newest, newestOpen *found
	for i := range ts {
		t := &ts[i]
		if ref != 0 && t.ID == ref {
			byRef = t
		}
		if newest == nil || t.ID > newest.ID {
			newest = t
		}
		if !t.finished() && (newestOpen == nil || t.ID > newestOpen.ID) {
			newestOpen = t
		}
	}
	switch {
	case byRef != nil && !byRef.finished():
		return byRef, nil
	case newestOpen != nil:
		return newestOpen, nil
	case byRef != nil:
		return nil, byRef
	}
	return nil, newest
}

// lookup lists the tickets with the external id, newest first.
func (n *Notifier) lookup(ctx context.Context, ext string) ([]found, error) {
	if ext == "" {
		return nil, nil
	}
	q := url.Values{"external_id": {ext}, "sort_by": {"created_at"}, "sort_order": {"desc"}}
	resp, err := n.do(ctx, http.MethodGet, n.base+"/api/v2/tickets.json?"+q.Encode(), nil, "")
	if err != nil {
		return nil, err
	}
	var out struct {
		Tickets []found `json:"tickets"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, notify.Retryable(fmt.Errorf("zendesk: look up tickets: decode response: %w", err), 0)
	}
	kept := out.Tickets[:0]
	for _, t := range out.Tickets {
		if t.ID > 0 && (t.ExternalID == "" || t.ExternalID == ext) {
			kept = append(kept, t)
		}
	}
	return kept, nil
}

func (n *Notifier) create(ctx context.Context, t ticket, idempotencyKey string) (notify.Result, error) {
	body, err := json.Marshal(map[string]ticket{"ticket": t})
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("zendesk: encode ticket: %w", err))
	}
	resp, err := n.do(ctx, http.MethodPost, n.base+"/api/v2/tickets.json", body, idempotencyKey)
	if err != nil {
		return notify.Result{}, err
	}
	var out struct {
		Ticket struct {
			ID int64 `json:"id"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil || out.Ticket.ID <= 0 {
		// Retrying is safe: the retry finds the ticket by external_id.
		return notify.Result{}, notify.Retryable(fmt.Errorf("zendesk: create ticket: HTTP %d without ticket.id", resp.Status), 0)
	}
	return notify.Result{Ref: strconv.FormatInt(out.Ticket.ID, 10)}, nil
}

// comment adds a private comment. The 2xx is what counts: the body is not
// read, so an odd answer cannot make the dispatcher comment twice.
func (n *Notifier) comment(ctx context.Context, id int64, text string) (notify.Result, error) {
	body, err := json.Marshal(map[string]ticket{"ticket": {Comment: &comment{Body: text}}})
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("zendesk: encode comment: %w", err))
	}
	if _, err := n.do(ctx, http.MethodPut, n.base+"/api/v2/tickets/"+strconv.FormatInt(id, 10)+".json", body, ""); err != nil {
		return notify.Result{}, err
	}
	return notify.Result{Ref: strconv.FormatInt(id, 10)}, nil
}

// escalate raises an open ticket's priority to the highest risk alerted
// and adds a private comment saying why; Zendesk notifies the assignee of
// the update.
func (n *Notifier) escalate(ctx context.Context, id int64, m notify.Message, txt notify.Text) (notify.Result, error) {
	r := escalatedRisk(m)
	note := fmt.Sprintf("ESCALATED to %s, priority raised to match.\n", r)
	if !bodyLists(txt.Body, m) {
		note += whyLines(m) // a custom body template that does not list them
	}
	note += "\n"
	if !strings.HasPrefix(txt.Body, m.Finding.Summary) {
		note += m.Finding.Summary + "\n\n"
	}
	body, err := json.Marshal(map[string]ticket{"ticket": {Comment: &comment{Body: note + txt.Body}, Priority: priorityOf(r)}})
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("zendesk: encode escalation: %w", err))
	}
	if _, err := n.do(ctx, http.MethodPut, n.base+"/api/v2/tickets/"+strconv.FormatInt(id, 10)+".json", body, ""); err != nil {
		return notify.Result{}, err
	}
	return notify.Result{Ref: strconv.FormatInt(id, 10)}, nil
}

func (n *Notifier) do(ctx context.Context, method, u string, body []byte, idempotencyKey string) (*notify.Response, error) {
	h := http.Header{"Accept": {"application/json"}, "Authorization": {n.auth}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	return notify.Do(ctx, n.o.HTTPClient, notify.Request{
		Method: method, URL: u, Body: body, Header: h,
		Service: service, Secrets: n.secrets,
	})
}
