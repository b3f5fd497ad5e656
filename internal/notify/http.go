package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxErrorBody bounds how much of an error response is quoted: enough for
// a service's error code and message, short enough that a stored error
// stays small.
const maxErrorBody = 200

// maxBody bounds how much of any response is read.
const maxBody = 1 << 20

// Request describes one HTTP call of a channel.
type Request struct {
	Method, URL string
	Body        []byte
	Header      http.Header
	// Service names the API in errors ("slack", "pagerduty"); the URL is
	// never quoted, since for webhooks it is the secret.
	Service string
	// Secrets are scrubbed from every error text Do builds, together with
	// the URL and any Authorization header of the request.
	Secrets *Secrets
}

// Response is a successful call's status and body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request and classifies the outcome: 2xx is success; 408, 429
// and 5xx are retryable (honouring Retry-After); a redirect and other
// statuses are permanent; network errors and timeouts are retryable. Error
// texts name the service and status and quote at most maxErrorBody bytes
// of the body on one line, scrubbed of every secret first (a receiver that
// echoes the request line or headers gives nothing away), with control
// characters escaped; they never contain the URL.
func Do(ctx context.Context, c *http.Client, r Request) (*Response, error) {
	// Credentials in headers are secrets too, whether or not the channel
	// listed them; the copy leaves the channel's set unchanged.
	extra := []string{r.URL}
	for _, k := range []string{"Authorization", "Proxy-Authorization"} {
		if a := r.Header.Get(k); a != "" {
			extra = append(extra, a)
			if _, cred, ok := strings.Cut(a, " "); ok {
				extra = append(extra, cred)
			}
		}
	}
	sec := r.Secrets.with(extra...)
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, Permanentf("%s: build request: %s", r.Service, sec.Quote(scrubURL(err.Error(), r.URL), maxErrorBody))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "trailwatch")
	}
	resp, err := c.Do(req)
	if err != nil {
		msg := err.Error()
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			msg = ue.Unwrap().Error() // drop the "Post URL:" prefix
		}
		msg = sec.Quote(scrubURL(msg, r.URL), 4*maxErrorBody)
		if ctx.Err() != nil {
			return nil, Retryable(fmt.Errorf("%s: %s %s: %w", r.Service, r.Method, msg, ctx.Err()), 0)
		}
		return nil, Retryable(fmt.Errorf("%s: %s: %s", r.Service, r.Method, msg), 0)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, Retryable(fmt.Errorf("%s: read response: %s", r.Service, sec.Quote(err.Error(), maxErrorBody)), 0)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, Permanentf("%s: HTTP %d: redirected; configure the final URL", r.Service, resp.StatusCode)
	}
	e := fmt.Errorf("%s: HTTP %d", r.Service, resp.StatusCode)
	if q := sec.Quote(scrubURL(string(body), r.URL), maxErrorBody); q != "" {
		e = fmt.Errorf("%s: HTTP %d: %s", r.Service, resp.StatusCode, q)
	}
	if RetryStatus(resp.StatusCode) {
		return nil, Retryable(e, ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return nil, Permanent(e)
}

// RetryStatus reports whether an HTTP status is worth retrying.
func RetryStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// ParseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// scrubURL removes a (secret) URL from a message.
func scrubURL(msg, url string) string {
	if url == "" {
		return msg
	}
	return strings.ReplaceAll(msg, url, "<url>")
}

// Truncate cuts s to at most n bytes without splitting a character,
// marking the cut with an ellipsis.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := n - len(ell)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// TruncateRunes cuts s to at most n characters.
func TruncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
