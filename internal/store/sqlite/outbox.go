package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

var _ store.Outbox = (*Store)(nil)

// The writer's statements, prepared once (see writer).
const (
	qInsertFinding = `INSERT INTO findings
		(id, event_id, rule_id, fingerprint, risk, event_time, account_id, region, actor_arn, actor_name, outcome, event_name, data, raw, created_at, routed, ttl_ms,
		status, status_at, silenced_by)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING`
	qCorrectFinding = `UPDATE findings SET fingerprint = ?, risk = ?, event_time = ?, account_id = ?, region = ?, actor_arn = ?,
		actor_name = ?, outcome = ?, event_name = ?, data = ?, raw = ? WHERE id = ?`
	qRouteFinding = `UPDATE findings SET routed = 1 WHERE id = ? AND routed = 0`
	qAlert        = `SELECT opened_at, expires_at, repeats, risk, principals, reasons, escalations, resolved_at FROM alerts WHERE channel = ? AND alert_key = ?`
	qAlertRepeats = `UPDATE alerts SET repeats = ? WHERE channel = ? AND alert_key = ?`
	qOweUpdate    = `INSERT INTO outbox (finding_id, channel, kind, repeats, alert_key, status, next_attempt, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`
	qOwe = `INSERT INTO outbox (finding_id, channel, kind, repeats, alert_key, status, next_attempt, created_at, updated_at, escalation)
		VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`
	qEscalateAlert = `UPDATE alerts SET expires_at = ?, repeats = ?, risk = ?, principals = ?, reasons = ?, escalations = ? WHERE channel = ? AND alert_key = ?`
	qOpenAlert     = `INSERT INTO alerts (channel, alert_key, opened_at, expires_at, repeats, trigger_id, ref, risk, principals, reasons, escalations)
		VALUES (?,?,?,?,?,?,NULL,?,?,?,0)
		ON CONFLICT(channel, alert_key) DO UPDATE SET opened_at = excluded.opened_at, expires_at = excluded.expires_at, repeats = excluded.repeats,
			trigger_id = excluded.trigger_id, ref = NULL, risk = excluded.risk, principals = excluded.principals, reasons = excluded.reasons, escalations = 0,
			resolved_at = 0`
	qClaim = `SELECT ` + store.DeliveryColumns + `
		FROM outbox o JOIN findings f ON f.id = o.finding_id
		LEFT JOIN alerts a ON a.channel = o.channel AND a.alert_key = o.alert_key
		WHERE o.channel = ? AND o.status IN ('pending', 'sending') AND o.next_attempt <= ?
		AND NOT (o.kind IN ('update', 'escalation', 'acknowledge', 'resolve') AND EXISTS (SELECT 1 FROM outbox t WHERE t.channel = o.channel AND t.alert_key = o.alert_key
			AND t.kind IN ('trigger', 'escalation') AND t.id < o.id AND t.status IN ('pending', 'sending')))
		ORDER BY o.next_attempt, o.id LIMIT ?`
	qLease       = `UPDATE outbox SET status = 'sending', lease_until = ?, next_attempt = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?`
	qSettleDone  = `UPDATE outbox SET status = 'done', lease_until = NULL, last_error = NULL, updated_at = ? WHERE id = ?`
	qSettleRef   = `UPDATE alerts SET ref = ? WHERE (channel, alert_key) = (SELECT channel, alert_key FROM outbox WHERE id = ?) AND trigger_id <= ?`
	qSettleRetry = `UPDATE outbox SET status = 'pending', lease_until = NULL, next_attempt = ?, last_error = ?, updated_at = ? WHERE id = ?`
	qSettleDead  = `UPDATE outbox SET status = 'dead', lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?`
	qRequeue     = `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?, lease_until = NULL, updated_at = ?
			WHERE id = ? AND status IN ('dead', 'dropped')`
	qDrop           = `UPDATE outbox SET status = 'dropped', next_attempt = ?, lease_until = NULL, updated_at = ? WHERE id = ? AND status IN ('pending', 'dead', 'sending')`
	qActiveSilences = `SELECT ` + silenceColumns + ` FROM silences WHERE end_at > ? AND start_at <= ? ORDER BY created_at, id`
	qSetCheckpoint  = `INSERT INTO checkpoints (key, value, updated_at) VALUES (?,?,?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
)

var writerQueries = []string{qSavepoint, qRelease, qRollbackTo, qInsertFinding, qCorrectFinding, qRouteFinding, qAlert, qAlertRepeats, qOweUpdate, qOwe, qEscalateAlert, qOpenAlert,
	qClaim, qLease, qSettleDone, qSettleRef, qSettleRetry, qSettleDead, qRequeue, qDrop, qSetCheckpoint, qActiveSilences}

// SaveRouted saves findings and the deliveries they owe in one transaction
// (a savepoint of the writer's group transaction).
func (s *Store) SaveRouted(ctx context.Context, fs []finding.Finding, route store.Router) (store.SaveResult, error) {
	var res store.SaveResult
	if len(fs) == 0 {
		return res, nil
	}
	// JSON-encoding the findings is the caller's work, not the
	// writer's: every write waits for the writer.
	enc, err := encodeFindings(fs)
	if err != nil {
		return res, err
	}
	err = s.w.do(ctx, func(t *wtx) error {
		res = store.SaveResult{}
		var err error
		res, err = s.saveEncoded(t, fs, enc, route)
		return err
	})
	if err != nil {
		return store.SaveResult{}, wrap("save findings", err)
	}
	return res, nil
}

// encoded is a finding's stored form (store.EncodeFinding).
type encoded struct {
	data string
	raw  any
}

func encodeFindings(fs []finding.Finding) ([]encoded, error) {
	enc := make([]encoded, len(fs))
	for i := range fs {
		var err error
		if enc[i].data, enc[i].raw, err = store.EncodeFinding(fs[i]); err != nil {
			return nil, err
		}
	}
	return enc, nil
}

// saveEncoded saves findings and what they owe in the writer's
// transaction t; enc[i] is fs[i] encoded (encodeFindings, outside the
// writer).
func (s *Store) saveEncoded(t *wtx, fs []finding.Finding, enc []encoded, route store.Router) (store.SaveResult, error) {
	var res store.SaveResult
	now := s.now()
	// Statements outside the writer's prepared set run on the group's
	// transaction itself.
	silences, err := activeSilences(t, now)
	if err != nil {
		return res, fmt.Errorf("save findings: %w", mapErr(err))
	}
	routed := 0
	if route != nil {
		routed = 1
	}
	for i := range fs {
		f := &fs[i]
		data, raw := enc[i].data, enc[i].raw
		silencedBy := store.Silencing(silences, *f)
		status := store.StatusOpen
		if silencedBy != "" {
			status = store.StatusSilenced
		}
		r, err := t.exec(qInsertFinding, f.ID, f.EventID, f.RuleID, f.Fingerprint, int(f.Risk), f.EventTime.UnixMilli(),
			f.AccountID, f.Region, f.Actor.ARN, f.Actor.Name, f.Outcome, f.EventName, data, raw, now.UnixMilli(), routed, f.TTL.Milliseconds(),
			status, now.UnixMilli(), nullable(silencedBy))
		if err != nil {
			return res, fmt.Errorf("save finding %s: %w", f.ID, mapErr(err))
		}
		if n, _ := r.RowsAffected(); n == 1 {
			res.Inserted++
			if res.New == nil {
				res.New = map[string]bool{}
			}
			res.New[f.ID] = true
			if silencedBy != "" {
				if err := silenced(context.Background(), t.tx, f.ID, silencedBy, now); err != nil {
					return res, fmt.Errorf("save finding %s: %w", f.ID, mapErr(err))
				}
			}
		} else {
			if f.Corrected {
				if _, err := t.exec(qCorrectFinding,
					f.Fingerprint, int(f.Risk), f.EventTime.UnixMilli(), f.AccountID, f.Region, f.Actor.ARN, f.Actor.Name, f.Outcome, f.EventName,
					data, raw, f.ID); err != nil {
					return res, fmt.Errorf("update finding %s: %w", f.ID, mapErr(err))
				}
				res.Updated++
			} else {
				res.Duplicates++
			}
			if route == nil {
				continue
			}
			// Stored before without routing (a scan that did not
			// notify): route it now, once.
			r, err := t.exec(qRouteFinding, f.ID)
			if err != nil {
				return res, fmt.Errorf("route finding %s: %w", f.ID, mapErr(err))
			}
			if n, _ := r.RowsAffected(); n != 1 {
				continue
			}
			res.Routed++
		}
		if route == nil || silencedBy != "" {
			// A silenced finding owes no notification.
			continue
		}
		for _, rt := range route(fs[i]) {
			owed, err := s.owe(t, fs[i], rt, now)
			if err != nil {
				return store.SaveResult{}, fmt.Errorf("save finding %s: channel %s: %w", f.ID, rt.Channel, mapErr(err))
			}
			if owed {
				if res.Owed == nil {
					res.Owed = map[string]int{}
				}
				res.Owed[rt.Channel]++
			}
		}
	}
	return res, nil
}

// Unrouted returns findings stored without routing, oldest event first.
func (s *Store) Unrouted(ctx context.Context, since time.Time, limit int) ([]finding.Finding, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT data, raw, ttl_ms FROM findings WHERE routed = 0 AND event_time >= ? ORDER BY event_time, id LIMIT ?`,
		since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("unrouted findings: %w", mapErr(err))
	}
	defer rows.Close()
	var out []finding.Finding
	for rows.Next() {
		var data string
		var raw sql.NullString
		var ttl int64
		if err := rows.Scan(&data, &raw, &ttl); err != nil {
			return nil, fmt.Errorf("unrouted findings: %w", mapErr(err))
		}
		f, err := store.DecodeFinding(data, raw.String, ttl)
		if err != nil {
			return nil, fmt.Errorf("unrouted findings: %w", err)
		}
		out = append(out, f)
	}
	return out, mapErr(rows.Err())
}

