package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

func (s *Server) listRules(w http.ResponseWriter, _ *http.Request, _ principal) error {
	out := make([]any, 0, len(s.cfg.Rules))
	for _, r := range s.cfg.Rules {
		out = append(out, r.Summary)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"rules": out})
}

func (s *Server) showRule(w http.ResponseWriter, r *http.Request, _ principal) error {
	id := r.PathValue("id")
	for _, x := range s.cfg.Rules {
		if x.ID == id {
			return writeJSON(w, http.StatusOK, x.Detail)
		}
	}
	return notFound("no rule %q", clip(id))
}

// Trail is one account and region the heartbeat watches.
type Trail struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// LastEvent is when its last event arrived; zero when none has since
	// trailwatch started.
	LastEvent time.Time `json:"last_event,omitzero"`
	// State is ok, silent (longer than heartbeat.max_silence) or waiting
	// (expected, nothing yet, within max_silence of the start).
	State string `json:"state"`
}

func (s *Server) listTrails(w http.ResponseWriter, _ *http.Request, _ principal) error {
	if s.cfg.Trails == nil {
		return notFound("trails are known to trailwatch run with heartbeat.max_silence, not here")
	}
	list := s.cfg.Trails()
	if list == nil {
		list = []Trail{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"trails": list})
}

type channelState struct {
	Channel
	// Depth counts deliveries by status.
	Depth       map[string]int `json:"depth"`
	LastSuccess time.Time      `json:"last_success,omitzero"`
	LastError   string         `json:"last_error,omitempty"`
	// Health is ok, failing (dead deliveries, or the last attempt
	// failed) or idle (nothing delivered yet).
	Health string `json:"health"`
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request, _ principal) error {
	ctx := r.Context()
	depth, err := s.cfg.Store.Depth(ctx)
	if err != nil {
		return err
	}
	out := []channelState{}
	for _, c := range s.cfg.Channels {
		st := channelState{Channel: c, Depth: map[string]int{}, Health: "idle"}
		for k, v := range depth[c.Name] {
			st.Depth[k] = v
		}
		done, err := s.cfg.Store.Deliveries(ctx, store.OutboxFilter{Channel: []string{c.Name}, Status: []string{store.Done}, Limit: 1})
		if err != nil {
			return err
		}
		if len(done) > 0 {
			st.LastSuccess, st.Health = done[0].UpdatedAt, "ok"
		}
		failing, err := s.cfg.Store.Deliveries(ctx, store.OutboxFilter{Channel: []string{c.Name}, Status: []string{store.Pending, store.Dead}, Limit: 1})
		if err != nil {
			return err
		}
		if len(failing) > 0 && failing[0].LastError != "" {
			st.LastError = failing[0].LastError
			if failing[0].UpdatedAt.After(st.LastSuccess) {
				st.Health = "failing"
			}
		}
		out = append(out, st)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"channels": out})
}

var deliveryStatuses = []string{store.Pending, store.Sending, store.Done, store.Dead, store.Dropped}

