// Package printable makes untrusted text safe to show on a terminal: event
// fields, file names and error texts may carry ANSI escape sequences that
// clear the screen or retitle the window, carriage returns and line feeds
// that forge lines, and bidirectional overrides that reorder what is read.
// Line escapes every control character; Text keeps line feeds and tabs (for
// multi-line output whose lines trailwatch itself lays out). It imports
// finding only.
package printable

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// Line escapes every control character of s, line breaks included: C0
// (\n, \r, \t and \x1b shown as such), DEL, C1, the bidirectional
// embedding, override, isolate and mark characters, the Unicode line and
// paragraph separators, and bytes that are not UTF-8.
func Line(s string) string { return escape(s, false) }

// Text is Line, except that line feeds and tabs are kept.
func Text(s string) string { return escape(s, true) }

// Quote quotes a name (a file, a channel) for a message: Go quoting, which
// escapes every character that is not printable.
func Quote(s string) string { return fmt.Sprintf("%q", s) }

func escape(s string, multiline bool) string {
	if clean(s, multiline) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case (r == '\n' || r == '\t') && multiline:
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// clean reports whether s needs no escaping (the common case, checked
// without allocating).
func clean(s string, multiline bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			for _, r := range s[i:] {
				if r == utf8.RuneError || r < 0x20 && !(multiline && (r == '\n' || r == '\t')) || r == 0x7f || unsafeRune(r) {
					return false
				}
			}
			return utf8.ValidString(s[i:])
		}
		if c < 0x20 && !(multiline && (c == '\n' || c == '\t')) || c == 0x7f {
			return false
		}
	}
	return true
}

// unsafeRune reports the non-ASCII characters that act on the display:
// C1 controls, bidirectional controls and line/paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1, including CSI (0x9b)
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // ALM, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e: // LRE, RLE, PDF, LRO, RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI, RLI, FSI, PDI
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// Finding returns a copy of f with every text field escaped as Line does
// (map keys and values of changes included); the raw event is kept as it
// came (show it with Text).
func Finding(f finding.Finding) finding.Finding {
	raw := f.Raw
	f.Raw = nil
	out := deep(reflect.ValueOf(f)).Interface().(finding.Finding)
	out.Raw = raw
	return out
}

// deep copies v with every string escaped.
func deep(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		out := reflect.New(v.Type()).Elem()
		out.SetString(Line(v.String()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deep(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() || v.Type().Elem().Kind() == reflect.Uint8 {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(deep(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			out.SetMapIndex(deep(it.Key()), deep(it.Value()))
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(deep(v.Elem()))
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(deep(v.Elem()))
		return out
	}
	return v
}
