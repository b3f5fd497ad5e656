package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/glob"
)

// Finding statuses: every finding has one. A new finding is open, or
// silenced when an active silence matches it; people move it between
// open, acknowledged and resolved (Triage.Transition).
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
	StatusSilenced     = "silenced"
)

// Statuses lists the statuses in their usual order.
var Statuses = []string{StatusOpen, StatusAcknowledged, StatusResolved, StatusSilenced}

// ErrInvalid is wrapped by errors about values a caller gave (an unknown
// status, a silence without matchers), as opposed to the store failing.
var ErrInvalid = errors.New("invalid")

// Change is one entry of a finding's append-only status history.
type Change struct {
	ID        int64     `json:"id"`
	FindingID string    `json:"finding_id"`
	At        time.Time `json:"at"`
	// Actor is who made the change: a user, a token's name, or
	// "trailwatch" (a silence matching a new finding).
	Actor string `json:"actor"`
	From  string `json:"from"`
	To    string `json:"to"`
	Note  string `json:"note,omitempty"`
}

// Triaged is a finding with its triage state.
type Triaged struct {
	finding.Finding
	Status     string    `json:"status"`
	StatusAt   time.Time `json:"status_at,omitzero"`
	SilencedBy string    `json:"silenced_by,omitempty"`
}

// Cursor is a position in a sorted list of findings, for keyset
// pagination: the last finding of a page.
type Cursor struct {
	EventTime time.Time
	ID        string
}

// String encodes the cursor as an opaque token.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.EventTime.UnixMilli(), 10) + "," + c.ID))
}

// ParseCursor reads a token written by Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, fmt.Errorf("%w cursor: not a cursor this server returned", ErrInvalid)
	}
	ms, id, ok := strings.Cut(string(b), ",")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || !strings.HasPrefix(id, "f-") {
		return Cursor{}, fmt.Errorf("%w cursor: not a cursor this server returned", ErrInvalid)
	}
	return Cursor{EventTime: time.UnixMilli(n).UTC(), ID: id}, nil
}

// Query selects a page of findings with their triage state.
type Query struct {
	// Filter's fields select as for Store.Findings; its Limit is the page
	// size (0: no limit, for Each).
	Filter
	// Statuses keeps findings in one of these statuses.
	Statuses []string
	// Fingerprint keeps the findings of one fingerprint (a finding's
	// repeats).
	Fingerprint string
	// SilencedBy keeps the findings one silence silenced.
	SilencedBy string
	// Text keeps findings whose summary, actor (ARN or name), resource
	// (name or ARN) or event name contains it, case-insensitively.
	Text string
	// Oldest sorts oldest event first; the default is newest first.
	Oldest bool
	// After continues after this finding (the cursor of the previous
	// page's last finding).
	After *Cursor
}

// Triage is the triage state of findings: their status and its history.
// Implementations are safe for concurrent use and commit before
// returning.
type Triage interface {
	// Page returns up to q.Limit findings (without their raw event) in
	// q's order after q.After.
	Page(ctx context.Context, q Query) ([]Triaged, error)
	// Each calls fn with every finding q selects, in q's order, reading
	// them from the database as it goes (memory does not grow with the
	// number of findings). An error from fn stops it and is returned.
	Each(ctx context.Context, q Query, fn func(Triaged) error) error
	// Triaged returns one finding with its raw event and status, or
	// ErrNotFound.
	Triaged(ctx context.Context, id string) (Triaged, error)
	// History returns a finding's status changes, oldest first.
	History(ctx context.Context, id string) ([]Change, error)
	// Transition sets the status of the findings ids to one of open,
	// acknowledged or resolved, recording who, when and a note, in one
	// transaction: when one id is not stored nothing changes and the
	// error wraps ErrNotFound. A finding already in that status is left
	// as it is (no change is returned for it). Resolving a finding ends
	// the channels' alerts of its fingerprint, so that a repeat after
	// the resolution alerts as new (Alert.Resolved). Acknowledging or
	// resolving also owes each channel of notify that holds an alert of
	// the finding's fingerprint a delivery of kind KindAcknowledge or
	// KindResolve, in the same transaction, at most once per (finding,
	// channel, kind).
	Transition(ctx context.Context, ids []string, to, actor, note string, at time.Time, notify []string) ([]Change, error)
}

// LifecycleKind is the delivery kind a status change owes channels
// holding an incident or ticket: "" when it owes none.
func LifecycleKind(to string) string {
	switch to {
	case StatusAcknowledged:
		return KindAcknowledge
	case StatusResolved:
		return KindResolve
	}
	return ""
}

// EncodeChange stores a status change in one column.
func EncodeChange(c Change) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Sequenced is a finding with its place in the order findings were
// stored (for the live feed).
type Sequenced struct {
	Seq int64
	Triaged
}

