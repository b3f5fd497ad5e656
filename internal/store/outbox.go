package store

import (
	"context"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// Route is one channel a finding is owed to, decided by the channel's
// filters before saving.
type Route struct {
	Channel string
	// Repeats says whether a repeat of a live alert is delivered to this
	// channel as an update (PagerDuty, ServiceNow, Zendesk, webhooks), or
	// only counted (chat, e-mail and SMS, where a repeat would page again).
	Repeats bool
}

// Router returns the routes of a finding.
type Router func(finding.Finding) []Route

// Delivery kinds, as notify.Kind.
const (
	KindTrigger    = "trigger"
	KindUpdate     = "update"
	KindEscalation = "escalation"
	// KindAcknowledge and KindResolve carry a finding's status change to
	// a channel that holds an incident or ticket for its alert, once per
	// (finding, channel, kind).
	KindAcknowledge = "acknowledge"
	KindResolve     = "resolve"
)

// Delivery states.
const (
	Pending = "pending" // waiting for its next attempt
	Sending = "sending" // claimed by a dispatcher until its lease ends
	Done    = "done"    // delivered
	Dead    = "dead"    // gave up: permanent error, too many attempts, too old
	Dropped = "dropped" // dropped by an operator
)

// Delivery is one notification a finding owes one channel: a row of the
// outbox.
type Delivery struct {
	ID        int64
	FindingID string
	Channel   string
	// Kind is trigger (the first alert of a fingerprint within its TTL),
	// update (a repeat while that alert lives) or escalation (a finding on
	// a live alert that must be alerted again: see Judge).
	Kind string
	// Escalation says why, for an escalation.
	Escalation *Escalation
	// Transition is the status change an acknowledge or resolve carries.
	Transition *Change
	// Repeats counts the fingerprint's findings while its alert lived,
	// this one included.
	Repeats int
	// AlertKey identifies the alert (fingerprint) the delivery belongs to.
	AlertKey string
	// Ref is what the channel returned for the alert's trigger, if known.
	Ref         string
	Status      string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Finding is filled by Claim.
	Finding finding.Finding
}

// Outcome is the result of one delivery attempt, for Settle.
type Outcome struct {
	ID     int64
	Status string // Done, Pending (retry) or Dead
	Ref    string
	Err    string
	Next   time.Time
	At     time.Time
}

// OutboxFilter selects deliveries for listing.
type OutboxFilter struct {
	Status  []string
	Channel []string
	// Findings keeps the deliveries of these findings.
	Findings []string
	Limit    int
}

// Outbox is the durable queue of deliveries, written in the same
// transaction as the findings that owe them. Implementations are safe for
// concurrent use; every method returns after commit.
type Outbox interface {
	// SaveRouted saves findings like Store.Save and, for each finding
	// newly inserted (or stored earlier without being routed, by a scan
	// that did not notify), the deliveries its routes owe, in one
	// transaction. Each channel's alert of the finding's fingerprint
	// decides what it owes (Judge): a trigger opening a new alert that
	// lives for the finding's TTL, an escalation of the live alert
	// (another principal, a higher risk, a new reason), or a repeat —
	// an update of the live alert, or only a count when the route takes
	// no repeats. With a nil route the findings are stored unrouted.
	SaveRouted(ctx context.Context, findings []finding.Finding, route Router) (SaveResult, error)
	// Unrouted returns up to limit findings stored without routing (by a
	// scan that did not notify) whose event is at or after since, oldest
	// first, with their raw event and TTL. SaveRouted of them routes them.
	Unrouted(ctx context.Context, since time.Time, limit int) ([]finding.Finding, error)
	// Claim leases up to limit due deliveries of a channel (pending with
	// NextAttempt <= now, or sending with an expired lease), oldest first,
	// marking them sending until now+lease. An update or escalation is not
	// claimed while an earlier trigger or escalation of its alert is still
	// undelivered, so it carries the reference that one returns.
	Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// Settle records the outcomes of several attempts in one
	// transaction: Done (a non-empty Ref — from the trigger, an
	// escalation, or an update that opened a new record — is remembered on
	// the alert for later deliveries), Pending (a retry at Next, with Err)
	// or Dead (with Err).
	Settle(ctx context.Context, outcomes []Outcome) error
	// Deliveries lists deliveries, newest first.
	Deliveries(ctx context.Context, f OutboxFilter) ([]Delivery, error)
	// Requeue makes dead (or dropped) deliveries pending again now.
	Requeue(ctx context.Context, ids []int64, now time.Time) (int, error)
	// Drop marks deliveries dropped; they are never sent.
	Drop(ctx context.Context, ids []int64, now time.Time) (int, error)
	// Pending counts the deliveries of these channels still pending or in
	// flight.
	Pending(ctx context.Context, channels []string) (int, error)
	// Depth counts deliveries by channel and status.
	Depth(ctx context.Context) (map[string]map[string]int, error)
}
