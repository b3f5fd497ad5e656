package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Secrets of the channels below; every one must stay out of errors, logs
// and the store's files.
const (
	slackPath      = "/services/T0EXAMPLE1/B0EXAMPLE2/slackPATHTOKENEXAMPLE"
	hookPathToken  = "hookPATHTOKENEXAMPLE"
	hookQueryToken = "hookQUERYTOKENEXAMPLE"
	hookHMAC       = "hook-hmac-EXAMPLE-0123456789"
	hookBearer     = "hook-bearer-EXAMPLE-0123456789"
	pdRoutingKey   = "EXAMPLEroutingKEY0123456789abcde"
	snowPassword   = "snow-password-EXAMPLE-01"
	zdToken        = "zendesk-token-EXAMPLE-0123456789"
	twilioToken    = "twilio-token-EXAMPLE-0123456789a"
	twilioSID      = "AC0123456789abcdef0123456789EXAMPL"
	snsKeyID       = "AKIAEXAMPLESNSKEYID1"
	snsSecretKey   = "sns/secret+EXAMPLE/0123456789abcdefghij"
	smtpPassword   = "smtp-password-EXAMPLE-01"
	phone          = "+447700900321"
)

var leakEnv = map[string]string{
	"SLACK_URL": "", "HOOK_URL": "", "PD_KEY": pdRoutingKey, "SNOW_PW": snowPassword,
	"ZD_TOKEN": zdToken, "TW_TOKEN": twilioToken, "SNS_SECRET": snsSecretKey, "SMTP_PW": smtpPassword,
}

