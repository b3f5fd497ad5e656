package printable

import (
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
)

// hostile holds every kind of character that acts on a terminal.
const hostile = "a\x1b[2Jb\rc\nd\te\x07f\x7fg\u009bh\u202ei\u2066j\u200fk\u2028l\xffm"

func TestLine(t *testing.T) {
	got := Line(hostile)
	want := `a\x1b[2Jb\rc\nd\te\x07f\x7fg\u009bh\u202ei\u2066j\u200fk\u2028l\xffm`
	if got != want {
		t.Errorf("Line = %s\nwant   %s", got, want)
	}
	for _, s := range []string{"plain ASCII", "café ∑ 日本語 🙂", `C:\path\x1b (a backslash is not a control)`, ""} {
		if Line(s) != s {
			t.Errorf("Line changed safe text %q to %q", s, Line(s))
		}
	}
}

func TestText(t *testing.T) {
	if got := Text("one\n\ttwo\r\n\x1b]0;title\x07"); got != "one\n\ttwo\\r\n\\x1b]0;title\\x07" {
		t.Errorf("Text = %q", got)
	}
}

func TestNoControlSurvives(t *testing.T) {
	for _, f := range []func(string) string{Line, Text} {
		out := f(hostile)
		for _, r := range out {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || unsafeRune(r) || r == 0xfffd {
				t.Errorf("%U survived in %q", r, out)
			}
		}
	}
	if strings.ContainsAny(Line(hostile), "\n\t") {
		t.Error("Line kept a line feed or tab")
	}
}

func TestFinding(t *testing.T) {
	f := finding.Finding{
		Summary: "x\x1b[2J", RiskReasons: []string{"r\nforged line"},
		Actor:    actor.Actor{Name: "mallory\u202eevil"},
		Changes:  map[string]any{"k\r": []any{"v\x1b", map[string]any{"n": "\u009b"}}, "num": 3.0},
		Resource: finding.Resource{Name: "prod\n"},
		Raw:      []byte(`{"a":"\u001b"}`),
	}
	g := Finding(f)
	if g.Summary != `x\x1b[2J` || g.RiskReasons[0] != `r\nforged line` || g.Actor.Name != `mallory\u202eevil` || g.Resource.Name != `prod\n` {
		t.Errorf("escaped finding: %+v", g)
	}
	inner := g.Changes[`k\r`].([]any)
	if inner[0] != `v\x1b` || inner[1].(map[string]any)["n"] != `\u009b` || g.Changes["num"] != 3.0 {
		t.Errorf("changes: %#v", g.Changes)
	}
	if string(g.Raw) != string(f.Raw) {
		t.Error("raw event changed")
	}
	if f.Summary != "x\x1b[2J" || f.Changes["k\r"].([]any)[0] != "v\x1b" {
		t.Error("the original was modified")
	}
}
