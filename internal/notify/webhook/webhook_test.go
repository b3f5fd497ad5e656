package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/secret"
)

const (
	hookPath   = "/hooks/trailwatch"
	hookQuery  = "token=EXAMPLE-url-token-EXAMPLE"
	hmacSecret = "EXAMPLE-hmac-secret-EXAMPLE"
	apiKey     = "EXAMPLE-api-key-EXAMPLE"
)

var now = time.Date(2026, 11, 20, 10, 16, 0, 0, time.UTC)

func env(k string) string {
	if k == "RECEIVER_API_KEY" {
		return apiKey
	}
	return ""
}

// newNotifier checks a config for the receiver at base.
func newNotifier(t *testing.T, c Config, base string, logger *slog.Logger) *Notifier {
	t.Helper()
	c.URL = secret.New(base + hookPath + "?" + hookQuery)
	if err := c.Check(env); err != nil {
		t.Fatal(err)
	}
	n, err := New(c, notify.Options{Logger: logger, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hdrs builds a headers setting from name, value pairs.
func hdrs(kv ...string) map[string]secret.Secret {
	h := map[string]secret.Secret{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = secret.New(kv[i+1])
	}
	return h
}

func signedConfig() Config {
	return Config{Secret: secret.New(hmacSecret), Headers: hdrs("X-Api-Key", "${RECEIVER_API_KEY}")}
}

func TestNotifyGolden(t *testing.T) {
	trigger := notifytest.Message()
	trigger.DashboardURL = "https://trailwatch.example.com/findings/f-0123456789abcdef01234567"
	trigger.Finding.Raw = json.RawMessage(`{"eventID":"5f1c2a3b-4d5e-6f70-8192-a3b4c5d6e7f8"}`) // never sent
	upd := notifytest.Message()
	upd.Kind, upd.Repeats, upd.Ref = notify.Update, 3, "ignored"
	test := notifytest.Message()
	test.Kind = notify.Test
	for _, tc := range []struct {
		name   string
		m      notify.Message
		cfg    Config
		sigHdr string
	}{
		{"trigger", trigger, signedConfig(), DefaultSignatureHeader},
		{"update", upd, signedConfig(), DefaultSignatureHeader},
		{"escalation", notifytest.Escalation(), signedConfig(), DefaultSignatureHeader},
		{"test", test, Config{Secret: secret.New(hmacSecret), SignatureHeader: "x-hub-signature-256"}, "X-Hub-Signature-256"},
		{"unsigned", trigger, Config{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = io.ReadAll(r.Body)
				if r.Method != http.MethodPost || r.URL.Path != hookPath || r.URL.RawQuery != hookQuery {
					t.Errorf("request %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				if k := r.Header.Get("Idempotency-Key"); k != tc.m.IdempotencyKey {
					t.Errorf("Idempotency-Key %q, want %q", k, tc.m.IdempotencyKey)
				}
				ts := r.Header.Get(TimestampHeader)
				if tc.sigHdr == "" {
					if ts != "" || r.Header.Get(DefaultSignatureHeader) != "" {
						t.Error("unsigned delivery carries signature headers")
					}
				} else {
					if ts != strconv.FormatInt(now.Unix(), 10) {
						t.Errorf("timestamp %q", ts)
					}
					if !Verify([]byte(hmacSecret), ts, got, r.Header.Get(tc.sigHdr)) {
						t.Errorf("signature %q does not verify", r.Header.Get(tc.sigHdr))
					}
				}
				if tc.cfg.Headers != nil && r.Header.Get("X-Api-Key") != apiKey {
					t.Errorf("X-Api-Key %q", r.Header.Get("X-Api-Key"))
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			if _, err := newNotifier(t, tc.cfg, srv.URL, nil).Notify(context.Background(), tc.m); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(got, []byte(`"raw"`)) {
				t.Error("raw event sent")
			}
			notifytest.Golden(t, tc.name, got)
		})
	}
}

func TestSignVerify(t *testing.T) {
	key := []byte(hmacSecret)
	body := []byte(`{"kind":"test"}`)
	sig := Sign(key, "1795173360", body)
	// Computed independently:
	// printf '1795173360.{"kind":"test"}' | openssl dgst -sha256 -hmac EXAMPLE-hmac-secret-EXAMPLE
	if want := "sha256=b954b06e2a0492791a2918f23a0384b35a451204409a2b9585590c3e9d9fb9f3"; sig != want {
		t.Errorf("Sign = %s, want %s", sig, want)
	}
	for _, tc := range []struct {
		name string
		key  []byte
		ts   string
		body []byte
		sig  string
		ok   bool
	}{
		{"valid", key, "1795173360", body, sig, true},
		{"valid with spaces", key, "1795173360", body, " " + sig + " ", true},
		{"upper-case hex", key, "1795173360", body, "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256=")), true},
		{"other body", key, "1795173360", []byte(`{"kind":"trigger"}`), sig, false},
		{"other timestamp", key, "1795173361", body, sig, false},
		{"other key", []byte("EXAMPLE-other-secret"), "1795173360", body, sig, false},
		{"no prefix", key, "1795173360", body, strings.TrimPrefix(sig, "sha256="), false},
		{"not hex", key, "1795173360", body, "sha256=zz", false},
		{"truncated", key, "1795173360", body, sig[:len(sig)-2], false},
		{"empty signature", key, "1795173360", body, "", false},
		{"empty key", nil, "1795173360", body, Sign(nil, "1795173360", body), false},
		{"empty timestamp", key, "", body, Sign(key, "", body), false},
	} {
		if got := Verify(tc.key, tc.ts, tc.body, tc.sig); got != tc.ok {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestStatuses(t *testing.T) {
	mk := func(base string, logger *slog.Logger) notify.Notifier {
		return newNotifier(t, signedConfig(), base, logger)
	}
	secrets := []string{hookQuery, hmacSecret, apiKey}
	notifytest.CheckStatuses(t, mk, secrets...)
	notifytest.CheckUnreachable(t, mk, secrets...)
	notifytest.CheckTimeout(t, mk, secrets...)
}

func TestCheck(t *testing.T) {
	const hook = "https://receiver.example/hooks/trailwatch?" + hookQuery
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	urlFile, secretFile, empty := write("url", hook+"\n"), write("secret", hmacSecret+"\n"), write("empty", "")
	u := secret.New(hook)
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"url only", Config{URL: u}, nil},
		{"everything", Config{URL: u, Secret: secret.New(hmacSecret), SignatureHeader: "X-Signature", Headers: hdrs("Authorization", "Bearer ${RECEIVER_API_KEY}")}, nil},
		{"url from env is checked", Config{URL: secret.New("${RECEIVER_API_KEY}")}, []string{"url: not an absolute URL"}},
		{"files", Config{URLFile: urlFile, SecretFile: secretFile}, nil},
		{"missing url", Config{}, []string{"url: missing"}},
		{"both url", Config{URL: u, URLFile: urlFile}, []string{"url, url_file:", "not both"}},
		{"both secret", Config{URL: u, Secret: secret.New(hmacSecret), SecretFile: secretFile}, []string{"secret, secret_file:", "not both"}},
		{"env unset", Config{URL: secret.New("${NOPE_EXAMPLE}")}, []string{"url: environment variable NOPE_EXAMPLE is not set"}},
		{"url file missing", Config{URLFile: filepath.Join(dir, "nope")}, []string{"url_file: read secret file", "no such file"}},
		{"secret file missing", Config{URL: u, SecretFile: filepath.Join(dir, "nope")}, []string{"secret_file: read secret file"}},
		{"secret file empty", Config{URL: u, SecretFile: empty}, []string{"secret_file: file", "is empty"}},
		{"bad url", Config{URL: secret.New("receiver.example/hooks?" + hookQuery)}, []string{"url: not an absolute URL"}},
		{"short secret", Config{URL: u, Secret: secret.New("EXAMPLE")}, []string{"secret: too short (7 characters)"}},
		{"header env unset", Config{URL: u, Headers: hdrs("X-Api-Key", "${NOPE_EXAMPLE}")}, []string{"headers.X-Api-Key: environment variable NOPE_EXAMPLE is not set"}},
		{"header name", Config{URL: u, Headers: hdrs("Bad Header", "x")}, []string{"headers.Bad Header: not a valid header name"}},
		{"header reserved", Config{URL: u, Headers: hdrs("content-type", "text/plain", "Idempotency-Key", "x")}, []string{"headers.content-type: set by trailwatch", "headers.Idempotency-Key: set by trailwatch"}},
		{"header is signature", Config{URL: u, Secret: secret.New(hmacSecret), Headers: hdrs("x-trailwatch-signature", "x")}, []string{"headers.x-trailwatch-signature: set by trailwatch"}},
		{"header line break", Config{URL: u, Headers: hdrs("X-Api-Key", apiKey+"\r\nX-Evil: 1")}, []string{"headers.X-Api-Key: value contains a line break"}},
		{"signature header without secret", Config{URL: u, SignatureHeader: "X-Sig"}, []string{"signature_header: set without secret"}},
		{"signature header invalid", Config{URL: u, Secret: secret.New(hmacSecret), SignatureHeader: "X Sig"}, []string{`signature_header: "X Sig" is not a valid header name`}},
		{"signature header reserved", Config{URL: u, Secret: secret.New(hmacSecret), SignatureHeader: "x-trailwatch-timestamp"}, []string{"signature_header: X-Trailwatch-Timestamp is set by trailwatch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			err := c.Check(env)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.r.url.Reveal() != hook {
					t.Error("URL not resolved")
				}
				if err := c.Check(env); err != nil {
					t.Errorf("second Check: %v", err)
				}
				if _, err := New(c, notify.Options{}); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			notifytest.NoLeak(t, err.Error(), hookQuery, hmacSecret, apiKey)
			if _, err := New(c, notify.Options{}); err == nil {
				t.Error("New accepted an unchecked config")
			}
		})
	}
}

func TestConfigPrintsNoSecret(t *testing.T) {
	c := Config{URL: secret.New("https://receiver.example/hook?" + hookQuery), Secret: secret.New(hmacSecret), Headers: hdrs("Authorization", apiKey)}
	if err := c.Check(env); err != nil {
		t.Fatal(err)
	}
	n, _ := New(c, notify.Options{})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		notifytest.NoLeak(t, fmt.Sprintf(verb, c)+fmt.Sprintf(verb, n), hookQuery, hmacSecret, apiKey)
	}
}

func TestEchoedSecretsNeverLeak(t *testing.T) {
	const pathToken = "PATHTOKEN-EXAMPLE-5f0c2b9a"
	mk := func(base string, logger *slog.Logger) notify.Notifier {
		c := Config{
			URL:     secret.New(base + "/hooks/" + pathToken + "/in?" + hookQuery),
			Secret:  secret.New(hmacSecret),
			Headers: hdrs("Authorization", "Bearer "+apiKey, "X-Team-Token", "EXAMPLE-team-token-77"),
		}
		if err := c.Check(env); err != nil {
			t.Fatal(err)
		}
		n, err := New(c, notify.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	notifytest.CheckEcho(t, mk, pathToken, hookQuery, "EXAMPLE-url-token-EXAMPLE", hmacSecret, apiKey, "EXAMPLE-team-token-77")
}
