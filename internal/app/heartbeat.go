package app

import (
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/heartbeat"
)

// SilenceRule is the rule id of the heartbeat's findings.
const SilenceRule = heartbeat.Rule

// newMonitor builds the trail-silence monitor from its validated
// configuration (config checks max_silence and expect); a zero
// max_silence turns it off.
func newMonitor(c config.Heartbeat, now func() time.Time) *heartbeat.Monitor {
	var expect []heartbeat.Trail
	for _, e := range c.Expect {
		expect = append(expect, heartbeat.Trail{Account: e.Account, Region: e.Region})
	}
	return heartbeat.New(c.MaxSilence.D(), expect, now)
}