// owe records what one finding owes one channel, as store.Judge decides
// from the channel's alert of the fingerprint: a trigger opening a new
// alert, an escalation of the live one, or a repeat (an update, or only a
// count), and reports whether it added a delivery. The one SQLite writer
// serializes concurrent saves.
func (s *Store) owe(t *wtx, f finding.Finding, rt store.Route, now time.Time) (bool, error) {
	at := f.EventTime
	if at.IsZero() {
		at = now
	}
	var (
		cur                 store.Alert
		opened, expires     int64
		principals, reasons string
	)
	row, err := t.queryRow(qAlert, rt.Channel, f.Fingerprint)
	if err != nil {
		return false, err
	}
	var resolved int64
	err = row.Scan(&opened, &expires, &cur.Repeats, &cur.Risk, &principals, &reasons, &cur.Escalations, &resolved)
	var prev *store.Alert
	switch {
	case err == nil:
		cur.Resolved = resolved != 0
		cur.OpenedAt, cur.ExpiresAt = time.UnixMilli(opened), time.UnixMilli(expires)
		cur.Principals, cur.Reasons = store.DecodeList(principals), store.DecodeList(reasons)
		prev = &cur
	case !errors.Is(err, sql.ErrNoRows):
		return false, err
	}
	kind, esc, next := store.Judge(prev, f, at, f.TTL)
	ms := now.UnixMilli()
	if kind == store.KindUpdate {
		if _, err := t.exec(qAlertRepeats, next.Repeats, rt.Channel, f.Fingerprint); err != nil {
			return false, err
		}
		if !rt.Repeats {
			return false, nil
		}
		r, err := t.exec(qOweUpdate, f.ID, rt.Channel, store.KindUpdate, next.Repeats, f.Fingerprint, store.Pending, ms, ms, ms)
		if err != nil {
			return false, err
		}
		n, _ := r.RowsAffected()
		return n == 1, nil
	}
	// A trigger or an escalation: delivered on every channel.
	r, err := t.exec(qOwe, f.ID, rt.Channel, kind, next.Repeats, f.Fingerprint, store.Pending, ms, ms, ms, store.EncodeEscalation(esc))
	if err != nil {
		return false, err
	}
	added, _ := r.RowsAffected()
	if kind == store.KindEscalation {
		_, err = t.exec(qEscalateAlert,
			next.ExpiresAt.UnixMilli(), next.Repeats, int(next.Risk), store.EncodeList(next.Principals), store.EncodeList(next.Reasons), next.Escalations,
			rt.Channel, f.Fingerprint)
		return added == 1, err
	}
	id, _ := r.LastInsertId()
	_, err = t.exec(qOpenAlert,
		rt.Channel, f.Fingerprint, next.OpenedAt.UnixMilli(), next.ExpiresAt.UnixMilli(), next.Repeats, id, int(next.Risk),
		store.EncodeList(next.Principals), store.EncodeList(next.Reasons))
	return added == 1, err
}

