// Package sqlite is the embedded SQLite Store (modernc.org/sqlite, no cgo),
// the default. It imports store and finding.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Store is a store.Store in one SQLite file.
type Store struct {
	db   *sql.DB // the write connection, owned by w
	rdb  *sql.DB // read-only connections of a database file (WAL); db otherwise
	w    *writer
	now  func() time.Time
	lock *runLock      // held by trailwatch run (Exclusive)
	cp   *checkpointer // a database file's background checkpoints; nil otherwise
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
	// What each alert has told its channel (highest risk, principals,
	// reasons), so a riskier change is never counted as a repeat; why an
	// escalation was raised; and whether a finding was routed (a scan
	// without --notify stores findings unrouted). Existing alerts learn
	// their trigger's risk, principal and reasons; existing findings count
	// as routed when they owe a delivery.
	`ALTER TABLE alerts ADD COLUMN risk INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE alerts ADD COLUMN principals TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE alerts ADD COLUMN reasons TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE alerts ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE outbox ADD COLUMN escalation TEXT;
	ALTER TABLE findings ADD COLUMN routed INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE findings ADD COLUMN ttl_ms INTEGER NOT NULL DEFAULT 0;
	UPDATE alerts SET
		risk = coalesce((SELECT f.risk FROM outbox o JOIN findings f ON f.id = o.finding_id WHERE o.id = alerts.trigger_id), 0),
		principals = coalesce((SELECT json_array(CASE WHEN f.actor_arn != '' THEN f.actor_arn WHEN f.actor_name != '' THEN f.actor_name
			ELSE coalesce(json_extract(f.data, '$.actor.type'), '') END) FROM outbox o JOIN findings f ON f.id = o.finding_id WHERE o.id = alerts.trigger_id), '[]'),
		reasons = coalesce((SELECT json_extract(f.data, '$.risk_reasons') FROM outbox o JOIN findings f ON f.id = o.finding_id WHERE o.id = alerts.trigger_id), '[]');
	UPDATE findings SET routed = EXISTS (SELECT 1 FROM outbox o WHERE o.finding_id = findings.id);
	CREATE INDEX findings_unrouted ON findings(event_time) WHERE routed = 0;`,
	// Leases and the trails' last activity, as in the PostgreSQL store;
	// with one run per file (the run lock) the leases are always free.
	`CREATE TABLE leases (
		name        TEXT PRIMARY KEY,
		holder      TEXT NOT NULL,
		acquired_at INTEGER NOT NULL,
		expires_at  INTEGER NOT NULL
	);
	CREATE TABLE trail_activity (
		account_id TEXT NOT NULL,
		region     TEXT NOT NULL,
		last_seen  INTEGER NOT NULL,
		PRIMARY KEY (account_id, region)
	);`,
	// Chunks of input trailwatch run set aside after repeated failures
	// (store.Quarantine).
	`CREATE TABLE quarantine (
		source       TEXT NOT NULL,
		object       TEXT NOT NULL,
		chunk_offset INTEGER NOT NULL,
		records      INTEGER NOT NULL,
		reason       TEXT NOT NULL,
		at           INTEGER NOT NULL,
		PRIMARY KEY (source, object, chunk_offset)
	);`,
	// Triage (see triage.go): each finding's status, when it was set and
	// the silence that silenced it; its append-only history; silences; API
	// tokens (their hash only); when a fingerprint's alert was ended by a
	// resolution; the indexes the API's filters use.
	triageMigration,
	// Browser sessions (store.Sessions): the hash of the cookie, who, the
	// CSRF token, expiry.
	`CREATE TABLE sessions (
		hash       TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		role       TEXT NOT NULL,
		via        TEXT NOT NULL,
		csrf       TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX sessions_expiry ON sessions(expires_at);`,
	// How many findings each silence caught (the dashboard's silences
	// page): only silenced findings are indexed.
	`CREATE INDEX findings_silenced ON findings(silenced_by) WHERE silenced_by IS NOT NULL;`,
	// Fewer index writes per finding (issue 14): no query looks findings
	// up by event id, and the claim looks for an alert's earlier trigger
	// by channel, alert and kind, then reads the few rows it finds;
	// without the status in that index, a lease or a settle (a status
	// change) no longer moves the delivery's entry in it.
	`DROP INDEX findings_event;
	DROP INDEX outbox_alert;
	CREATE INDEX outbox_alert ON outbox(channel, alert_key, kind);`,
	// The claim's look for an alert's earlier trigger still open, in an
	// index of exactly those rows, as in the PostgreSQL store: it holds
	// only the triggers and escalations in flight, a few hot pages,
	// where outbox_alert took an entry for every delivery ever owed at a
	// random place (its alert key), one more page written per event as
	// the file grows.
	`DROP INDEX outbox_alert;
	CREATE INDEX outbox_open ON outbox(channel, alert_key, id) WHERE kind IN ('trigger', 'escalation') AND status IN ('pending', 'sending');`,
}