func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request, _ principal) error {
	v := r.URL.Query()
	f := store.OutboxFilter{Status: v["status"], Channel: v["channel"], Limit: 100}
	for _, st := range f.Status {
		if !slices.Contains(deliveryStatuses, st) {
			return badParam("status", "status: %q is not %s", clip(st), strings.Join(deliveryStatuses, ", "))
		}
	}
	if len(f.Channel) > maxValues {
		return badParam("channel", "channel: at most %d values", maxValues)
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return badParam("limit", "limit: want a number from 1 to 1000")
		}
		f.Limit = n
	}
	ds, err := s.cfg.Store.Deliveries(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]delivery, 0, len(ds))
	for _, d := range ds {
		out = append(out, deliveryOf(d))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

func (s *Server) outboxAct(retry bool) func(http.ResponseWriter, *http.Request, principal) error {
	return func(w http.ResponseWriter, r *http.Request, p principal) error {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id < 1 {
			return notFound("no delivery %q", clip(r.PathValue("id")))
		}
		var n int
		what := "retried"
		if retry {
			n, err = s.cfg.Store.Requeue(r.Context(), []int64{id}, s.cfg.Now())
		} else {
			what = "dropped"
			n, err = s.cfg.Store.Drop(r.Context(), []int64{id}, s.cfg.Now())
		}
		if err != nil {
			return err
		}
		if n == 0 {
			msg := "delivery " + strconv.FormatInt(id, 10) + " does not exist or is not dead or dropped"
			if !retry {
				msg = "delivery " + strconv.FormatInt(id, 10) + " does not exist or is already done or dropped"
			}
			return &apiError{Status: http.StatusConflict, Code: "conflict", Message: msg}
		}
		s.cfg.Log.Info("api: delivery "+what, "delivery", id, "by", p.Name)
		s.record(r, p.Name, "outbox."+map[bool]string{true: "retry", false: "drop"}[retry], strconv.FormatInt(id, 10), "")
		return writeJSON(w, http.StatusOK, map[string]any{what: n})
	}
}

func (s *Server) listSilences(w http.ResponseWriter, r *http.Request, _ principal) error {
	active := false
	switch v := r.URL.Query().Get("active"); v {
	case "", "false":
	case "true":
		active = true
	default:
		return badParam("active", "active: want true or false")
	}
	list, err := s.cfg.Store.Silences(r.Context())
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	out := []store.Silence{}
	for _, sl := range list {
		if !active || sl.Active(now) || sl.Start.After(now) {
			out = append(out, sl)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"silences": out})
}

// silenceBody is POST /silences: the matchers, when (start, default now;
// end, or duration such as "2h"), and why.
type silenceBody struct {
	Matchers struct {
		Rule     string `json:"rule,omitempty"`
		Account  string `json:"account,omitempty"`
		Region   string `json:"region,omitempty"`
		Actor    string `json:"actor,omitempty"`
		Resource string `json:"resource,omitempty"`
		Service  string `json:"service,omitempty"`
		MaxRisk  string `json:"max_risk,omitempty"`
	} `json:"matchers"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Duration string     `json:"duration,omitempty"`
	Comment  string     `json:"comment"`
}

// silenceSimilar is GET /findings/{id}/silence: a POST /silences body
// pre-filled to silence findings like this one (its rule, account, region
// and resource: its fingerprint's), for a day; the caller adds a comment.
func (s *Server) silenceSimilar(w http.ResponseWriter, r *http.Request, _ principal) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound("no finding %q", clip(id))
	}
	f, err := s.cfg.Store.Triaged(r.Context(), id)
	if err != nil {
		return err
	}
	var b silenceBody
	b.Matchers.Rule, b.Matchers.Account, b.Matchers.Region = f.RuleID, f.AccountID, f.Region
	b.Matchers.Resource = f.Resource.ARN
	if b.Matchers.Resource == "" {
		b.Matchers.Resource = f.Resource.Name
	}
	b.Duration = "24h"
	return writeJSON(w, http.StatusOK, b)
}

// maxSilence bounds how long a silence may last.
const maxSilence = 366 * 24 * time.Hour

func (s *Server) addSilence(w http.ResponseWriter, r *http.Request, p principal) error {
	var b silenceBody
	if err := readBody(w, r, &b, false); err != nil {
		return err
	}
	m := b.Matchers
	sl := store.Silence{Matchers: store.Matchers{Rule: m.Rule, Account: m.Account, Region: m.Region, Actor: m.Actor, Resource: m.Resource, Service: m.Service},
		Creator: p.Name, Comment: strings.TrimSpace(b.Comment)}
	for field, val := range map[string]string{"rule": m.Rule, "account": m.Account, "region": m.Region, "actor": m.Actor, "resource": m.Resource, "service": m.Service} {
		if len(val) > maxText {
			return badBody("matchers."+field, "matchers.%s: longer than %d bytes", field, maxText)
		}
	}
	if m.MaxRisk != "" {
		risk, err := finding.ParseRisk(m.MaxRisk)
		if err != nil {
			return badBody("matchers.max_risk", "matchers.max_risk: %v", err)
		}
		sl.Matchers.MaxRisk = risk
	}
	if sl.Matchers.Empty() {
		return badBody("matchers", "matchers: give at least one (rule, account, region, actor, resource, service or max_risk)")
	}
	if sl.Comment == "" {
		return badBody("comment", "comment: say why findings are silenced")
	}
	if len(sl.Comment) > maxNote {
		return badBody("comment", "comment: longer than %d bytes", maxNote)
	}
	now := s.cfg.Now()
	sl.Start = now
	if b.Start != nil {
		sl.Start = *b.Start
	}
	switch {
	case b.End != nil && b.Duration != "":
		return badBody("duration", "give end or duration, not both")
	case b.End != nil:
		sl.End = *b.End
	case b.Duration != "":
		d, err := duration.Parse(b.Duration)
		if err != nil || d <= 0 {
			return badBody("duration", "duration: %q is not a duration such as 2h or 7d", clip(b.Duration))
		}
		sl.End = sl.Start.Add(d)
	default:
		return badBody("end", "end: say when the silence ends (end, or duration such as 2h)")
	}
	if !sl.End.After(sl.Start) || !sl.End.After(now) {
		return badBody("end", "end: must be after the start and in the future")
	}
	if sl.End.Sub(sl.Start) > maxSilence {
		return badBody("end", "end: a silence lasts at most 366 days")
	}
	added, err := s.cfg.Store.AddSilence(r.Context(), sl)
	if err != nil {
		return err
	}
	s.cfg.Log.Info("api: silence added", "silence", added.ID, "by", p.Name, "end", added.End)
	s.record(r, p.Name, "silence.add", added.ID, store.EncodeMatchers(added.Matchers)+" until "+added.End.Format(time.RFC3339)+": "+added.Comment)
	return writeJSON(w, http.StatusCreated, added)
}

func (s *Server) expireSilence(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound("no silence %q", clip(id))
	}
	sl, err := s.cfg.Store.ExpireSilence(r.Context(), id, s.cfg.Now())
	if err != nil {
		return err
	}
	s.cfg.Log.Info("api: silence expired", "silence", id, "by", p.Name)
	s.record(r, p.Name, "silence.expire", id, "")
	return writeJSON(w, http.StatusOK, sl)
}

// record appends to the security log; a failure to is logged, and does
// not undo what was done.
func (s *Server) record(r *http.Request, actor, action, target, detail string) {
	if len(target) > 1000 {
		target = target[:1000] + "…"
	}
	if len(detail) > 1000 {
		detail = detail[:1000] + "…"
	}
	e := store.AuditEntry{At: s.cfg.Now(), Actor: actor, Client: clientIP(r), Action: action, Target: target, Detail: detail}
	if err := s.cfg.Store.Audit(context.WithoutCancel(r.Context()), e); err != nil {
		s.cfg.Log.Warn("api: audit log", "err", err, "action", action)
	}
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, _ principal) error {
	v := r.URL.Query()
	limit := 100
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return badParam("limit", "limit: want a number from 1 to 1000")
		}
		limit = n
	}
	var before int64
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return badParam("before", "before: want an entry id")
		}
		before = n
	}
	list, err := s.cfg.Store.AuditLog(r.Context(), before, limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.AuditEntry{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": list})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ principal) error {
	list, err := s.cfg.Store.Tokens(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Token{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

type tokenBody struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Expires string `json:"expires_in"`
}

// createdToken is a new token with its secret, shown this once.
type createdToken struct {
	store.Token
	Secret string `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p principal) error {
	var b tokenBody
	if err := readBody(w, r, &b, false); err != nil {
		return err
	}
	t, secret, err := MakeToken(r.Context(), s.cfg.Store, b.Name, b.Role, b.Expires, p.Name, s.cfg.Now())
	if err != nil {
		return err
	}
	s.cfg.Log.Info("api: token created", "token", t.ID, "role", t.Role, "by", p.Name)
	s.record(r, p.Name, "token.create", t.ID, t.Role+" "+t.Name)
	return writeJSON(w, http.StatusCreated, createdToken{t, secret})
}

// MakeToken checks a new token's settings, creates it in the store and
// returns it with its secret.
func MakeToken(ctx context.Context, st store.Tokens, name, role, expiresIn, by string, now time.Time) (store.Token, string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" || len(name) > 100:
		return store.Token{}, "", badBody("name", "name: give the token a name of at most 100 bytes")
	case !slices.Contains(store.Roles, role):
		return store.Token{}, "", badBody("role", "role: %q is not viewer, responder or admin", clip(role))
	}
	id, secret, hash := NewToken()
	t := store.Token{ID: id, Name: name, Role: role, Created: now.UTC().Truncate(time.Millisecond), CreatedBy: by}
	if expiresIn != "" {
		d, err := duration.Parse(expiresIn)
		if err != nil || d <= 0 {
			return store.Token{}, "", badBody("expires_in", "expires_in: %q is not a duration such as 90d", clip(expiresIn))
		}
		t.Expires = t.Created.Add(d)
	}
	if err := st.CreateToken(ctx, t, hash); err != nil {
		return store.Token{}, "", err
	}
	return t, secret, nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound("no token %q", clip(id))
	}
	if err := s.cfg.Store.RevokeToken(r.Context(), id, s.cfg.Now()); err != nil {
		return err
	}
	s.cfg.Log.Info("api: token revoked", "token", id, "by", p.Name)
	s.record(r, p.Name, "token.revoke", id, "")
	return writeJSON(w, http.StatusOK, map[string]string{"revoked": id})
}