// claimBound is the LIMIT the claim query is bound with (see Claim).
const claimBound = 1024

// Claim leases due deliveries of one channel. The writer reads and leases
// the rows; their findings are decoded after it, off the one serialized
// path every write takes. A row that cannot be decoded fails the claim,
// as it did when decoded inside: its delivery and the others leased with
// it are due again when the lease ends.
func (s *Store) Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	var rows []store.DeliveryRow
	// The claim query is bound with one LIMIT, whatever limit asks for,
	// and read up to limit rows (its order is the index's, so rows past
	// them are never produced): SQLite's planner looks at a bound LIMIT,
	// so a statement bound with another LIMIT than the last time is parsed
	// and planned again (about 14 times the cost of the query itself, and
	// the dispatcher's limit is its free slots, which vary).
	bound := max(limit, claimBound)
	err := s.w.do(ctx, func(t *wtx) error {
		rows = nil
		ms := now.UnixMilli()
		rs, err := t.query(qClaim, channel, ms, bound)
		if err != nil {
			return mapErr(err)
		}
		for len(rows) < limit && rs.Next() {
			r, err := store.ScanDeliveryRow(rs)
			if err != nil {
				rs.Close()
				return mapErr(err)
			}
			rows = append(rows, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return mapErr(err)
		}
		for i := range rows {
			// A sending delivery is due again when its lease ends: next_attempt
			// holds the lease, so one index serves both.
			if _, err := t.exec(qLease, now.Add(lease).UnixMilli(), now.Add(lease).UnixMilli(), ms, rows[i].ID); err != nil {
				return mapErr(err)
			}
			rows[i].Status = store.Sending
			rows[i].Attempts++
		}
		return nil
	})
	if err != nil {
		var ge *groupError
		if errors.As(err, &ge) {
			err = ge.err
		}
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	out := make([]store.Delivery, len(rows))
	for i, r := range rows {
		if out[i], err = r.Decode(); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
	}
	return out, nil
}

// Settle records several attempts' outcomes in one transaction.
func (s *Store) Settle(ctx context.Context, outs []store.Outcome) error {
	err := s.w.do(ctx, func(t *wtx) error {
		for _, o := range outs {
			if err := settle(t, o); err != nil {
				return fmt.Errorf("settle delivery %d: %w", o.ID, mapErr(err))
			}
		}
		return nil
	})
	return wrap("settle deliveries", err)
}

func settle(t *wtx, o store.Outcome) error {
	at := o.At.UnixMilli()
	switch o.Status {
	case store.Done:
		if _, err := t.exec(qSettleDone, at, o.ID); err != nil {
			return err
		}
		if o.Ref != "" {
			// The trigger's reference, or a newer one an update returned
			// (the channel opened a fresh ticket because the old one was
			// closed).
			if _, err := t.exec(qSettleRef, o.Ref, o.ID, o.ID); err != nil {
				return err
			}
		}
	case store.Pending:
		_, err := t.exec(qSettleRetry, o.Next.UnixMilli(), o.Err, at, o.ID)
		return err
	case store.Dead:
		_, err := t.exec(qSettleDead, o.Err, at, o.ID)
		return err
	default:
		return fmt.Errorf("unknown outcome status %q", o.Status)
	}
	return nil
}

// Deliveries lists deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, f store.OutboxFilter) ([]store.Delivery, error) {
	var where []string
	var args []any
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("o.status", f.Status)
	in("o.channel", f.Channel)
	in("o.finding_id", f.Findings)
	q := `SELECT ` + store.DeliveryColumns + ` FROM outbox o JOIN findings f ON f.id = o.finding_id
		LEFT JOIN alerts a ON a.channel = o.channel AND a.alert_key = o.alert_key`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY o.id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := store.ScanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", mapErr(err))
		}
		out = append(out, d)
	}
	return out, mapErr(rows.Err())
}

