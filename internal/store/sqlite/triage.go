package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

var (
	_ store.Triage   = (*Store)(nil)
	_ store.Silences = (*Store)(nil)
	_ store.Tokens   = (*Store)(nil)
)

const triageMigration = `ALTER TABLE findings ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
	ALTER TABLE findings ADD COLUMN status_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE findings ADD COLUMN silenced_by TEXT;
	ALTER TABLE alerts ADD COLUMN resolved_at INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE finding_history (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		finding_id TEXT NOT NULL REFERENCES findings(id),
		at         INTEGER NOT NULL,
		actor      TEXT NOT NULL,
		old_status TEXT NOT NULL,
		new_status TEXT NOT NULL,
		note       TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX finding_history_finding ON finding_history(finding_id, id);
	CREATE TABLE silences (
		id         TEXT PRIMARY KEY,
		matchers   TEXT NOT NULL,
		start_at   INTEGER NOT NULL,
		end_at     INTEGER NOT NULL,
		creator    TEXT NOT NULL,
		comment    TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expired_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX silences_end ON silences(end_at);
	CREATE TABLE api_tokens (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		role       TEXT NOT NULL,
		hash       TEXT NOT NULL UNIQUE,
		created_by TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0,
		last_used  INTEGER NOT NULL DEFAULT 0,
		revoked_at INTEGER NOT NULL DEFAULT 0
	);
	DROP INDEX findings_time;
	CREATE INDEX findings_order ON findings(event_time, id);
	CREATE INDEX findings_rule ON findings(rule_id, event_time);
	CREATE INDEX findings_account ON findings(account_id, event_time);
	CREATE TABLE audit (
		id     INTEGER PRIMARY KEY AUTOINCREMENT,
		at     INTEGER NOT NULL,
		actor  TEXT NOT NULL,
		client TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE outbox_lifecycle (
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
		escalation   TEXT,
		transition   TEXT,
		UNIQUE (finding_id, channel, kind)
	);
	INSERT INTO outbox_lifecycle (id, finding_id, channel, kind, repeats, alert_key, status, attempts, next_attempt, lease_until, last_error,
		created_at, updated_at, escalation)
		SELECT id, finding_id, channel, kind, repeats, alert_key, status, attempts, next_attempt, lease_until, last_error,
		created_at, updated_at, escalation FROM outbox;
	DROP TABLE outbox;
	ALTER TABLE outbox_lifecycle RENAME TO outbox;
	CREATE INDEX outbox_due ON outbox(channel, status, next_attempt);
	CREATE INDEX outbox_alert ON outbox(channel, alert_key, kind, status);
	CREATE INDEX outbox_work ON outbox(channel, next_attempt, id) WHERE status IN ('pending', 'sending');`

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// activeSilences reads the silences in force at now.
func activeSilences(t *wtx, now time.Time) ([]store.Silence, error) {
	rows, err := t.query(qActiveSilences, now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return nil, err
	}
	return scanSilences(rows)
}

