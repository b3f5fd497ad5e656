package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// A backfill scan stores findings without alerting; outbox route then
// queues what they owe, once, and outbox deliver sends it (issue 8 §5).
func TestOutboxRouteQueuesWhatABackfillOwes(t *testing.T) {
	cfg, db := writeConfig(t, "channels: [{name: term, type: console, stream: stderr}]\n")
	r := run(t, "", "scan", "--config", cfg, "--format", "jsonl", examples)
	if r.code != ExitOK {
		t.Fatalf("scan: exit %d: %s", r.code, r.stderr)
	}
	// The summary says the findings were stored without notifying, and
	// how they will still alert; a second scan stores nothing new and
	// says nothing of it.
	const note = "16 new findings were stored without notifying: trailwatch run alerts them when it sees their events again; trailwatch outbox route queues them now"
	if !strings.Contains(r.stderr, note) {
		t.Errorf("scan summary lacks the note on notifying:\n%s", r.stderr)
	}
	if r := run(t, "", "scan", "--config", cfg, "--format", "jsonl", examples); strings.Contains(r.stderr, "without notifying") {
		t.Errorf("a scan that stored nothing new speaks of notifying:\n%s", r.stderr)
	}
	if r := run(t, "", "scan", "--db", ":memory:", "--format", "jsonl", examples); strings.Contains(r.stderr, "without notifying") {
		t.Errorf("a scan that keeps nothing speaks of notifying:\n%s", r.stderr)
	}
	if r := run(t, "", "outbox", "list", "--db", db); strings.TrimSpace(r.stdout) != "no deliveries match" {
		t.Fatalf("a scan without --notify queued deliveries:\n%s", r.stdout)
	}
	// The example trail is older than an hour: nothing that recent.
	if r := run(t, "", "outbox", "route", "--config", cfg, "--since", "1h"); r.code != ExitOK || strings.TrimSpace(r.stdout) != "0 findings routed" {
		t.Fatalf("route --since 1h: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "", "outbox", "route", "--config", cfg)
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "16 findings routed") {
		t.Fatalf("route: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	var dels []deliveryJSON
	r = run(t, "", "outbox", "list", "--db", db, "--format", "json", "--limit", "0")
	if err := json.Unmarshal([]byte(r.stdout), &dels); err != nil || len(dels) == 0 {
		t.Fatalf("outbox list after route: %d deliveries, %v\n%s", len(dels), err, r.stdout)
	}
	for _, d := range dels {
		if d.Channel != "term" || d.Status != "pending" {
			t.Errorf("delivery %+v; want pending to term", d)
		}
	}
	// Routed once: a second route owes nothing more.
	if r := run(t, "", "outbox", "route", "--config", cfg); strings.TrimSpace(r.stdout) != "0 findings routed" {
		t.Errorf("second route: %q", r.stdout)
	}
	r = run(t, "", "outbox", "deliver", "--config", cfg, "--timeout", "30s")
	if r.code != ExitOK || !strings.Contains(r.stdout, " delivered, 0 dead, 0 still pending") {
		t.Fatalf("deliver: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	var again []deliveryJSON
	r = run(t, "", "outbox", "list", "--db", db, "--format", "json", "--limit", "0")
	json.Unmarshal([]byte(r.stdout), &again)
	if len(again) != len(dels) {
		t.Errorf("%d deliveries after deliver, want the same %d", len(again), len(dels))
	}
	for _, d := range again {
		if d.Status != "done" {
			t.Errorf("delivery %d is %s, want done", d.ID, d.Status)
		}
	}

	// No channel to route to is an error, and routes nothing.
	cfg2, _ := writeConfig(t, "")
	if r := run(t, "", "outbox", "route", "--config", cfg2, "--db", db); r.code != ExitError || !strings.Contains(r.stderr, "no channels") {
		t.Errorf("route without channels: exit %d, %s", r.code, r.stderr)
	}
}
