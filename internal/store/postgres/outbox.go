package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// SaveRouted saves findings and the deliveries they owe in one transaction.
// A finding already stored (by this or another instance) is a duplicate:
// INSERT … ON CONFLICT DO NOTHING RETURNING id tells them apart.
//
// The group costs a fixed number of round trips however many findings it
// holds (issue 14: one statement after another, three round trips per
// finding, bound PostgreSQL's rate by the network's latency): the findings
// are inserted in one batch; the alerts the new findings concern are
// created if missing and locked (FOR UPDATE, in the order of their keys,
// so that instances saving the same alerts cannot deadlock) in a second;
// each finding is judged in Go against its alert's state, carried from one
// finding to the next; and what they owe is written in a third.
func (s *Store) SaveRouted(ctx context.Context, fs []finding.Finding, route store.Router) (store.SaveResult, error) {
	if len(fs) == 0 {
		return store.SaveResult{}, nil
	}
	type doc struct {
		data string
		raw  any
	}
	docs := make([]doc, len(fs))
	for i := range fs {
		data, raw, err := store.EncodeFinding(fs[i])
		if err != nil {
			return store.SaveResult{}, err
		}
		docs[i] = doc{data, raw}
	}
	var res store.SaveResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = store.SaveResult{}
		now := s.now()
		silences, err := activeSilences(ctx, tx, now)
		if err != nil {
			return describe(err, "save findings")
		}
		// The findings, in one round trip.
		inserted := make([]bool, len(fs))
		silencedBy := make([]string, len(fs))
		b := &pgx.Batch{}
		for i := range fs {
			f := &fs[i]
			silencedBy[i] = store.Silencing(silences, *f)
			status := store.StatusOpen
			if silencedBy[i] != "" {
				status = store.StatusSilenced
			}
			b.Queue(`INSERT INTO findings
				(id, event_id, rule_id, fingerprint, risk, event_time, account_id, region, actor_arn, actor_name, outcome, event_name, data, raw, created_at, routed, ttl_ms,
				status, status_at, silenced_by)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) ON CONFLICT (id) DO NOTHING RETURNING id`,
				f.ID, f.EventID, f.RuleID, f.Fingerprint, int(f.Risk), f.EventTime.UnixMilli(),
				f.AccountID, f.Region, f.Actor.ARN, f.Actor.Name, f.Outcome, f.EventName, docs[i].data, docs[i].raw, now.UnixMilli(),
				route != nil, f.TTL.Milliseconds(), status, now.UnixMilli(), nullable(silencedBy[i])).QueryRow(func(row pgx.Row) error {
				var id string
				switch err := row.Scan(&id); {
				case err == nil:
					inserted[i] = true
				case !errors.Is(err, pgx.ErrNoRows):
					return describe(err, "save finding %s", f.ID)
				}
				return nil
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return asDescribed(err, "save findings")
		}
		// What follows from each: history of the silenced, corrections,
		// routing of findings stored before without it.
		owes := make([]bool, len(fs))
		b = &pgx.Batch{}
		for i := range fs {
			f := &fs[i]
			if inserted[i] {
				res.Inserted++
				if res.New == nil {
					res.New = map[string]bool{}
				}
				res.New[f.ID] = true
				if silencedBy[i] != "" {
					queueSilenced(b, f.ID, silencedBy[i], now)
				}
				owes[i] = route != nil && silencedBy[i] == ""
				continue
			}
			if f.Corrected {
				onExec(b.Queue(`UPDATE findings SET fingerprint = $1, risk = $2, event_time = $3, account_id = $4, region = $5, actor_arn = $6,
					actor_name = $7, outcome = $8, event_name = $9, data = $10, raw = $11 WHERE id = $12`,
					f.Fingerprint, int(f.Risk), f.EventTime.UnixMilli(), f.AccountID, f.Region, f.Actor.ARN, f.Actor.Name, f.Outcome, f.EventName,
					docs[i].data, docs[i].raw, f.ID), nil, "update finding %s", f.ID)
				res.Updated++
			} else {
				res.Duplicates++
			}
			if route == nil {
				continue
			}
			// Stored before without routing (a scan that did not
			// notify): route it now, once, whichever instance sees it
			// first.
			onExec(b.Queue(`UPDATE findings SET routed = true WHERE id = $1 AND NOT routed`, f.ID), func(tag pgconn.CommandTag) {
				if tag.RowsAffected() == 1 {
					res.Routed++
					owes[i] = silencedBy[i] == ""
				}
			}, "route finding %s", f.ID)
		}
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return asDescribed(err, "save findings")
			}
		}
		if route == nil {
			return nil
		}
		return oweAll(ctx, tx, fs, owes, route, now, &res)
	})
	if err != nil {
		if d := (*described)(nil); errors.As(err, &d) {
			return store.SaveResult{}, s.mapErr(err)
		}
		return store.SaveResult{}, fmt.Errorf("save findings: %w", s.mapErr(err))
	}
	return res, nil
}

