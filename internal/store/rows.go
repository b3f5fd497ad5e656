package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// What both stores share of their rows: how a finding is kept (its JSON
// document without the raw event, the raw event, its TTL) and how a
// delivery is read back. Only the SQL dialects differ between them.

// Scanner is a result row of either database driver.
type Scanner interface{ Scan(dest ...any) error }

// EncodeFinding returns a finding's stored document (its JSON form
// without the raw event) and its raw event (nil when it has none).
func EncodeFinding(f finding.Finding) (data string, raw any, err error) {
	r := f.Raw
	f.Raw = nil
	b, err := json.Marshal(&f)
	if err != nil {
		return "", nil, fmt.Errorf("encode finding %s: %w", f.ID, err)
	}
	if len(r) > 0 {
		raw = string(r)
	}
	return string(b), raw, nil
}

// DecodeFinding reads a finding stored as its JSON form (data), its raw
// event and its TTL in milliseconds, as both stores keep them.
func DecodeFinding(data, raw string, ttlMillis int64) (finding.Finding, error) {
	var f finding.Finding
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return f, fmt.Errorf("corrupt finding: %w", err)
	}
	if raw != "" {
		f.Raw = json.RawMessage(raw)
	}
	f.TTL = time.Duration(ttlMillis) * time.Millisecond
	return f, nil
}

// DeliveryColumns are the columns ScanDelivery reads, in its order: the
// outbox row (o), its alert's ref (a, LEFT JOINed) and the finding's
// document (f). Both SQL dialects accept them.
const DeliveryColumns = `o.id, o.finding_id, o.channel, o.kind, o.repeats, o.alert_key, o.status, o.attempts, o.next_attempt,
	coalesce(o.last_error, ''), o.created_at, o.updated_at, coalesce(o.escalation, ''), coalesce(a.ref, ''), f.data, coalesce(o.transition, '')`

// ScanDelivery reads one row of DeliveryColumns.
func ScanDelivery(sc Scanner) (Delivery, error) {
	r, err := ScanDeliveryRow(sc)
	if err != nil {
		return Delivery{}, err
	}
	return r.Decode()
}

// DeliveryRow is a row of DeliveryColumns as read, its JSON documents
// (the finding, the escalation, the transition) not yet decoded: a store
// that reads rows on a serialized path (SQLite's one writer) decodes
// them after it.
type DeliveryRow struct {
	Delivery
	esc, data, tr string
}

// ScanDeliveryRow reads one row of DeliveryColumns without decoding its
// documents (see Decode).
func ScanDeliveryRow(sc Scanner) (DeliveryRow, error) {
	var r DeliveryRow
	d := &r.Delivery
	var next, created, updated int64
	if err := sc.Scan(&d.ID, &d.FindingID, &d.Channel, &d.Kind, &d.Repeats, &d.AlertKey, &d.Status, &d.Attempts, &next,
		&d.LastError, &created, &updated, &r.esc, &d.Ref, &r.data, &r.tr); err != nil {
		return r, err
	}
	d.NextAttempt, d.CreatedAt, d.UpdatedAt = time.UnixMilli(next).UTC(), time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return r, nil
}

// Decode decodes the row's documents into the delivery.
func (r DeliveryRow) Decode() (Delivery, error) {
	d := r.Delivery
	if r.tr != "" {
		var c Change
		if err := json.Unmarshal([]byte(r.tr), &c); err != nil {
			return d, fmt.Errorf("delivery %d: corrupt transition: %w", d.ID, err)
		}
		d.Transition = &c
	}
	var err error
	if d.Escalation, err = DecodeEscalation(r.esc); err != nil {
		return d, fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	if d.Finding, err = DecodeFinding(r.data, "", 0); err != nil {
		return d, fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	return d, nil
}
