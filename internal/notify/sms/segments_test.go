package sms_test

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/notify/sms"
)

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        string
		encoding string
		segments int
	}{
		{"empty", "", sms.GSM7, 1},
		{"short ascii", "trailwatch HIGH: bucket made public", sms.GSM7, 1},
		{"160 gsm", strings.Repeat("a", 160), sms.GSM7, 1},
		{"161 gsm", strings.Repeat("a", 161), sms.GSM7, 2},
		{"306 gsm", strings.Repeat("a", 306), sms.GSM7, 2},
		{"307 gsm", strings.Repeat("a", 307), sms.GSM7, 3},
		{"gsm accents", "Müller änderte Straße: é è ù ì ò Ç Ø å Ä Ö Ñ Ü § ¿ ä ö ñ ü à £ ¥ ¤ Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ", sms.GSM7, 1},
		{"extension chars count twice", strings.Repeat("€", 80), sms.GSM7, 1},
		{"extension chars over 160 septets", strings.Repeat("{", 81), sms.GSM7, 2},
		{"escape pair not split", strings.Repeat("a", 152) + "[" + strings.Repeat("a", 10), sms.GSM7, 2},
		{"escape pair pushed to next segment", strings.Repeat("a", 152) + "[" + strings.Repeat("a", 152) + "]", sms.GSM7, 3},
		{"one emoji makes ucs-2", "Alert 🚨", sms.UCS2, 1},
		{"70 ucs-2", strings.Repeat("ж", 70), sms.UCS2, 1},
		{"71 ucs-2", strings.Repeat("ж", 71), sms.UCS2, 2},
		{"134 ucs-2", strings.Repeat("ж", 134), sms.UCS2, 2},
		{"135 ucs-2", strings.Repeat("ж", 135), sms.UCS2, 3},
		{"emoji are two code units", strings.Repeat("🚨", 35), sms.UCS2, 1},
		{"36 emoji", strings.Repeat("🚨", 36), sms.UCS2, 2},
		{"surrogate pair not split", strings.Repeat("ж", 66) + "🚨" + strings.Repeat("ж", 66), sms.UCS2, 3},
		{"ellipsis is not gsm", "cut…", sms.UCS2, 1},
		{"accent outside gsm", "Dvořák", sms.UCS2, 1},
		{"curly quotes are not gsm", "“quoted”", sms.UCS2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, n := sms.Segments(tc.s)
			if enc != tc.encoding || n != tc.segments {
				t.Errorf("Segments(%q) = %s, %d; want %s, %d", tc.s, enc, n, tc.encoding, tc.segments)
			}
		})
	}
}

func TestFit(t *testing.T) {
	const id = "f-0123456789abcdef01234567"
	for _, tc := range []struct {
		name, text, encoding string
	}{
		{"long gsm", strings.Repeat("bucket policy changed; ", 40), sms.GSM7},
		{"long gsm with extension chars", strings.Repeat("{\"Effect\":\"Allow\"} ", 40), sms.GSM7},
		{"long emoji", strings.Repeat("🚨 public bucket ", 30), sms.UCS2},
		{"long cyrillic", strings.Repeat("изменение ", 40), sms.UCS2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sms.Fit(tc.text, id)
			enc, n := sms.Segments(got)
			if n > 2 || enc != tc.encoding {
				t.Errorf("Fit gave %s in %d segments: %q", enc, n, got)
			}
			if !strings.HasSuffix(got, " "+id) {
				t.Errorf("id cut off: %q", got)
			}
			marker := "..."
			if tc.encoding == sms.UCS2 {
				marker = "…"
			}
			if !strings.HasSuffix(got, marker+" "+id) {
				t.Errorf("cut not marked with %q: %q", marker, got)
			}
			// As long as possible: one more character would not fit.
			head := strings.TrimSuffix(got, marker+" "+id)
			if len([]rune(head)) < len([]rune(tc.text)) {
				next := string([]rune(tc.text)[:len([]rune(head))+1])
				if strings.TrimRight(next, " ") != head {
					if _, n := sms.Segments(next + marker + " " + id); n <= 2 {
						t.Errorf("cut too early: %q would fit", next)
					}
				}
			}
		})
	}

	if got := sms.Fit("short", id); got != "short "+id {
		t.Errorf("short text changed: %q", got)
	}
	gsm := sms.Fit(strings.Repeat("a", 400), id)
	if enc, _ := sms.Segments(gsm); enc != sms.GSM7 || len(gsm) != 306 {
		t.Errorf("gsm fit: %s, %d chars", enc, len(gsm))
	}
	ucs := sms.Fit(strings.Repeat("ж", 400), id)
	if enc, _ := sms.Segments(ucs); enc != sms.UCS2 || len(utf16.Encode([]rune(ucs))) != 134 {
		t.Errorf("ucs-2 fit: %s, %d units", enc, len(utf16.Encode([]rune(ucs))))
	}
}

func TestText(t *testing.T) {
	m := notifytest.Message()
	short, err := notify.DefaultTemplates().Render(m)
	if err != nil {
		t.Fatal(err)
	}
	got := sms.Text(m, short.Short)
	if enc, n := sms.Segments(got); enc != sms.GSM7 || n > 2 {
		t.Errorf("%s in %d segments: %q", enc, n, got)
	}
	if !strings.HasPrefix(got, "trailwatch VERY_HIGH: alice@example.com") || !strings.HasSuffix(got, " "+m.Finding.ID) {
		t.Errorf("text %q", got)
	}

	m.DashboardURL = "https://trailwatch.example.com/findings/" + m.Finding.ID
	if got := sms.Text(m, short.Short); !strings.HasSuffix(got, " "+m.DashboardURL) {
		t.Errorf("link missing: %q", got)
	}
	m.DashboardURL = "https://trailwatch.example.com/" + strings.Repeat("x", 200)
	if got := sms.Text(m, short.Short); !strings.HasSuffix(got, " "+m.Finding.ID) || strings.Contains(got, "xxx") {
		t.Errorf("an over-long link should give way to the id: %q", got)
	}
	m.DashboardURL = ""

	m.Kind = notify.Test
	if got := sms.Text(m, "custom text without marker"); !strings.HasPrefix(got, "TEST: ") {
		t.Errorf("test not marked: %q", got)
	}
	m.Kind = notify.Update
	m.Repeats = 4
	if got := sms.Text(m, "something changed"); !strings.HasPrefix(got, "Repeat (4x): something changed") {
		t.Errorf("repeat not marked: %q", got)
	}
	if got := sms.Text(m, "see "+m.Finding.ID+" now"); strings.Count(got, m.Finding.ID) != 1 {
		t.Errorf("id twice: %q", got)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"+447700900789": "+44••••••789",
		"+15555550123":  "+15••••••123",
		"+1234567":      "+12••••••567",
		"+123":          "+••••••",
	} {
		if got := sms.Mask(in); got != want {
			t.Errorf("Mask(%s) = %s, want %s", in, got, want)
		}
	}
}
