package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

// ReplayWindow is how far an inbound event's time may be from now: older
// (or later) events are refused, and an event id seen within it is a
// replay.
const ReplayWindow = 5 * time.Minute

// maxInbound bounds an inbound webhook's body.
const maxInbound = 256 << 10

// replays remembers the inbound event ids seen within the replay window.
// Memory is bounded: past maxReplays ids, the oldest are forgotten (an
// event that old is refused by its time anyway).
type replays struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const maxReplays = 10000

func (r *replays) first(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]time.Time{}
	}
	if _, ok := r.seen[id]; ok {
		return false
	}
	if len(r.seen) >= maxReplays {
		for k, t := range r.seen {
			if now.Sub(t) > 2*ReplayWindow {
				delete(r.seen, k)
			}
		}
		for k := range r.seen {
			if len(r.seen) < maxReplays {
				break
			}
			delete(r.seen, k)
		}
	}
	r.seen[id] = now
	return true
}

// pagerDutyEvent is the part of a PagerDuty v3 webhook trailwatch reads.
type pagerDutyEvent struct {
	Event struct {
		ID         string    `json:"id"`
		EventType  string    `json:"event_type"`
		OccurredAt time.Time `json:"occurred_at"`
		Agent      *struct {
			Summary string `json:"summary"`
		} `json:"agent"`
		Data struct {
			HTMLURL     string `json:"html_url"`
			IncidentKey string `json:"incident_key"`
		} `json:"data"`
	} `json:"event"`
}

// SignPagerDuty returns an X-PagerDuty-Signature value for a body: "v1="
// and the hex HMAC-SHA256 of the body under secret (tests, and a
// reference for what is checked).
func SignPagerDuty(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// verifyPagerDuty checks X-PagerDuty-Signature: one or more "v1=<hex>"
// separated by commas (several during a secret rotation); one must match.
func verifyPagerDuty(secret string, body []byte, header string) bool {
	want := []byte(SignPagerDuty(secret, body))
	for _, s := range strings.Split(header, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), want) {
			return true
		}
	}
	return false
}

// fingerprintOfKey reads the fingerprint out of a dedup_key trailwatch
// gave PagerDuty ("trailwatch-FP" or "trailwatch-FP-escalation-N").
func fingerprintOfKey(key string) string {
	fp, ok := strings.CutPrefix(key, "trailwatch-")
	if !ok {
		return ""
	}
	if i := strings.Index(fp, "-escalation-"); i >= 0 {
		fp = fp[:i]
	}
	if len(fp) != 32 {
		return ""
	}
	if _, err := hex.DecodeString(fp); err != nil {
		return ""
	}
	return fp
}

// inboundPagerDuty takes PagerDuty v3 webhooks: an incident acknowledged
// or resolved there acknowledges or resolves the findings of its alert
// here (those open, or open and acknowledged), recording the PagerDuty
// user. An unsigned or wrongly signed request, or one outside the replay
// window, changes nothing and gets 401.
func (s *Server) inboundPagerDuty(w http.ResponseWriter, r *http.Request, _ principal) error {
	if s.cfg.PagerDutySecret.Empty() {
		return notFound("inbound PagerDuty webhooks are not configured (ui.inbound.pagerduty_secret)")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInbound))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the body is larger than %d bytes", maxInbound)}
		}
		return badBody("", "reading the body: %v", err)
	}
	if !verifyPagerDuty(s.cfg.PagerDutySecret.Reveal(), body, r.Header.Get("X-PagerDuty-Signature")) {
		s.cfg.Log.Warn("api: refused an unsigned or wrongly signed PagerDuty webhook", "client", clientIP(r))
		return unauthorized("X-PagerDuty-Signature is missing or does not match")
	}
	var ev pagerDutyEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return badBody("", "not a PagerDuty v3 webhook: %v", err)
	}
	now := s.cfg.Now()
	at := ev.Event.OccurredAt
	if at.IsZero() || at.Before(now.Add(-ReplayWindow)) || at.After(now.Add(ReplayWindow)) {
		return unauthorized("the event is outside the 5-minute replay window")
	}
	if ev.Event.ID == "" || !s.replays.first("pagerduty/"+ev.Event.ID, now) {
		return unauthorized("the event was already received (a replay)")
	}
	var to string
	from := []string{store.StatusOpen}
	switch ev.Event.EventType {
	case "incident.acknowledged":
		to = store.StatusAcknowledged
	case "incident.resolved":
		to, from = store.StatusResolved, []string{store.StatusOpen, store.StatusAcknowledged}
	default:
		return writeJSON(w, http.StatusOK, map[string]any{"ignored": clip(ev.Event.EventType)})
	}
	fp := fingerprintOfKey(ev.Event.Data.IncidentKey)
	actor := "pagerduty"
	if ev.Event.Agent != nil && ev.Event.Agent.Summary != "" {
		actor = "pagerduty:" + printableName(ev.Event.Agent.Summary)
	}
	return s.applyInbound(w, r, "pagerduty", fp, from, to, actor, "PagerDuty incident "+clip(printableName(ev.Event.Data.HTMLURL)))
}