// Unrouted returns findings stored without routing, oldest event first.
func (s *Store) Unrouted(ctx context.Context, since time.Time, limit int) ([]finding.Finding, error) {
	rows, err := s.pool.Query(ctx, `SELECT data, coalesce(raw, ''), ttl_ms FROM findings WHERE NOT routed AND event_time >= $1 ORDER BY event_time, id LIMIT $2`,
		since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("unrouted findings: %w", s.mapErr(err))
	}
	defer rows.Close()
	var out []finding.Finding
	for rows.Next() {
		var data, raw string
		var ttl int64
		if err := rows.Scan(&data, &raw, &ttl); err != nil {
			return nil, fmt.Errorf("unrouted findings: %w", s.mapErr(err))
		}
		f, err := store.DecodeFinding(data, raw, ttl)
		if err != nil {
			return nil, fmt.Errorf("unrouted findings: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unrouted findings: %w", s.mapErr(err))
	}
	return out, nil
}

// described is an error with the operation that failed, keeping the driver
// error for retryable (it is mapped before leaving the package).
type described struct {
	msg string
	err error
}

func (d *described) Error() string { return d.msg + ": " + d.err.Error() }
func (d *described) Unwrap() error { return d.err }

func describe(err error, format string, a ...any) error {
	return &described{msg: fmt.Sprintf(format, a...), err: err}
}

// alertKey is one channel's alert of one fingerprint.
type alertKey struct{ channel, key string }

// oweAll records what the findings marked in owes owe their channels, as
// store.Judge decides from each channel's alert of the fingerprint. The
// alert rows are created if missing and locked (FOR UPDATE) until commit,
// in the order of their keys: instances saving findings of one
// fingerprint concurrently are serialized on it, so each judges against
// what the other committed, and two groups never wait for each other's
// locks in opposite orders. Findings of one alert within the group are
// judged in order, each against the state the one before left.
func oweAll(ctx context.Context, tx pgx.Tx, fs []finding.Finding, owes []bool, route store.Router, now time.Time, res *store.SaveResult) error {
	routes := make([][]store.Route, len(fs))
	alerts := map[alertKey]*store.Alert{} // nil: no alert yet
	var keys []alertKey
	for i := range fs {
		if !owes[i] {
			continue
		}
		routes[i] = route(fs[i])
		for _, rt := range routes[i] {
			k := alertKey{rt.Channel, fs[i].Fingerprint}
			if _, ok := alerts[k]; !ok {
				alerts[k] = nil
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b alertKey) int {
		if c := strings.Compare(a.channel, b.channel); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	// One round trip: create the missing alert rows, then lock them all.
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`INSERT INTO alerts (channel, alert_key, opened_at, expires_at, repeats) VALUES ($1, $2, 0, 0, 0)
			ON CONFLICT (channel, alert_key) DO NOTHING`, k.channel, k.key)
	}
	for _, k := range keys {
		b.Queue(`SELECT opened_at, expires_at, repeats, risk, principals, reasons, escalations, resolved_at FROM alerts
			WHERE channel = $1 AND alert_key = $2 FOR UPDATE`, k.channel, k.key).QueryRow(func(row pgx.Row) error {
			var (
				cur                 store.Alert
				opened, expires     int64
				resolved            int64
				principals, reasons string
			)
			if err := row.Scan(&opened, &expires, &cur.Repeats, &cur.Risk, &principals, &reasons, &cur.Escalations, &resolved); err != nil {
				return describe(err, "alert %s of channel %s", k.key, k.channel)
			}
			if cur.Repeats > 0 {
				cur.Resolved = resolved != 0
				cur.OpenedAt, cur.ExpiresAt = time.UnixMilli(opened), time.UnixMilli(expires)
				cur.Principals, cur.Reasons = store.DecodeList(principals), store.DecodeList(reasons)
				alerts[k] = &cur
			}
			return nil
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return asDescribed(err, "save findings")
	}
	// One round trip: every delivery owed and every alert's new state.
	b = &pgx.Batch{}
	ms := now.UnixMilli()
	// count counts a delivery owed when its statement added one.
	count := func(channel string, added int64) {
		if added == 1 {
			if res.Owed == nil {
				res.Owed = map[string]int{}
			}
			res.Owed[channel]++
		}
	}
	owed := func(channel string) func(pgconn.CommandTag) {
		return func(tag pgconn.CommandTag) { count(channel, tag.RowsAffected()) }
	}
	for i := range fs {
		f := &fs[i]
		at := f.EventTime
		if at.IsZero() {
			at = now
		}
		for _, rt := range routes[i] {
			what := []any{f.ID, rt.Channel} // for "save finding %s: channel %s"
			k := alertKey{rt.Channel, f.Fingerprint}
			kind, esc, next := store.Judge(alerts[k], *f, at, f.TTL)
			alerts[k] = &next
			switch kind {
			case store.KindUpdate:
				// Count the repeat, and owe an update when the channel
				// takes repeats.
				onExec(b.Queue(`UPDATE alerts SET repeats = $1 WHERE channel = $2 AND alert_key = $3`, next.Repeats, rt.Channel, f.Fingerprint),
					nil, "save finding %s: channel %s", what...)
				if rt.Repeats {
					onExec(b.Queue(`INSERT INTO outbox (finding_id, channel, kind, repeats, alert_key, status, next_attempt, created_at, updated_at)
						VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING`, f.ID, rt.Channel, store.KindUpdate, next.Repeats, f.Fingerprint, store.Pending, ms, ms, ms),
						owed(rt.Channel), "save finding %s: channel %s", what...)
				}
			case store.KindEscalation:
				// A trigger or an escalation is delivered on every
				// channel: owe it, and raise the alert.
				onExec(b.Queue(`INSERT INTO outbox (finding_id, channel, kind, repeats, alert_key, status, next_attempt, created_at, updated_at, escalation)
					VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT DO NOTHING`,
					f.ID, rt.Channel, kind, next.Repeats, f.Fingerprint, store.Pending, ms, ms, ms, store.EncodeEscalation(esc)),
					owed(rt.Channel), "save finding %s: channel %s", what...)
				onExec(b.Queue(`UPDATE alerts SET expires_at = $1, repeats = $2, risk = $3, principals = $4, reasons = $5, escalations = $6
					WHERE channel = $7 AND alert_key = $8`,
					next.ExpiresAt.UnixMilli(), next.Repeats, int(next.Risk), store.EncodeList(next.Principals), store.EncodeList(next.Reasons), next.Escalations,
					rt.Channel, f.Fingerprint), nil, "save finding %s: channel %s", what...)
			default:
				// A trigger opens the alert: one statement owes it and
				// makes it the alert's trigger (NULL when it was owed
				// already).
				channel := rt.Channel
				b.Queue(`WITH o AS (INSERT INTO outbox (finding_id, channel, kind, repeats, alert_key, status, next_attempt, created_at, updated_at)
						VALUES ($1,$2,$3,$4,$5,$6,$7,$7,$7) ON CONFLICT DO NOTHING RETURNING id)
					UPDATE alerts SET opened_at = $8, expires_at = $9, repeats = $4, trigger_id = (SELECT id FROM o), ref = NULL, risk = $10, principals = $11,
						reasons = $12, escalations = 0, resolved_at = 0 WHERE channel = $2 AND alert_key = $5 RETURNING (SELECT count(*) FROM o)`,
					f.ID, rt.Channel, kind, next.Repeats, f.Fingerprint, store.Pending, ms,
					next.OpenedAt.UnixMilli(), next.ExpiresAt.UnixMilli(), int(next.Risk), store.EncodeList(next.Principals), store.EncodeList(next.Reasons)).
					QueryRow(func(row pgx.Row) error {
						var added int64
						if err := row.Scan(&added); err != nil {
							return describe(err, "save finding %s: channel %s", what...)
						}
						count(channel, added)
						return nil
					})
			}
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return asDescribed(err, "save findings")
	}
	return nil
}

// onExec makes a queued statement's failure say what failed (format and
// a, as describe) and hands its command tag to fn (nil: nobody).
func onExec(q *pgx.QueuedQuery, fn func(pgconn.CommandTag), format string, a ...any) {
	q.Fn = func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return describe(err, format, a...)
		}
		if fn != nil {
			fn(tag)
		}
		return nil
	}
}

// asDescribed keeps an error a queued statement described, and describes
// any other (a statement without a callback, the batch itself) as what.
func asDescribed(err error, what string) error {
	if err == nil {
		return nil
	}
	if d := (*described)(nil); errors.As(err, &d) {
		return err
	}
	return describe(err, "%s", what)
}

// scanDeliveries reads rows of store.DeliveryColumns.
func scanDeliveries(rows pgx.Rows) ([]store.Delivery, error) {
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := store.ScanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// qClaim selects a channel's due deliveries, skipping a follow-up whose
// alert has an earlier trigger or escalation still open (the partial
// index outbox_open answers that look). It runs as an unnamed statement
// (pgx.QueryExecModeCacheDescribe), which PostgreSQL plans for its
// parameters and the tables' current size at every claim: a prepared
// statement gets a generic plan after five runs when that looks no
// dearer, and a generic plan made while the outbox and alerts were empty
// (a fresh start) read every alert of the channel for each delivery
// claimed, 300-490 ms a claim at 2,000 events a second.
const qClaim = `SELECT ` + store.DeliveryColumns + `
	FROM outbox o JOIN findings f ON f.id = o.finding_id
	LEFT JOIN alerts a ON a.channel = o.channel AND a.alert_key = o.alert_key
	WHERE o.channel = $1 AND o.status IN ('pending', 'sending') AND o.next_attempt <= $2
	AND NOT (o.kind IN ('update', 'escalation', 'acknowledge', 'resolve') AND EXISTS (SELECT 1 FROM outbox t WHERE t.channel = o.channel AND t.alert_key = o.alert_key
		AND t.kind IN ('trigger', 'escalation') AND t.id < o.id AND t.status IN ('pending', 'sending')))
	ORDER BY o.next_attempt, o.id LIMIT $3
	FOR UPDATE OF o SKIP LOCKED`

// qLease leases the claimed deliveries. Like qClaim it is planned at each
// claim: the generic plan made on an empty outbox scanned the whole table
// for the ids (40-95 ms a claim at 46,000 rows).
const qLease = `UPDATE outbox SET status = 'sending', lease_until = $1, next_attempt = $1, attempts = attempts + 1, updated_at = $2
	WHERE id = ANY($3)`

// Claim leases due deliveries of one channel. The due rows are locked with
// FOR UPDATE SKIP LOCKED: a dispatcher of another instance claiming at the
// same time skips them (and takes the next ones) instead of waiting, and a
// row it leased meanwhile is re-checked and left out.
func (s *Store) Claim(ctx context.Context, channel string, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	var out []store.Delivery
	ms := now.UnixMilli()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, qClaim, pgx.QueryExecModeCacheDescribe, channel, ms, limit)
		if err != nil {
			return err
		}
		if out, err = scanDeliveries(rows); err != nil || len(out) == 0 {
			return err
		}
		ids := make([]int64, len(out))
		for i := range out {
			ids[i] = out[i].ID
		}
		// A sending delivery is due again when its lease ends: next_attempt
		// holds the lease, so one index serves both.
		until := now.Add(lease).UnixMilli()
		if _, err := tx.Exec(ctx, qLease, pgx.QueryExecModeCacheDescribe, until, ms, ids); err != nil {
			return err
		}
		for i := range out {
			out[i].Status = store.Sending
			out[i].Attempts++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", s.mapErr(err))
	}
	return out, nil
}

// qSettleDone records the attempts that succeeded, all of a settle in one
// statement (one statement per delivery cost 54 us of the server's time
// each, pg_stat_statements, runbench). It looks the rows up by id, so
// like qClaim it is planned at each settle, never from a plan made on an
// empty outbox.
const qSettleDone = `UPDATE outbox o SET status = 'done', lease_until = NULL, last_error = NULL, updated_at = u.at
	FROM unnest($1::bigint[], $2::bigint[]) AS u(id, at) WHERE o.id = u.id`

// Settle records several attempts' outcomes in one transaction: the
// successes in one statement, the rest (a channel's reference, retries,
// failures) in one batch, a statement each.
func (s *Store) Settle(ctx context.Context, outs []store.Outcome) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var ids, ats []int64
		b := &pgx.Batch{}
		for _, o := range outs {
			if o.Status == store.Done {
				ids, ats = append(ids, o.ID), append(ats, o.At.UnixMilli())
			}
			if err := queueSettle(b, o); err != nil {
				return describe(err, "settle delivery %d", o.ID)
			}
		}
		if len(ids) > 0 {
			if _, err := tx.Exec(ctx, qSettleDone, pgx.QueryExecModeCacheDescribe, ids, ats); err != nil {
				return describe(err, "settle deliveries %s", idList(ids))
			}
		}
		if b.Len() == 0 {
			return nil
		}
		return asDescribed(tx.SendBatch(ctx, b).Close(), "settle deliveries")
	})
	if err != nil {
		if d := (*described)(nil); errors.As(err, &d) {
			return s.mapErr(err)
		}
		return fmt.Errorf("settle deliveries: %w", s.mapErr(err))
	}
	return nil
}

