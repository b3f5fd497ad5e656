package store

import "testing"

func TestPrefixEnd(t *testing.T) {
	for in, want := range map[string]string{"f-1a": "f-1b", "f-1\xff": "f-2", "a\xff\xff": "b"} {
		if got, ok := PrefixEnd(in); !ok || got != want {
			t.Errorf("PrefixEnd(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "\xff\xff"} {
		if _, ok := PrefixEnd(in); ok {
			t.Errorf("PrefixEnd(%q) has an end", in)
		}
	}
}

func TestParseControl(t *testing.T) {
	for in, want := range map[string]Control{
		"RTM-009":      {Reference: "RTM-009"},
		"rtm-009":      {Reference: "RTM-009"},
		"CIS 4.3":      {CIS: "4.3"},
		"cis v1.4 4.3": {CIS: "4.3", Version: "v1.4"},
		"4.10":         {CIS: "4.10"},
		"CIS v6 5.15":  {CIS: "5.15", Version: "v6"},
	} {
		got, err := ParseControl(in)
		if err != nil || got != want {
			t.Errorf("ParseControl(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "CIS", "rtm", "4", "'; DROP TABLE findings"} {
		if _, err := ParseControl(bad); err == nil {
			t.Errorf("ParseControl(%q) accepted", bad)
		}
	}
	c, _ := ParseControl("CIS 4.3")
	if !c.Matches(nil, []string{"CIS v1.2 3.3", "CIS v1.4 4.3"}) || c.Matches(nil, []string{"CIS v1.4 4.13"}) {
		t.Error("CIS 4.3 matching")
	}
}