// Feed is what the live feed reads: findings and status changes in the
// order they were stored, after a position, so a client that reconnects
// with its last position misses nothing.
type Feed interface {
	// FindingsAfter returns up to limit findings stored after seq, in
	// order.
	FindingsAfter(ctx context.Context, seq int64, limit int) ([]Sequenced, error)
	// ChangesAfter returns up to limit status changes after id, in order.
	ChangesAfter(ctx context.Context, id int64, limit int) ([]Change, error)
	// FeedHead returns the latest finding seq and change id.
	FeedHead(ctx context.Context) (seq, change int64, err error)
}

// Retention deletes old findings.
type Retention interface {
	// Prune deletes up to batch findings whose event is before before,
	// with their deliveries and status history, in one short
	// transaction, and returns how many it deleted (fewer than batch:
	// nothing older is left).
	Prune(ctx context.Context, before time.Time, batch int) (int, error)
}

// AuditEntry is one line of the security log: a sign-in that failed, or a
// state change made through the API, with who, from where and what.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Client string    `json:"client"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Audit is the append-only security log.
type Audit interface {
	// Audit appends entries.
	Audit(ctx context.Context, e AuditEntry) error
	// AuditLog returns up to limit entries before the entry id before (0:
	// the newest), newest first.
	AuditLog(ctx context.Context, before int64, limit int) ([]AuditEntry, error)
}

// CheckTarget checks a status a person may set.
func CheckTarget(to string) error {
	switch to {
	case StatusOpen, StatusAcknowledged, StatusResolved:
		return nil
	}
	return fmt.Errorf("%w status %q: want open, acknowledged or resolved", ErrInvalid, to)
}

// CheckStatuses checks statuses a list is filtered by.
func CheckStatuses(list []string) error {
	for _, s := range list {
		if !slices.Contains(Statuses, s) {
			return fmt.Errorf("%w status %q: want open, acknowledged, resolved or silenced", ErrInvalid, s)
		}
	}
	return nil
}

// Matchers say which findings a silence applies to: every matcher given
// must match. Rule, Actor and Resource are globs ('*', '?'); Actor matches
// the actor's ARN or readable name, Resource the resource's ARN or name;
// MaxRisk keeps findings at or below that risk.
type Matchers struct {
	Rule     string       `json:"rule,omitempty"`
	Account  string       `json:"account,omitempty"`
	Region   string       `json:"region,omitempty"`
	Actor    string       `json:"actor,omitempty"`
	Resource string       `json:"resource,omitempty"`
	Service  string       `json:"service,omitempty"`
	MaxRisk  finding.Risk `json:"max_risk,omitempty"`
}

// Empty reports whether no matcher is set (such a silence would silence
// everything, and is refused).
func (m Matchers) Empty() bool { return m == Matchers{} }

// Match reports whether the finding matches every matcher set.
func (m Matchers) Match(f finding.Finding) bool {
	if m.Empty() {
		return false
	}
	if m.Rule != "" && !glob.Match(m.Rule, f.RuleID) {
		return false
	}
	if m.Account != "" && m.Account != f.AccountID {
		return false
	}
	if m.Region != "" && m.Region != f.Region {
		return false
	}
	if m.Service != "" && !strings.EqualFold(m.Service, f.Service) {
		return false
	}
	if m.Actor != "" && !glob.Match(m.Actor, f.Actor.ARN) && !glob.Match(m.Actor, f.Actor.Name) {
		return false
	}
	if m.Resource != "" && !glob.Match(m.Resource, f.Resource.ARN) && !glob.Match(m.Resource, f.Resource.Name) {
		return false
	}
	if m.MaxRisk != 0 && f.Risk > m.MaxRisk {
		return false
	}
	return true
}

