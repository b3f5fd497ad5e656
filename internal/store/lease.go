package store

import (
	"context"
	"time"
)

// Lease is one named lease as stored: who holds it and until when.
type Lease struct {
	Name, Holder string
	// Acquired is when the holder took it (renewals keep it); Expires is
	// when it lapses unless renewed. Both are the store's clock.
	Acquired, Expires time.Time
}

// Leases share work between several trailwatch instances on one store:
// at most one holder has a name at a time (the S3 source's prefixes, the
// heartbeat's judge). A lease lapses ttl after its last Acquire unless
// renewed, so another instance takes over from one that died; Release
// hands it over at once. Expiry uses the store's clock (PostgreSQL's for
// the PostgreSQL store), so instances' clocks need not agree.
// Implementations are safe for concurrent use and commit before returning.
type Leases interface {
	// Acquire takes name for holder for ttl, or renews it when holder
	// already has it; held is false (with a nil error) while another
	// holder's lease has not expired.
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (held bool, err error)
	// Release gives name up if holder has it; otherwise it does nothing.
	Release(ctx context.Context, name, holder string) error
	// Leases lists the leases stored (expired ones included), by name.
	Leases(ctx context.Context) ([]Lease, error)
}

// Seen is when trailwatch last received an event of one account and
// region (by arrival, the clock of the instance that received it).
type Seen struct {
	Account, Region string
	At              time.Time
}

// Activity is the trails' last activity shared by every instance, so the
// one judging trail silences sees every instance's events.
// Implementations are safe for concurrent use and commit before returning.
type Activity interface {
	// SawTrails records activity; a stored time only moves forward.
	SawTrails(ctx context.Context, seen []Seen) error
	// TrailActivity returns every account and region's latest activity.
	TrailActivity(ctx context.Context) ([]Seen, error)
}
