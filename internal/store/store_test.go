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
