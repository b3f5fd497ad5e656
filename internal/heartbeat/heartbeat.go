// Package heartbeat generates the trail-silence finding: it remembers when
// each account and region last sent an event (here, and in the store for
// every instance) and reports those silent for longer than allowed, once
// per silence. A monitor that silently stops seeing events is worse than
// none. It imports finding, actor, duration and store.
package heartbeat

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Rule is the rule id of heartbeat findings.
const Rule = "TRAILWATCH-TRAIL-SILENT"

// Trail is an account and region.
type Trail struct{ Account, Region string }

// Monitor remembers when each account and region last sent an event and
// reports those silent for longer than allowed. It is safe for concurrent
// use.
type Monitor struct {
	mu         sync.Mutex
	maxSilence time.Duration
	now        func() time.Time
	started    time.Time
	last       map[[2]string]time.Time
	reported   map[[2]string]time.Time // the last-seen time already reported
	// dirty is what this instance saw since it last recorded activity in
	// the store, where the instance judging silences reads every
	// instance's.
	dirty map[[2]string]time.Time
}

// New returns a monitor that reports a trail silent for longer than
// maxSilence; expect are trails to report even if they never send. A zero
// maxSilence turns it off (every method does nothing).
func New(maxSilence time.Duration, expect []Trail, now func() time.Time) *Monitor {
	h := &Monitor{now: now, started: now(), last: map[[2]string]time.Time{}, reported: map[[2]string]time.Time{}, dirty: map[[2]string]time.Time{}}
	if maxSilence <= 0 {
		return h
	}
	h.maxSilence = maxSilence
	for _, e := range expect {
		h.last[[2]string{e.Account, e.Region}] = time.Time{}
	}
	return h
}

// MaxSilence is the silence allowed; 0 when the monitor is off.
func (h *Monitor) MaxSilence() time.Duration {
	if h == nil {
		return 0
	}
	return h.maxSilence
}

// Saw records an event. Events are judged by arrival, so a late S3 file
// does not look like a live trail; the event time only orders them.
func (h *Monitor) Saw(account, region string, _ time.Time) {
	if h == nil || h.maxSilence == 0 || account == "" || region == "" {
		return
	}
	h.mu.Lock()
	now := h.now()
	h.last[[2]string{account, region}] = now
	h.dirty[[2]string{account, region}] = now
	h.mu.Unlock()
}

// Pending takes what this instance saw since the last call, to record in
// the store.
func (h *Monitor) Pending() []store.Seen {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]store.Seen, 0, len(h.dirty))
	for k, at := range h.dirty {
		out = append(out, store.Seen{Account: k[0], Region: k[1], At: at})
	}
	clear(h.dirty)
	sort.Slice(out, func(i, j int) bool { return out[i].Account+out[i].Region < out[j].Account+out[j].Region })
	return out
}

// Unrecorded puts back activity the store did not take, for the next try.
func (h *Monitor) Unrecorded(seen []store.Seen) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range seen {
		k := [2]string{x.Account, x.Region}
		if x.At.After(h.dirty[k]) {
			h.dirty[k] = x.At
		}
	}
}

// Merge learns every instance's activity from the store: the judge counts
// an account and region as live when any instance received its events.
func (h *Monitor) Merge(seen []store.Seen) {
	if h == nil || h.maxSilence == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range seen {
		k := [2]string{x.Account, x.Region}
		if last, ok := h.last[k]; !ok || x.At.After(last) {
			h.last[k] = x.At
		}
	}
}

// Check returns a finding for every account and region silent too long,
// once per silence.
func (h *Monitor) Check() []finding.Finding {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	var out []finding.Finding
	keys := make([][2]string, 0, len(h.last))
	for k := range h.last {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		last := h.last[k]
		since := last
		if since.IsZero() {
			since = h.started
		}
		if now.Sub(since) < h.maxSilence {
			continue
		}
		if r, done := h.reported[k]; done && r.Equal(last) {
			continue
		}
		h.reported[k] = last
		out = append(out, h.silence(k[0], k[1], since, !last.IsZero(), now))
	}
	return out
}

// silence is the finding for an account and region silent since a time:
// not a change anyone made, so it has no actor, source address, access
// method or CloudTrail event, and its event id (which makes the finding id)
// names the trail and the start of the silence.
func (h *Monitor) silence(account, region string, since time.Time, seen bool, now time.Time) finding.Finding {
	what := "no CloudTrail events since trailwatch started at " + since.UTC().Format(time.RFC3339)
	if seen {
		what = "no CloudTrail events since " + since.UTC().Format(time.RFC3339)
	}
	silent := duration.Format(now.Sub(since).Truncate(time.Minute))
	id := fmt.Sprintf("trailwatch-heartbeat/%s/%s/never", account, region)
	if seen {
		id = fmt.Sprintf("trailwatch-heartbeat/%s/%s/%d", account, region, since.Unix())
	}
	return finding.Finding{
		ID: finding.ID(id, Rule), Fingerprint: finding.Fingerprint(Rule, account, region, "trail"),
		RuleID: Rule, RuleTitle: "Monitored trail went silent", Service: "cloudtrail", Risk: finding.High,
		RiskReasons: []string{fmt.Sprintf("silent for %s, more than heartbeat.max_silence (%s): changes may be going unseen", silent, duration.Format(h.maxSilence))},
		EventID:     id, EventTime: now, EventSource: finding.SelfSource, EventName: "TrailSilent",
		AccountID: account, Region: region,
		Actor:    actor.Actor{Type: finding.SelfSource, Name: "trailwatch heartbeat"},
		Outcome:  "success",
		Resource: finding.Resource{Type: "trail", Name: account + "/" + region},
		Summary:  fmt.Sprintf("the trail of account %s in %s went silent: trailwatch has seen %s", account, region, what),
		Changes:  map[string]any{"silent_since": since.UTC().Format(time.RFC3339), "max_silence": duration.Format(h.maxSilence)},
		Remediation: "Check that CloudTrail is logging (aws cloudtrail get-trail-status), that the EventBridge rule and SQS queue " +
			"of the trailwatch stack exist in this region, and the queue's dead-letter queue.",
		TTL: h.maxSilence,
	}
}

// TrailState is what the monitor knows of one trail: when its last event
// arrived (zero when none has since the monitor started) and its state:
// ok, silent (longer than the allowed silence) or waiting (expected,
// nothing yet, within the allowed silence of the start).
type TrailState struct {
	Trail
	LastEvent time.Time
	State     string
}

// Trails reports every trail the monitor watches, by account and region;
// nil when it is off. On an instance that does not judge silences it knows
// only the events this instance received.
func (h *Monitor) Trails() []TrailState {
	if h == nil || h.maxSilence == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	out := make([]TrailState, 0, len(h.last))
	for k, last := range h.last {
		t := TrailState{Trail: Trail{Account: k[0], Region: k[1]}, LastEvent: last, State: "ok"}
		since := last
		if since.IsZero() {
			since, t.State = h.started, "waiting"
		}
		if now.Sub(since) >= h.maxSilence {
			t.State = "silent"
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account+out[i].Region < out[j].Account+out[j].Region })
	return out
}
