package sms_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/notify/sms"
	"github.com/trailwatch/trailwatch/internal/secret"
)

const (
	testSID   = "AC0123456789abcdef012345678EXAMPLE"
	testToken = "twilio-auth-token-0123456789abcdef"
	testFrom  = "+15005550006"
)

type twilioMsg struct{ To, From, Service, Body string }

// fakeTwilio is Twilio's Messages API: it checks the path, Basic auth and
// form, and answers 201 with the message resource, or the error it is
// told to.
type fakeTwilio struct {
	*httptest.Server
	mu     sync.Mutex
	msgs   []twilioMsg
	status map[string]int // To → error status
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{status: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		twErr := func(status, code int, msg string) {
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
		}
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
			twErr(404, 20404, "The requested resource "+r.URL.Path+" was not found")
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != testSID || p != testToken {
			twErr(401, 20003, "Authentication Error - invalid username")
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			twErr(400, 21000, "bad content type "+ct)
			return
		}
		if err := r.ParseForm(); err != nil {
			twErr(400, 21000, err.Error())
			return
		}
		m := twilioMsg{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Service: r.PostForm.Get("MessagingServiceSid"), Body: r.PostForm.Get("Body")}
		if m.To == "" || m.Body == "" || (m.From == "") == (m.Service == "") {
			twErr(400, 21604, "A 'To', 'Body' and one of 'From' or 'MessagingServiceSid' are required.")
			return
		}
		f.mu.Lock()
		st, fail := f.status[m.To]
		if !fail {
			f.msgs = append(f.msgs, m)
		}
		sid := fmt.Sprintf("SM%032d", len(f.msgs))
		f.mu.Unlock()
		switch {
		case st == 429:
			w.Header().Set("Retry-After", "3")
			twErr(429, 20429, "Too Many Requests")
			return
		case st == 400:
			twErr(400, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", m.To))
			return
		case st != 0:
			twErr(st, 20500, "An internal server error has occurred")
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{
			"sid": sid, "account_sid": testSID, "to": m.To, "from": m.From,
			"body": m.Body, "status": "queued", "num_segments": "1", "direction": "outbound-api",
		})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) received() []twilioMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilioMsg(nil), f.msgs...)
}

func twilioConfig(baseURL string) sms.Config {
	return sms.Config{
		Provider:   "twilio",
		To:         []string{phoneUK, phoneUS},
		AccountSID: testSID,
		AuthToken:  secret.New(testToken),
		From:       testFrom,
		BaseURL:    baseURL,
	}
}

func TestTwilioSend(t *testing.T) {
	f := newFakeTwilio(t)
	var logs bytes.Buffer
	n := newSMS(t, twilioConfig(f.URL), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	m := notifytest.Message()
	m.Finding.Summary = "🚨 " + m.Finding.Summary + " — " + strings.Repeat("more detail ", 20)
	res, err := notifyCtx(t, n, m)
	if err != nil {
		t.Fatalf("notify: %v", err)
	}
	got := f.received()
	if len(got) != 2 || got[0].To != phoneUK || got[1].To != phoneUS || got[0].From != testFrom {
		t.Fatalf("received %+v", got)
	}
	if enc, segs := sms.Segments(got[0].Body); enc != sms.UCS2 || segs > 2 {
		t.Errorf("body is %s in %d segments: %q", enc, segs, got[0].Body)
	}
	if !strings.HasSuffix(got[0].Body, "… "+m.Finding.ID) {
		t.Errorf("body %q does not end with the finding id after a cut", got[0].Body)
	}
	if res.Ref != "SM00000000000000000000000000000001,SM00000000000000000000000000000002" {
		t.Errorf("Ref %q", res.Ref)
	}
	notifytest.NoLeak(t, logs.String(), testToken, phoneUK, phoneUS)
}

func TestTwilioMessagingService(t *testing.T) {
	f := newFakeTwilio(t)
	c := twilioConfig(f.URL)
	c.From, c.MessagingServiceSID = "", "MG0123456789abcdef0123456789abcdef"
	c.To = []string{phoneUK}
	if _, err := notifyCtx(t, newSMS(t, c, nil), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if got := f.received(); len(got) != 1 || got[0].Service != c.MessagingServiceSID || got[0].From != "" {
		t.Errorf("received %+v", got)
	}
}

func TestTwilioErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		permanent  bool
		retryAfter time.Duration
		text       string
	}{
		{"too many requests", 429, false, 3 * time.Second, "20429"},
		{"invalid To", 400, true, 0, "21211"},
		{"server error", 503, false, 0, "HTTP 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTwilio(t)
			f.status[phoneUK] = tc.status
			var logs bytes.Buffer
			c := twilioConfig(f.URL)
			c.To = []string{phoneUK}
			_, err := notifyCtx(t, newSMS(t, c, slog.New(slog.NewTextHandler(&logs, nil))), notifytest.Message())
			if err == nil {
				t.Fatal("no error")
			}
			if got := notify.IsPermanent(err); got != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tc.permanent, err)
			}
			if got := notify.RetryAfter(err); got != tc.retryAfter {
				t.Errorf("retry after %v, want %v", got, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "+44••••••123") {
				t.Errorf("error %q lacks %q or the masked number", err, tc.text)
			}
			notifytest.NoLeak(t, err.Error()+logs.String(), testToken, phoneUK, strings.TrimPrefix(phoneUK, "+"))
		})
	}
}

func TestTwilioWrongToken(t *testing.T) {
	f := newFakeTwilio(t)
	c := twilioConfig(f.URL)
	c.AuthToken = secret.New("not-the-token-at-all")
	_, err := notifyCtx(t, newSMS(t, c, nil), notifytest.Message())
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "20003") {
		t.Fatalf("wrong token: %v", err)
	}
	notifytest.NoLeak(t, err.Error(), "not-the-token-at-all")
}

func TestTwilioPartialFailure(t *testing.T) {
	f := newFakeTwilio(t)
	f.status[phoneUS] = 429
	_, err := notifyCtx(t, newSMS(t, twilioConfig(f.URL), nil), notifytest.Message())
	if err == nil || notify.IsPermanent(err) || notify.RetryAfter(err) != 3*time.Second {
		t.Fatalf("one number throttled: %v", err)
	}
	if got := f.received(); len(got) != 1 || got[0].To != phoneUK {
		t.Errorf("received %+v", got)
	}
	if !strings.Contains(err.Error(), "1 of 2 numbers failed (+15••••••199)") {
		t.Errorf("error %q", err)
	}
}

func TestTwilioStatuses(t *testing.T) {
	newNotifier := func(baseURL string, logger *slog.Logger) notify.Notifier {
		c := twilioConfig(baseURL)
		c.To = []string{phoneUK}
		return newSMS(t, c, logger)
	}
	notifytest.CheckStatuses(t, newNotifier, testToken, phoneUK)
	notifytest.CheckUnreachable(t, newNotifier, testToken, phoneUK)
	notifytest.CheckTimeout(t, newNotifier, testToken, phoneUK)
}

func TestTwilioEchoedCredentialsNeverLeak(t *testing.T) {
	newNotifier := func(baseURL string, logger *slog.Logger) notify.Notifier {
		c := twilioConfig(baseURL)
		c.To = []string{phoneUK}
		return newSMS(t, c, logger)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(testSID + ":" + testToken))
	notifytest.CheckEcho(t, newNotifier, testToken, basic, phoneUK)
}
