// Package servicenow opens ServiceNow incidents through the Table API. A
// trigger creates one record whose correlation_id is the finding's
// fingerprint; repeats while the alert is alive become work notes on it.
// Before creating, Notify looks for an active record with the same
// correlation_id, so a trigger retried after a crash (the record was made
// but trailwatch never recorded it) adds a work note instead of a second
// incident. It imports notify, finding and secret only.
package servicenow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
)

const (
	service = "servicenow"
	// Column sizes of the incident table.
	maxShortDescription = 160
	maxDescription      = 4000
	maxCorrelationID    = 100
	// testPrefix marks test records; with a unique suffix they never
	// merge with each other or with real alerts.
	testPrefix = "trailwatch-test"
)

// Notifier creates and updates ServiceNow records. It is safe for
// concurrent use.
type Notifier struct {
	c       Config
	base    string // https://acme.service-now.com
	auth    string // Authorization header value
	secrets *notify.Secrets
	o       notify.Options
	seq     atomic.Uint64 // test message suffixes
}

// New builds a Notifier from a checked Config (see Config.Check).
func New(c Config, o notify.Options) (*Notifier, error) {
	c.defaults()
	if err := errors.Join(c.problems(false, false)...); err != nil {
		return nil, fmt.Errorf("servicenow: %w", err)
	}
	o.AllowLinkLocal = c.AllowLinkLocal
	n := &Notifier{c: c, o: o.Defaults()}
	if c.BaseURL != "" {
		n.base = c.BaseURL
	} else {
		n.base = "https://" + c.Instance + ".service-now.com"
	}
	if !c.OAuthToken.Empty() {
		n.auth = "Bearer " + c.OAuthToken.Reveal()
		n.secrets = notify.NewSecrets(c.OAuthToken)
	} else {
		basic := base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password.Reveal()))
		n.auth = "Basic " + basic
		n.secrets = notify.NewSecrets().AddBasicAuth(c.Username, c.Password)
	}
	return n, nil
}

// Notify delivers one message: a Trigger opens an incident (or notes an
// open one with the same fingerprint), an Update adds a work note to
// m.Ref or to the open incident found by fingerprint, an Escalation raises
// that incident's urgency and impact to the highest risk alerted and adds
// a work note saying why (or opens an incident when none is open), and a
// Test opens a marked incident of its own. The Result's Ref is the
// record's sys_id.
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
		return n.create(ctx, n.record(m, txt, n.testCorrelationID(), ""))
	case notify.Trigger:
		corr := correlationID(m)
		rec, err := n.lookup(ctx, corr)
		if err != nil {
			return notify.Result{}, err
		}
		if rec != nil {
			n.o.Logger.Info("servicenow: open incident found for the fingerprint; adding a work note instead of a second incident",
				"finding_id", m.Finding.ID, "number", rec.Number, "sys_id", rec.SysID)
			return n.workNote(ctx, rec.SysID, againNote(m, txt))
		}
		return n.create(ctx, n.record(m, txt, corr, ""))
	case notify.Update, notify.Escalation:
		ref := m.Ref
		if ref != "" && !isSysID(ref) {
			n.o.Logger.Warn("servicenow: ignoring a ref that is not a sys_id; looking the incident up", "finding_id", m.Finding.ID)
			ref = ""
		}
		corr := correlationID(m)
		if ref == "" {
			rec, err := n.lookup(ctx, corr)
			if err != nil {
				return notify.Result{}, err
			}
			if rec != nil {
				ref = rec.SysID
			}
		}
		if m.Kind == notify.Escalation {
			if ref != "" {
				u := level(escalatedRisk(m))
				return n.patch(ctx, ref, map[string]string{"work_notes": escalationNote(m, txt), "urgency": u, "impact": u})
			}
			note := "Escalation of a trailwatch alert whose incident was not found (resolved, closed or never created): opened this incident for it.\n" + whyLines(m)
			return n.create(ctx, n.record(m, txt, corr, note))
		}
		if ref != "" {
			return n.workNote(ctx, ref, repeatNote(m, txt))
		}
		note := fmt.Sprintf("Repeat #%d of a trailwatch alert whose incident was not found (resolved, closed or never created): opened this incident for it.", m.Repeats)
		return n.create(ctx, n.record(m, txt, corr, note))
	default:
		return notify.Result{}, notify.Permanentf("servicenow: unknown message kind %q", m.Kind)
	}
}

