package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// The claim's look for an alert's earlier trigger still open uses the
// partial index of exactly those rows (outbox_open), and claims the
// triggers while holding their follow-ups back.
func TestClaimLooksUpOpenTriggersByIndex(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "tw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "hook", Repeats: true}} }
	// A backlog of 50 alerts with 20 repeats each: triggers and follow-ups.
	var fs []finding.Finding
	for i := range 1000 {
		f := storetest.Sample(i, "EKS-A", finding.High)
		f.Fingerprint = fmt.Sprintf("alert-%02d", i%50)
		f.EventTime, f.TTL = t0.Add(time.Duration(i)*time.Second), time.Hour
		fs = append(fs, f)
	}
	if _, err := s.SaveRouted(ctx, fs, route); err != nil {
		t.Fatal(err)
	}
	rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+qClaim, "hook", time.Now().Add(time.Minute).UnixMilli(), 128)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "SEARCH t USING INDEX outbox_open") && !strings.Contains(text, "SEARCH t USING COVERING INDEX outbox_open") {
		t.Errorf("the claim does not look up open triggers by the outbox_open index:\n%s", text)
	}
	got, err := s.Claim(ctx, "hook", time.Now().Add(time.Minute), 128, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if d.Kind != store.KindTrigger {
			t.Errorf("claimed a %s while its alert's trigger is open", d.Kind)
		}
	}
	if len(got) != 50 {
		t.Errorf("claimed %d deliveries, want the 50 triggers", len(got))
	}
	// Delivered, the triggers leave the index, and their follow-ups are
	// claimed next.
	var outs []store.Outcome
	for _, d := range got {
		outs = append(outs, store.Outcome{ID: d.ID, Status: store.Done, At: time.Now()})
	}
	if err := s.Settle(ctx, outs); err != nil {
		t.Fatal(err)
	}
	var open int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM outbox INDEXED BY outbox_open WHERE channel = 'hook' AND kind IN ('trigger', 'escalation') AND status IN ('pending', 'sending')`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Errorf("%d open triggers indexed after every trigger was delivered, want 0", open)
	}
	if next, err := s.Claim(ctx, "hook", time.Now().Add(time.Minute), 128, time.Minute); err != nil || len(next) == 0 || next[0].Kind == store.KindTrigger {
		t.Errorf("after the triggers: %d deliveries claimed (%v), want their follow-ups", len(next), err)
	}
}
