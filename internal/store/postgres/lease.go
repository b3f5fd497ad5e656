package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

// serverMillis is the server's clock in Unix milliseconds: leases expire
// by the database's clock, which every instance shares.
const serverMillis = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`

// Acquire takes or renews a lease in one statement: the row is inserted,
// or updated when the caller holds it or it has expired; otherwise the
// update does nothing and no row comes back.
func (s *Store) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("lease %s: ttl must be positive", name)
	}
	rows, err := s.pool.Query(ctx, `WITH t AS (SELECT `+serverMillis+` AS now)
		INSERT INTO leases AS l (name, holder, acquired_at, expires_at)
		SELECT $1, $2, t.now, t.now + $3 FROM t
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at >= excluded.acquired_at THEN l.acquired_at ELSE excluded.acquired_at END
		WHERE l.holder = excluded.holder OR l.expires_at < excluded.acquired_at
		RETURNING 1`, name, holder, ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, s.mapErr(err))
	}
	defer rows.Close()
	held := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		if retryable(err) { // two first acquisitions raced: the other won
			return false, nil
		}
		return false, fmt.Errorf("lease %s: %w", name, s.mapErr(err))
	}
	return held, nil
}

// Release deletes the lease if holder has it.
func (s *Store) Release(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, s.mapErr(err))
	}
	return nil
}

// Leases lists the stored leases by name.
func (s *Store) Leases(ctx context.Context) ([]store.Lease, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, holder, acquired_at, expires_at FROM leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", s.mapErr(err))
	}
	defer rows.Close()
	var out []store.Lease
	for rows.Next() {
		var l store.Lease
		var acq, exp int64
		if err := rows.Scan(&l.Name, &l.Holder, &acq, &exp); err != nil {
			return nil, fmt.Errorf("list leases: %w", s.mapErr(err))
		}
		l.Acquired, l.Expires = time.UnixMilli(acq).UTC(), time.UnixMilli(exp).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", s.mapErr(err))
	}
	return out, nil
}

// SawTrails records activity, keeping the latest time of each trail.
// Rows are written in key order, so two instances never deadlock.
func (s *Store) SawTrails(ctx context.Context, seen []store.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	accounts, regions, at := make([]string, len(seen)), make([]string, len(seen)), make([]int64, len(seen))
	for i, x := range seen {
		accounts[i], regions[i], at[i] = x.Account, x.Region, x.At.UnixMilli()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO trail_activity AS a (account_id, region, last_seen)
		SELECT account_id, region, max(last_seen) FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(account_id, region, last_seen)
		GROUP BY account_id, region ORDER BY account_id, region
		ON CONFLICT (account_id, region) DO UPDATE SET last_seen = greatest(a.last_seen, excluded.last_seen)`, accounts, regions, at)
	if err != nil {
		return fmt.Errorf("record trail activity: %w", s.mapErr(err))
	}
	return nil
}

// TrailActivity returns every trail's latest activity.
func (s *Store) TrailActivity(ctx context.Context) ([]store.Seen, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_id, region, last_seen FROM trail_activity ORDER BY account_id, region`)
	if err != nil {
		return nil, fmt.Errorf("trail activity: %w", s.mapErr(err))
	}
	defer rows.Close()
	var out []store.Seen
	for rows.Next() {
		var x store.Seen
		var at int64
		if err := rows.Scan(&x.Account, &x.Region, &at); err != nil {
			return nil, fmt.Errorf("trail activity: %w", s.mapErr(err))
		}
		x.At = time.UnixMilli(at).UTC()
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trail activity: %w", s.mapErr(err))
	}
	return out, nil
}
