// Package notify is the contract between trailwatch and the places a team
// works: the Notifier every channel implements, the Message it gets, the
// delivery errors that say whether to retry, the message text and its
// templates, and the shared HTTP plumbing. Channel packages (notify/slack,
// notify/email, …) import notify, finding and secret only, never config,
// store, app or each other. Routing and the dispatcher that owns retries,
// rate limits and the dead letter live in package dispatch.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// Kind says what a delivery is.
type Kind string

// The kinds of delivery.
const (
	// Trigger is the first alert for a fingerprint within its TTL.
	Trigger Kind = "trigger"
	// Update is a repeat of a fingerprint whose alert is still alive: a
	// channel that can updates the existing incident, ticket or thread
	// instead of raising a new one.
	Update Kind = "update"
	// Escalation is a finding on a live alert that must be alerted again
	// although its fingerprint is the same: another principal made the
	// change, at a higher risk, or for a new risk reason (Message.Escalated
	// says which). Every channel alerts it; incident and ticket channels
	// may join it to the open incident or ticket but must raise its
	// severity and notify.
	Escalation Kind = "escalation"
	// Test is a clearly marked test message (trailwatch notify test).
	Test Kind = "test"
	// Acknowledge and Resolve tell an incident or ticket channel that
	// someone acknowledged or resolved the finding (Message.Transition
	// says who, when and why); Ref is the alert's incident or ticket.
	// Only channels that hold incidents or tickets get them.
	Acknowledge Kind = "acknowledge"
	Resolve     Kind = "resolve"
)

// Transition is a finding's status change, for Acknowledge and Resolve.
type Transition struct {
	Actor string    `json:"actor"`
	Note  string    `json:"note,omitempty"`
	At    time.Time `json:"at"`
	From  string    `json:"from"`
	To    string    `json:"to"`
}

// Escalated says why an Escalation is alerted again.
type Escalated struct {
	// Number is 1 for an alert's first escalation, 2 for the next, ….
	Number int `json:"number"`
	// PreviousRisk is the highest risk alerted before this finding.
	PreviousRisk finding.Risk `json:"previous_risk,omitempty"`
	// Why lists what is new, for people ("risk raised from HIGH to
	// VERY_HIGH", "made by another principal: mallory", "new risk reason:
	// …").
	Why []string `json:"why"`
}

// Message is one delivery to one channel.
type Message struct {
	Finding finding.Finding
	Kind    Kind
	// Repeats counts how often the fingerprint was seen while its alert
	// was alive, this one included (1 for a trigger).
	Repeats int
	// Ref is, for an Update or an Escalation, what the channel returned
	// when it delivered the alert's trigger (an incident sys_id, a ticket
	// id) or its latest escalation; empty if unknown.
	Ref string
	// Escalated is set for an Escalation.
	Escalated *Escalated
	// Transition is set for Acknowledge and Resolve.
	Transition *Transition
	// IdempotencyKey is stable for one (finding, channel) pair: channels
	// whose API deduplicates on a key send it, so a delivery retried
	// after a crash is not duplicated.
	IdempotencyKey string
	// DashboardURL links to the finding when a dashboard is configured.
	DashboardURL string
}

// Result is what a successful delivery reports back.
type Result struct {
	// Ref identifies what the channel created (incident, ticket); the
	// dispatcher keeps it and hands it to later Updates. An Update that
	// had to create a new record returns the new reference, which
	// replaces the old one.
	Ref string
}

// Notifier delivers messages to one configured channel.
//
// The dispatcher calls Notify from several goroutines at once (up to the
// channel's concurrency). One call is one attempt: it honours the context
// deadline and returns nil on success, or an error made with Retryable or
// Permanent (a plain error counts as retryable). It never sleeps, retries,
// or logs or returns a secret (tokens, passwords, webhook URLs).
type Notifier interface {
	Notify(ctx context.Context, m Message) (Result, error)
}

// Options are what every channel constructor gets besides its config.
type Options struct {
	// HTTPClient is used for HTTP APIs; nil means a client with a 15 s
	// timeout that follows no redirect and refuses to connect to
	// link-local and cloud metadata addresses unless AllowLinkLocal.
	HTTPClient *http.Client
	// AllowLinkLocal is set by a channel from its allow_link_local
	// setting before calling Defaults.
	AllowLinkLocal bool
	Logger         *slog.Logger
	Now            func() time.Time
	// Templates render the message text; nil means the defaults.
	Templates *Templates
}

// maxIdlePerHost is how many idle connections the default client keeps
// open to one host, for the deliveries a channel runs at once.
const maxIdlePerHost = 64

// Defaults fills unset options.
func (o Options) Defaults() Options {
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = guardedDial(o.AllowLinkLocal)
		// A channel's deliveries run concurrently (its concurrency
		// setting) against one host; net/http keeps only 2 idle
		// connections per host by default, so the others were closed
		// after each delivery and dialled again for the next one (4% of
		// trailwatch run's CPU at 2,000 alerts/s, issue 14).
		t.MaxIdleConnsPerHost = maxIdlePerHost
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second, CheckRedirect: NoRedirects, Transport: t}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Templates == nil {
		o.Templates = DefaultTemplates()
	}
	return o
}

// NoRedirects stops a client from following redirects: a redirected POST
// turns into a bodiless GET whose 2xx would pass for a delivery, and custom
// secret headers would travel to the new host. Do reports the 3xx instead.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Error is a failed delivery attempt.
type Error struct {
	Err error
	// Permanent means retrying cannot help (a 400, a bad address).
	Permanent bool
	// RetryAfter is the wait the service asked for (429 Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Retryable marks an error worth retrying, after at least the given wait
// (zero for the dispatcher's backoff).
func Retryable(err error, after time.Duration) error {
	return &Error{Err: err, RetryAfter: after}
}

// Permanent marks an error that retrying cannot fix.
func Permanent(err error) error { return &Error{Err: err, Permanent: true} }

// Permanentf formats a permanent error.
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns the wait an error asks for, or zero.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