// echoServer answers every request 500 with the request line, headers and
// body, as Express's default error page does ("Cannot POST /path").
func echoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, notifytest.EchoBody(r, body, 0, "line", "headers", "body"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// snsEcho answers Publish 500 with an SNS error quoting the request.
func snsEcho(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>%s</Message></Error><RequestId>EXAMPLE</RequestId></ErrorResponse>`,
			html.EscapeString(notifytest.EchoBody(r, body, 0, "headers", "line", "body")))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// smtpEcho is an SMTP relay on loopback that refuses every AUTH with a
// 535 quoting the command the client sent.
func smtpEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				fmt.Fprint(c, "220 relay.example ESMTP\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.Fields(line + " x")[0])
					switch cmd {
					case "EHLO", "HELO":
						fmt.Fprint(c, "250-relay.example\r\n250 AUTH PLAIN LOGIN\r\n")
					case "AUTH":
						fmt.Fprintf(c, "535 5.7.8 Authentication credentials invalid: %s\r\n", strings.TrimSpace(line))
					case "QUIT":
						fmt.Fprint(c, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(c, "503 5.5.1 bad sequence: %s\r\n", strings.TrimSpace(line))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestChannelSecretsNeverReachLogsOrStore delivers one finding to every
// channel type, each pointed at a receiver that answers with an error
// echoing the request (line, headers, body), through the dispatcher and a
// SQLite store, until every delivery is dead; then no secret may appear in
// the logs, the stored errors, or the bytes of the database, its -wal and
// its -shm, and the files are private to their owner.
func TestChannelSecretsNeverReachLogsOrStore(t *testing.T) {
	echo, sns := echoServer(t), snsEcho(t)
	smtpHost, smtpPort, _ := net.SplitHostPort(smtpEcho(t))
	env := map[string]string{}
	for k, v := range leakEnv {
		env[k] = v
	}
	env["SLACK_URL"] = echo.URL + slackPath
	env["HOOK_URL"] = echo.URL + "/hooks/" + hookPathToken + "/in?token=" + hookQueryToken
	getenv := func(k string) string { return env[k] }
	dir := filepath.Join(t.TempDir(), "data")
	dbPath := filepath.Join(dir, "tw.db")
	yml := fmt.Sprintf(`
store: {path: %q}
channels:
  - {name: slack, type: slack, webhook_url: "${SLACK_URL}", max_attempts: 2}
  - name: hook
    type: webhook
    url: "${HOOK_URL}"
    secret: %q
    headers: {Authorization: "Bearer %s"}
    max_attempts: 2
  - {name: pd, type: pagerduty, routing_key: "${PD_KEY}", base_url: %q, max_attempts: 2}
  - {name: snow, type: servicenow, base_url: %q, username: trailwatch, password: "${SNOW_PW}", max_attempts: 2}
  - {name: zd, type: zendesk, base_url: %q, email: ops@example.com, api_token: "${ZD_TOKEN}", max_attempts: 2}
  - {name: twilio, type: sms, provider: twilio, base_url: %q, account_sid: %s, auth_token: "${TW_TOKEN}", from: "+15005550006", to: [%q], max_attempts: 2}
  - {name: sns, type: sms, provider: sns, endpoint: %q, region: eu-west-1, access_key_id: %s, secret_access_key: "${SNS_SECRET}", to: [%q], max_attempts: 2}
  - {name: mail, type: email, host: %s, port: %s, tls: none, username: trailwatch, password: "${SMTP_PW}", from: alerts@example.com, to: [ops@example.com], max_attempts: 2}
`, dbPath, hookHMAC, hookBearer, echo.URL, echo.URL, echo.URL, echo.URL, twilioSID, phone, sns.URL, snsKeyID, phone, smtpHost, smtpPort)
	cfg, err := config.Parse(strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logs := &syncWriter{w: &buf}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	chans, router, err := Channels(cfg, ChannelOptions{Getenv: getenv, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(cfg, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := notifytest.Finding()
	if _, err := st.SaveRouted(ctx, []finding.Finding{f}, router.Route); err != nil {
		t.Fatal(err)
	}
	d := dispatch.New(st, chans, dispatch.Options{Logger: logger, Poll: 5 * time.Millisecond, AttemptTimeout: 10 * time.Second,
		Backoff: func(int) time.Duration { return 0 }})
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	var dels []store.Delivery
	waitFor(t, "every delivery to die", func() bool {
		dels, err = st.Deliveries(ctx, store.OutboxFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, del := range dels {
			if del.Status != store.Dead {
				return false
			}
		}
		return len(dels) == len(chans)
	})
	stop()
	<-done

	secrets := notifytest.Encodings(slackPath, "T0EXAMPLE1", "B0EXAMPLE2", "slackPATHTOKENEXAMPLE", hookPathToken, hookQueryToken, hookHMAC, hookBearer,
		pdRoutingKey, snowPassword, zdToken, twilioToken, snsKeyID, snsSecretKey, smtpPassword, phone, strings.TrimPrefix(phone, "+"))
	var stored strings.Builder
	for _, del := range dels {
		if del.LastError == "" {
			t.Errorf("%s: dead without an error", del.Channel)
		}
		fmt.Fprintf(&stored, "%s: %s\n", del.Channel, del.LastError)
	}
	t.Logf("stored errors:\n%s", stored.String())
	notifytest.NoLeak(t, stored.String(), secrets...)
	notifytest.NoLeak(t, logs.String(), secrets...)
	if !strings.Contains(stored.String(), "HTTP 500") {
		t.Errorf("stored errors do not say what happened:\n%s", stored.String())
	}
	files := func(when string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(dbPath + suffix)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: tw.db%s holds the secret %q…", when, suffix, s[:4])
				}
			}
			fi, _ := os.Stat(dbPath + suffix)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("tw.db%s has mode %v, want 0600", suffix, fi.Mode().Perm())
			}
		}
	}
	files("open")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder created with mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	st.Close()
	files("closed")
}

// syncWriter serialises writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.w)
}

// urlChannels configures every channel type that sends to a URL, with %s
// as that URL; console and email have none (email names a host).
var urlChannels = map[string]string{
	"slack":      `{name: c, type: slack, webhook_url: %q}`,
	"webhook":    `{name: c, type: webhook, url: %q}`,
	"pagerduty":  `{name: c, type: pagerduty, routing_key: EXAMPLEroutingKEY0123456789abcde, base_url: %q}`,
	"servicenow": `{name: c, type: servicenow, base_url: %q, username: u, password: EXAMPLE-pw}`,
	"zendesk":    `{name: c, type: zendesk, base_url: %q, email: ops@example.com, api_token: EXAMPLE-token}`,
	"sms twilio": `{name: c, type: sms, provider: twilio, base_url: %q, account_sid: AC0123456789abcdef0123456789EXAMPL, auth_token: EXAMPLE-token, from: "+15005550006", to: ["+447700900321"]}`,
	"sms sns":    `{name: c, type: sms, provider: sns, endpoint: %q, region: eu-west-1, to: ["+447700900321"]}`,
}

// TestEveryChannelURLFollowsOnePolicy runs every channel type's URL
// setting through the one URL policy (notify.CheckURL): https, or http to
// loopback only; no credentials; no link-local or metadata address unless
// allow_link_local.
func TestEveryChannelURLFollowsOnePolicy(t *testing.T) {
	for _, typ := range ChannelTypes() {
		found := false
		for k := range urlChannels {
			found = found || strings.SplitN(k, " ", 2)[0] == typ
		}
		if !found && typ != "console" && typ != "email" {
			t.Errorf("channel type %s has no case here: add its URL setting to urlChannels", typ)
		}
	}
	for name, tmpl := range urlChannels {
		for _, tc := range []struct {
			url, extra, errHas string
		}{
			{"https://receiver.example/x", "", ""},
			{"http://127.0.0.1:8080/x", "", ""},
			{"http://receiver.example/x", "", "must use https"},
			{"http://169.254.169.254/latest/", "", "must use https"},
			{"https://169.254.169.254/latest/", "", "link-local or cloud metadata"},
			{"https://[fd00:ec2::254]/latest/", "", "link-local or cloud metadata"},
			{"https://metadata.google.internal/", "", "cloud metadata service"},
			{"https://169.254.169.254/latest/", ", allow_link_local: true", ""},
			{"https://u:SECRET-EXAMPLE@receiver.example/x", "", "must not contain credentials"},
			{"ftp://u:SECRET-EXAMPLE@receiver.example/x", "", "must not contain credentials"},
		} {
			yml := "channels:\n  - " + strings.TrimSuffix(fmt.Sprintf(tmpl, tc.url), "}") + tc.extra + "}\n"
			cfg, err := config.Parse(strings.NewReader(yml))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			_, _, err = Channels(cfg, ChannelOptions{Getenv: func(string) string { return "" }})
			switch {
			case tc.errHas == "" && err != nil:
				t.Errorf("%s %s%s: refused: %v", name, tc.url, tc.extra, err)
			case tc.errHas != "" && err == nil:
				t.Errorf("%s %s: accepted, want %q", name, tc.url, tc.errHas)
			case err != nil && !strings.Contains(err.Error(), tc.errHas):
				t.Errorf("%s %s: %v, want %q", name, tc.url, err, tc.errHas)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("%s: the error quotes credentials: %v", name, err)
			}
		}
	}
}

// TestNilGetenvMeansTheProcessEnvironment: every channel type resolves
// ${VAR} from the process environment when no getenv is given.
func TestNilGetenvMeansTheProcessEnvironment(t *testing.T) {
	t.Setenv("TW_EXAMPLE_SECRET", "EXAMPLE-secret-from-env-0123456789")
	t.Setenv("TW_EXAMPLE_KEY", "EXAMPLEroutingKEY0123456789abcde")
	t.Setenv("TW_EXAMPLE_URL", "https://receiver.example/hooks/EXAMPLE")
	yml := `channels:
  - {name: slack, type: slack, webhook_url: "${TW_EXAMPLE_URL}"}
  - {name: hook, type: webhook, url: "${TW_EXAMPLE_URL}", secret: "${TW_EXAMPLE_SECRET}"}
  - {name: pd, type: pagerduty, routing_key: "${TW_EXAMPLE_KEY}"}
  - {name: snow, type: servicenow, instance: acme, username: u, password: "${TW_EXAMPLE_SECRET}"}
  - {name: zd, type: zendesk, subdomain: acme, email: ops@example.com, api_token: "${TW_EXAMPLE_SECRET}"}
  - {name: sms, type: sms, provider: twilio, account_sid: AC0123456789abcdef0123456789EXAMPL, auth_token: "${TW_EXAMPLE_SECRET}", from: "+15005550006", to: ["+447700900321"]}
  - {name: sns, type: sms, provider: sns, region: eu-west-1, access_key_id: AKIAEXAMPLE, secret_access_key: "${TW_EXAMPLE_SECRET}", to: ["+447700900321"]}
  - {name: mail, type: email, host: smtp.example.com, username: u, password: "${TW_EXAMPLE_SECRET}", from: a@example.com, to: [b@example.com]}
`
	cfg, err := config.Parse(strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Channels(cfg, ChannelOptions{}); err != nil {
		t.Errorf("with nil Getenv: %v", err)
	}
	if _, _, err := Channels(cfg, ChannelOptions{Getenv: func(string) string { return "" }}); err == nil {
		t.Error("an empty environment resolved the variables")
	}
}
