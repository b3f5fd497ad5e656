package api

import (
	"crypto/hmac"
	"crypto/sha256"
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
	if fp == "" {
		return writeJSON(w, http.StatusOK, map[string]any{"ignored": "not an incident trailwatch raised"})
	}
	list, err := s.cfg.Store.Page(r.Context(), store.Query{Fingerprint: fp, Statuses: from, Filter: store.Filter{Limit: maxBulk}})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(list))
	for _, f := range list {
		ids = append(ids, f.ID)
	}
	actor := "pagerduty"
	if ev.Event.Agent != nil && ev.Event.Agent.Summary != "" {
		actor = "pagerduty:" + printableName(ev.Event.Agent.Summary)
	}
	note := "PagerDuty incident " + clip(printableName(ev.Event.Data.HTMLURL))
	// The other channels hear of it; PagerDuty, which told us, does not.
	var notify []string
	for _, c := range s.cfg.Channels {
		if c.Type != "pagerduty" && contains(s.cfg.Lifecycle, c.Name) {
			notify = append(notify, c.Name)
		}
	}
	ch := []store.Change{}
	if len(ids) > 0 {
		if ch, err = s.cfg.Store.Transition(r.Context(), ids, to, actor, note, now, notify); err != nil {
			return err
		}
	}
	s.cfg.Log.Info("api: PagerDuty "+ev.Event.EventType, "findings", len(ch), "by", actor)
	return writeJSON(w, http.StatusOK, changes{ch})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