// idList names up to five ids, and how many more.
func idList(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i == 5 {
			fmt.Fprintf(&b, " and %d more", len(ids)-5)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// queueSettle queues the statements that record one outcome, besides a
// success itself (qSettleDone); each names the delivery when it fails.
func queueSettle(b *pgx.Batch, o store.Outcome) error {
	at := o.At.UnixMilli()
	failed := func(q *pgx.QueuedQuery) { onExec(q, nil, "settle delivery %d", o.ID) }
	switch o.Status {
	case store.Done:
		if o.Ref != "" {
			// The trigger's reference, or a newer one an update returned
			// (the channel opened a fresh ticket because the old one was
			// closed).
			failed(b.Queue(`UPDATE alerts SET ref = $1 WHERE (channel, alert_key) = (SELECT channel, alert_key FROM outbox WHERE id = $2)
				AND trigger_id <= $2`, o.Ref, o.ID))
		}
	case store.Pending:
		failed(b.Queue(`UPDATE outbox SET status = 'pending', lease_until = NULL, next_attempt = $1, last_error = $2, updated_at = $3 WHERE id = $4`,
			o.Next.UnixMilli(), o.Err, at, o.ID))
	case store.Dead:
		failed(b.Queue(`UPDATE outbox SET status = 'dead', lease_until = NULL, last_error = $1, updated_at = $2 WHERE id = $3`, o.Err, at, o.ID))
	default:
		return fmt.Errorf("unknown outcome status %q", o.Status)
	}
	return nil
}

// Deliveries lists deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, f store.OutboxFilter) ([]store.Delivery, error) {
	var where []string
	var a args
	if len(f.Status) > 0 {
		where = append(where, "o.status = ANY("+a.add(f.Status)+")")
	}
	if len(f.Channel) > 0 {
		where = append(where, "o.channel = ANY("+a.add(f.Channel)+")")
	}
	if len(f.Findings) > 0 {
		where = append(where, "o.finding_id = ANY("+a.add(f.Findings)+")")
	}
	q := `SELECT ` + store.DeliveryColumns + `  FROM outbox o JOIN findings f ON f.id = o.finding_id
		LEFT JOIN alerts a ON a.channel = o.channel AND a.alert_key = o.alert_key`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY o.id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", s.mapErr(err))
	}
	out, err := scanDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", s.mapErr(err))
	}
	return out, nil
}

