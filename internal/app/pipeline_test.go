package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/store"
)

// exampleFindings are the engine's findings of the example EventBridge
// events.
func exampleFindings(t *testing.T, p *Pipeline) []finding.Finding {
	t.Helper()
	body, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	events, _, errs := source.Decode(bytes.NewReader(body), "test", p.Engine().Wants, 1<<20)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var fs []finding.Finding
	for _, ev := range events {
		fs = append(fs, p.Engine().Evaluate(ev)...)
	}
	if len(fs) == 0 {
		t.Fatal("the example events raise no finding")
	}
	return fs
}

// A pipeline without delivery saves findings unrouted (scan without
// --notify); one with delivery routes them when asked (RouteUnrouted),
// delivers them (Drain), and routes nothing twice.
func TestPipelineSaveRouteDrain(t *testing.T) {
	rcv, hook := newReceiver()
	defer hook.Close()
	cfg := testConfig(t, hook.URL)
	ctx := context.Background()

	quiet, err := NewPipeline(cfg, PipelineOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if quiet.Routes() || len(quiet.Channels()) != 0 || quiet.Engine() == nil || quiet.Catalogue() == nil {
		t.Fatalf("a pipeline without Deliver: routes %v, %d channels, engine %v", quiet.Routes(), len(quiet.Channels()), quiet.Engine() != nil)
	}
	fs := exampleFindings(t, quiet)
	res, err := quiet.Save(ctx, fs)
	if err != nil || res.Inserted != len(fs) || len(res.Owed) != 0 {
		t.Fatalf("Save = %+v, %v; want %d inserted, nothing owed", res, err, len(fs))
	}
	quiet.Close()
	high := 0
	for _, f := range fs {
		if f.Risk >= finding.High { // the channel's min_risk
			high++
		}
	}

	p, err := NewPipeline(cfg, PipelineOptions{Getenv: getenv, Deliver: true, NoRules: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Engine() != nil || !p.Routes() || len(p.Channels()) != 1 || p.Channels()[0].Name != "soc-hook" {
		t.Fatalf("a delivering pipeline without rules: engine %v, routes %v, channels %+v", p.Engine() != nil, p.Routes(), p.Channels())
	}
	n, err := p.RouteUnrouted(ctx, time.Time{})
	if err != nil || n != len(fs) {
		t.Fatalf("RouteUnrouted = %d, %v; want %d", n, err, len(fs))
	}
	d, err := p.Drain(ctx, 30*time.Second)
	if err != nil || d.Sent != int64(high) || d.Dead != 0 || d.Left != 0 || d.Failed() {
		t.Fatalf("Drain = %+v, %v; want %d sent, none dead or left", d, err, high)
	}
	if u, total := rcv.count(); u != high || total != high {
		t.Errorf("the receiver got %d alerts (%d deliveries), want %d once each", u, total, high)
	}
	if n, err := p.RouteUnrouted(ctx, time.Time{}); err != nil || n != 0 {
		t.Errorf("second RouteUnrouted = %d, %v; want nothing left to route", n, err)
	}
	// Seen again through the pipeline: already stored, nothing owed.
	res, err = p.Save(ctx, fs)
	if err != nil || res.Inserted != 0 || res.Duplicates != len(fs) || len(res.Owed) != 0 {
		t.Errorf("Save again = %+v, %v; want %d duplicates, nothing owed", res, err, len(fs))
	}
	dels, err := p.Store().Deliveries(ctx, store.OutboxFilter{})
	if err != nil || len(dels) != high {
		t.Errorf("%d deliveries, %v; want %d", len(dels), err, high)
	}
}

// stillClock reads the wall clock but its timers never fire: a dispatcher
// on it never polls, and delivers only when woken.
type stillClock struct{}

func (stillClock) Now() time.Time                       { return time.Now() }
func (stillClock) After(time.Duration) <-chan time.Time { return nil }

// Save wakes the channels it owes: the dispatcher delivers at once, not at
// its next poll (which never comes on this clock).
func TestPipelineSaveKicksDispatcher(t *testing.T) {
	rcv, hook := newReceiver()
	defer hook.Close()
	cfg := testConfig(t, hook.URL)
	p, err := NewPipeline(cfg, PipelineOptions{Getenv: getenv, Deliver: true, Clock: stillClock{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Dispatcher().Run(ctx)
		close(done)
	}()
	defer func() { cancel(); <-done }()
	fs := exampleFindings(t, p)
	res, err := p.Save(ctx, fs)
	if err != nil || len(res.Owed) == 0 {
		t.Fatalf("Save = %+v, %v; want deliveries owed", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if u, _ := rcv.count(); u == res.Owed["soc-hook"] {
			break
		}
		if time.Now().After(deadline) {
			u, _ := rcv.count()
			t.Fatalf("%d of %d alerts delivered", u, res.Owed["soc-hook"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Problems of the rules and of the channels come together, and no store
// is created when there are any.
func TestPipelineReportsEveryProblemAndOpensNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tw.db")
	cfg, err := config.Parse(strings.NewReader(`
store: {path: ` + db + `}
rules:
  NO-SUCH-RULE: {enabled: false}
channels:
  - name: broken
    type: webhook
    url: ftp://example.com/hook
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewPipeline(cfg, PipelineOptions{Getenv: getenv, Deliver: true})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"NO-SUCH-RULE", "broken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the store was created despite the errors: %v", err)
	}
	// Without Deliver the channels are not built, so only the rules fail.
	_, err = NewPipeline(cfg, PipelineOptions{Getenv: getenv})
	if err == nil || strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "NO-SUCH-RULE") {
		t.Errorf("without Deliver: %v; want only the rule's problem", err)
	}
}