// setStatus runs query (qRequeue or qDrop) for each id, in one
// transaction, and counts the deliveries it changed.
func (s *Store) setStatus(ctx context.Context, ids []int64, now time.Time, query, what string) (int, error) {
	n := 0
	err := s.w.do(ctx, func(t *wtx) error {
		n = 0
		for _, id := range ids {
			r, err := t.exec(query, now.UnixMilli(), now.UnixMilli(), id)
			if err != nil {
				return fmt.Errorf("%s delivery %d: %w", what, id, mapErr(err))
			}
			k, _ := r.RowsAffected()
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, wrap(what+" deliveries", err)
	}
	return n, nil
}

// Requeue makes dead or dropped deliveries pending again, with a fresh
// attempt count.
func (s *Store) Requeue(ctx context.Context, ids []int64, now time.Time) (int, error) {
	return s.setStatus(ctx, ids, now, qRequeue, "requeue")
}

// Drop marks pending or dead deliveries dropped.
func (s *Store) Drop(ctx context.Context, ids []int64, now time.Time) (int, error) {
	return s.setStatus(ctx, ids, now, qDrop, "update")
}

// Pending counts the deliveries of these channels still pending or in
// flight (the partial index of due work answers it).
func (s *Store) Pending(ctx context.Context, channels []string) (int, error) {
	if len(channels) == 0 {
		return 0, nil
	}
	args := make([]any, len(channels))
	for i, c := range channels {
		args[i] = c
	}
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM outbox INDEXED BY outbox_work WHERE status IN ('pending', 'sending') AND channel IN (`+
		strings.TrimSuffix(strings.Repeat("?,", len(channels)), ",")+`)`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending deliveries: %w", mapErr(err))
	}
	return n, nil
}

// Depth counts deliveries by channel and status.
func (s *Store) Depth(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT channel, status, count(*) FROM outbox GROUP BY channel, status`)
	if err != nil {
		return nil, fmt.Errorf("outbox depth: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var ch, st string
		var n int
		if err := rows.Scan(&ch, &st, &n); err != nil {
			return nil, mapErr(err)
		}
		if out[ch] == nil {
			out[ch] = map[string]int{}
		}
		out[ch][st] = n
	}
	return out, mapErr(rows.Err())
}
