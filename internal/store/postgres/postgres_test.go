package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/postgres"
	"github.com/trailwatch/trailwatch/internal/store/postgres/pgtest"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.Schema(t)) })
}

func TestOutboxSuite(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) storetest.OutboxStore { return open(t, pgtest.Schema(t)) })
}

func TestLeaseSuite(t *testing.T) {
	storetest.RunLeases(t, func(t *testing.T) storetest.LeaseStore { return open(t, pgtest.Schema(t)) })
}

// Two instances (two pools) on one database: a lease one holds is not the
// other's, and it moves when released.
func TestLeasesAcrossInstances(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	if held, err := a.Acquire(ctx, "heartbeat", "a", time.Hour); err != nil || !held {
		t.Fatalf("a: %v, %v", held, err)
	}
	if held, err := b.Acquire(ctx, "heartbeat", "b", time.Hour); err != nil || held {
		t.Fatalf("b took a live lease of a: %v, %v", held, err)
	}
	if err := a.Release(ctx, "heartbeat", "a"); err != nil {
		t.Fatal(err)
	}
	if held, err := b.Acquire(ctx, "heartbeat", "b", time.Hour); err != nil || !held {
		t.Fatalf("b after a released: %v, %v", held, err)
	}
	ls, err := a.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].Holder != "b" {
		t.Fatalf("a sees %+v, %v; want heartbeat held by b", ls, err)
	}
}

func TestCheckpoints(t *testing.T) {
	storetest.RunCheckpoints(t, open(t, pgtest.Schema(t)))
}

func TestMigrationIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	// Two instances starting together, then a restart.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, dsn, nil)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	s := open(t, dsn)
	f := storetest.Sample(1, "EKS-A", finding.High)
	if _, err := s.Save(ctx, []finding.Finding{f}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dsn)
	if _, err := s.Finding(ctx, f.ID); err != nil {
		t.Errorf("finding lost on reopen: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, version int
	if err := conn.QueryRow(ctx, `SELECT count(*), max(version) FROM trailwatch_schema_version`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version < 1 {
		t.Errorf("trailwatch_schema_version: %d rows, version %d; want one row", rows, version)
	}
	// A database from a newer trailwatch is refused.
	if _, err := conn.Exec(ctx, `UPDATE trailwatch_schema_version SET version = 1000`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, dsn, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("opening a newer schema: %v", err)
	}
}

// Two instances (two Store values, two pools) with two dispatchers each
// claim from one database: no delivery is leased twice.
func TestInstancesNeverShareClaims(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := open(t, dsn), open(t, dsn)
	var fs []finding.Finding
	for i := range 300 {
		f := storetest.Sample(i, "EKS-A", finding.High)
		f.Fingerprint = f.ID // distinct alerts
		fs = append(fs, f)
	}
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd", Repeats: true}} }
	if _, err := a.SaveRouted(ctx, fs, route); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.Claim(ctx, "pd", time.Now().Add(time.Second), 5, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != len(fs) {
		t.Errorf("%d deliveries claimed, want %d", len(seen), len(fs))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %d claimed %d times", id, n)
		}
	}
}

// Two instances saving repeats of one fingerprint at the same time open one
// alert and count every repeat.
func TestInstancesCountRepeats(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := open(t, dsn), open(t, dsn)
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd", Repeats: true}} }
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := storetest.Sample(i, "EKS-A", finding.High) // one fingerprint
			f.EventTime, f.TTL = t0.Add(time.Duration(i)*time.Second), time.Hour
			if _, err := s.SaveRouted(ctx, []finding.Finding{f}, route); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	dels, err := b.Deliveries(ctx, store.OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	triggers := 0
	counts := map[int]bool{}
	for _, d := range dels {
		if d.Kind == store.KindTrigger {
			triggers++
		}
		counts[d.Repeats] = true
	}
	// Each finding counted once: the deliveries carry the counts 1 to n.
	if len(dels) != n || triggers != 1 || len(counts) != n || !counts[n] {
		t.Errorf("%d deliveries, %d triggers, %d distinct counts; want %d, 1 and %d", len(dels), triggers, len(counts), n, n)
	}
}

func TestClosedStore(t *testing.T) {
	s := open(t, pgtest.Schema(t))
	s.Close()
	_, err := s.Save(context.Background(), []finding.Finding{storetest.Sample(1, "EKS-A", finding.High)})
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("save on a closed store: %v, want ErrClosed", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ping on a closed store: %v, want ErrClosed", err)
	}
}

func TestCanceledIsKept(t *testing.T) {
	s := open(t, pgtest.Schema(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Findings(ctx, store.Filter{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled list: %v, want context.Canceled", err)
	}
}

func TestGlobFilters(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	a := storetest.Sample(1, "EKS-A.B", finding.High)
	b := storetest.Sample(2, "EKS-AxB", finding.High)
	c := storetest.Sample(3, "eks-a.b", finding.High)
	if _, err := s.Save(ctx, []finding.Finding{a, b, c}); err != nil {
		t.Fatal(err)
	}
	for pat, want := range map[string]int{
		"EKS-A.B":  1, // '.' is literal
		"EKS-A?B":  2, // '?' is one character
		"EKS-*":    2, // case-sensitive, as SQLite GLOB
		"[Ee]KS-*": 2,
		"[^E]*":    1,
		"*":        3,
	} {
		list, err := s.Findings(ctx, store.Filter{Rules: []string{pat}})
		if err != nil || len(list) != want {
			t.Errorf("rule %q: %d findings, %v; want %d", pat, len(list), err, want)
		}
	}
}

func TestBadDSNIsNotPrinted(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://tw:hunter2@db:notaport/tw", nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "db:") {
		t.Errorf("bad DSN: %v (want an error without the DSN)", err)
	}
}

// Two instances on one database take turns (each step saved by the other
// one, the first closed and opened again in between): what is a repeat is
// judged from the database, never from an instance's memory.
func TestRepeatsAcrossInstancesAndRestarts(t *testing.T) {
	dsn := pgtest.Schema(t)
	var other storetest.OutboxStore
	storetest.RunRepeatCases(t, func(t *testing.T) storetest.OutboxStore {
		other = open(t, dsn)
		return open(t, dsn)
	}, func(t *testing.T, s storetest.OutboxStore) storetest.OutboxStore {
		s.Close()
		next := other
		other = open(t, dsn)
		return next
	})
}

// Two instances saving at once, one a harmless repeat and one a riskier
// change by someone else, of many fingerprints: each fingerprint ends with
// one trigger and one escalation, never two triggers and never a riskier
// change counted as a repeat.
// Groups of many findings that share alerts, saved by two instances at
// once with the alerts in opposite orders: every finding is judged against
// the state the one before it left (within its group and across
// instances), exactly one trigger per alert, and no group waits for the
// other's locks in the opposite order (before the alerts were locked in
// the order of their keys, PostgreSQL aborted such groups: "deadlock
// detected").
func TestGroupsSharingAlertsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := open(t, dsn), open(t, dsn)
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd", Repeats: true}} }
	const alerts, rounds = 20, 4
	var wg sync.WaitGroup
	id := 0
	for r := range rounds {
		for _, s := range []*postgres.Store{a, b} {
			var group []finding.Finding
			for k := range alerts {
				if s == b {
					k = alerts - 1 - k
				}
				// Each alert twice in the group: the second is a repeat
				// of the first.
				for range 2 {
					f := storetest.Sample(id, "EKS-A", finding.High)
					id++
					f.Fingerprint = fmt.Sprintf("fp-%02d", k)
					f.EventTime, f.TTL = t0.Add(time.Duration(r)*time.Second), time.Hour
					group = append(group, f)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.SaveRouted(ctx, group, route)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Inserted != 2*alerts || res.Owed["pd"] != 2*alerts {
					t.Errorf("a group of %d: %+v", 2*alerts, res)
				}
			}()
		}
	}
	wg.Wait()
	dels, err := a.Deliveries(ctx, store.OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string][]store.Delivery{}
	for _, d := range dels {
		per[d.AlertKey] = append(per[d.AlertKey], d)
	}
	if len(per) != alerts {
		t.Fatalf("%d alerts with deliveries, want %d", len(per), alerts)
	}
	for k, ds := range per {
		triggers := 0
		counts := map[int]bool{}
		for _, d := range ds {
			if d.Kind == store.KindTrigger {
				triggers++
			}
			counts[d.Repeats] = true
		}
		n := 2 * 2 * rounds
		if len(ds) != n || triggers != 1 || len(counts) != n || !counts[n] {
			t.Errorf("alert %s: %d deliveries, %d triggers, %d distinct counts; want %d, 1 and %d", k, len(ds), triggers, len(counts), n, n)
		}
	}
}

func TestInstancesEscalateConcurrently(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := open(t, dsn), open(t, dsn)
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "sms"}} }
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		alice := storetest.Sample(2*i, "EKS-A", finding.High)
		alice.Fingerprint = fmt.Sprintf("fp-%d", i)
		alice.EventTime, alice.TTL = t0, time.Hour
		mallory := storetest.Sample(2*i+1, "EKS-A", finding.VeryHigh)
		mallory.Fingerprint, mallory.EventTime, mallory.TTL = alice.Fingerprint, t0.Add(time.Minute), time.Hour
		mallory.Actor.ARN, mallory.Actor.Name = "arn:aws:iam::111122223333:user/mallory", "mallory"
		for _, x := range []struct {
			s *postgres.Store
			f finding.Finding
		}{{a, alice}, {b, mallory}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := x.s.SaveRouted(ctx, []finding.Finding{x.f}, route); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	dels, err := a.Deliveries(ctx, store.OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string][]string{}
	for _, d := range dels {
		kinds[d.AlertKey] = append(kinds[d.AlertKey], d.Kind)
	}
	if len(kinds) != n {
		t.Fatalf("%d alerts with deliveries, want %d", len(kinds), n)
	}
	for k, ks := range kinds {
		sort.Strings(ks)
		if len(ks) != 2 || ks[0] != store.KindEscalation || ks[1] != store.KindTrigger {
			t.Errorf("alert %s owes %v, want one escalation and one trigger", k, ks)
		}
	}
}

func TestQuarantine(t *testing.T) {
	storetest.RunQuarantine(t, open(t, pgtest.Schema(t)))
}

// BenchmarkCommitPath guards the commit path on PostgreSQL (SaveRouted of
// groups of findings with deliveries, claims and settles beside them):
//
//	go test -run '^$' -bench CommitPath -benchtime 200x ./internal/store/postgres/
func BenchmarkCommitPath(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("group=%d", n), func(b *testing.B) {
			storetest.BenchCommitPath(b, open(b, pgtest.Schema(b)), n)
		})
	}
}

// TestCommitPathBenchmarkRuns runs the commit path benchmark once in CI,
// for its checks (every delivery owed is claimed and settled), not for
// its time.
func TestCommitPathBenchmarkRuns(t *testing.T) {
	pgtest.Schema(t) // skips without PostgreSQL
	r := testing.Benchmark(func(b *testing.B) {
		s, err := postgres.Open(context.Background(), pgtest.Schema(t), nil) // each run on a fresh schema
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		storetest.BenchCommitPath(b, s, 32)
	})
	if r.N == 0 {
		t.Fatal("the commit path benchmark failed")
	}
}

func TestTriageSuite(t *testing.T) {
	storetest.RunTriage(t, func(t *testing.T, now func() time.Time) store.Full {
		s, err := postgres.Open(context.Background(), pgtest.Schema(t), now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A finding PostgreSQL refuses (a NUL byte in a text column, which an
// event's field can carry) fails its group with an error naming it, and
// the group's other findings are not half-saved: the transaction is
// rolled back whole, so a retry of the others alone stores them.
func TestRefusedFindingIsNamed(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Schema(t))
	route := func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd"}} }
	good := storetest.Sample(1, "EKS-A", finding.High)
	bad := storetest.Sample(2, "EKS-A", finding.High)
	bad.Actor.Name = "mallory\x00"
	_, err := s.SaveRouted(ctx, []finding.Finding{good, bad}, route)
	if err == nil || !strings.Contains(err.Error(), bad.ID) {
		t.Fatalf("save with a refused finding: %v, want an error naming %s", err, bad.ID)
	}
	if all, err := s.Findings(ctx, store.Filter{}); err != nil || len(all) != 0 {
		t.Fatalf("%d findings stored after the failed group (%v), want 0", len(all), err)
	}
	if dels, _ := s.Deliveries(ctx, store.OutboxFilter{}); len(dels) != 0 {
		t.Fatalf("%d deliveries owed after the failed group, want 0", len(dels))
	}
	res, err := s.SaveRouted(ctx, []finding.Finding{good}, route)
	if err != nil || res.Inserted != 1 || res.Owed["pd"] != 1 {
		t.Fatalf("the good finding alone: %+v, %v", res, err)
	}
}

// A finding's JSON and its event are compressed with lz4 where the server
// has it (PostgreSQL 14 built with lz4, as Debian's): a third less of the
// server's time per finding than pglz. Elsewhere the migration leaves the
// server's default, and the store opens and saves all the same.
func TestFindingsCompressWithLZ4WhereTheServerCan(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	defer s.Close()
	f := storetest.Sample(1, "EKS-A", finding.High)
	f.Raw = json.RawMessage(`{"eventVersion":"1.09","requestParameters":{"name":"` + strings.Repeat("EXAMPLE-", 400) + `"}}`)
	if _, err := s.Save(ctx, []finding.Finding{f}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Can this server compress with lz4 at all?
	lz4 := true
	var version int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 140000 {
		lz4 = false
	} else if _, err := conn.Exec(ctx, `SET default_toast_compression = lz4`); err != nil {
		lz4 = false
	}
	for _, col := range []string{"data", "raw"} {
		var method string
		err := conn.QueryRow(ctx, `SELECT coalesce(attcompression::text, '') FROM pg_attribute WHERE attrelid = 'findings'::regclass AND attname = $1`, col).Scan(&method)
		if err != nil && version >= 140000 {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "l", false: ""}[lz4]; method != want {
			t.Errorf("findings.%s compression %q, want %q (server %d, lz4 %v)", col, method, want, version, lz4)
		}
	}
	if lz4 {
		var stored string
		if err := conn.QueryRow(ctx, `SELECT coalesce(pg_column_compression(raw), '') FROM findings WHERE id = $1`, f.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != "lz4" {
			t.Errorf("the finding's event was stored with %q, want lz4", stored)
		}
	}
	got, err := s.Finding(ctx, f.ID)
	if err != nil || string(got.Raw) != string(f.Raw) {
		t.Errorf("finding read back: %v, event intact %v", err, err == nil && string(got.Raw) == string(f.Raw))
	}
}
