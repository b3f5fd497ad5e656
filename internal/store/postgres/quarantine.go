package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

var _ store.Quarantine = (*Store)(nil)

// Quarantine records a chunk set aside.
func (s *Store) Quarantine(ctx context.Context, e store.QuarantineEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO quarantine (source, object, chunk_offset, records, reason, at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (source, object, chunk_offset) DO UPDATE SET records = excluded.records, reason = excluded.reason, at = excluded.at`,
		e.Source, e.Object, e.Offset, e.Records, e.Reason, e.At.UnixMilli())
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", e.Object, s.mapErr(err))
	}
	return nil
}

// Quarantined lists the quarantined chunks, newest first.
func (s *Store) Quarantined(ctx context.Context, limit int) ([]store.QuarantineEntry, error) {
	q := `SELECT source, object, chunk_offset, records, reason, at FROM quarantine ORDER BY at DESC, source, object, chunk_offset`
	var args []any
	if limit > 0 {
		q += ` LIMIT $1`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", s.mapErr(err))
	}
	defer rows.Close()
	var out []store.QuarantineEntry
	for rows.Next() {
		var e store.QuarantineEntry
		var at int64
		if err := rows.Scan(&e.Source, &e.Object, &e.Offset, &e.Records, &e.Reason, &at); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", s.mapErr(err))
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantine: %w", s.mapErr(err))
	}
	return out, nil
}