// lifecycle carries a status change to the alert's incident (m.Ref, or
// the active one found by fingerprint): acknowledging writes a work note;
// resolving sets the resolved state, the close code and close notes. No
// incident (never created, or already closed there) is nothing to do.
func (n *Notifier) lifecycle(ctx context.Context, m notify.Message) (notify.Result, error) {
	ref := m.Ref
	if ref != "" && !isSysID(ref) {
		ref = ""
	}
	if ref == "" {
		rec, err := n.lookup(ctx, correlationID(m))
		if err != nil {
			return notify.Result{}, err
		}
		if rec == nil {
			n.o.Logger.Info("servicenow: no incident for the finding's alert; nothing to "+string(m.Kind), "finding_id", m.Finding.ID)
			return notify.Result{}, nil
		}
		ref = rec.SysID
	}
	note := transitionNote(m)
	fields := map[string]string{"work_notes": note}
	if m.Kind == notify.Resolve {
		r := n.c.Resolve
		fields["state"] = r.State
		fields[r.CloseCodeField] = r.CloseCode
		fields[r.CloseNotesField] = note
	}
	if _, err := n.patch(ctx, ref, fields); err != nil {
		return notify.Result{}, err
	}
	return notify.Result{}, nil
}

// transitionNote says who acknowledged or resolved the finding in
// trailwatch, when, and their note.
func transitionNote(m notify.Message) string {
	verb := "Acknowledged"
	if m.Kind == notify.Resolve {
		verb = "Resolved"
	}
	s := verb + " in trailwatch"
	if t := m.Transition; t != nil {
		s += " by " + t.Actor + " at " + t.At.UTC().Format("2006-01-02 15:04:05 UTC")
		if t.Note != "" {
			s += ": " + t.Note
		}
	}
	s += " (finding " + m.Finding.ID + ")"
	if m.DashboardURL != "" {
		s += "\n" + m.DashboardURL
	}
	return notify.TruncateRunes(s, maxDescription)
}

// record builds the fields of a new incident.
func (n *Notifier) record(m notify.Message, txt notify.Text, corr, workNotes string) map[string]string {
	title, urgency := txt.Title, level(m.Finding.Risk)
	if m.Kind == notify.Test {
		if !strings.HasPrefix(title, "[TEST]") {
			title = "[TEST] " + title
		}
		urgency = "3" // a test never pages anyone
	}
	r := make(map[string]string, len(n.c.Fields)+12)
	for k, v := range n.c.Fields {
		r[k] = v
	}
	r["short_description"] = notify.TruncateRunes(title, maxShortDescription)
	r["description"] = notify.TruncateRunes(txt.Body, maxDescription)
	r["urgency"] = urgency
	r["impact"] = urgency
	r["category"] = n.c.Category
	r["correlation_display"] = "trailwatch"
	set := func(k, v string) {
		if v != "" {
			r[k] = v
		}
	}
	set("subcategory", n.c.Subcategory)
	set("assignment_group", n.c.AssignmentGroup)
	set("caller_id", n.c.CallerID)
	set("correlation_id", corr)
	set("work_notes", workNotes)
	return r
}

// level maps a risk to urgency and impact: 1 (high) to 3 (low).
func level(r finding.Risk) string {
	switch {
	case r >= finding.VeryHigh:
		return "1"
	case r == finding.High:
		return "2"
	default:
		return "3"
	}
}

// repeatNote is the work note of a repeat: "Repeat #N: <summary>" and the
// details (the default body already starts with the summary).
func repeatNote(m notify.Message, txt notify.Text) string {
	note := fmt.Sprintf("Repeat #%d: ", m.Repeats)
	if !strings.HasPrefix(txt.Body, m.Finding.Summary) {
		note += m.Finding.Summary + "\n\n"
	}
	return notify.TruncateRunes(note+txt.Body, maxDescription)
}

// escalatedRisk is the highest risk alerted on the incident, this
// escalation included: urgency follows it and never drops.
func escalatedRisk(m notify.Message) finding.Risk {
	r := m.Finding.Risk
	if m.Escalated != nil {
		r = max(r, m.Escalated.PreviousRisk)
	}
	return r
}

// escalationNote is the work note of an escalation: what is new, then the
// details.
func escalationNote(m notify.Message, txt notify.Text) string {
	note := fmt.Sprintf("ESCALATED to %s, urgency and impact raised to match.\n", escalatedRisk(m))
	if !bodyLists(txt.Body, m) {
		note += whyLines(m) // a custom body template that does not list them
	}
	note += "\n"
	if !strings.HasPrefix(txt.Body, m.Finding.Summary) {
		note += m.Finding.Summary + "\n\n"
	}
	return notify.TruncateRunes(note+txt.Body, maxDescription)
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
	return notify.TruncateRunes(fmt.Sprintf("trailwatch raised this alert again (finding %s) while this incident was open; noted here instead of opening a second incident.\n\n%s", m.Finding.ID, txt.Body), maxDescription)
}

