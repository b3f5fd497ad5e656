package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// blockingStore holds its first commit until released, and records the
// size of every commit.
type blockingStore struct {
	Backend
	entered chan struct{} // closed when the first commit starts
	release chan struct{}
	mu      sync.Mutex
	commits []int // findings per commit
}

func (b *blockingStore) SaveRouted(ctx context.Context, fs []finding.Finding, route store.Router) (store.SaveResult, error) {
	b.mu.Lock()
	b.commits = append(b.commits, len(fs))
	first := len(b.commits) == 1
	b.mu.Unlock()
	if first {
		close(b.entered)
		<-b.release
	}
	return b.Backend.SaveRouted(ctx, fs, route)
}

func (b *blockingStore) sizes() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.commits...)
}

// exampleEvent is examples/eventbridge.jsonl's first event with event id
// i, at the given time.
func exampleEvent(t *testing.T, i int, at string) []byte {
	t.Helper()
	ex, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(string(ex), "\n", 2)[0] + "\n"
	line = strings.ReplaceAll(line, "9e8d7c6b-0000-4000-8000-000000000020", fmt.Sprintf("9e8d7c6b-0000-4000-8000-%012d", i))
	return []byte(strings.ReplaceAll(line, "2026-11-20T11:00:00Z", at))
}

// The committer is pipelined: while one group commits, the batches that
// arrive are evaluated and accumulate into the next group, which commits
// as one the moment the first is done. Nothing is acknowledged before its
// own commit.
func TestNextGroupIsEvaluatedWhileOneCommits(t *testing.T) {
	cfg := testConfig(t, "https://receiver.example")
	bs := &blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
	_, addrs, stop := startWith(t, cfg, func(b Backend) Backend { bs.Backend = b; return bs })
	defer stop()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(bs.release) }) }
	defer release() // before stop, should the test end early
	url := "http://" + addrs["eventbridge"] + "/events"

	type answer struct {
		i    int
		code int
		msg  string
	}
	answers := make(chan answer, 16)
	go func() {
		code, msg := post(t, url, apiKey, exampleEvent(t, 0, "2026-11-20T11:00:00Z"))
		answers <- answer{0, code, msg}
	}()
	<-bs.entered // the first commit is in progress (and held)

	// A batch of events from six years ago arrives during it: the lag
	// gauge shows it once it is evaluated.
	const more = 5
	go func() {
		var body []byte
		for i := 1; i <= more; i++ {
			body = append(body, exampleEvent(t, i, "2020-01-01T00:00:00Z")...)
		}
		code, msg := post(t, url, apiKey, body)
		answers <- answer{1, code, msg}
	}()
	waitFor(t, "the batch that arrived during a commit to be evaluated before that commit ends", func() bool {
		f := strings.Fields(metric(t, addrs["admin"], `trailwatch_source_lag_seconds{source="eventbridge"}`))
		if len(f) != 2 {
			return false
		}
		lag, err := strconv.ParseFloat(f[1], 64)
		return err == nil && lag > 5*365*24*3600
	})
	if n := len(bs.sizes()); n != 1 {
		t.Fatalf("%d commits started while the first was held; want 1 (one commit in flight)", n)
	}
	select {
	case a := <-answers:
		t.Fatalf("request %d answered %d %s while the first commit was held", a.i, a.code, a.msg)
	default:
	}
	release()
	for range 2 {
		a := <-answers
		if want := fmt.Sprintf("%d new", max(1, a.i*more)); a.code != http.StatusOK || !strings.Contains(a.msg, want) {
			t.Errorf("request %d: %d %s; want 200 and %q", a.i, a.code, a.msg, want)
		}
	}
	if got := bs.sizes(); len(got) != 2 || got[0] != 1 || got[1] != more {
		t.Errorf("findings per commit: %v; want [1 %d]", got, more)
	}
}

// trailwatch run collects garbage at RunGCPercent while it runs, unless
// GOGC is set, and restores the setting when it returns.
func TestRunSetsItsGCPercent(t *testing.T) {
	gcPercent := func() int {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	before := gcPercent()
	cfg := testConfig(t, "https://receiver.example")
	// GOGC unset (empty, as the runtime reads it): run collects at
	// RunGCPercent and restores the setting when it returns.
	t.Setenv("GOGC", "")
	_, _, stop := startWith(t, cfg, nil)
	if got := gcPercent(); got != RunGCPercent {
		t.Errorf("GOGC while running: %d, want %d", got, RunGCPercent)
	}
	stop()
	if got := gcPercent(); got != before {
		t.Errorf("GOGC after run returned: %d, want %d as before", got, before)
	}
	// GOGC set by the operator: run leaves the collector alone.
	t.Setenv("GOGC", "150")
	_, _, stop = startWith(t, cfg, nil)
	if got := gcPercent(); got != before {
		t.Errorf("GOGC=150 in the environment, but run set the collector to %d", got)
	}
	stop()
}
