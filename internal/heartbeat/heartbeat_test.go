package heartbeat

import (
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
)

func TestHeartbeat(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	h := New(30*time.Minute, []Trail{{Account: "111122223333", Region: "eu-west-1"}}, clock)
	h.Saw("444455556666", "us-east-1", now)
	if fs := h.Check(); len(fs) != 0 {
		t.Fatalf("silence reported at once: %+v", fs)
	}
	now = now.Add(20 * time.Minute)
	h.Saw("444455556666", "us-east-1", now)
	now = now.Add(15 * time.Minute) // expected pair silent 35m, the other 15m
	fs := h.Check()
	if len(fs) != 1 || fs[0].AccountID != "111122223333" || fs[0].Region != "eu-west-1" || fs[0].RuleID != Rule {
		t.Fatalf("want one silence finding for the expected pair, got %+v", fs)
	}
	if fs[0].Summary == "" || len(fs[0].RiskReasons) == 0 || fs[0].TTL != 30*time.Minute {
		t.Errorf("finding: %+v", fs[0])
	}
	// A trail gone silent, not a change: no source address, access
	// method, MFA or CloudTrail event id, and nothing negative.
	hb := fs[0]
	if hb.EventSource != finding.SelfSource || hb.SourceIP != "" || hb.AccessMethod != "" || hb.Actor.ARN != "" ||
		strings.Contains(hb.EventID, "/-") || !strings.HasPrefix(hb.EventID, "trailwatch-heartbeat/111122223333/eu-west-1/") {
		t.Errorf("heartbeat finding shaped like an AWS change: %+v", hb)
	}
	if !strings.Contains(hb.RiskReasons[0], "silent for 35m, more than heartbeat.max_silence (30m)") {
		t.Errorf("reason: %q", hb.RiskReasons[0])
	}
	txt, err := notify.DefaultTemplates().Render(notify.Message{Finding: hb, Kind: notify.Trigger, Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"From:", "MFA:", "Event id:", "Who:"} {
		if strings.Contains(txt.Body, bad) {
			t.Errorf("the silence alert shows %q:\n%s", bad, txt.Body)
		}
	}
	if !strings.Contains(txt.Title, "Monitored trail went silent: 111122223333/eu-west-1") || !strings.Contains(txt.Body, "went silent") {
		t.Errorf("silence alert:\n%s\n%s", txt.Title, txt.Body)
	}
	if again := h.Check(); len(again) != 0 {
		t.Errorf("the same silence reported twice: %+v", again)
	}
	now = now.Add(40 * time.Minute) // now the other pair is silent too
	if fs := h.Check(); len(fs) != 1 || fs[0].AccountID != "444455556666" {
		t.Errorf("second silence: %+v", fs)
	}
	// Events resume, then stop again: a new silence, a new finding id.
	h.Saw("444455556666", "us-east-1", now)
	now = now.Add(31 * time.Minute)
	fs2 := h.Check()
	if len(fs2) != 1 || fs2[0].ID == fs[0].ID {
		t.Errorf("after resuming: %+v", fs2)
	}
	if New(0, nil, clock).MaxSilence() != 0 {
		t.Error("a heartbeat without max_silence is on")
	}
}