// silenced records that a silence silenced a new finding.
func silenced(ctx context.Context, tx *sql.Tx, id, silence string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO finding_history (finding_id, at, actor, old_status, new_status, note) VALUES (?,?,?,?,?,?)`,
		id, now.UnixMilli(), "trailwatch", store.StatusOpen, store.StatusSilenced, "silence "+silence)
	return err
}

const triagedColumns = `data, status, status_at, coalesce(silenced_by, '')`

func scanTriaged(sc store.Scanner) (store.Triaged, error) {
	var t store.Triaged
	var data string
	var at int64
	if err := sc.Scan(&data, &t.Status, &at, &t.SilencedBy); err != nil {
		return t, err
	}
	f, err := store.DecodeFinding(data, "", 0)
	if err != nil {
		return t, err
	}
	t.Finding, t.StatusAt = f, fromMS(at)
	return t, nil
}

// query builds the SELECT of a Query.
func (s *Store) query(q store.Query) (string, []any, error) {
	if err := store.CheckStatuses(q.Statuses); err != nil {
		return "", nil, err
	}
	where, args, err := filterSQL(q.Filter)
	if err != nil {
		return "", nil, err
	}
	if len(q.Statuses) > 0 {
		where = append(where, "status IN ("+strings.TrimSuffix(strings.Repeat("?,", len(q.Statuses)), ",")+")")
		for _, st := range q.Statuses {
			args = append(args, st)
		}
	}
	if q.Fingerprint != "" {
		where = append(where, "fingerprint = ?")
		args = append(args, q.Fingerprint)
	}
	if q.SilencedBy != "" {
		where = append(where, "silenced_by = ?")
		args = append(args, q.SilencedBy)
	}
	if q.Text != "" {
		p := store.TextPattern(q.Text)
		if store.TextPrefilter(q.Text) {
			where = append(where, `lower(data) LIKE ? ESCAPE '\'`)
			args = append(args, p)
		}
		where = append(where, `(lower(json_extract(data, '$.summary')) LIKE ? ESCAPE '\' OR lower(actor_arn) LIKE ? ESCAPE '\'
			OR lower(actor_name) LIKE ? ESCAPE '\' OR lower(event_name) LIKE ? ESCAPE '\'
			OR lower(coalesce(json_extract(data, '$.resource.name'), '')) LIKE ? ESCAPE '\' OR lower(coalesce(json_extract(data, '$.resource.arn'), '')) LIKE ? ESCAPE '\')`)
		args = append(args, p, p, p, p, p, p)
	}
	order := " ORDER BY event_time DESC, id DESC"
	if q.After != nil {
		op := "<"
		if q.Oldest {
			op = ">"
		}
		where = append(where, "(event_time, id) "+op+" (?, ?)")
		args = append(args, q.After.EventTime.UnixMilli(), q.After.ID)
	}
	if q.Oldest {
		order = " ORDER BY event_time, id"
	}
	sqlText := "SELECT " + triagedColumns + " FROM findings"
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	sqlText += order
	if q.Limit > 0 {
		sqlText += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return sqlText, args, nil
}

