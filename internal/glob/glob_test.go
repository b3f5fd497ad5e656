package glob

import "testing"

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"arn:aws:iam::1:role/*", "arn:aws:iam::1:role/a/b", true},
		{"arn:aws:iam::1:role/ci-?", "arn:aws:iam::1:role/ci-1", true},
		{"arn:aws:iam::1:role/ci-?", "arn:aws:iam::1:role/ci-12", false},
		{"*:user/bob", "arn:aws:iam::1:user/bob", true},
		{"arn:aws:iam::1:user/bob", "arn:aws:iam::1:user/bobby", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
	} {
		if got := Match(tc.p, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}
