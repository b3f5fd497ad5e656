// Package store defines how findings, the notifications they owe (the
// outbox) and the sources' checkpoints are persisted, and decides what a
// finding owes a channel (Judge). Implementations live in sub-packages —
// store/sqlite, embedded and the default, and store/postgres, for several
// instances on one database — and pass one shared suite, store/storetest.
// It imports finding only.
package store

import (
	"context"
	"errors"
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
	// Actor matches the actor's ARN or readable name.
	Actor        string
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
