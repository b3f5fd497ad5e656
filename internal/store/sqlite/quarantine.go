package sqlite

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
	err := s.w.do(ctx, func(t *wtx) error {
		_, err := t.exec(`INSERT INTO quarantine (source, object, chunk_offset, records, reason, at) VALUES (?,?,?,?,?,?)
		ON CONFLICT(source, object, chunk_offset) DO UPDATE SET records = excluded.records, reason = excluded.reason, at = excluded.at`,
			e.Source, e.Object, e.Offset, e.Records, e.Reason, e.At.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", e.Object, mapErr(err))
	}
	return nil
}

// Quarantined lists the quarantined chunks, newest first.
func (s *Store) Quarantined(ctx context.Context, limit int) ([]store.QuarantineEntry, error) {
	q := `SELECT source, object, chunk_offset, records, reason, at FROM quarantine ORDER BY at DESC, source, object, chunk_offset`
	var args []any
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.QuarantineEntry
	for rows.Next() {
		var e store.QuarantineEntry
		var at int64
		if err := rows.Scan(&e.Source, &e.Object, &e.Offset, &e.Records, &e.Reason, &at); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", mapErr(err))
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantine: %w", mapErr(err))
	}
	return out, nil
}
