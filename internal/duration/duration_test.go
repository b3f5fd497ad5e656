package duration

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0":          0,
		"90s":        90 * time.Second,
		"15m":        15 * time.Minute,
		"24h":        24 * time.Hour,
		"7d":         7 * Day,
		"2w":         14 * Day,
		"1h30m":      90 * time.Minute,
		"1.5h":       90 * time.Minute,
		"1d12h":      36 * time.Hour,
		"1d 12h":     36 * time.Hour,
		" 3 days ":   3 * Day,
		"10 minutes": 10 * time.Minute,
		"1 hour":     time.Hour,
		"2 Weeks":    14 * Day,
		"500ms":      500 * time.Millisecond,
		"250us":      250 * time.Microsecond,
		"250µs":      250 * time.Microsecond,
		"1h, 30m":    90 * time.Minute,
		"+5m":        5 * time.Minute,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                "empty duration",
		"24":              `has no unit: write 24s, 24m, 24h or 24d`,
		"1x":              `unknown unit "x"`,
		"soon":            "is not a duration",
		"-5m":             "cannot be negative",
		"1h30":            "a number without a unit",
		"1..5h":           "is not a duration",
		"h":               "is not a duration",
		"99999999999999w": "too long",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Parse(%q) error = %v; want it to say %q", in, err, msg)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0",
		7 * Day:                 "1w",
		3 * Day:                 "3d",
		36 * time.Hour:          "36h",
		90 * time.Minute:        "1h30m",
		90 * time.Second:        "1m30s",
		1500 * time.Millisecond: "1.5s",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
		back, err := Parse(Format(d))
		if err != nil || back != d {
			t.Errorf("Parse(Format(%v)) = %v, %v", d, back, err)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("7d")); err != nil || d.D() != 7*Day {
		t.Fatalf("UnmarshalText(7d) = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "1w" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("1x")); err == nil {
		t.Error("1x accepted")
	}
}