// Page returns one page of findings with their status.
func (s *Store) Page(ctx context.Context, q store.Query) ([]store.Triaged, error) {
	text, args, err := s.query(q)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Triaged
	for rows.Next() {
		t, err := scanTriaged(rows)
		if err != nil {
			return nil, fmt.Errorf("list findings: %w", mapErr(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list findings: %w", mapErr(err))
	}
	return out, nil
}

// eachBatch is how many findings Each reads at a time.
const eachBatch = 500

// Each streams the findings of a query in keyset pages: the one
// connection is never held while fn runs, so a slow reader (an export to
// a slow client) does not stop the writers, and fn may use the store.
func (s *Store) Each(ctx context.Context, q store.Query, fn func(store.Triaged) error) error {
	limit := q.Limit
	for {
		page := q
		page.Limit = eachBatch
		if limit > 0 && limit < eachBatch {
			page.Limit = limit
		}
		list, err := s.Page(ctx, page)
		if err != nil {
			return err
		}
		for _, t := range list {
			if err := fn(t); err != nil {
				return err
			}
		}
		if limit > 0 {
			limit -= len(list)
			if limit <= 0 {
				return nil
			}
		}
		if len(list) < page.Limit {
			return nil
		}
		last := list[len(list)-1]
		q.After = &store.Cursor{EventTime: last.EventTime, ID: last.ID}
	}
}

// Triaged returns one finding with its raw event and status.
func (s *Store) Triaged(ctx context.Context, id string) (store.Triaged, error) {
	var t store.Triaged
	var raw sql.NullString
	var data string
	var at int64
	err := s.rdb.QueryRowContext(ctx, `SELECT data, raw, status, status_at, coalesce(silenced_by, '') FROM findings WHERE id = ?`, id).
		Scan(&data, &raw, &t.Status, &at, &t.SilencedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("finding %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("finding %s: %w", id, mapErr(err))
	}
	if t.Finding, err = store.DecodeFinding(data, raw.String, 0); err != nil {
		return t, fmt.Errorf("finding %s: %w", id, err)
	}
	t.StatusAt = fromMS(at)
	return t, nil
}

// History returns a finding's status changes, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]store.Change, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, finding_id, at, actor, old_status, new_status, note FROM finding_history WHERE finding_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", id, mapErr(err))
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var c store.Change
		var at int64
		if err := rows.Scan(&c.ID, &c.FindingID, &at, &c.Actor, &c.From, &c.To, &c.Note); err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, mapErr(err))
		}
		c.At = fromMS(at)
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// Transition sets the status of findings in one transaction.
func (s *Store) Transition(ctx context.Context, ids []string, to, actor, note string, at time.Time, notify []string) ([]store.Change, error) {
	if err := store.CheckTarget(to); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("set status: %w", mapErr(err))
	}
	defer tx.Rollback()
	var out []store.Change
	for _, id := range ids {
		var from, fp string
		var eventTime int64
		err := tx.QueryRowContext(ctx, `SELECT status, fingerprint, event_time FROM findings WHERE id = ?`, id).Scan(&from, &fp, &eventTime)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("finding %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("finding %s: %w", id, mapErr(err))
		}
		if from == to {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE findings SET status = ?, status_at = ? WHERE id = ?`, to, at.UnixMilli(), id); err != nil {
			return nil, fmt.Errorf("finding %s: %w", id, mapErr(err))
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO finding_history (finding_id, at, actor, old_status, new_status, note) VALUES (?,?,?,?,?,?)`,
			id, at.UnixMilli(), actor, from, to, note)
		if err != nil {
			return nil, fmt.Errorf("finding %s: %w", id, mapErr(err))
		}
		hid, _ := r.LastInsertId()
		if to == store.StatusResolved {
			// The alerts this finding belongs to are over.
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET resolved_at = ? WHERE alert_key = ? AND opened_at <= ?`, at.UnixMilli(), fp, eventTime); err != nil {
				return nil, fmt.Errorf("finding %s: %w", id, mapErr(err))
			}
		}
		c := store.Change{ID: hid, FindingID: id, At: at.UTC().Truncate(time.Millisecond), Actor: actor, From: from, To: to, Note: note}
		if kind := store.LifecycleKind(to); kind != "" && len(notify) > 0 {
			args := []any{id, kind, at.UnixMilli(), at.UnixMilli(), at.UnixMilli(), store.EncodeChange(c), fp}
			for _, ch := range notify {
				args = append(args, ch)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (finding_id, channel, kind, repeats, alert_key, status, next_attempt, created_at, updated_at, transition)
				SELECT ?, channel, ?, repeats, alert_key, 'pending', ?, ?, ?, ? FROM alerts WHERE alert_key = ? AND channel IN (`+
				strings.TrimSuffix(strings.Repeat("?,", len(notify)), ",")+`) ON CONFLICT DO NOTHING`, args...); err != nil {
				return nil, fmt.Errorf("finding %s: %w", id, mapErr(err))
			}
		}
		out = append(out, c)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set status: %w", mapErr(err))
	}
	return out, nil
}

