package notify_test

import (
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
)

func TestDefaultTemplates(t *testing.T) {
	m := notifytest.Message()
	txt, err := notify.DefaultTemplates().Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[VERY_HIGH] EKS cluster configuration changed: prod"; txt.Title != want {
		t.Errorf("title = %q, want %q", txt.Title, want)
	}
	for _, want := range []string{m.Finding.Summary, "0.0.0.0/0", "alice@example.com", "MFA:        yes", "How:        cli", "198.51.100.7", "account 111122223333, eu-west-1", "UpdateClusterConfig at 2026-11-20T10:15:00Z", m.Finding.ID, "What to do:"} {
		if !strings.Contains(txt.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, txt.Body)
		}
	}
	if !strings.HasPrefix(txt.Short, "trailwatch VERY_HIGH: alice@example.com") {
		t.Errorf("short = %q", txt.Short)
	}
	m.Kind = notify.Test
	m.Repeats = 3
	txt, _ = notify.DefaultTemplates().Render(m)
	if !strings.HasPrefix(txt.Title, "[TEST]") || !strings.Contains(txt.Body, "TEST MESSAGE") || !strings.HasPrefix(txt.Short, "TEST:") {
		t.Errorf("test message not marked: %q / %q", txt.Title, txt.Short)
	}
	if !strings.Contains(txt.Title, "seen 3 times") {
		t.Errorf("repeat count missing from title %q", txt.Title)
	}
}

func TestCustomTemplatesAndErrors(t *testing.T) {
	tpl, err := notify.ParseTemplates("{{.Finding.RuleID}} on {{.Finding.Resource.Name}}", "", "")
	if err != nil {
		t.Fatal(err)
	}
	txt, err := tpl.Render(notifytest.Message())
	if err != nil || txt.Title != "EKS-CLUSTER-CONFIG on prod" {
		t.Errorf("title = %q, %v", txt.Title, err)
	}
	if _, err := notify.ParseTemplates("{{.Finding.RuleID", "", ""); err == nil || !strings.Contains(err.Error(), "title template") {
		t.Errorf("bad template: %v", err)
	}
	tpl, _ = notify.ParseTemplates("{{.Nope}}", "", "")
	if _, err := tpl.Render(notifytest.Message()); err == nil || !notify.IsPermanent(err) {
		t.Errorf("unknown field: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	if got := notify.Truncate("héllo wörld", 6); got != "h…" && len(got) > 6 {
		t.Errorf("Truncate = %q", got)
	}
	if got := notify.TruncateRunes("ééééé", 3); got != "éé…" {
		t.Errorf("TruncateRunes = %q", got)
	}
}