// applyInbound sets the findings of a fingerprint that are in one of the
// from statuses to to, recording the external actor, and tells the other
// lifecycle channels (not those of the tool that told us).
func (s *Server) applyInbound(w http.ResponseWriter, r *http.Request, tool, fp string, from []string, to, actor, note string) error {
	if fp == "" {
		return writeJSON(w, http.StatusOK, map[string]any{"ignored": "not an incident or ticket trailwatch raised"})
	}
	list, err := s.cfg.Store.Page(r.Context(), store.Query{Fingerprint: fp, Statuses: from, Filter: store.Filter{Limit: maxBulk}})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(list))
	for _, f := range list {
		ids = append(ids, f.ID)
	}
	var notify []string
	for _, c := range s.cfg.Channels {
		if c.Type != tool && contains(s.cfg.Lifecycle, c.Name) {
			notify = append(notify, c.Name)
		}
	}
	ch := []store.Change{}
	if len(ids) > 0 {
		if ch, err = s.cfg.Store.Transition(r.Context(), ids, to, actor, note, s.cfg.Now(), notify); err != nil {
			return err
		}
	}
	s.cfg.Log.Info("api: inbound "+tool, "to", to, "findings", len(ch), "by", actor)
	if len(ch) > 0 {
		var changed []string
		for _, c := range ch {
			changed = append(changed, c.FindingID)
		}
		s.record(r, actor, "finding."+to, strings.Join(changed, ","), note)
	}
	return writeJSON(w, http.StatusOK, changes{ch})
}

// readInbound reads an inbound webhook's body, bounded.
func readInbound(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInbound))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the body is larger than %d bytes", maxInbound)}
		}
		return nil, badBody("", "reading the body: %v", err)
	}
	return body, nil
}

// inWindow reports whether t is within the replay window of now.
func inWindow(t, now time.Time) bool {
	return !t.IsZero() && !t.Before(now.Add(-ReplayWindow)) && !t.After(now.Add(ReplayWindow))
}

