package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver: the store's own driver
	_ "modernc.org/sqlite"             // the "sqlite" driver: the store's own driver
)

// baseline is the raw insert rate of the rows a run stored, through the
// same driver, in one transaction per batch: for every delivery the run
// stored, its finding row, its outbox row and an upsert of its alert row,
// with plain prepared INSERTs and nothing else (no routing, no reads, no
// dispatcher). The rows are read back from the run's own database, so
// they are byte for byte the rows trailwatch wrote; they are written to a
// fresh copy of the schema (a new SQLite file, or a new PostgreSQL
// schema). It returns rows (events) per second.
type baseline struct {
	driver string // "sqlite" or "pgx"
	from   string // the run's database (sqlite path or DSN)
	to     string // an empty database with the schema (same form)
	batch  int
	// limit caps the events the baseline inserts (the run's first ones);
	// 0 means all of them. Their rows are held in memory while inserted.
	limit int
}

func (b baseline) placeholders(n, from int) string {
	var s strings.Builder
	for i := range n {
		if i > 0 {
			s.WriteByte(',')
		}
		if b.driver == "pgx" {
			fmt.Fprintf(&s, "$%d", from+i)
		} else {
			s.WriteByte('?')
		}
	}
	return s.String()
}

func (b baseline) run(ctx context.Context) (events int, rate float64, err error) {
	src, err := sql.Open(b.driver, b.from)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	cols := func(table, skip string) ([]string, error) {
		rows, err := src.QueryContext(ctx, "SELECT * FROM "+table+" LIMIT 0")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		all, err := rows.Columns()
		var out []string
		for _, c := range all {
			if c != skip {
				out = append(out, c)
			}
		}
		return out, err
	}
	fc, err := cols("findings", "")
	if err != nil {
		return 0, 0, err
	}
	oc, err := cols("outbox", "id")
	if err != nil {
		return 0, 0, err
	}
	ac, err := cols("alerts", "")
	if err != nil {
		return 0, 0, err
	}
	q := "SELECT " + prefixed("f.", fc) + ", " + prefixed("o.", oc) + ", " + prefixed("a.", ac) +
		" FROM outbox o JOIN findings f ON f.id = o.finding_id JOIN alerts a ON a.channel = o.channel AND a.alert_key = o.alert_key ORDER BY o.id"
	if b.limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", b.limit)
	}
	rows, err := src.QueryContext(ctx, q)
	if err != nil {
		return 0, 0, fmt.Errorf("read the run's rows: %w", err)
	}
	var all [][]any
	n := len(fc) + len(oc) + len(ac)
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return 0, 0, err
		}
		all = append(all, vals)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if len(all) == 0 {
		return 0, 0, fmt.Errorf("the run stored no deliveries")
	}

	dst, err := sql.Open(b.driver, b.to)
	if err != nil {
		return 0, 0, err
	}
	defer dst.Close()
	if b.driver == "sqlite" {
		dst.SetMaxOpenConns(1)
	}
	insF, err := dst.PrepareContext(ctx, "INSERT INTO findings ("+strings.Join(fc, ", ")+") VALUES ("+b.placeholders(len(fc), 1)+")")
	if err != nil {
		return 0, 0, err
	}
	insO, err := dst.PrepareContext(ctx, "INSERT INTO outbox ("+strings.Join(oc, ", ")+") VALUES ("+b.placeholders(len(oc), 1)+")")
	if err != nil {
		return 0, 0, err
	}
	var set []string
	for _, c := range ac[2:] { // channel, alert_key are the key
		set = append(set, c+" = excluded."+c)
	}
	insA, err := dst.PrepareContext(ctx, "INSERT INTO alerts ("+strings.Join(ac, ", ")+") VALUES ("+b.placeholders(len(ac), 1)+
		") ON CONFLICT (channel, alert_key) DO UPDATE SET "+strings.Join(set, ", "))
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for i := 0; i < len(all); i += b.batch {
		tx, err := dst.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		f, o, a := tx.StmtContext(ctx, insF), tx.StmtContext(ctx, insO), tx.StmtContext(ctx, insA)
		for _, r := range all[i:min(len(all), i+b.batch)] {
			if _, err := f.ExecContext(ctx, r[:len(fc)]...); err != nil {
				tx.Rollback()
				return 0, 0, fmt.Errorf("insert finding: %w", err)
			}
			if _, err := o.ExecContext(ctx, r[len(fc):len(fc)+len(oc)]...); err != nil {
				tx.Rollback()
				return 0, 0, fmt.Errorf("insert outbox row: %w", err)
			}
			if _, err := a.ExecContext(ctx, r[len(fc)+len(oc):]...); err != nil {
				tx.Rollback()
				return 0, 0, fmt.Errorf("upsert alert: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, err
		}
	}
	el := time.Since(start)
	return len(all), float64(len(all)) / el.Seconds(), nil
}

func prefixed(p string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = p + c
	}
	return strings.Join(out, ", ")
}

// sqliteDSN is the driver URI the store itself uses for a file (WAL,
// synchronous NORMAL, immediate transactions).
func sqliteDSN(path string) string {
	abs, _ := filepath.Abs(path)
	return "file:" + abs + "?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// freshSchema creates (anew) the schema name on the server of dsn and
// returns dsn with search_path set to it.
func freshSchema(dsn, name string) (string, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.Exec("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name); err != nil {
		return "", fmt.Errorf("create schema %s: %w", name, err)
	}
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + name, nil
}

func dropSchemas(dsn string) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	db.Exec("DROP SCHEMA IF EXISTS runbench_run CASCADE; DROP SCHEMA IF EXISTS runbench_baseline CASCADE")
}

// cpuTime is the user and system CPU time of this process so far (zero
// where the platform does not say).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
