package sms

import "strings"

// Encodings of an SMS.
const (
	// GSM7 is the GSM 03.38 default alphabet: 160 characters in one
	// segment, 153 per segment of a longer message. Characters of the
	// extension table (^{}\[~]|€ and form feed) take two.
	GSM7 = "GSM-7"
	// UCS2 is used as soon as one character is outside GSM-7: 70 UTF-16
	// code units in one segment, 67 per segment of a longer message; a
	// character outside the BMP (most emoji) takes two.
	UCS2 = "UCS-2"
)

// Segment sizes.
const (
	gsmSingle, gsmMulti = 160, 153
	ucsSingle, ucsMulti = 70, 67
)

// MaxSegments is how many segments an alert may use: enough for the
// summary and the link, without paying for a wall of text.
const MaxSegments = 2

// gsmBasic is the GSM 03.38 basic character set (without the escape).
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension are the characters sent as escape + code: two septets.
const gsmExtension = "\f^{}\\[~]|€"

var gsmCost = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// isGSM reports whether every character of s is in the GSM-7 alphabet.
func isGSM(s string) bool {
	for _, r := range s {
		if gsmCost[r] == 0 {
			return false
		}
	}
	return true
}

// Segments returns the encoding a phone network uses for s and how many
// segments (billed messages) it takes. An escape pair (GSM-7) or a
// surrogate pair (UCS-2) is never split across segments. An empty string
// is one segment.
func Segments(s string) (encoding string, segments int) {
	encoding, single, multi := GSM7, gsmSingle, gsmMulti
	cost := func(r rune) int { return gsmCost[r] }
	if !isGSM(s) {
		encoding, single, multi = UCS2, ucsSingle, ucsMulti
		cost = func(r rune) int {
			if r > 0xFFFF {
				return 2
			}
			return 1
		}
	}
	total := 0
	for _, r := range s {
		total += cost(r)
	}
	if total <= single {
		return encoding, 1
	}
	segments, used := 1, 0
	for _, r := range s {
		c := cost(r)
		if used+c > multi {
			segments++
			used = 0
		}
		used += c
	}
	return encoding, segments
}

func fits(s string) bool {
	_, n := Segments(s)
	return n <= MaxSegments
}

// Fit joins text and suffix (the finding id or link) with a space and
// shortens text, never suffix, until the whole fits in MaxSegments: at
// most 306 GSM-7 characters or 134 UCS-2 code units. The cut is marked
// with "..." while the message stays GSM-7 (an ellipsis character would
// force UCS-2 and halve the room), with "…" otherwise.
func Fit(text, suffix string) string {
	join := func(t string) string {
		switch {
		case suffix == "":
			return t
		case t == "":
			return suffix
		}
		return t + " " + suffix
	}
	if full := join(text); fits(full) {
		return full
	}
	runes := []rune(text)
	cut := func(k int) string {
		head := strings.TrimRight(string(runes[:k]), " ")
		if isGSM(head) && isGSM(suffix) {
			return join(head + "...")
		}
		return join(head + "…")
	}
	// The largest prefix that fits: segment counts grow with the prefix.
	lo, hi := 0, len(runes)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(cut(mid)) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return cut(lo)
}
