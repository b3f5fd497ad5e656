package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// maxRemembered bounds the principals and reasons an alert remembers. One
// forgotten comes back as an escalation: an attacker who churns through
// principals gets more alerts, never fewer.
const maxRemembered = 64

// Alert is what a channel was told about one fingerprint while its alert
// lives: the state a new finding of that fingerprint is judged against.
// Both stores keep it in their alerts table and judge with Judge, so the
// rule of what is a repeat lives here once.
type Alert struct {
	OpenedAt, ExpiresAt time.Time
	// Repeats counts the findings of the alert, the trigger included.
	Repeats int
	// Risk is the highest risk alerted.
	Risk finding.Risk
	// Principals and Reasons are the actors (Principal) and risk reasons
	// alerted so far.
	Principals []string
	Reasons    []string
	// Escalations counts the escalations raised on the alert.
	Escalations int
	// Resolved reports that a finding of the alert was resolved: the
	// alert is over, and the fingerprint's next finding alerts as new.
	Resolved bool
}

// Escalation says why a finding on a live alert is alerted again instead
// of being counted as a repeat.
type Escalation struct {
	// Number is 1 for the alert's first escalation, 2 for the next, ….
	Number int `json:"number"`
	// PreviousRisk is the highest risk alerted before this finding.
	PreviousRisk finding.Risk `json:"previous_risk,omitempty"`
	// Why lists, for people, what is new: a higher risk, another
	// principal, a new risk reason.
	Why []string `json:"why"`
}

// Principal identifies who made a change, for telling repeats apart: the
// actor's ARN (an assumed role's session ARN names the session), else its
// readable name, else its type.
func Principal(f finding.Finding) string {
	switch {
	case f.Actor.ARN != "":
		return f.Actor.ARN
	case f.Actor.Name != "":
		return f.Actor.Name
	}
	return f.Actor.Type
}

// Judge decides what a finding owes a channel, given the channel's alert of
// the finding's fingerprint (nil when there is none). at is the finding's
// event time (or now) and ttl the rule's TTL.
//
// A finding is a repeat (KindUpdate) of a live alert only when the same
// principal makes the same kind of change at the same or a lower risk,
// with no risk reason the alert has not already carried. Another
// principal, a higher risk or a new reason is an escalation
// (KindEscalation): alerted on every channel, never swallowed. With no live
// alert (none, its TTL passed, or one of its findings was resolved) the
// finding opens a new one (KindTrigger). next is the alert's state after the finding.
func Judge(a *Alert, f finding.Finding, at time.Time, ttl time.Duration) (kind string, esc *Escalation, next Alert) {
	if ttl <= 0 {
		ttl = finding.DefaultTTL
	}
	who := Principal(f)
	if a == nil || !at.Before(a.ExpiresAt) || a.Resolved {
		return KindTrigger, nil, Alert{
			OpenedAt: at, ExpiresAt: at.Add(ttl), Repeats: 1, Risk: f.Risk,
			Principals: []string{who}, Reasons: remember(nil, f.RiskReasons),
		}
	}
	next = *a
	next.Repeats++
	var why []string
	if f.Risk > a.Risk {
		why = append(why, fmt.Sprintf("risk raised from %s to %s", riskName(a.Risk), f.Risk))
	}
	if !slices.Contains(a.Principals, who) {
		name := f.Actor.Name
		if name == "" {
			name = who
		}
		why = append(why, fmt.Sprintf("made by another principal: %s", name))
	}
	for _, r := range f.RiskReasons {
		if !slices.Contains(a.Reasons, r) && !slices.Contains(why, "new risk reason: "+r) {
			why = append(why, "new risk reason: "+r)
		}
	}
	if len(why) == 0 {
		return KindUpdate, nil, next
	}
	next.Escalations++
	next.Risk = max(a.Risk, f.Risk)
	next.Principals = remember(slices.Clone(a.Principals), []string{who})
	next.Reasons = remember(slices.Clone(a.Reasons), f.RiskReasons)
	if end := at.Add(ttl); end.After(next.ExpiresAt) {
		next.ExpiresAt = end
	}
	return KindEscalation, &Escalation{Number: next.Escalations, PreviousRisk: a.Risk, Why: why}, next
}

func riskName(r finding.Risk) string {
	if r < finding.Low {
		return "no risk"
	}
	return r.String()
}

// remember adds the values not yet in list, keeping the newest
// maxRemembered.
func remember(list, add []string) []string {
	for _, v := range add {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	if len(list) > maxRemembered {
		list = list[len(list)-maxRemembered:]
	}
	if list == nil {
		list = []string{}
	}
	return list
}

// EncodeList and DecodeList store an alert's principals and reasons as a
// JSON array in one column.
func EncodeList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// DecodeList reads a column written by EncodeList; an empty or corrupt
// value reads as no entries (the next finding then escalates: a store that
// forgot errs towards alerting).
func DecodeList(s string) []string {
	var l []string
	if json.Unmarshal([]byte(s), &l) != nil {
		return nil
	}
	return l
}

// EncodeEscalation and DecodeEscalation store a delivery's escalation in
// one column; nil is NULL.
func EncodeEscalation(e *Escalation) any {
	if e == nil {
		return nil
	}
	b, _ := json.Marshal(e)
	return string(b)
}

// DecodeEscalation reads a column written by EncodeEscalation.
func DecodeEscalation(s string) (*Escalation, error) {
	if s == "" {
		return nil, nil
	}
	var e Escalation
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, fmt.Errorf("corrupt escalation: %w", err)
	}
	return &e, nil
}
