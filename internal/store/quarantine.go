package store

import (
	"context"
	"time"
)

// QuarantineEntry is one piece of input trailwatch run could not commit
// after several attempts while the store itself answered: it was set aside
// (and the source moved on) so that it cannot block everything after it.
type QuarantineEntry struct {
	// Source is the configured source's name.
	Source string
	// Object names the input: a file path, s3://bucket/key, a message id.
	Object string
	// Offset is the index of the chunk's first record in the object;
	// Records how many records the chunk held.
	Offset, Records int
	// Reason is the last error the commit gave.
	Reason string
	// At is when it was quarantined.
	At time.Time
}

// Quarantine records input set aside. Quarantining the same chunk (source,
// object, offset) again replaces the earlier entry. Implementations commit
// before returning.
type Quarantine interface {
	Quarantine(ctx context.Context, e QuarantineEntry) error
	// Quarantined lists the entries, newest first, at most limit (0: all).
	Quarantined(ctx context.Context, limit int) ([]QuarantineEntry, error)
}
