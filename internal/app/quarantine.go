package app

import (
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// QuarantineRule is the rule id of the finding raised when input is
// quarantined.
const QuarantineRule = "TRAILWATCH-INPUT-QUARANTINED"

// commitAttempts is how many times one batch is tried on its own before it
// is quarantined (when the store answers).
const commitAttempts = 3

// maxReason bounds the commit error kept with a quarantined chunk.
const maxReason = 1024

// quarantineFinding is the finding for a chunk of input set aside: the
// trail monitor is being fed something it cannot take, and the records in
// it were not judged. Its event id names the chunk, so quarantining the
// same chunk again raises nothing new.
func quarantineFinding(e store.QuarantineEntry) finding.Finding {
	id := fmt.Sprintf("trailwatch-quarantine/%s/%s/%d", e.Source, e.Object, e.Offset)
	return finding.Finding{
		ID: finding.ID(id, QuarantineRule), Fingerprint: finding.Fingerprint(QuarantineRule, "", "", e.Source),
		RuleID: QuarantineRule, RuleTitle: "Input quarantined: the trail monitor is being fed something it cannot take", Service: "trailwatch", Risk: finding.High,
		RiskReasons: []string{fmt.Sprintf("%d records were set aside unjudged after %d failed commits while the store answered: changes in them go unseen, and whoever can write to this input can blind the monitor", e.Records, commitAttempts)},
		EventID:     id, EventTime: e.At, EventSource: finding.SelfSource, EventName: "InputQuarantined",
		Actor:    actor.Actor{Type: finding.SelfSource, Name: "trailwatch run"},
		Outcome:  "success",
		Resource: finding.Resource{Type: "input", Name: e.Object},
		Summary: fmt.Sprintf("source %s: records %d-%d of %s could not be committed and were quarantined: %s",
			e.Source, e.Offset, e.Offset+e.Records, e.Object, e.Reason),
		Changes: map[string]any{"source": e.Source, "object": e.Object, "offset": e.Offset, "records": e.Records, "reason": e.Reason,
			"quarantined_at": e.At.UTC().Format(time.RFC3339)},
		Remediation: "Look at the object (who wrote it, how large it is, what its records hold); the store's quarantine table " +
			"lists every chunk set aside. Input written by someone other than CloudTrail to the trail's bucket or folder is itself a sign of tampering.",
	}
}
