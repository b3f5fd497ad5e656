// Package store defines how findings, the notifications they owe (the
// outbox) and the sources' checkpoints are persisted, and decides what a
// finding owes a channel (Judge). Implementations live in sub-packages —
// store/sqlite, embedded and the default, and store/postgres, for several
// instances on one database — and pass one shared suite, store/storetest.
// It imports finding and glob.
package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// ErrNotFound is returned when a finding does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("store closed")

// SaveResult says what a Save changed.
type SaveResult struct {
	// Inserted counts new findings; Duplicates those already stored
	// (the same event judged by the same rule).
	Inserted, Duplicates int
	// Updated counts stored findings replaced by a corrected delivery of
	// their event (a CloudTrail addendum); they owe no new notification.
	Updated int
	// New holds the ids of the findings inserted.
	New map[string]bool
	// Routed counts findings stored earlier without routing (by a scan
	// that did not notify) that this save routed.
	Routed int
	// Owed counts the deliveries the save added, per channel, so only
	// those channels' dispatchers need waking.
	Owed map[string]int
}

// Filter selects findings. Zero fields match everything; list fields match
// any of their values; Rules and Actor take globs ('*').
type Filter struct {
	MinRisk  finding.Risk
	Rules    []string
	Accounts []string
	Regions  []string
	Outcomes []string
	// Services keeps findings of rules of these services ("eks", "iam");
	// Methods findings made by these access methods ("console",
	// "terraform"; see actor.Method).
	Services []string
	Methods  []string
	// Actor matches the actor's ARN or readable name.
	Actor string
	// Controls keeps findings of rules that stand for one of these
	// Cloud One Conformity rule ids (RTM-009) or cover one of these CIS
	// controls ("CIS 4.3" any version, "CIS v1.4 4.3" one version); see
	// ParseControl.
	Controls     []string
	Since, Until time.Time
	// Limit caps the result (newest first when set); 0 means no limit.
	Limit int
}

// Store persists findings. Implementations are safe for concurrent use.
// Save is idempotent: saving a finding whose id (event id + rule id) is
// already stored changes nothing, so re-scanning the same input or a
// redelivered message adds nothing. Every method returns only after its
// transaction committed; errors wrap this package's sentinels or describe
// the operation, never a driver type.
type Store interface {
	Save(ctx context.Context, findings []finding.Finding) (SaveResult, error)
	// Findings returns the matching findings, oldest event first (newest
	// first when Filter.Limit is set).
	Findings(ctx context.Context, f Filter) ([]finding.Finding, error)
	// Finding returns one finding, with its raw event, or ErrNotFound.
	Finding(ctx context.Context, id string) (finding.Finding, error)
	// FindingIDs returns the ids that start with prefix, in id order, at
	// most limit of them (0: no limit): short ids, as git's, resolve
	// through it. The prefix is plain text, never a pattern.
	FindingIDs(ctx context.Context, prefix string, limit int) ([]string, error)
	Close() error
}

// Checkpoints remember how far a source got (per bucket prefix, account and
// region), so a restart resumes. Implementations are safe for concurrent
// use and commit before returning.
type Checkpoints interface {
	// Checkpoint returns the value stored under key, or "" when none.
	Checkpoint(ctx context.Context, key string) (string, error)
	// SetCheckpoint stores value under key.
	SetCheckpoint(ctx context.Context, key, value string) error
}

// PrefixEnd returns the smallest string greater than every string that
// starts with prefix, in byte order, for range scans; false when there is
// none (an empty prefix, or one of only 0xff bytes).
func PrefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// Control is one Filter.Controls entry, parsed: a Conformity rule id
// (Reference), or a CIS control (CIS, the number, with Version when one was
// named, like "v1.4").
type Control struct {
	Reference    string
	CIS, Version string
}

var (
	cisControl  = regexp.MustCompile(`(?i)^(?:cis[ :-]*)?(v[0-9]+(?:\.[0-9]+)*[ :-]+)?([0-9]+\.[0-9]+)$`)
	referenceID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*-[0-9]+$`)
)

// ParseControl reads a control as users write it: "RTM-009", "CIS 4.3",
// "cis v1.4 4.3", "4.3".
func ParseControl(s string) (Control, error) {
	t := strings.TrimSpace(s)
	if m := cisControl.FindStringSubmatch(t); m != nil {
		return Control{CIS: m[2], Version: strings.ToLower(strings.TrimRight(m[1], " :-"))}, nil
	}
	if referenceID.MatchString(t) {
		return Control{Reference: strings.ToUpper(t)}, nil
	}
	return Control{}, fmt.Errorf("%q is neither a reference rule id (like RTM-009) nor a CIS control (like \"CIS 4.3\" or \"CIS v1.4 4.3\")", s)
}

// Matches reports whether a finding's reference ids and CIS controls (as
// finding.Finding carries them: "CIS v1.4 4.3") satisfy the control.
func (c Control) Matches(referenceIDs, cis []string) bool {
	if c.Reference != "" {
		for _, r := range referenceIDs {
			if strings.EqualFold(r, c.Reference) {
				return true
			}
		}
		return false
	}
	for _, x := range cis {
		f := strings.Fields(x) // CIS vX N
		if len(f) != 3 || f[2] != c.CIS {
			continue
		}
		if c.Version == "" || strings.EqualFold(f[1], c.Version) {
			return true
		}
	}
	return false
}
