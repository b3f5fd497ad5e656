package app

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
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
}

func newHeartbeat(c config.Heartbeat, now func() time.Time) (*heartbeat, error) {
	h := &heartbeat{now: now, started: now(), last: map[[2]string]time.Time{}, reported: map[[2]string]time.Time{}}
	if c.MaxSilence == "" {
		if len(c.Expect) > 0 {
			return nil, fmt.Errorf("heartbeat.max_silence: required with heartbeat.expect")
		}
		return h, nil
	}
	d, err := rule.ParseDuration(c.MaxSilence)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("heartbeat.max_silence: %q is not a positive duration", c.MaxSilence)
	}
	h.maxSilence = d
	for i, e := range c.Expect {
		if e.Account == "" || e.Region == "" {
			return nil, fmt.Errorf("heartbeat.expect[%d]: account and region are required", i)
		}
		h.last[[2]string{e.Account, e.Region}] = time.Time{}
	}
	return h, nil
}

// saw records an event. Events are judged by arrival, so a late S3 file
// does not look like a live trail; the event time only orders them.
func (h *heartbeat) saw(account, region string, _ time.Time) {
	if h == nil || h.maxSilence == 0 || account == "" || region == "" {
		return
	}
	h.mu.Lock()
	h.last[[2]string{account, region}] = h.now()
	h.mu.Unlock()
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
		what := "no CloudTrail events since trailwatch started"
		if !last.IsZero() {
			what = "no CloudTrail events since " + last.UTC().Format(time.RFC3339)
		}
		id := fmt.Sprintf("silence/%s/%s/%d", k[0], k[1], last.UnixNano())
		out = append(out, finding.Finding{
			ID: finding.ID(id, SilenceRule), Fingerprint: finding.Fingerprint(SilenceRule, k[0], k[1], "trail"),
			RuleID: SilenceRule, RuleTitle: "Monitored trail went silent", Service: "cloudtrail", Risk: finding.High,
			RiskReasons: []string{fmt.Sprintf("%s (more than %s): changes may be going unseen", what, h.maxSilence)},
			EventID:     id, EventTime: now, EventSource: "trailwatch", EventName: "Heartbeat",
			AccountID: k[0], Region: k[1], Actor: actor.Actor{Type: "trailwatch", Name: "trailwatch"},
			AccessMethod: "aws-service", Outcome: "success",
			Resource: finding.Resource{Type: "trail", Name: k[0] + "/" + k[1]},
			Summary:  fmt.Sprintf("trailwatch has seen %s for account %s in %s", what, k[0], k[1]),
			Changes:  map[string]any{},
			Remediation: "Check that CloudTrail is logging (aws cloudtrail get-trail-status), that the EventBridge rule and SQS queue " +
				"of the trailwatch stack exist in this region, and the queue's dead-letter queue.",
			TTL: h.maxSilence,
		})
	}
	return out
}
