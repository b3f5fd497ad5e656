package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/store/postgres/pgtest"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// The claim's look for an alert's earlier open trigger uses the partial
// index of exactly those rows, even on tables never analyzed (a new
// install, the first minutes of a busy one). Before it, the planner chose
// the due-work index there and read every open delivery of the channel
// before the one it checked, for each follow-up: 316 ms a claim at a
// backlog of a few thousand (runbench, PostgreSQL, 2,000 events a second),
// and alerts fell 30 s behind.
func TestClaimLooksUpOpenTriggersByIndex(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A backlog of 50 alerts with 20 repeats each: triggers and follow-ups.
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if _, err := s.SaveRouted(ctx, storetest.Backlog(0, 1000, 50, "alert", t0), storetest.RouteRepeats("hook")); err != nil {
		t.Fatal(err)
	}
	var plan []string
	rows, err := s.pool.Query(ctx, "EXPLAIN "+qClaim, "hook", time.Now().Add(time.Minute).UnixMilli(), 128)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "outbox_open on outbox t") {
		t.Errorf("the claim does not look up open triggers by the outbox_open index:\n%s", text)
	}
	// And the claim hands out the triggers, holding their follow-ups back.
	storetest.ClaimTriggers(t, s, "hook", 128, 50)
}

// The claim is planned for the tables as they are at each claim, never
// from a plan cached while they were empty. A prepared statement run five
// times gets PostgreSQL's generic plan when that looks no dearer, and on
// the empty tables of a fresh start it does: in runbench (PostgreSQL,
// 2,000 events a second) that plan read every alert of the channel for
// each delivery it claimed (54,000 buffers, 300-490 ms a claim, logged by
// auto_explain), and alerts fell 6-34 s behind in four runs of six; the
// lease's generic plan scanned the whole outbox for the claimed ids. The
// settle of successes, which looks rows up by id too, is planned the same
// way.
func TestClaimIsNeverAGenericPlan(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	if strings.Contains(dsn, "://") {
		dsn += "&pool_max_conns=1" // one connection, so its prepared statements are the ones seen below
	} else {
		dsn += " pool_max_conns=1"
	}
	s, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 140000 {
		pgtest.Missing(t, fmt.Sprintf("TRAILWATCH_POSTGRES_DSN names a PostgreSQL %d server, and pg_prepared_statements counts generic plans only from PostgreSQL 14 on (.ci/run starts Debian's 15)", version))
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	route := storetest.RouteRepeats("hook")
	// Ten rounds of ten alerts delivered on nearly empty tables, as at a
	// fresh start: ten claims, ten leases, ten settles.
	for r := range 10 {
		if _, err := s.SaveRouted(ctx, storetest.Backlog(1000+10*r, 10, 10, fmt.Sprintf("early-%d", r), now), route); err != nil {
			t.Fatal(err)
		}
		storetest.SettleDone(t, s, storetest.ClaimTriggers(t, s, "hook", 16, 10))
	}
	// Then a backlog of 20 alerts with 10 repeats each.
	if _, err := s.SaveRouted(ctx, storetest.Backlog(0, 200, 20, "alert", now), route); err != nil {
		t.Fatal(err)
	}
	storetest.ClaimTriggers(t, s, "hook", 128, 20)
	for _, q := range []string{qClaim, qLease, qSettleDone} {
		var generic int64
		err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements WHERE statement = $1`, q).Scan(&generic)
		if err != nil {
			t.Fatal(err)
		}
		if generic != 0 {
			t.Errorf("%.40s... ran %d times with a generic plan (made while the tables were empty)", q, generic)
		}
	}
}