// FindingsAfter reads findings by rowid: the SQLite store's one writer
// gives new rows increasing rowids (trailwatch never runs VACUUM, which
// could renumber them).
func (s *Store) FindingsAfter(ctx context.Context, seq int64, limit int) ([]store.Sequenced, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT rowid, `+triagedColumns+` FROM findings WHERE rowid > ? ORDER BY rowid LIMIT ?`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Sequenced
	for rows.Next() {
		var x store.Sequenced
		var data string
		var at int64
		if err := rows.Scan(&x.Seq, &data, &x.Status, &at, &x.SilencedBy); err != nil {
			return nil, fmt.Errorf("feed: %w", mapErr(err))
		}
		if x.Finding, err = store.DecodeFinding(data, "", 0); err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
		x.StatusAt = fromMS(at)
		out = append(out, x)
	}
	return out, mapErr(rows.Err())
}

// ChangesAfter reads status changes by id.
func (s *Store) ChangesAfter(ctx context.Context, id int64, limit int) ([]store.Change, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, finding_id, at, actor, old_status, new_status, note FROM finding_history WHERE id > ? ORDER BY id LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var c store.Change
		var at int64
		if err := rows.Scan(&c.ID, &c.FindingID, &at, &c.Actor, &c.From, &c.To, &c.Note); err != nil {
			return nil, fmt.Errorf("feed: %w", mapErr(err))
		}
		c.At = fromMS(at)
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// FeedHead returns the latest finding rowid and change id.
func (s *Store) FeedHead(ctx context.Context) (int64, int64, error) {
	var seq, ch int64
	err := s.rdb.QueryRowContext(ctx, `SELECT coalesce((SELECT max(rowid) FROM findings), 0), coalesce((SELECT max(id) FROM finding_history), 0)`).Scan(&seq, &ch)
	if err != nil {
		return 0, 0, fmt.Errorf("feed: %w", mapErr(err))
	}
	return seq, ch, nil
}

// Prune deletes a batch of old findings with their deliveries and history.
func (s *Store) Prune(ctx context.Context, before time.Time, batch int) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", mapErr(err))
	}
	defer tx.Rollback()
	sel := `SELECT id FROM findings WHERE event_time < ? ORDER BY event_time LIMIT ?`
	for _, q := range []string{
		`DELETE FROM outbox WHERE finding_id IN (` + sel + `)`,
		`DELETE FROM finding_history WHERE finding_id IN (` + sel + `)`,
	} {
		if _, err := tx.ExecContext(ctx, q, before.UnixMilli(), batch); err != nil {
			return 0, fmt.Errorf("prune: %w", mapErr(err))
		}
	}
	r, err := tx.ExecContext(ctx, `DELETE FROM findings WHERE id IN (`+sel+`)`, before.UnixMilli(), batch)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", mapErr(err))
	}
	n, _ := r.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune: %w", mapErr(err))
	}
	return int(n), nil
}

// Audit appends a security log entry.
func (s *Store) Audit(ctx context.Context, e store.AuditEntry) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit (at, actor, client, action, target, detail) VALUES (?,?,?,?,?,?)`,
		e.At.UnixMilli(), e.Actor, e.Client, e.Action, e.Target, e.Detail)
	if err != nil {
		return fmt.Errorf("audit: %w", mapErr(err))
	}
	return nil
}

