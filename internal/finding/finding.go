// Package finding holds what trailwatch reports: the Finding, its Risk, the
// fingerprint that identifies repeats of the same change, and its readable
// summary. It imports actor and event only.
package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
)

// Risk is how dangerous a change is, from LOW to EXTREME.
type Risk int

// The risk levels, lowest first. Zero is no risk (unset).
const (
	Low Risk = iota + 1
	Medium
	High
	VeryHigh
	Extreme
)

var riskNames = []string{"", "LOW", "MEDIUM", "HIGH", "VERY_HIGH", "EXTREME"}

func (r Risk) String() string {
	if r < Low || r > Extreme {
		return fmt.Sprintf("Risk(%d)", int(r))
	}
	return riskNames[r]
}

// ParseRisk parses a risk level name (case-insensitive; "very high" and
// "very-high" are accepted too).
func ParseRisk(s string) (Risk, error) {
	n := strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_").Replace(strings.TrimSpace(s)))
	for i := Low; i <= Extreme; i++ {
		if riskNames[i] == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown risk level %q (want LOW, MEDIUM, HIGH, VERY_HIGH or EXTREME)", s)
}

// MarshalText writes the risk's name.
func (r Risk) MarshalText() ([]byte, error) {
	if r < Low || r > Extreme {
		return nil, fmt.Errorf("invalid risk %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads a risk name.
func (r *Risk) UnmarshalText(b []byte) error {
	v, err := ParseRisk(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// SelfSource is the event source (and actor type) of findings trailwatch
// raises about itself, such as a trail gone silent: they have no AWS actor,
// source address, access method or CloudTrail event.
const SelfSource = "trailwatch"

// Resource is what the change was made to.
type Resource struct {
	Type string `json:"type"`
	Name string `json:"name"`
	ARN  string `json:"arn,omitempty"`
}

// Finding is one rule's verdict on one event. Its JSON form is a contract
// users script against: add fields, never rename or remove them.
type Finding struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	RuleID      string `json:"rule_id"`
	RuleTitle   string `json:"rule_title"`
	// ReferenceIDs are Cloud One Conformity rule ids of the rule (RTM-009),
	// CIS the CIS AWS Foundations monitoring controls it covers
	// ("v1.4 4.3"), and RuleAuthor who wrote it (a Sigma rule's author,
	// shown with every alert it raises).
	ReferenceIDs []string       `json:"reference_ids,omitempty"`
	CIS          []string       `json:"cis,omitempty"`
	RuleAuthor   string         `json:"rule_author,omitempty"`
	Service      string         `json:"service"`
	Risk         Risk           `json:"risk"`
	RiskReasons  []string       `json:"risk_reasons"`
	EventID      string         `json:"event_id"`
	EventTime    time.Time      `json:"event_time"`
	EventSource  string         `json:"event_source"`
	EventName    string         `json:"event_name"`
	AccountID    string         `json:"account_id"`
	Region       string         `json:"region"`
	Actor        actor.Actor    `json:"actor"`
	AccessMethod string         `json:"access_method"`
	UserAgent    string         `json:"user_agent"`
	SourceIP     string         `json:"source_ip"`
	Outcome      string         `json:"outcome"`
	ErrorCode    string         `json:"error_code,omitempty"`
	ErrorMessage string         `json:"error_message,omitempty"`
	Resource     Resource       `json:"resource"`
	Summary      string         `json:"summary"`
	Changes      map[string]any `json:"changes"`
	Remediation  string         `json:"remediation,omitempty"`
	References   []string       `json:"references,omitempty"`
	// TTL is how long repeats of this fingerprint are treated as the same
	// alert (the rule's setting).
	TTL time.Duration `json:"-"`
	// Corrected reports that the event came with a CloudTrail addendum:
	// a late or corrected delivery of an event already sent, which
	// updates the stored finding instead of being dropped as a duplicate.
	Corrected bool `json:"corrected,omitempty"`
	// Origin names the input the event came from (file, queue, …).
	Origin string `json:"origin,omitempty"`
	// Raw is the event exactly as it arrived.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// DefaultTTL is how long an alert lives when a rule names no TTL: a day, so
// the same change repeated through a working day pages once, while the
// next day's is a new alert.
const DefaultTTL = 24 * time.Hour

// ID derives a finding's id from the event and the rule: the same event
// judged by the same rule always yields the same finding, which makes
// saving idempotent.
func ID(eventID, ruleID string) string {
	return "f-" + digest(eventID, ruleID)[:24]
}

// Fingerprint identifies repeats of the same kind of change: the same rule
// on the same resource in the same account and region, the key under which
// a channel's alert lives for the rule's TTL (whether a finding of it is a
// repeat also depends on who made it, its risk and its reasons; see
// store.Judge). Outcomes differ in kind, so a denied attempt does not share a
// fingerprint with a successful change.
func Fingerprint(ruleID, account, region, resource string) string {
	return digest(ruleID, account, region, resource)[:32]
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
