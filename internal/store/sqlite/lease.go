package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

var (
	_ store.Leases   = (*Store)(nil)
	_ store.Activity = (*Store)(nil)
)

// clearLeases drops the leases of earlier runs: whoever holds the run lock
// is the only run, so a lease left by a run that was killed must not make
// this one wait for it to lapse.
func (s *Store) clearLeases() error {
	if _, err := s.db.Exec(`DELETE FROM leases`); err != nil {
		return fmt.Errorf("clear leases of earlier runs: %w", mapErr(err))
	}
	return nil
}

// Acquire takes or renews a lease. trailwatch run holds the file's run
// lock, so only one instance ever asks; the table still keeps the
// semantics of store.Leases (the store's clock decides expiry).
func (s *Store) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("lease %s: ttl must be positive", name)
	}
	now := s.now().UnixMilli()
	var got string
	err := s.db.QueryRowContext(ctx, `INSERT INTO leases AS l (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at >= excluded.acquired_at THEN l.acquired_at ELSE excluded.acquired_at END
		WHERE l.holder = excluded.holder OR l.expires_at < excluded.acquired_at
		RETURNING holder`, name, holder, now, now+ttl.Milliseconds()).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, mapErr(err))
	}
	return true, nil
}

// Release deletes the lease if holder has it.
func (s *Store) Release(ctx context.Context, name, holder string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, mapErr(err))
	}
	return nil
}

// Leases lists the stored leases by name.
func (s *Store) Leases(ctx context.Context) ([]store.Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, holder, acquired_at, expires_at FROM leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Lease
	for rows.Next() {
		var l store.Lease
		var acq, exp int64
		if err := rows.Scan(&l.Name, &l.Holder, &acq, &exp); err != nil {
			return nil, fmt.Errorf("list leases: %w", mapErr(err))
		}
		l.Acquired, l.Expires = time.UnixMilli(acq).UTC(), time.UnixMilli(exp).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", mapErr(err))
	}
	return out, nil
}

// SawTrails records activity, keeping the latest time of each trail.
func (s *Store) SawTrails(ctx context.Context, seen []store.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record trail activity: %w", mapErr(err))
	}
	defer tx.Rollback()
	for _, x := range seen {
		if _, err := tx.ExecContext(ctx, `INSERT INTO trail_activity (account_id, region, last_seen) VALUES (?, ?, ?)
			ON CONFLICT(account_id, region) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
			x.Account, x.Region, x.At.UnixMilli()); err != nil {
			return fmt.Errorf("record trail activity: %w", mapErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record trail activity: %w", mapErr(err))
	}
	return nil
}

// TrailActivity returns every trail's latest activity.
func (s *Store) TrailActivity(ctx context.Context) ([]store.Seen, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT account_id, region, last_seen FROM trail_activity ORDER BY account_id, region`)
	if err != nil {
		return nil, fmt.Errorf("trail activity: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Seen
	for rows.Next() {
		var x store.Seen
		var at int64
		if err := rows.Scan(&x.Account, &x.Region, &at); err != nil {
			return nil, fmt.Errorf("trail activity: %w", mapErr(err))
		}
		x.At = time.UnixMilli(at).UTC()
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trail activity: %w", mapErr(err))
	}
	return out, nil
}
