package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	// A backlog of 50 alerts with 20 repeats each: triggers and follow-ups.
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if _, err := s.SaveRouted(ctx, storetest.Backlog(0, 1000, 50, "alert", t0), storetest.RouteRepeats("hook")); err != nil {
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
	// The triggers are claimed, their follow-ups held back; delivered, the
	// triggers leave the index, and their follow-ups are claimed next.
	storetest.SettleDone(t, s, storetest.ClaimTriggers(t, s, "hook", 128, 50))
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