// AuditLog returns entries newest first.
func (s *Store) AuditLog(ctx context.Context, before int64, limit int) ([]store.AuditEntry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, at, actor, client, action, target, detail FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Client, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit log: %w", mapErr(err))
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

const silenceColumns = `id, matchers, start_at, end_at, creator, comment, created_at, expired_at`

func scanSilences(rows *sql.Rows) ([]store.Silence, error) {
	defer rows.Close()
	var out []store.Silence
	for rows.Next() {
		var sl store.Silence
		var m string
		var start, end, created, expired int64
		if err := rows.Scan(&sl.ID, &m, &start, &end, &sl.Creator, &sl.Comment, &created, &expired); err != nil {
			return nil, err
		}
		var err error
		if sl.Matchers, err = store.DecodeMatchers(m); err != nil {
			return nil, fmt.Errorf("silence %s: %w", sl.ID, err)
		}
		sl.Start, sl.End, sl.Created, sl.Expired = fromMS(start), fromMS(end), fromMS(created), fromMS(expired)
		out = append(out, sl)
	}
	return out, rows.Err()
}

// NewID returns a random id with a prefix ("s-" for silences).
func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// AddSilence stores a silence.
func (s *Store) AddSilence(ctx context.Context, sl store.Silence) (store.Silence, error) {
	if err := sl.Check(); err != nil {
		return sl, err
	}
	sl.ID, sl.Created, sl.Expired = newID("s-"), s.now().UTC().Truncate(time.Millisecond), time.Time{}
	sl.Start, sl.End = sl.Start.UTC().Truncate(time.Millisecond), sl.End.UTC().Truncate(time.Millisecond)
	_, err := s.db.ExecContext(ctx, `INSERT INTO silences (`+silenceColumns+`) VALUES (?,?,?,?,?,?,?,0)`,
		sl.ID, store.EncodeMatchers(sl.Matchers), ms(sl.Start), ms(sl.End), sl.Creator, sl.Comment, ms(sl.Created))
	if err != nil {
		return sl, fmt.Errorf("add silence: %w", mapErr(err))
	}
	return sl, nil
}

// Silences lists every silence, newest first.
func (s *Store) Silences(ctx context.Context) ([]store.Silence, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+silenceColumns+` FROM silences ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", mapErr(err))
	}
	out, err := scanSilences(rows)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", mapErr(err))
	}
	return out, nil
}

// ExpireSilence ends a silence at at.
func (s *Store) ExpireSilence(ctx context.Context, id string, at time.Time) (store.Silence, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Silence{}, fmt.Errorf("expire silence: %w", mapErr(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE silences SET end_at = ?, expired_at = ? WHERE id = ? AND end_at > ?`,
		at.UnixMilli(), at.UnixMilli(), id, at.UnixMilli()); err != nil {
		return store.Silence{}, fmt.Errorf("expire silence %s: %w", id, mapErr(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+silenceColumns+` FROM silences WHERE id = ?`, id)
	if err != nil {
		return store.Silence{}, fmt.Errorf("expire silence %s: %w", id, mapErr(err))
	}
	list, err := scanSilences(rows)
	if err != nil {
		return store.Silence{}, fmt.Errorf("expire silence %s: %w", id, mapErr(err))
	}
	if len(list) == 0 {
		return store.Silence{}, fmt.Errorf("silence %s: %w", id, store.ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return store.Silence{}, fmt.Errorf("expire silence %s: %w", id, mapErr(err))
	}
	return list[0], nil
}

const tokenColumns = `id, name, role, created_by, created_at, expires_at, last_used, revoked_at`

func scanToken(sc store.Scanner) (store.Token, error) {
	var t store.Token
	var created, expires, used, revoked int64
	err := sc.Scan(&t.ID, &t.Name, &t.Role, &t.CreatedBy, &created, &expires, &used, &revoked)
	t.Created, t.Expires, t.LastUsed, t.Revoked = fromMS(created), fromMS(expires), fromMS(used), fromMS(revoked)
	return t, err
}

// CreateToken stores a token by the hash of its secret.
func (s *Store) CreateToken(ctx context.Context, t store.Token, hash string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, hash, created_by, created_at, expires_at) VALUES (?,?,?,?,?,?,?)`,
		t.ID, t.Name, t.Role, hash, t.CreatedBy, ms(t.Created), ms(t.Expires))
	if err != nil {
		return fmt.Errorf("create token: %w", mapErr(err))
	}
	return nil
}

// Tokens lists every token, newest first.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", mapErr(err))
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err())
}

// RevokeToken revokes a token.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	r, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`, at.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, mapErr(err))
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// UseToken finds a valid token by its hash and records its use.
func (s *Store) UseToken(ctx context.Context, hash string, at time.Time) (store.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `UPDATE api_tokens SET last_used = ?
		WHERE hash = ? AND revoked_at = 0 AND (expires_at = 0 OR expires_at > ?) RETURNING `+tokenColumns, at.UnixMilli(), hash, at.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("token: %w", mapErr(err))
	}
	return t, nil
}

// CreateSession stores a browser session, deleting expired ones.
func (s *Store) CreateSession(ctx context.Context, hash string, ss store.Session) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ss.Created.UnixMilli()); err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (hash, name, role, via, csrf, created_at, expires_at) VALUES (?,?,?,?,?,?,?)`,
		hash, ss.Name, ss.Role, ss.Via, ss.CSRF, ss.Created.UnixMilli(), ss.Expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	return nil
}

// Session returns an unexpired session by the hash of its cookie.
func (s *Store) Session(ctx context.Context, hash string, at time.Time) (store.Session, error) {
	var ss store.Session
	var created, expires int64
	err := s.rdb.QueryRowContext(ctx, `SELECT name, role, via, csrf, created_at, expires_at FROM sessions WHERE hash = ? AND expires_at > ?`, hash, at.UnixMilli()).
		Scan(&ss.Name, &ss.Role, &ss.Via, &ss.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("session: %w", mapErr(err))
	}
	ss.Created, ss.Expires = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC()
	return ss, nil
}

// EndSession deletes a session.
func (s *Store) EndSession(ctx context.Context, hash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("end session: %w", mapErr(err))
	}
	return nil
}

// SilencedCounts counts the findings each silence silenced.
func (s *Store) SilencedCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT silenced_by, count(*) FROM findings WHERE silenced_by IS NOT NULL GROUP BY silenced_by`)
	if err != nil {
		return nil, fmt.Errorf("count silenced findings: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count silenced findings: %w", mapErr(err))
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count silenced findings: %w", mapErr(err))
	}
	return out, nil
}
