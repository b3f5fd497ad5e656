package app

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// A team backfills with a scan that does not notify, then goes live: when
// run receives the same events (EventBridge, or the S3 file arriving
// later) they are already stored, and still alert, once.
func TestFindingsStoredUnroutedAlertWhenRunSeesThem(t *testing.T) {
	rcv, hook := newReceiver()
	defer hook.Close()
	cfg := testConfig(t, hook.URL)
	body, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// The backfill: the engine's findings saved without routes, as
	// trailwatch scan without --notify does.
	_, eng, err := Engine(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	events, _, errs := source.Decode(bytes.NewReader(body), "backfill", eng.Wants, 1<<20)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var fs []finding.Finding
	for _, ev := range events {
		fs = append(fs, eng.Evaluate(ev)...)
	}
	st, err := sqlite.Open(cfg.Store.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := st.Save(context.Background(), fs); err != nil || r.Inserted == 0 {
		t.Fatalf("backfill save: %+v, %v", r, err)
	}
	st.Close()
	high := 0
	for _, f := range fs {
		if f.Risk >= finding.High {
			high++
		}
	}

	addrs, stop := start(t, cfg)
	defer stop()
	url := "http://" + addrs["eventbridge"] + "/events"
	if code, out := post(t, url, apiKey, body); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, out)
	}
	waitFor(t, "the backfilled findings' alerts", func() bool { u, _ := rcv.count(); return u == high })
	// Seen a third time: it owes nothing more (a 200 means committed).
	if code, out := post(t, url, apiKey, body); code != http.StatusOK {
		t.Fatalf("second post: %d %s", code, out)
	}
	st, err = sqlite.Open(cfg.Store.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if d, err := st.Deliveries(context.Background(), store.OutboxFilter{}); err != nil || len(d) != high {
		t.Errorf("%d deliveries, %v; want %d, one per alert", len(d), err, high)
	}
	if u, total := rcv.count(); u != high || total != high {
		t.Errorf("%d alerts (%d deliveries), want %d once each", u, total, high)
	}
}