// Silence silences the findings its matchers match between Start and End:
// they are stored, silenced, and owe no notification.
type Silence struct {
	ID       string    `json:"id"`
	Matchers Matchers  `json:"matchers"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Creator  string    `json:"creator"`
	Comment  string    `json:"comment"`
	Created  time.Time `json:"created_at"`
	// Expired is when it was expired early, if it was.
	Expired time.Time `json:"expired_at,omitzero"`
}

// Active reports whether the silence applies at t.
func (s Silence) Active(t time.Time) bool { return !t.Before(s.Start) && t.Before(s.End) }

// Check checks a silence before it is stored.
func (s Silence) Check() error {
	switch {
	case s.Matchers.Empty():
		return fmt.Errorf("%w silence: give at least one matcher (rule, account, region, actor, resource, service or max_risk)", ErrInvalid)
	case s.End.IsZero() || !s.End.After(s.Start):
		return fmt.Errorf("%w silence: its end must be after its start", ErrInvalid)
	case strings.TrimSpace(s.Creator) == "":
		return fmt.Errorf("%w silence: its creator is missing", ErrInvalid)
	case strings.TrimSpace(s.Comment) == "":
		return fmt.Errorf("%w silence: say why in a comment", ErrInvalid)
	case s.Matchers.MaxRisk != 0 && (s.Matchers.MaxRisk < finding.Low || s.Matchers.MaxRisk > finding.Extreme):
		return fmt.Errorf("%w silence: max_risk is not a risk level", ErrInvalid)
	}
	return nil
}

// Silences are kept in the store. SaveRouted stores the findings an active
// silence matches with status silenced and SilencedBy, and owes nothing
// for them.
type Silences interface {
	// AddSilence stores a silence (checked with Check), giving it an id
	// and its creation time, and returns it.
	AddSilence(ctx context.Context, s Silence) (Silence, error)
	// Silences returns every silence, newest first.
	Silences(ctx context.Context) ([]Silence, error)
	// ExpireSilence ends a silence at at (when it would end later), or
	// returns ErrNotFound.
	ExpireSilence(ctx context.Context, id string, at time.Time) (Silence, error)
	// SilencedCounts returns, per silence id, how many stored findings it
	// silenced (silences that silenced none are absent).
	SilencedCounts(ctx context.Context) (map[string]int, error)
}

// EncodeMatchers and DecodeMatchers keep a silence's matchers in one
// column.
func EncodeMatchers(m Matchers) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// DecodeMatchers reads a column written by EncodeMatchers.
func DecodeMatchers(s string) (Matchers, error) {
	var m Matchers
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("corrupt silence matchers: %w", err)
	}
	return m, nil
}

// Silencing returns the id of the first silence that matches f, or "".
func Silencing(active []Silence, f finding.Finding) string {
	for _, s := range active {
		if s.Matchers.Match(f) {
			return s.ID
		}
	}
	return ""
}

// Roles, least first: a viewer reads and exports, a responder also
// triages and silences, an admin also works the outbox and API tokens.
const (
	RoleViewer    = "viewer"
	RoleResponder = "responder"
	RoleAdmin     = "admin"
)

// Roles lists the roles, least first.
var Roles = []string{RoleViewer, RoleResponder, RoleAdmin}

// RoleAtLeast reports whether role has at least the rights of want.
func RoleAtLeast(role, want string) bool {
	i, j := slices.Index(Roles, role), slices.Index(Roles, want)
	return i >= 0 && j >= 0 && i >= j
}

// Token is an API token; only its hash is stored.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Created   time.Time `json:"created_at"`
	Expires   time.Time `json:"expires_at,omitzero"`
	LastUsed  time.Time `json:"last_used_at,omitzero"`
	Revoked   time.Time `json:"revoked_at,omitzero"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Valid reports whether the token may be used at t.
func (t Token) Valid(at time.Time) bool {
	return t.Revoked.IsZero() && (t.Expires.IsZero() || at.Before(t.Expires))
}

// Tokens keeps API tokens by the hash of their secret.
type Tokens interface {
	// CreateToken stores a token with the hash of its secret.
	CreateToken(ctx context.Context, t Token, hash string) error
	// Tokens lists every token, newest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes a token for good, or returns ErrNotFound.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// UseToken returns the token with this hash if it is valid at at,
	// recording at as its last use; ErrNotFound otherwise (unknown,
	// revoked or expired).
	UseToken(ctx context.Context, hash string, at time.Time) (Token, error)
}

// Session is a browser's sign-in, kept by the server so it can expire and
// be ended (sign-out) whatever the browser does. The store keeps only the
// hash of the cookie's value.
type Session struct {
	// Name and Role are who signed in; Via is how ("user", "oidc",
	// "token").
	Name, Role, Via string
	// CSRF is the token every state-changing request of this session must
	// carry (X-CSRF-Token or the csrf_token form field).
	CSRF             string
	Created, Expires time.Time
}

// Sessions keeps browser sessions by the hash of their cookie.
type Sessions interface {
	// CreateSession stores a session; sessions expired at s.Created are
	// deleted on the way.
	CreateSession(ctx context.Context, hash string, s Session) error
	// Session returns the session with this hash if it has not expired at
	// at; ErrNotFound otherwise.
	Session(ctx context.Context, hash string, at time.Time) (Session, error)
	// EndSession deletes a session (sign-out); an unknown one is no error.
	EndSession(ctx context.Context, hash string) error
}

// Full is everything a server over one store needs.
type Full interface {
	Store
	Outbox
	Triage
	Silences
	Tokens
	Sessions
	Feed
	Retention
	Audit
}

// TextPrefilter reports whether a text search may first be matched
// against the whole stored document (one cheap LIKE that rejects most
// rows before the fields are extracted): only when the text has nothing
// JSON encoding would escape, so every match is also a match there.
func TextPrefilter(text string) bool {
	for _, r := range text {
		if r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029 || r == 0x7f {
			return false
		}
	}
	return true
}

// TextPattern is the LIKE pattern of a text search (lower case, with
// LIKE's wildcards escaped by '\').
func TextPattern(text string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(text)) + "%"
}
