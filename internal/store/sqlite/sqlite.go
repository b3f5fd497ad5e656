// Package sqlite is the embedded SQLite Store (modernc.org/sqlite, no cgo),
// the default. It imports store and finding.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Store is a store.Store in one SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

var _ store.Store = (*Store)(nil)

// migrations are applied in order; PRAGMA user_version records how many ran.
var migrations = []string{
	`CREATE TABLE findings (
		id          TEXT PRIMARY KEY,
		event_id    TEXT NOT NULL,
		rule_id     TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		risk        INTEGER NOT NULL,
		event_time  INTEGER NOT NULL,
		account_id  TEXT NOT NULL,
		region      TEXT NOT NULL,
		actor_arn   TEXT NOT NULL,
		actor_name  TEXT NOT NULL,
		outcome     TEXT NOT NULL,
		event_name  TEXT NOT NULL,
		data        TEXT NOT NULL,
		raw         TEXT,
		created_at  INTEGER NOT NULL
	);
	CREATE INDEX findings_time ON findings(event_time);
	CREATE INDEX findings_fingerprint ON findings(fingerprint, event_time);
	CREATE INDEX findings_event ON findings(event_id);`,
	`CREATE TABLE alerts (
		channel    TEXT NOT NULL,
		alert_key  TEXT NOT NULL,
		opened_at  INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		repeats    INTEGER NOT NULL,
		trigger_id INTEGER,
		ref        TEXT,
		PRIMARY KEY (channel, alert_key)
	);
	CREATE TABLE outbox (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		finding_id   TEXT NOT NULL REFERENCES findings(id),
		channel      TEXT NOT NULL,
		kind         TEXT NOT NULL,
		repeats      INTEGER NOT NULL,
		alert_key    TEXT NOT NULL,
		status       TEXT NOT NULL,
		attempts     INTEGER NOT NULL DEFAULT 0,
		next_attempt INTEGER NOT NULL,
		lease_until  INTEGER,
		last_error   TEXT,
		created_at   INTEGER NOT NULL,
		updated_at   INTEGER NOT NULL,
		UNIQUE (finding_id, channel)
	);
	CREATE INDEX outbox_due ON outbox(channel, status, next_attempt);
	CREATE INDEX outbox_alert ON outbox(channel, alert_key, kind, status);`,
	`CREATE INDEX outbox_work ON outbox(channel, next_attempt, id) WHERE status IN ('pending', 'sending');`,
	`CREATE TABLE checkpoints (
		key        TEXT PRIMARY KEY,
		value      TEXT NOT NULL,
		updated_at INTEGER NOT NULL
	);`,
}

// Open opens (creating if needed) the database at path; ":memory:" gives a
// private in-memory database. now is the clock; nil means time.Now.
func Open(path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	dsn := "file::memory:"
	if path != ":memory:" {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("open store %s: %w", path, err)
			}
		}
		dsn = "file:" + path
	}
	dsn += "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection: SQLite allows one writer, and an in-memory database
	// exists per connection.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, now: now}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate() error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("not a trailwatch database: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this trailwatch (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// DB exposes the database handle to sibling packages' tests.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping store: %w", mapErr(err))
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Save stores findings in one transaction; findings already stored are
// counted as duplicates and left unchanged. It owes no notifications.
func (s *Store) Save(ctx context.Context, fs []finding.Finding) (store.SaveResult, error) {
	return s.SaveRouted(ctx, fs, nil)
}

func nullable(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Findings lists findings matching f.
func (s *Store) Findings(ctx context.Context, f store.Filter) ([]finding.Finding, error) {
	var where []string
	var args []any
	if f.MinRisk != 0 {
		where = append(where, "risk >= ?")
		args = append(args, int(f.MinRisk))
	}
	in := func(col string, vals []string, glob bool) {
		if len(vals) == 0 {
			return
		}
		var ors []string
		for _, v := range vals {
			if glob {
				ors = append(ors, col+" GLOB ?")
			} else {
				ors = append(ors, col+" = ?")
			}
			args = append(args, v)
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	in("rule_id", f.Rules, true)
	in("account_id", f.Accounts, false)
	in("region", f.Regions, false)
	in("outcome", f.Outcomes, false)
	if f.Actor != "" {
		where = append(where, "(actor_arn GLOB ? OR actor_name GLOB ?)")
		args = append(args, f.Actor, f.Actor)
	}
	if len(f.Controls) > 0 {
		var ors []string
		for _, x := range f.Controls {
			c, err := store.ParseControl(x)
			if err != nil {
				return nil, fmt.Errorf("list findings: %w", err)
			}
			switch {
			case c.Reference != "":
				ors = append(ors, "EXISTS (SELECT 1 FROM json_each(findings.data, '$.reference_ids') WHERE upper(value) = ?)")
				args = append(args, c.Reference)
			case c.Version != "":
				ors = append(ors, "EXISTS (SELECT 1 FROM json_each(findings.data, '$.cis') WHERE lower(value) = ?)")
				args = append(args, "cis "+c.Version+" "+c.CIS)
			default:
				ors = append(ors, "EXISTS (SELECT 1 FROM json_each(findings.data, '$.cis') WHERE value LIKE ? ESCAPE '\\')")
				args = append(args, "CIS v% "+c.CIS)
			}
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "event_time >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		where = append(where, "event_time < ?")
		args = append(args, f.Until.UnixMilli())
	}
	q := "SELECT data FROM findings"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" ORDER BY event_time DESC, id DESC LIMIT %d", f.Limit)
	} else {
		q += " ORDER BY event_time, id"
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", mapErr(err))
	}
	defer rows.Close()
	var out []finding.Finding
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list findings: %w", mapErr(err))
		}
		var fd finding.Finding
		if err := json.Unmarshal([]byte(data), &fd); err != nil {
			return nil, fmt.Errorf("list findings: corrupt row: %w", err)
		}
		out = append(out, fd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list findings: %w", mapErr(err))
	}
	return out, nil
}

// Finding returns one finding with its raw event.
func (s *Store) Finding(ctx context.Context, id string) (finding.Finding, error) {
	var data string
	var raw sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT data, raw FROM findings WHERE id = ?`, id).Scan(&data, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return finding.Finding{}, fmt.Errorf("finding %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return finding.Finding{}, fmt.Errorf("finding %s: %w", id, mapErr(err))
	}
	var fd finding.Finding
	if err := json.Unmarshal([]byte(data), &fd); err != nil {
		return finding.Finding{}, fmt.Errorf("finding %s: corrupt row: %w", id, err)
	}
	if raw.Valid {
		fd.Raw = json.RawMessage(raw.String)
	}
	return fd, nil
}

// mapErr turns driver errors into plain errors carrying the message only,
// so callers never depend on driver types.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, sql.ErrConnDone) {
		return store.ErrClosed
	}
	if strings.Contains(err.Error(), "database is closed") {
		return store.ErrClosed
	}
	return errors.New(err.Error())
}

var _ store.Checkpoints = (*Store)(nil)

// Checkpoint returns the value stored under key, or "".
func (s *Store) Checkpoint(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM checkpoints WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", key, mapErr(err))
	}
	return v, nil
}

// SetCheckpoint stores value under key.
func (s *Store) SetCheckpoint(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO checkpoints (key, value, updated_at) VALUES (?,?,?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, value, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("set checkpoint %s: %w", key, mapErr(err))
	}
	return nil
}
