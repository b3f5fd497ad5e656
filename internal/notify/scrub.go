package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/internal/secret"
)

// minSecretLen is the shortest string Secrets scrubs: shorter ones (a
// path segment such as "v2") carry no secret and would garble the text.
const minSecretLen = 4

// Secrets are the strings a channel must never let out: its tokens,
// passwords and credential headers, and every part of a secret URL. A
// channel builds one in New, gives it to Do with every request, and passes
// any other error text through Scrub or Err, so that no error leaving the
// channel quotes a secret, however a remote server echoes it back (raw,
// percent-encoded or decoded, HTML- or JSON-escaped, in a request line, a
// header or a body). Errors are what the dispatcher logs, stores as a
// delivery's last error and what notify test prints, so scrubbing them
// here covers every one of those.
//
// A Secrets is safe for concurrent use once built; it never prints its
// values.
type Secrets struct {
	vals []string // longest first
}

// NewSecrets returns a set holding the given values.
func NewSecrets(vs ...secret.Secret) *Secrets {
	s := &Secrets{}
	s.Add(vs...)
	return s
}

// Add registers secret values (empty ones are ignored) and returns s.
func (s *Secrets) Add(vs ...secret.Secret) *Secrets {
	for _, v := range vs {
		s.add(v.Reveal())
	}
	return s
}

// AddURL registers a secret URL: the whole URL, its credentials, every
// path segment, the query and each query value, and the fragment. Only
// the scheme and host stay readable. It returns s.
func (s *Secrets) AddURL(raw secret.Secret) *Secrets {
	v := raw.Reveal()
	s.add(v)
	u, err := url.Parse(v)
	if err != nil {
		// Not a URL: every run of characters that could be a token.
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("/?#&=:@", r) }) {
			s.add(f)
		}
		return s
	}
	if u.User != nil {
		s.add(u.User.String())
		s.add(u.User.Username())
		if p, ok := u.User.Password(); ok {
			s.add(p)
		}
	}
	s.add(u.EscapedPath())
	s.add(u.Path)
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		s.add(seg)
	}
	if u.RawQuery != "" {
		s.add(u.RawQuery)
		for _, part := range strings.Split(u.RawQuery, "&") {
			k, val, _ := strings.Cut(part, "=")
			s.add(val)
			if val == "" {
				s.add(k)
			}
		}
	}
	s.add(u.Fragment)
	return s
}

// AddBasicAuth registers what a Basic Authorization header built from
// user and password carries (the password and the base64 credentials)
// and returns s.
func (s *Secrets) AddBasicAuth(user string, password secret.Secret) *Secrets {
	s.add(password.Reveal())
	s.add(base64.StdEncoding.EncodeToString([]byte(user + ":" + password.Reveal())))
	return s
}

// add registers one value with the forms a server may echo it in.
func (s *Secrets) add(v string) {
	if len(v) < minSecretLen {
		return
	}
	forms := []string{v, url.PathEscape(v), url.QueryEscape(v), html.EscapeString(v), jsonEscape(v)}
	if d, err := url.PathUnescape(v); err == nil {
		forms = append(forms, d)
	}
	if d, err := url.QueryUnescape(v); err == nil {
		forms = append(forms, d)
	}
	for _, f := range forms {
		if len(f) >= minSecretLen && !slices.Contains(s.vals, f) {
			s.vals = append(s.vals, f)
		}
	}
	// Longest first, so a secret is never half-replaced by a part of it.
	slices.SortStableFunc(s.vals, func(a, b string) int { return len(b) - len(a) })
}

// jsonEscape is v as a JSON string body, with "/" escaped too (as some
// encoders write it).
func jsonEscape(v string) string {
	q := strconv.Quote(v)
	return strings.ReplaceAll(q[1:len(q)-1], "/", `\/`)
}

// with returns a copy of s with more values; s is not changed.
func (s *Secrets) with(vs ...string) *Secrets {
	out := &Secrets{}
	if s != nil {
		out.vals = slices.Clone(s.vals)
	}
	for _, v := range vs {
		out.add(v)
	}
	return out
}

// Scrub replaces every registered value in text by secret.Redacted.
func (s *Secrets) Scrub(text string) string {
	if s == nil {
		return text
	}
	for _, v := range s.vals {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, secret.Redacted)
		}
	}
	return text
}

// Err returns err with its text scrubbed (see Reword). An error whose
// text holds no secret is returned as it is.
func (s *Secrets) Err(err error) error {
	if err == nil || s == nil || s.Scrub(err.Error()) == err.Error() {
		return err
	}
	return Reword(err, s.Scrub)
}

// Reword returns err with its text replaced by f(text), keeping what the
// dispatcher and callers look at: whether it is permanent, the wait it
// asks for, and a context deadline or cancellation it carries. Nothing
// else of the original error survives, so text a remote server put into
// it is gone unless f keeps it.
func Reword(err error, f func(string) string) error {
	if err == nil {
		return nil
	}
	var ne *Error
	if errors.As(err, &ne) {
		return &Error{Err: &scrubbedError{msg: f(ne.Err.Error()), cause: ctxCause(err)}, Permanent: ne.Permanent, RetryAfter: ne.RetryAfter}
	}
	return &scrubbedError{msg: f(err.Error()), cause: ctxCause(err)}
}

// Format prints the set without its values, under every verb.
func (s *Secrets) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, "notify.Secrets{"+secret.Redacted+"}")
}

// scrubbedError carries a scrubbed text. It unwraps only to a context
// error, so errors.Is still sees a deadline while the original text is
// gone.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

func ctxCause(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return nil
}

// Quote makes text from a remote server fit for an error: scrubbed of s,
// on one line, with control characters escaped (so nothing reaches a
// terminal raw), and cut to n bytes. Scrubbing comes before the cut, so a
// secret that straddles the cut cannot leave a prefix behind.
func (s *Secrets) Quote(text string, n int) string {
	text = s.Scrub(text)
	var b strings.Builder
	space := false
	for i := 0; i < len(text) && b.Len() <= n+8; {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(text[i-1]), 16))
		case r == '\n' || r == '\r' || r == '\t' || r == ' ':
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		default:
			b.WriteRune(r)
		}
		space = false
	}
	return Truncate(strings.TrimSpace(b.String()), n)
}
