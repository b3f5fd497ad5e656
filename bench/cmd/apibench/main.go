// Command apibench seeds a store with many findings (a realistic spread
// over rules, accounts, actors and 90 days) and measures the HTTP API's
// common queries through its handler: p50, p95 and p99 of each, and the
// time and peak Go heap of a CSV export of every finding. The dashboard's
// pages are measured the same way, served behind the API as trailwatch ui
// serves them: the feed's first page (the budget: under 200 ms server
// time), a filtered feed page and a finding's page.
//
//	go run ./bench/cmd/apibench -n 1000000                       # SQLite in a temporary folder
//	go run ./bench/cmd/apibench -n 1000000 -dsn "$TRAILWATCH_POSTGRES_DSN"
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/postgres"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/web"
)

func main() {
	n := flag.Int("n", 1_000_000, "findings to seed")
	dsn := flag.String("dsn", "", "PostgreSQL DSN (a fresh schema is expected); default SQLite in a temporary folder")
	db := flag.String("db", "", "SQLite file to use (kept); default a temporary one")
	reps := flag.Int("reps", 40, "repetitions of each query")
	skipSeed := flag.Bool("no-seed", false, "the store is already seeded")
	flag.Parse()
	ctx := context.Background()
	var st store.Full
	switch {
	case *dsn != "":
		p, err := postgres.Open(ctx, *dsn, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer p.Close()
		st = p
	default:
		path := *db
		if path == "" {
			dir, err := os.MkdirTemp("", "apibench")
			if err != nil {
				log.Fatal(err)
			}
			defer os.RemoveAll(dir)
			path = filepath.Join(dir, "tw.db")
		}
		s, err := sqlite.Open(path, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		st = s
	}
	end := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	if !*skipSeed {
		t0 := time.Now()
		if err := seed(ctx, st, *n, end); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("seeded %d findings in %s (%.0f/s)\n", *n, time.Since(t0).Round(time.Second), float64(*n)/time.Since(t0).Seconds())
	}
	pages, err := web.New(web.Options{Store: st, Outbox: st, APIPath: api.Prefix, Who: api.Who, Now: func() time.Time { return end }})
	if err != nil {
		log.Fatal(err)
	}
	h, err := api.New(api.Config{Store: st, Pages: pages})
	if err != nil {
		log.Fatal(err)
	}
	get := func(path string) (int, int64) {
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.code, w.n
	}
	// A finding to show, and the text searched: real ones.
	code, _ := get("/api/v1/findings?limit=1")
	if code != 200 {
		log.Fatalf("GET /findings: %d", code)
	}
	page, err := st.Page(ctx, store.Query{Filter: store.Filter{Limit: 1}})
	if err != nil || len(page) == 0 {
		log.Fatal("no findings", err)
	}
	since := end.Add(-7 * 24 * time.Hour).Format(time.RFC3339)
	queries := []struct{ name, path string }{
		{"no filter, first page", "/api/v1/findings"},
		{"risk >= HIGH", "/api/v1/findings?min_risk=HIGH"},
		{"one rule", "/api/v1/findings?rule=RULE-017"},
		{"one account + open", "/api/v1/findings?account=100000000007&status=open"},
		{"7-day window", "/api/v1/findings?since=" + url.QueryEscape(since)},
		{"text search", "/api/v1/findings?q=" + url.QueryEscape("deploy-bot-42")},
		{"detail view", "/api/v1/findings/" + page[0].ID},
		{"page: feed, first page", "/findings"},
		{"page: feed, risk >= HIGH", "/findings?risk=HIGH"},
		{"page: feed, rule + open", "/findings?rule=RULE-017&status=open"},
		{"page: a finding", "/findings/" + page[0].ID},
	}
	fmt.Printf("\n%-26s %9s %9s %9s %9s\n", "query", "p50 ms", "p95 ms", "p99 ms", "bytes")
	for _, q := range queries {
		var ds []time.Duration
		var size int64
		for i := 0; i < *reps; i++ {
			t := time.Now()
			code, n := get(q.path)
			if code != 200 {
				log.Fatalf("%s: %d", q.path, code)
			}
			ds = append(ds, time.Since(t))
			size = n
		}
		slices.Sort(ds)
		p := func(f float64) float64 { return float64(ds[int(f*float64(len(ds)-1))].Microseconds()) / 1000 }
		fmt.Printf("%-26s %9.1f %9.1f %9.1f %9d\n", q.name, p(0.5), p(0.95), p(0.99), size)
	}
	// The export: time, and the peak heap sampled while it runs.
	runtime.GC()
	base := heap()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if v := heap(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	t := time.Now()
	code, size := get("/api/v1/findings/export?format=csv")
	close(stop)
	if code != 200 {
		log.Fatalf("export: %d", code)
	}
	fmt.Printf("\nCSV export: %d bytes in %s; Go heap %0.1f MB before, peak %0.1f MB during\n", size, time.Since(t).Round(time.Millisecond),
		float64(base)/(1<<20), float64(peak.Load())/(1<<20))
}

// heap reads the bytes of live and not-yet-swept heap objects.
func heap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// discard is a ResponseWriter that counts and drops the body.
type discard struct {
	h    http.Header
	code int
	n    int64
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) Write(b []byte) (int, error) {
	if d.code == 0 {
		d.code = 200
	}
	d.n += int64(len(b))
	return len(b), nil
}
func (d *discard) WriteHeader(c int) { d.code = c }

var _ io.Writer = (*discard)(nil)

// seed saves n findings: 200 rules, 60 accounts, 4 regions, 2,000 actors
// (a few very active), 90 days before end, risks mostly low and medium;
// about a third acknowledged or resolved.
func seed(ctx context.Context, st store.Full, n int, end time.Time) error {
	r := rand.New(rand.NewPCG(1, 2))
	regions := []string{"us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"}
	risks := []finding.Risk{finding.Low, finding.Low, finding.Low, finding.Medium, finding.Medium, finding.High, finding.VeryHigh, finding.Extreme}
	batch := make([]finding.Finding, 0, 2000)
	var ack, res []string
	flush := func() error {
		if _, err := st.Save(ctx, batch); err != nil {
			return err
		}
		batch = batch[:0]
		now := time.Now()
		if len(ack) > 0 {
			if _, err := st.Transition(ctx, ack, store.StatusAcknowledged, "bench", "", now, nil); err != nil {
				return err
			}
		}
		if len(res) > 0 {
			if _, err := st.Transition(ctx, res, store.StatusResolved, "bench", "", now, nil); err != nil {
				return err
			}
		}
		ack, res = ack[:0], res[:0]
		return nil
	}
	for i := 0; i < n; i++ {
		rule := fmt.Sprintf("RULE-%03d", int(r.ExpFloat64()*30)%200)
		acct := fmt.Sprintf("1000000000%02d", r.IntN(60))
		region := regions[r.IntN(len(regions))]
		who := fmt.Sprintf("deploy-bot-%d", int(r.ExpFloat64()*200)%2000)
		res0 := fmt.Sprintf("cluster-%d", r.IntN(5000))
		eid := fmt.Sprintf("bench-%010d", i)
		f := finding.Finding{
			ID: finding.ID(eid, rule), Fingerprint: finding.Fingerprint(rule, acct, region, res0), RuleID: rule, RuleTitle: "rule " + rule,
			Service: "eks", Risk: risks[r.IntN(len(risks))], RiskReasons: []string{}, EventID: eid,
			EventTime: end.Add(-time.Duration(r.Int64N(int64(90 * 24 * time.Hour)))), EventSource: "eks.amazonaws.com", EventName: "UpdateClusterConfig",
			AccountID: acct, Region: region, Actor: actor.Actor{Type: "AssumedRole", ARN: "arn:aws:sts::" + acct + ":assumed-role/" + who + "/session", Name: who},
			AccessMethod: "sdk", Outcome: "success", Resource: finding.Resource{Type: "cluster", Name: res0},
			Summary: who + " updated EKS cluster " + res0 + " in " + acct + "/" + region, Changes: map[string]any{"name": res0},
			Raw: []byte(`{"eventID":"` + eid + `"}`),
		}
		batch = append(batch, f)
		switch r.IntN(6) {
		case 0:
			ack = append(ack, f.ID)
		case 1:
			res = append(res, f.ID)
		}
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		return flush()
	}
	return nil
}
