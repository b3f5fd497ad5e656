package app

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// SilenceRule is the rule id of heartbeat findings.
const SilenceRule = "TRAILWATCH-TRAIL-SILENT"

// heartbeat remembers when each account and region last sent an event and
// reports those silent for longer than allowed: a monitor that silently
// stops seeing events is worse than none.
type heartbeat struct {
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

// newHeartbeat builds the heartbeat from its validated configuration
// (config checks max_silence and expect); a zero max_silence disables it.
func newHeartbeat(c config.Heartbeat, now func() time.Time) *heartbeat {
	h := &heartbeat{now: now, started: now(), last: map[[2]string]time.Time{}, reported: map[[2]string]time.Time{}, dirty: map[[2]string]time.Time{}}
	if c.MaxSilence <= 0 {
		return h
	}
	h.maxSilence = c.MaxSilence.D()
	for _, e := range c.Expect {
		h.last[[2]string{e.Account, e.Region}] = time.Time{}
	}
	return h
}

// saw records an event. Events are judged by arrival, so a late S3 file
// does not look like a live trail; the event time only orders them.
func (h *heartbeat) saw(account, region string, _ time.Time) {
	if h == nil || h.maxSilence == 0 || account == "" || region == "" {
		return
	}
	h.mu.Lock()
	now := h.now()
	h.last[[2]string{account, region}] = now
	h.dirty[[2]string{account, region}] = now
	h.mu.Unlock()
}

// pending takes what this instance saw since the last call, to record in
// the store.
func (h *heartbeat) pending() []store.Seen {
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

// unrecorded puts back activity the store did not take, for the next try.
func (h *heartbeat) unrecorded(seen []store.Seen) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range seen {
		k := [2]string{x.Account, x.Region}
		if x.At.After(h.dirty[k]) {
			h.dirty[k] = x.At
		}
	}
}

// merge learns every instance's activity from the store: the judge counts
// an account and region as live when any instance received its events.
func (h *heartbeat) merge(seen []store.Seen) {
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

// check returns a finding for every account and region silent too long,
// once per silence.
func (h *heartbeat) check() []finding.Finding {
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
func (h *heartbeat) silence(account, region string, since time.Time, seen bool, now time.Time) finding.Finding {
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
		ID: finding.ID(id, SilenceRule), Fingerprint: finding.Fingerprint(SilenceRule, account, region, "trail"),
		RuleID: SilenceRule, RuleTitle: "Monitored trail went silent", Service: "cloudtrail", Risk: finding.High,
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
