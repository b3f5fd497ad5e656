package app

import (
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
)

func TestHeartbeat(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var c config.Heartbeat
	c.MaxSilence = "30m"
	c.Expect = append(c.Expect, struct {
		Account string `yaml:"account"`
		Region  string `yaml:"region"`
	}{"111122223333", "eu-west-1"})
	h, err := newHeartbeat(c, clock)
	if err != nil {
		t.Fatal(err)
	}
	h.saw("444455556666", "us-east-1", now)
	if fs := h.check(); len(fs) != 0 {
		t.Fatalf("silence reported at once: %+v", fs)
	}
	now = now.Add(20 * time.Minute)
	h.saw("444455556666", "us-east-1", now)
	now = now.Add(15 * time.Minute) // expected pair silent 35m, the other 15m
	fs := h.check()
	if len(fs) != 1 || fs[0].AccountID != "111122223333" || fs[0].Region != "eu-west-1" || fs[0].RuleID != SilenceRule {
		t.Fatalf("want one silence finding for the expected pair, got %+v", fs)
	}
	if fs[0].Summary == "" || len(fs[0].RiskReasons) == 0 || fs[0].TTL != 30*time.Minute {
		t.Errorf("finding: %+v", fs[0])
	}
	if again := h.check(); len(again) != 0 {
		t.Errorf("the same silence reported twice: %+v", again)
	}
	now = now.Add(40 * time.Minute) // now the other pair is silent too
	if fs := h.check(); len(fs) != 1 || fs[0].AccountID != "444455556666" {
		t.Errorf("second silence: %+v", fs)
	}
	// Events resume, then stop again: a new silence, a new finding id.
	h.saw("444455556666", "us-east-1", now)
	now = now.Add(31 * time.Minute)
	fs2 := h.check()
	if len(fs2) != 1 || fs2[0].ID == fs[0].ID {
		t.Errorf("after resuming: %+v", fs2)
	}
	if _, err := newHeartbeat(config.Heartbeat{MaxSilence: "soon"}, clock); err == nil {
		t.Error("bad max_silence accepted")
	}
}