// Option changes how Open opens a database.
type Option func(*options)

type options struct {
	readOnly, exclusive bool
}

// ReadOnly opens an existing database for reading only: nothing is
// created, migrated or switched to WAL, so reading commands work on a
// file the user may not write. A missing file is an error.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// Exclusive takes the database's run lock for as long as the store is
// open, so that a second trailwatch run on the same file refuses to start
// and says who holds it (process id, host, since when). The lock is an OS
// file lock on PATH-run.lock: it dies with the process that holds it,
// however that process ends, so a stale lock never blocks a restart.
func Exclusive() Option { return func(o *options) { o.exclusive = true } }

// Open opens (creating if needed) the database at path; ":memory:" gives a
// private in-memory database. now is the clock; nil means time.Now.
//
// A new database file, its -wal and -shm are created readable by their
// owner only (0600), and a data folder Open creates is 0700: the store
// holds raw events. A non-empty database that is not trailwatch's is
// refused before anything is written to it. path is a file name, never
// parsed as a URI: "h#x.db" and "p%41.db" are the files of those names.
func Open(path string, now func() time.Time, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if now == nil {
		now = time.Now
	}
	s := &Store{now: now}
	memory := path == ":memory:"
	if !memory {
		if err := prepare(path, o.readOnly); err != nil {
			return nil, err
		}
		if o.exclusive {
			l, err := acquireRunLock(path + "-run.lock")
			if err != nil {
				return nil, fmt.Errorf("open store %s: %w", path, err)
			}
			s.lock = l
		}
	}
	wdsn := dsn(path, o.readOnly)
	if !o.readOnly {
		wdsn += writerPragmas
	}
	db, err := s.connect(wdsn, o.readOnly)
	if err != nil && o.readOnly && !exists(path+"-wal") && !exists(path+"-shm") && !writable(filepath.Dir(path)) {
		// A WAL database in a folder this user cannot write, with no
		// -wal file: everything committed is in the database file, which
		// SQLite reads as immutable when it cannot create the -shm.
		if db != nil {
			db.Close()
		}
		db, err = s.connect(dsn(path, o.readOnly)+"&immutable=1", true)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		s.lock.release()
		return nil, fmt.Errorf("open store %s: %w", path, explain(path, o.readOnly, err))
	}
	s.rdb = db
	// fail undoes what Open set up so far.
	fail := func(err error) (*Store, error) {
		if s.cp != nil {
			s.cp.close()
		}
		if s.rdb != db {
			s.rdb.Close()
		}
		db.Close()
		s.lock.release()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var committed func()
	if !memory && !o.readOnly {
		// Readers never wait for the writer: WAL lets them read the last
		// commit while a group transaction is open.
		rdb, err := openPool(dsn(path, false)+"&_pragma=query_only(1)", readConns)
		if err != nil {
			return fail(fmt.Errorf("read connection: %w", explain(path, false, err)))
		}
		s.rdb = rdb
		// After the migrations: a migration that builds an index sorts
		// the whole table, and with temp_store=MEMORY that sort would not
		// spill to disk.
		if _, err := db.Exec(`PRAGMA temp_store = MEMORY`); err != nil {
			return fail(mapErr(err))
		}
		cdb, err := openPool(dsn(path, false), 1)
		if err != nil {
			return fail(fmt.Errorf("checkpoint connection: %w", explain(path, false, err)))
		}
		s.cp = newCheckpointer(cdb, checkpointEvery)
		committed = s.cp.committed
	}
	if s.w, err = newWriter(db, writerQueries, committed); err != nil {
		return fail(mapErr(err))
	}
	if s.lock != nil {
		if err := s.clearLeases(); err != nil {
			s.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	return s, nil
}

// writerPragmas tune the write connection (issue 14's profile); Open also
// sets temp_store=MEMORY on it once the migrations ran:
//   - temp_store=MEMORY keeps the statement journal of each request's
//     savepoint in memory; by default it spilled to a temporary file past
//     64 KiB, writing every page a request changed (about 8% of the run's
//     CPU in pwrite). The journal holds the pages that existed before the
//     request and that it changed (not the pages it adds), and is emptied
//     when the request's savepoint is released: its memory is bounded by
//     one request, at most one commit group of the committer (10,000
//     events, a few index pages each);
//   - wal_autocheckpoint=16000 pages (64 MB at 4 KiB pages) is only a
//     backstop: the checkpointer copies the WAL into the database on its
//     own connection every 50 ms while commits come, so the writer's
//     commits neither pay for checkpoints (a fifth of its time with
//     in-line checkpoints every 1,000 and then 4,000 pages) nor wait
//     behind their fsync; the writer checkpoints in-line only if the
//     checkpointer fails or falls 64 MB behind;
//   - cache_size=-16384 gives the writer 16 MiB of page cache (2 MiB by
//     default), so the indexes a save walks stay in memory instead of being
//     read back with pread. It bounds the cache: RSS does not grow past it.
const writerPragmas = "&_pragma=wal_autocheckpoint(16000)&_pragma=cache_size(-16384)"

// readConns bounds the read-only connections of a database file.
const readConns = 4

// openPool opens a pool of at most conns connections and checks that one
// opens.
func openPool(dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// connect opens the database handle and checks (and, unless readOnly,
// sets up) the schema.
func (s *Store) connect(dsn string, readOnly bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: SQLite allows one writer, and an in-memory database
	// exists per connection.
	db.SetMaxOpenConns(1)
	s.db = db
	return db, s.setUp(readOnly)
}

// dsn builds the driver's URI for a path. The path is made absolute and
// percent-encoded where SQLite's URI syntax would read it otherwise ('%',
// '?', '#'), so every file name means that file.
func dsn(path string, readOnly bool) string {
	q := "_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	if path == ":memory:" {
		return "file::memory:?" + q
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	path = filepath.ToSlash(path)
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	p := b.String()
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	if readOnly {
		q += "&mode=ro"
	}
	return "file:" + p + "?" + q
}

// prepare creates the data folder (0700) and a new database file (0600)
// so that SQLite, which gives the -wal and -shm files the mode of the
// database, never creates them readable by others. A read-only open
// creates nothing.
func prepare(path string, readOnly bool) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("open store %s: not a regular file", path)
	case err == nil && !readOnly:
		// SQLite would quietly open a file it may not write read-only,
		// and fail at the first save.
		if why := permissionProblem(path, false); why != "" {
			return fmt.Errorf("open store %s: permission denied: %s", path, why)
		}
		return nil
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open store %s: %w", path, plainPathErr(err))
	case readOnly:
		return fmt.Errorf("open store %s: no database file there (trailwatch scan and run create it)", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("open store %s: create its folder: %w", path, plainPathErr(err))
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("open store %s: %w", path, plainPathErr(err))
	}
	if f != nil {
		f.Close()
	}
	return nil
}

// plainPathErr drops the path an *os.PathError repeats.
func plainPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// setUp checks that the database is trailwatch's (or empty), then
// migrates it and switches it to WAL; read-only, it only checks.
func (s *Store) setUp(readOnly bool) error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	rows, err := s.db.Query(`SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	switch {
	case v == 0 && len(tables) > 0:
		return &foreignError{fmt.Sprintf("it holds tables (%s) but no trailwatch schema; it was left unchanged", list(tables))}
	case v > 0 && !slices.Contains(tables, "findings"):
		return &foreignError{fmt.Sprintf("schema version %d without a findings table; it was left unchanged", v)}
	case v > len(migrations):
		return fmt.Errorf("database schema version %d is newer than this trailwatch (%d)", v, len(migrations))
	}
	if readOnly {
		if v < len(migrations) {
			return fmt.Errorf("database schema version %d is older than this trailwatch (%d); open it once with a command that writes (trailwatch scan or run) to upgrade it", v, len(migrations))
		}
		return nil
	}
	if _, err := s.db.Exec(`PRAGMA journal_mode=WAL`); err != nil {
		return err
	}
	return s.migrate(v)
}

func list(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// foreignError is a database that is not trailwatch's.
type foreignError struct{ why string }

func (e *foreignError) Error() string { return "not a trailwatch database: " + e.why }

// explain turns a failure to open into what the user can act on:
// permission problems say "permission denied" and what to do, a file that
// is not SQLite says so, and driver wording is kept otherwise.
func explain(path string, readOnly bool, err error) error {
	var fe *foreignError
	if errors.As(err, &fe) {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "file is not a database"):
		return errors.New("not a trailwatch database: not an SQLite file; it was left unchanged")
	case strings.Contains(msg, "readonly database") || strings.Contains(msg, "unable to open database file") ||
		strings.Contains(msg, "SQLITE_CANTOPEN") || strings.Contains(msg, "SQLITE_READONLY") || strings.Contains(msg, "disk I/O error"):
		if why := permissionProblem(path, readOnly); why != "" {
			return errors.New("permission denied: " + why)
		}
	}
	return mapErr(err)
}

// permissionProblem names the file or folder the user may not use, or
// returns "".
func permissionProblem(path string, readOnly bool) string {
	dir := filepath.Dir(path)
	if f, err := os.Open(path); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return "cannot read the database file"
		}
	} else {
		f.Close()
	}
	if readOnly {
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + suffix); errors.Is(err, fs.ErrNotExist) && !writable(dir) {
				return "the database is in WAL mode and its " + filepath.Base(path) + suffix + " file is missing in a folder this user cannot write; ask its owner to run trailwatch once, or copy the database"
			}
			if f, err := os.Open(path + suffix); err != nil && errors.Is(err, fs.ErrPermission) {
				return "cannot read " + filepath.Base(path) + suffix
			} else if f != nil {
				f.Close()
			}
		}
		return ""
	}
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return "the database file is read-only for this user (commands that only read, such as findings list, open it read-only)"
		}
	} else {
		f.Close()
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if f, err := os.OpenFile(path+suffix, os.O_RDWR, 0); err != nil && errors.Is(err, fs.ErrPermission) {
			return filepath.Base(path) + suffix + " is read-only for this user"
		} else if f != nil {
			f.Close()
		}
	}
	if !exists(path+"-wal") || !exists(path+"-shm") {
		if !writable(dir) {
			return "the folder " + dir + " is read-only for this user (SQLite creates the database's -wal and -shm files there)"
		}
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writable reports whether a file can be created in dir.
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".trailwatch-probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}

func (s *Store) migrate(v int) error {
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

// Close closes the database and releases the run lock.
func (s *Store) Close() error {
	s.w.close()
	if s.cp != nil {
		s.cp.close()
	}
	if s.rdb != s.db {
		s.rdb.Close()
	}
	err := s.db.Close()
	s.lock.release()
	s.lock = nil
	return err
}

// Save stores findings in one transaction; findings already stored are
// counted as duplicates and left unchanged. It owes no notifications.
func (s *Store) Save(ctx context.Context, fs []finding.Finding) (store.SaveResult, error) {
	return s.SaveRouted(ctx, fs, nil)
}

// Findings lists findings matching f.
func (s *Store) Findings(ctx context.Context, f store.Filter) ([]finding.Finding, error) {
	where, args, err := filterSQL(f)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
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
	rows, err := s.rdb.QueryContext(ctx, q, args...)
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
		fd, err := store.DecodeFinding(data, "", 0)
		if err != nil {
			return nil, fmt.Errorf("list findings: %w", err)
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
	err := s.rdb.QueryRowContext(ctx, `SELECT data, raw FROM findings WHERE id = ?`, id).Scan(&data, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return finding.Finding{}, fmt.Errorf("finding %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return finding.Finding{}, fmt.Errorf("finding %s: %w", id, mapErr(err))
	}
	fd, err := store.DecodeFinding(data, raw.String, 0)
	if err != nil {
		return finding.Finding{}, fmt.Errorf("finding %s: %w", id, err)
	}
	return fd, nil
}

// FindingIDs returns the ids starting with prefix: a range scan of the
// primary key (BINARY collation compares bytes), checked exactly.
func (s *Store) FindingIDs(ctx context.Context, prefix string, limit int) ([]string, error) {
	q := `SELECT id FROM findings WHERE id >= ? AND substr(id, 1, length(CAST(? AS BLOB))) = ?`
	args := []any{prefix, prefix, prefix}
	if upper, ok := store.PrefixEnd(prefix); ok {
		q += ` AND id < ?`
		args = append(args, upper)
	}
	q += ` ORDER BY id`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("finding ids: %w", mapErr(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("finding ids: %w", mapErr(err))
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding ids: %w", mapErr(err))
	}
	return out, nil
}

// filterSQL is the WHERE conditions (ANDed) of a filter and their
// arguments.
func filterSQL(f store.Filter) ([]string, []any, error) {
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
			if glob && strings.ContainsAny(v, "*?[") {
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
	in("json_extract(data, '$.service')", f.Services, false)
	in("json_extract(data, '$.access_method')", f.Methods, false)
	if f.Actor != "" {
		where = append(where, "(actor_arn GLOB ? OR actor_name GLOB ?)")
		args = append(args, f.Actor, f.Actor)
	}
	if len(f.Controls) > 0 {
		var ors []string
		for _, x := range f.Controls {
			c, err := store.ParseControl(x)
			if err != nil {
				return nil, nil, err
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
	return where, args, nil
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
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, store.ErrClosed) {
		return store.ErrClosed
	}
	if strings.Contains(err.Error(), "database is closed") {
		return store.ErrClosed
	}
	if strings.Contains(err.Error(), "attempt to write a readonly database") {
		return errors.New("permission denied: the database is open read-only or its file is read-only for this user")
	}
	return errors.New(err.Error())
}

var _ store.Checkpoints = (*Store)(nil)

// Checkpoint returns the value stored under key, or "".
func (s *Store) Checkpoint(ctx context.Context, key string) (string, error) {
	var v string
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM checkpoints WHERE key = ?`, key).Scan(&v)
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
	err := s.w.do(ctx, func(t *wtx) error {
		_, err := t.exec(qSetCheckpoint, key, value, s.now().UnixMilli())
		return mapErr(err)
	})
	var ge *groupError
	if errors.As(err, &ge) {
		err = ge.err
	}
	if err != nil {
		return fmt.Errorf("set checkpoint %s: %w", key, mapErr(err))
	}
	return nil
}