// SignZendesk returns the X-Zendesk-Webhook-Signature of a body sent at
// timestamp: the base64 HMAC-SHA256 of timestamp + body under secret.
func SignZendesk(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// zendeskBody is the JSON body docs/api.md asks the Zendesk webhook's
// trigger to send.
type zendeskBody struct {
	TicketID   any    `json:"ticket_id"`
	ExternalID string `json:"external_id"`
	Status     string `json:"status"`
	UpdatedBy  string `json:"updated_by"`
	URL        string `json:"url"`
}

// inboundZendesk takes Zendesk webhooks: a ticket trailwatch opened that
// is solved or closed there resolves the findings of its alert here.
func (s *Server) inboundZendesk(w http.ResponseWriter, r *http.Request, _ principal) error {
	if s.cfg.ZendeskSecret.Empty() {
		return notFound("inbound Zendesk webhooks are not configured (ui.inbound.zendesk_secret)")
	}
	body, err := readInbound(w, r)
	if err != nil {
		return err
	}
	ts, sig := r.Header.Get("X-Zendesk-Webhook-Signature-Timestamp"), r.Header.Get("X-Zendesk-Webhook-Signature")
	if sig == "" || !hmac.Equal([]byte(sig), []byte(SignZendesk(s.cfg.ZendeskSecret.Reveal(), ts, body))) {
		s.cfg.Log.Warn("api: refused an unsigned or wrongly signed Zendesk webhook", "client", clientIP(r))
		return unauthorized("X-Zendesk-Webhook-Signature is missing or does not match")
	}
	at, _ := time.Parse(time.RFC3339, ts)
	now := s.cfg.Now()
	if !inWindow(at, now) {
		return unauthorized("the request is outside the 5-minute replay window")
	}
	if !s.replays.first("zendesk/"+sig, now) {
		return unauthorized("the request was already received (a replay)")
	}
	var b zendeskBody
	if err := json.Unmarshal(body, &b); err != nil {
		return badBody("", "not the JSON body docs/api.md describes: %v", err)
	}
	switch strings.ToLower(strings.TrimSpace(b.Status)) {
	case "solved", "closed":
	default:
		return writeJSON(w, http.StatusOK, map[string]any{"ignored": "status " + clip(printableName(b.Status))})
	}
	fp := fingerprintOfKey(b.ExternalID)
	actor := "zendesk"
	if b.UpdatedBy != "" {
		actor = "zendesk:" + printableName(b.UpdatedBy)
	}
	return s.applyInbound(w, r, "zendesk", fp, []string{store.StatusOpen, store.StatusAcknowledged}, store.StatusResolved, actor,
		"Zendesk ticket "+clip(printableName(fmt.Sprint(b.TicketID)))+" "+clip(printableName(b.URL)))
}

// serviceNowBody is the JSON body docs/api.md asks the ServiceNow outbound
// REST message to send.
type serviceNowBody struct {
	CorrelationID string `json:"correlation_id"`
	State         string `json:"state"`
	Number        string `json:"number"`
	UpdatedBy     string `json:"updated_by"`
	UpdatedAt     string `json:"updated_at"` // sys_updated_on: 2026-11-20 10:16:00 (UTC)
}

// inboundServiceNow takes ServiceNow outbound REST messages, authenticated
// by the shared secret (Authorization: Bearer SECRET, or Basic with it as
// the password): an incident trailwatch opened that is resolved (6) or
// closed (7) there resolves the findings of its alert here.
func (s *Server) inboundServiceNow(w http.ResponseWriter, r *http.Request, _ principal) error {
	if s.cfg.ServiceNowSecret.Empty() {
		return notFound("inbound ServiceNow messages are not configured (ui.inbound.servicenow_secret)")
	}
	body, err := readInbound(w, r)
	if err != nil {
		return err
	}
	got := ""
	if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = strings.TrimSpace(tok)
	}
	if got == "" || !hmac.Equal([]byte(got), []byte(s.cfg.ServiceNowSecret.Reveal())) {
		s.cfg.Log.Warn("api: refused a ServiceNow message without the shared secret", "client", clientIP(r))
		return unauthorized("the shared secret is missing or wrong")
	}
	var b serviceNowBody
	if err := json.Unmarshal(body, &b); err != nil {
		return badBody("", "not the JSON body docs/api.md describes: %v", err)
	}
	at, err := time.Parse("2006-01-02 15:04:05", b.UpdatedAt)
	if err != nil {
		at, _ = time.Parse(time.RFC3339, b.UpdatedAt)
	}
	now := s.cfg.Now()
	if !inWindow(at, now) {
		return unauthorized("updated_at is outside the 5-minute replay window")
	}
	if !s.replays.first("servicenow/"+b.Number+"/"+b.UpdatedAt+"/"+b.State, now) {
		return unauthorized("the message was already received (a replay)")
	}
	switch strings.TrimSpace(b.State) {
	case "6", "7":
	default:
		return writeJSON(w, http.StatusOK, map[string]any{"ignored": "state " + clip(printableName(b.State))})
	}
	fp := b.CorrelationID
	if len(fp) != 32 {
		fp = ""
	} else if _, err := hex.DecodeString(fp); err != nil {
		fp = ""
	}
	actor := "servicenow"
	if b.UpdatedBy != "" {
		actor = "servicenow:" + printableName(b.UpdatedBy)
	}
	return s.applyInbound(w, r, "servicenow", fp, []string{store.StatusOpen, store.StatusAcknowledged}, store.StatusResolved, actor,
		"ServiceNow incident "+clip(printableName(b.Number)))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
