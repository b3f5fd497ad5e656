// Package glob matches the patterns users write for ARNs and rule ids: '*'
// matches any run of characters (slashes and colons included) and '?' one
// character. It imports nothing.
package glob

import "strings"

// Match reports whether s matches pattern.
func Match(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	p, x := 0, 0
	star, mark := -1, 0
	for x < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[x]):
			p++
			x++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, x
			p++
		case star >= 0:
			p = star + 1
			mark++
			x = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
