package console

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
)

func TestPrints(t *testing.T) {
	var b bytes.Buffer
	n := NewWriter(&b, false, notify.Options{})
	if _, err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "=== [VERY_HIGH] EKS cluster configuration changed: prod\n") || !strings.Contains(b.String(), "0.0.0.0/0") {
		t.Errorf("output:\n%s", b.String())
	}
	b.Reset()
	NewWriter(&b, true, notify.Options{}).Notify(context.Background(), notifytest.Message())
	if strings.Count(b.String(), "\n") != 1 || !strings.HasPrefix(b.String(), "trailwatch VERY_HIGH:") {
		t.Errorf("line output: %q", b.String())
	}
	if err := (&Config{Stream: "printer"}).Check(nil); err == nil {
		t.Error("bad stream accepted")
	}
}

// Event fields are hostile: nothing they carry reaches the terminal raw.
func TestEscapesControlCharacters(t *testing.T) {
	m := notifytest.Message()
	m.Finding.Summary = "opened\x1b[2J\r\nFAKE: all clear"
	m.Finding.Actor.Name = "mallory\u202e\u2066"
	m.Finding.Resource.Name = "prod\x1b]0;pwned\x07"
	m.Finding.Changes = map[string]any{"name\n": "\x9bprod"}
	for _, line := range []bool{false, true} {
		var b bytes.Buffer
		if _, err := NewWriter(&b, line, notify.Options{}).Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, r := range out {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Errorf("line=%v: %U reached the output:\n%q", line, r, out)
			}
		}
		if strings.Contains(out, "\nFAKE: all clear") {
			t.Errorf("line=%v: a forged line:\n%s", line, out)
		}
		if !strings.Contains(out, `opened\x1b[2J\r\nFAKE: all clear`) {
			t.Errorf("line=%v: the summary is not shown escaped:\n%s", line, out)
		}
	}
}

// A finding trailwatch raises itself (a trail gone silent) is shown as
// what it is: no blank "From:", no "MFA: no", no event id.
func TestSelfFindingHasNoActorLines(t *testing.T) {
	m := notifytest.Message()
	f := &m.Finding
	f.RuleTitle, f.EventSource, f.EventName, f.EventID = "Monitored trail went silent", finding.SelfSource, "TrailSilent", "trailwatch-heartbeat/111122223333/eu-west-1/never"
	f.Actor, f.SourceIP, f.AccessMethod, f.UserAgent = actor.Actor{Type: finding.SelfSource, Name: "trailwatch heartbeat"}, "", "", ""
	f.Resource = finding.Resource{Type: "trail", Name: "111122223333/eu-west-1"}
	var b bytes.Buffer
	NewWriter(&b, false, notify.Options{}).Notify(context.Background(), m)
	out := b.String()
	for _, bad := range []string{"From:", "MFA:", "Who:", "How:", "Event id:", "Changes:"} {
		if strings.Contains(out, bad) {
			t.Errorf("self finding shows %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{"=== [VERY_HIGH] Monitored trail went silent: 111122223333/eu-west-1", "Where:      account 111122223333, eu-west-1", "by trailwatch itself"} {
		if !strings.Contains(out, want) {
			t.Errorf("self finding lacks %q:\n%s", want, out)
		}
	}
}