// correlationID is the fingerprint, or failing that the idempotency key
// (hashed when too long for the column).
func correlationID(m notify.Message) string {
	v := m.Finding.Fingerprint
	if v == "" {
		v = m.IdempotencyKey
	}
	if len(v) > maxCorrelationID {
		h := sha256.Sum256([]byte(v))
		v = "trailwatch-" + hex.EncodeToString(h[:16])
	}
	return v
}

func (n *Notifier) testCorrelationID() string {
	return testPrefix + "-" + n.o.Now().UTC().Format("20060102T150405.000000000Z") + "-" + strconv.FormatUint(n.seq.Add(1), 10)
}

func isSysID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// found is the part of a record trailwatch reads back.
type found struct {
	SysID  string `json:"sys_id"`
	Number string `json:"number"`
}

// lookup returns the newest active record with the correlation id, or nil.
func (n *Notifier) lookup(ctx context.Context, corr string) (*found, error) {
	if corr == "" {
		return nil, nil
	}
	q := url.Values{
		// ^ separates query terms; a literal ^ is written ^^.
		"sysparm_query":  {"correlation_id=" + strings.ReplaceAll(corr, "^", "^^") + "^active=true^ORDERBYDESCsys_created_on"},
		"sysparm_limit":  {"1"},
		"sysparm_fields": {"sys_id,number"},
	}
	resp, err := n.do(ctx, http.MethodGet, n.tableURL()+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Result []found `json:"result"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, notify.Retryable(fmt.Errorf("servicenow: look up incident: decode response: %w", err), 0)
	}
	for _, r := range out.Result {
		if r.SysID != "" {
			return &r, nil
		}
	}
	return nil, nil
}

func (n *Notifier) create(ctx context.Context, rec map[string]string) (notify.Result, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("servicenow: encode incident: %w", err))
	}
	resp, err := n.do(ctx, http.MethodPost, n.tableURL()+"?sysparm_fields=sys_id,number", body)
	if err != nil {
		return notify.Result{}, err
	}
	return n.result(resp, "create incident", true)
}

func (n *Notifier) workNote(ctx context.Context, sysID, note string) (notify.Result, error) {
	return n.patch(ctx, sysID, map[string]string{"work_notes": note})
}

// patch updates fields of an incident (a work note, urgency, impact).
func (n *Notifier) patch(ctx context.Context, sysID string, fields map[string]string) (notify.Result, error) {
	body, err := json.Marshal(fields)
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("servicenow: encode work note: %w", err))
	}
	resp, err := n.do(ctx, http.MethodPatch, n.tableURL()+"/"+url.PathEscape(sysID)+"?sysparm_fields=sys_id,number", body)
	if err != nil {
		return notify.Result{}, err
	}
	// The 2xx is what counts: failing here on an odd body would make the
	// dispatcher retry and note the repeat twice.
	res, err := n.result(resp, "add work note", false)
	if err != nil || res.Ref == "" {
		res.Ref = sysID
	}
	return res, nil
}

// result reads the sys_id of a created or updated record. A success
// without one is retryable: the retry finds the record by fingerprint.
func (n *Notifier) result(resp *notify.Response, op string, needID bool) (notify.Result, error) {
	var out struct {
		Result found `json:"result"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return notify.Result{}, notify.Retryable(fmt.Errorf("servicenow: %s: decode response: %w", op, err), 0)
	}
	if out.Result.SysID == "" && needID {
		return notify.Result{}, notify.Retryable(fmt.Errorf("servicenow: %s: HTTP %d without result.sys_id", op, resp.Status), 0)
	}
	return notify.Result{Ref: out.Result.SysID}, nil
}

func (n *Notifier) tableURL() string { return n.base + "/api/now/table/" + n.c.Table }

func (n *Notifier) do(ctx context.Context, method, u string, body []byte) (*notify.Response, error) {
	h := http.Header{"Accept": {"application/json"}, "Authorization": {n.auth}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	return notify.Do(ctx, n.o.HTTPClient, notify.Request{
		Method: method, URL: u, Body: body, Header: h,
		Service: service, Secrets: n.secrets,
	})
}