// Requeue makes dead or dropped deliveries pending again now, with a fresh
// attempt count.
func (s *Store) Requeue(ctx context.Context, ids []int64, now time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ms := now.UnixMilli()
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = $1, lease_until = NULL, updated_at = $1
		WHERE id = ANY($2) AND status IN ('dead', 'dropped')`, ms, ids)
	if err != nil {
		return 0, fmt.Errorf("requeue deliveries: %w", s.mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// Drop marks pending, sending or dead deliveries dropped.
func (s *Store) Drop(ctx context.Context, ids []int64, now time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ms := now.UnixMilli()
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'dropped', next_attempt = $1, lease_until = NULL, updated_at = $1
		WHERE id = ANY($2) AND status IN ('pending', 'dead', 'sending')`, ms, ids)
	if err != nil {
		return 0, fmt.Errorf("drop deliveries: %w", s.mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// Pending counts the deliveries of these channels still pending or in
// flight (the partial index of due work answers it).
func (s *Store) Pending(ctx context.Context, channels []string) (int, error) {
	if len(channels) == 0 {
		return 0, nil
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending') AND channel = ANY($1)`, channels).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending deliveries: %w", s.mapErr(err))
	}
	return n, nil
}

// Depth counts deliveries by channel and status.
func (s *Store) Depth(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT channel, status, count(*) FROM outbox GROUP BY channel, status`)
	if err != nil {
		return nil, fmt.Errorf("outbox depth: %w", s.mapErr(err))
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var ch, st string
		var n int
		if err := rows.Scan(&ch, &st, &n); err != nil {
			return nil, fmt.Errorf("outbox depth: %w", s.mapErr(err))
		}
		if out[ch] == nil {
			out[ch] = map[string]int{}
		}
		out[ch][st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox depth: %w", s.mapErr(err))
	}
	return out, nil
}
