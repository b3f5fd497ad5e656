package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/email"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/secret"
)

const (
	testUser     = "AKIAEXAMPLESMTPUSER"
	testPassword = "Sm7pP4ssw0rd-never-print-me"
)

// ---- certificate -----------------------------------------------------------

var (
	certOnce sync.Once
	testCert tls.Certificate
	certPEM  []byte
)

// serverCert returns a self-signed certificate for 127.0.0.1, ::1 and
// localhost, and the path of a PEM file that trusts it.
func serverCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(time.Now().UnixNano()),
			Subject:               pkix.Name{CommonName: "trailwatch test relay"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			DNSNames:              []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return testCert, path
}

// ---- in-process SMTP server -----------------------------------------------

type mode int

const (
	startTLS mode = iota // offers STARTTLS; AUTH only after it
	implicitTLS
	plainOnly // no TLS at all, and AUTH offered in clear
)

type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string
}

type relay struct {
	mode       mode
	user, pass string
	rcptErr    error
	dataErr    error
	// echoAuth answers every AUTH with 535 quoting what the client sent.
	echoAuth bool

	host string
	port int

	mu    sync.Mutex
	msgs  []received
	mails int // MAIL FROM commands seen
	auths int // AUTH attempts seen
}

func startRelay(t *testing.T, r *relay) *relay {
	t.Helper()
	cert, _ := serverCert(t)
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{r: r, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = r.mode == plainOnly
	if r.host == "" {
		r.host = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(r.host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", r.host, err)
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch r.mode {
	case startTLS:
		srv.TLSConfig = tlsConf
	case implicitTLS:
		l = tls.NewListener(l, tlsConf)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	r.port = l.Addr().(*net.TCPAddr).Port
	return r
}

func (r *relay) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

type session struct {
	r    *relay
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login, "CRAM-MD5"} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	s.r.mu.Lock()
	s.r.auths++
	s.r.mu.Unlock()
	check := func(user, pass string) error {
		if s.r.echoAuth {
			sent := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed for AUTH " + mech + " " + sent + " (user " + user + ", password " + pass + ", " + base64.StdEncoding.EncodeToString([]byte(pass)) + ")"}
		}
		if user != s.r.user || pass != s.r.pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{r: s.r, done: func(u string) { s.user = u }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.r.mu.Lock()
	s.r.mails++
	s.r.mu.Unlock()
	if s.r.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.r.rcptErr != nil {
		return s.r.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	if s.r.dataErr != nil {
		return s.r.dataErr
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, received{From: s.from, To: s.to, Data: b, TLS: isTLS, User: s.user})
	s.r.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 { // initial response carries the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.step++
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// cramServer is the server side of AUTH CRAM-MD5 (RFC 2195).
type cramServer struct {
	r         *relay
	challenge string
	done      func(user string)
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = fmt.Sprintf("<%d.%d@localhost>", time.Now().UnixNano(), os.Getpid())
		return []byte(c.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	mac := hmac.New(md5.New, []byte(c.r.pass))
	mac.Write([]byte(c.challenge))
	if !ok || user != c.r.user || digest != hex.EncodeToString(mac.Sum(nil)) {
		return nil, true, smtp.ErrAuthFailed
	}
	c.done(user)
	return nil, true, nil
}

// ---- helpers ----------------------------------------------------------------

func config(r *relay, caFile string) email.Config {
	return email.Config{
		Host:     r.host,
		Port:     r.port,
		Username: testUser,
		Password: secret.New(testPassword),
		From:     "Trailwatch <alerts@example.com>",
		To:       []string{"ops@example.com", "Security Team <sec@example.com>"},
		CC:       []string{"audit@example.com"},
		CAFile:   caFile,
		Timeout:  5 * time.Second,
	}
}

func newNotifier(t *testing.T, c email.Config, logs io.Writer) *email.Notifier {
	t.Helper()
	if err := c.Check(func(string) string { return "" }); err != nil {
		t.Fatalf("check: %v", err)
	}
	if logs == nil {
		logs = io.Discard
	}
	n, err := email.New(c, notify.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func send(t *testing.T, n *email.Notifier, m notify.Message) (notify.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Notify(ctx, m)
}

type parsed struct {
	Header     mail.Header
	Subject    string
	Text, HTML string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	var p parsed
	p.Header = msg.Header
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if !strings.EqualFold(pp["charset"], "utf-8") {
			t.Errorf("part %s charset %q, want UTF-8", pt, pp["charset"])
		}
		switch pt {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		default:
			t.Errorf("unexpected part %s", pt)
		}
	}
	return p
}

// ---- tests ------------------------------------------------------------------

func TestSTARTTLSAuthAndMessage(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword})
	var logs bytes.Buffer
	n := newNotifier(t, config(r, ca), &logs)

	m := notifytest.Message()
	res, err := send(t, n, m)
	if err != nil {
		t.Fatalf("notify: %v", err)
	}
	got := r.received()
	if len(got) != 1 {
		t.Fatalf("relay received %d messages, want 1", len(got))
	}
	rc := got[0]
	if !rc.TLS {
		t.Error("message was not sent over TLS")
	}
	if rc.User != testUser {
		t.Errorf("authenticated as %q", rc.User)
	}
	if rc.From != "alerts@example.com" {
		t.Errorf("MAIL FROM %q", rc.From)
	}
	if want := []string{"ops@example.com", "sec@example.com", "audit@example.com"}; strings.Join(rc.To, ",") != strings.Join(want, ",") {
		t.Errorf("RCPT TO %v, want %v", rc.To, want)
	}

	p := parse(t, rc.Data)
	if want := "[VERY_HIGH] EKS cluster configuration changed: prod"; p.Subject != want {
		t.Errorf("subject %q, want %q", p.Subject, want)
	}
	if got := p.Header.Get("X-Trailwatch-Finding"); got != m.Finding.ID {
		t.Errorf("X-Trailwatch-Finding %q", got)
	}
	if got := p.Header.Get("X-Trailwatch-Risk"); got != "VERY_HIGH" {
		t.Errorf("X-Trailwatch-Risk %q", got)
	}
	id := p.Header.Get("Message-ID")
	if !strings.HasPrefix(id, "<trailwatch.") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if res.Ref != id {
		t.Errorf("Result.Ref %q, want the Message-ID %q", res.Ref, id)
	}
	if p.Header.Get("In-Reply-To") != "" {
		t.Errorf("a trigger replies to %q", p.Header.Get("In-Reply-To"))
	}
	if p.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted %q", p.Header.Get("Auto-Submitted"))
	}
	if to, err := p.Header.AddressList("To"); err != nil || len(to) != 2 {
		t.Errorf("To header %v (%v)", to, err)
	}
	if cc, err := p.Header.AddressList("Cc"); err != nil || len(cc) != 1 {
		t.Errorf("Cc header %v (%v)", cc, err)
	}
	for _, want := range []string{m.Finding.Summary, "MFA:        yes", "Finding:    " + m.Finding.ID} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, p.Text)
		}
	}
	for _, want := range []string{"#c62828", "<table", "<li>the public API endpoint is opened to 0.0.0.0/0 (the whole internet)</li>", "<pre", "endpointPublicAccess", m.Finding.ID, "alice@example.com"} {
		if !strings.Contains(p.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
		}
	}
	notifytest.NoLeak(t, logs.String()+string(rc.Data), testPassword)

	// The same (finding, channel) always gets the same Message-ID, so a
	// delivery repeated after a crash is recognisable as a duplicate.
	if _, err := send(t, n, m); err != nil {
		t.Fatal(err)
	}
	m2 := m
	m2.IdempotencyKey = "f-other/test-channel"
	if _, err := send(t, n, m2); err != nil {
		t.Fatal(err)
	}
	got = r.received()
	if id2 := parse(t, got[1].Data).Header.Get("Message-ID"); id2 != id {
		t.Errorf("repeated delivery has Message-ID %q, want %q", id2, id)
	}
	if id3 := parse(t, got[2].Data).Header.Get("Message-ID"); id3 == id {
		t.Error("another finding has the same Message-ID")
	}
}

func TestAuthMechanisms(t *testing.T) {
	_, ca := serverCert(t)
	for _, auth := range []string{"plain", "login", "cram-md5"} {
		t.Run(auth, func(t *testing.T) {
			r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword})
			c := config(r, ca)
			c.Auth = auth
			if _, err := send(t, newNotifier(t, c, nil), notifytest.Message()); err != nil {
				t.Fatalf("notify: %v", err)
			}
			if got := r.received(); len(got) != 1 || got[0].User != testUser {
				t.Fatalf("received %+v", got)
			}
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: implicitTLS, user: testUser, pass: testPassword})
	c := config(r, ca)
	c.TLS = "implicit"
	if _, err := send(t, newNotifier(t, c, nil), notifytest.Message()); err != nil {
		t.Fatalf("notify: %v", err)
	}
	if got := r.received(); len(got) != 1 || !got[0].TLS || got[0].User != testUser {
		t.Fatalf("received %+v", got)
	}
}

func TestNoSTARTTLSIsPermanentAndSendsNothing(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: plainOnly, user: testUser, pass: testPassword})
	var logs bytes.Buffer
	_, err := send(t, newNotifier(t, config(r, ca), &logs), notifytest.Message())
	if err == nil {
		t.Fatal("sent although the server offers no STARTTLS")
	}
	if !notify.IsPermanent(err) {
		t.Errorf("missing STARTTLS is retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error does not name STARTTLS: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.auths != 0 || r.mails != 0 || len(r.msgs) != 0 {
		t.Errorf("client went on in clear: %d AUTH, %d MAIL, %d messages", r.auths, r.mails, len(r.msgs))
	}
	notifytest.NoLeak(t, err.Error()+logs.String(), testPassword)
}

func TestUntrustedCertificateIsPermanent(t *testing.T) {
	r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword})
	_, err := send(t, newNotifier(t, config(r, ""), nil), notifytest.Message())
	if err == nil || !notify.IsPermanent(err) {
		t.Fatalf("self-signed certificate without ca_file: %v", err)
	}
	if len(r.received()) != 0 {
		t.Error("message sent despite the untrusted certificate")
	}

	// insecure_skip_verify is the explicit escape hatch.
	c := config(r, "")
	c.InsecureSkipVerify = true
	if _, err := send(t, newNotifier(t, c, nil), notifytest.Message()); err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: "the-right-one"})
	var logs bytes.Buffer
	_, err := send(t, newNotifier(t, config(r, ca), &logs), notifytest.Message())
	if err == nil {
		t.Fatal("no error with a wrong password")
	}
	if !notify.IsPermanent(err) {
		t.Errorf("535 is retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("error lacks the reply code: %v", err)
	}
	notifytest.NoLeak(t, err.Error()+logs.String()+fmt.Sprintf("%+v %#v", err, err), testPassword)
}

func TestReplyCodes(t *testing.T) {
	_, ca := serverCert(t)
	tmp := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	bad := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	for _, tc := range []struct {
		name      string
		rcpt      error
		data      error
		permanent bool
	}{
		{"451 on RCPT", tmp, nil, false},
		{"451 on DATA", nil, tmp, false},
		{"550 on RCPT", bad, nil, true},
		{"554 on DATA", nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message rejected"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword, rcptErr: tc.rcpt, dataErr: tc.data})
			var logs bytes.Buffer
			_, err := send(t, newNotifier(t, config(r, ca), &logs), notifytest.Message())
			if err == nil {
				t.Fatal("no error")
			}
			if got := notify.IsPermanent(err); got != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tc.permanent, err)
			}
			var ne *notify.Error
			if !errors.As(err, &ne) {
				t.Errorf("not a notify.Error: %T", err)
			}
			notifytest.NoLeak(t, err.Error()+logs.String(), testPassword)
		})
	}
}

func TestUnreachableAndTimeoutRetry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := email.Config{Host: "127.0.0.1", Port: port, TLS: "none", From: "a@example.com", To: []string{"b@example.com"}}
	_, err = send(t, newNotifier(t, c, nil), notifytest.Message())
	if err == nil || notify.IsPermanent(err) {
		t.Errorf("refused connection: %v", err)
	}

	// A server that accepts and never greets.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	c.Port = l.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = newNotifier(t, c, nil).Notify(ctx, notifytest.Message())
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("silent server: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout error does not say so: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Notify took %v past a 300ms deadline", d)
	}
}

func TestLocalRelayWithoutTLS(t *testing.T) {
	r := startRelay(t, &relay{mode: plainOnly})
	c := email.Config{Host: "127.0.0.1", Port: r.port, TLS: "none", From: "alerts@example.com", To: []string{"ops@example.com"}}
	if _, err := send(t, newNotifier(t, c, nil), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if got := r.received(); len(got) != 1 || got[0].TLS {
		t.Fatalf("received %+v", got)
	}
}

func TestIPv6Loopback(t *testing.T) {
	r := startRelay(t, &relay{mode: plainOnly, host: "::1"})
	c := email.Config{Host: "::1", Port: r.port, TLS: "none", From: "alerts@example.com", To: []string{"ops@example.com"}}
	if _, err := send(t, newNotifier(t, c, nil), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if got := r.received(); len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
}

func TestHTMLEscapesFindingFields(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword})
	n := newNotifier(t, config(r, ca), nil)
	m := notifytest.Message()
	m.Finding.Resource.Name = `<script>alert("x")</script>`
	m.Finding.RiskReasons = []string{`reason with <img src=x onerror=alert(1)>`}
	m.Finding.Changes = map[string]any{"description": "<script>steal()</script> & more"}
	m.Finding.Remediation = `<a href="javascript:alert(1)">click</a>`
	m.DashboardURL = "javascript:alert(1)"
	if _, err := send(t, n, m); err != nil {
		t.Fatal(err)
	}
	p := parse(t, r.received()[0].Data)
	for _, bad := range []string{"<script", "<img", `href="javascript:`, "<a href=\"javascript"} {
		if strings.Contains(p.HTML, bad) {
			t.Errorf("HTML part contains %q:\n%s", bad, p.HTML)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;", "&lt;script&gt;steal()&lt;/script&gt; &amp; more"} {
		if !strings.Contains(p.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
		}
	}
	if !strings.Contains(p.Subject, `<script>alert("x")</script>`) {
		t.Errorf("subject %q lost the resource name", p.Subject)
	}
}

func TestUpdateThreadsUnderTrigger(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword})
	n := newNotifier(t, config(r, ca), nil)

	trig := notifytest.Message()
	res, err := send(t, n, trig)
	if err != nil {
		t.Fatal(err)
	}
	upd := notifytest.Message()
	upd.Finding.ID = "f-fedcba9876543210fedcba98"
	upd.IdempotencyKey = upd.Finding.ID + "/test-channel"
	upd.Kind = notify.Update
	upd.Repeats = 3
	upd.Ref = res.Ref
	ures, err := send(t, n, upd)
	if err != nil {
		t.Fatal(err)
	}
	if ures.Ref != res.Ref {
		t.Errorf("update returned Ref %q, want the trigger's %q", ures.Ref, res.Ref)
	}
	// An update whose trigger reference is unknown still threads through
	// the root derived from the fingerprint.
	upd2 := upd
	upd2.Ref = ""
	upd2.IdempotencyKey = "f-third/test-channel"
	if _, err := send(t, n, upd2); err != nil {
		t.Fatal(err)
	}

	got := r.received()
	first, second, third := parse(t, got[0].Data), parse(t, got[1].Data), parse(t, got[2].Data)
	root := first.Header.Get("References")
	if !strings.HasPrefix(root, "<trailwatch.thread.") {
		t.Fatalf("trigger References %q", root)
	}
	if second.Header.Get("Message-ID") == res.Ref {
		t.Error("update reuses the trigger's Message-ID")
	}
	if got := second.Header.Get("In-Reply-To"); got != res.Ref {
		t.Errorf("update In-Reply-To %q, want %q", got, res.Ref)
	}
	if refs := second.Header.Get("References"); !strings.Contains(refs, res.Ref) || !strings.Contains(refs, root) {
		t.Errorf("update References %q, want %s and %s", refs, root, res.Ref)
	}
	if got := third.Header.Get("In-Reply-To"); got != root {
		t.Errorf("update without Ref: In-Reply-To %q, want the thread root %q", got, root)
	}
	if !strings.Contains(second.Subject, "seen 3 times") || !strings.Contains(second.Text, "seen 3 times") {
		t.Errorf("update does not say it repeats: %q", second.Subject)
	}
}

// An escalation is sent (never swallowed), says so in its subject and
// body, and threads under the alert's first mail.
func TestEscalationIsSentAndThreaded(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword})
	n := newNotifier(t, config(r, ca), nil)
	res, err := send(t, n, notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	esc := notifytest.Escalation()
	esc.Ref = res.Ref
	eres, err := send(t, n, esc)
	if err != nil {
		t.Fatal(err)
	}
	if eres.Ref != res.Ref {
		t.Errorf("escalation returned Ref %q, want the thread's %q", eres.Ref, res.Ref)
	}
	got := r.received()
	if len(got) != 2 {
		t.Fatalf("%d mails, want 2", len(got))
	}
	m := parse(t, got[1].Data)
	if !strings.HasPrefix(m.Subject, "[ESCALATED] [VERY_HIGH]") || m.Header.Get("In-Reply-To") != res.Ref || m.Header.Get("X-Trailwatch-Kind") != "escalation" {
		t.Errorf("escalation mail: subject %q, In-Reply-To %q, kind %q", m.Subject, m.Header.Get("In-Reply-To"), m.Header.Get("X-Trailwatch-Kind"))
	}
	for _, why := range esc.Escalated.Why {
		if !strings.Contains(m.Text, why) || !strings.Contains(m.HTML, html.EscapeString(why)) {
			t.Errorf("escalation mail does not say %q", why)
		}
	}
}

func TestTestKindIsMarked(t *testing.T) {
	_, ca := serverCert(t)
	r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword})
	c := config(r, ca)
	c.SubjectPrefix = "[aws-prod]"
	n := newNotifier(t, c, nil)
	m := notifytest.Message()
	m.Kind = notify.Test
	if _, err := send(t, n, m); err != nil {
		t.Fatal(err)
	}
	p := parse(t, r.received()[0].Data)
	if !strings.HasPrefix(p.Subject, "[aws-prod] [TEST] ") {
		t.Errorf("subject %q", p.Subject)
	}
	if !strings.Contains(p.HTML, "TEST MESSAGE") || !strings.Contains(p.Text, "TEST MESSAGE") {
		t.Error("body not marked as a test")
	}
	if p.Header.Get("X-Trailwatch-Kind") != "test" {
		t.Errorf("X-Trailwatch-Kind %q", p.Header.Get("X-Trailwatch-Kind"))
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SMTP_PASSWORD": testPassword}
	getenv := func(k string) string { return env[k] }
	ok := func() email.Config {
		return email.Config{Host: "email-smtp.eu-west-1.amazonaws.com", Username: testUser, Password: secret.New("${SMTP_PASSWORD}"), From: "alerts@example.com", To: []string{"ops@example.com"}}
	}

	c := ok()
	if err := c.Check(getenv); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if c.Port != 587 || c.TLS != "starttls" || c.Auth != "plain" || c.Timeout != 30*time.Second {
		t.Errorf("defaults: port %d tls %q auth %q timeout %v", c.Port, c.TLS, c.Auth, c.Timeout)
	}
	if err := c.Check(getenv); err != nil { // idempotent
		t.Errorf("second check: %v", err)
	}
	c = ok()
	c.TLS = "implicit"
	if err := c.Check(getenv); err != nil || c.Port != 465 {
		t.Errorf("implicit: port %d, %v", c.Port, err)
	}
	c = ok()
	c.Password, c.PasswordFile = secret.Secret{}, pwFile
	if err := c.Check(getenv); err != nil {
		t.Errorf("password_file: %v", err)
	}
	c = email.Config{Host: "localhost", TLS: "none", From: "a@example.com", To: []string{"b@example.com"}}
	if err := c.Check(getenv); err != nil || c.Auth != "none" {
		t.Errorf("local relay: auth %q, %v", c.Auth, err)
	}

	for _, tc := range []struct {
		name string
		edit func(*email.Config)
		want []string
	}{
		{"empty", func(c *email.Config) { *c = email.Config{} }, []string{"host: required", "from: required", "to: at least one"}},
		{"clear text to a remote host", func(c *email.Config) { c.TLS = "none" }, []string{"tls: none"}},
		{"unknown tls", func(c *email.Config) { c.TLS = "ssl" }, []string{`tls: "ssl"`}},
		{"bad port", func(c *email.Config) { c.Port = 70000 }, []string{"port: 70000"}},
		{"bad addresses", func(c *email.Config) {
			c.From = "nobody"
			c.To = []string{"ok@example.com", "not an address"}
			c.CC = []string{"@"}
		}, []string{"from: ", "to[1]: ", "cc[0]: "}},
		{"unset env", func(c *email.Config) { c.Password = secret.New("${NOPE}") }, []string{"password: environment variable NOPE is not set"}},
		{"value and file", func(c *email.Config) { c.PasswordFile = pwFile }, []string{"password, password_file: give the value or the file"}},
		{"missing file", func(c *email.Config) { c.Password = secret.Secret{}; c.PasswordFile = filepath.Join(dir, "nope") }, []string{"password_file: read secret file"}},
		{"no password", func(c *email.Config) { c.Password = secret.Secret{} }, []string{"password: required with auth: plain"}},
		{"auth without user", func(c *email.Config) { c.Username = ""; c.Auth = "login" }, []string{"username: required with auth: login"}},
		{"unknown auth", func(c *email.Config) { c.Auth = "xoauth2" }, []string{`auth: "xoauth2"`}},
		{"header injection", func(c *email.Config) { c.SubjectPrefix = "x\r\nBcc: evil@example.com" }, []string{"subject_prefix: must be one line"}},
		{"bad helo", func(c *email.Config) { c.HELO = "a b" }, []string{"helo: "}},
		{"negative timeout", func(c *email.Config) { c.Timeout = -time.Second }, []string{"timeout: "}},
		{"ca file without certificate", func(c *email.Config) { c.CAFile = garbage }, []string{"ca_file: ", "no PEM certificate"}},
		{"missing ca file", func(c *email.Config) { c.CAFile = filepath.Join(dir, "nope.pem") }, []string{"ca_file: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.Check(getenv)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			notifytest.NoLeak(t, err.Error(), testPassword)
			if _, nerr := email.New(c, notify.Options{}); nerr == nil {
				t.Error("New accepted a config that fails Check")
			}
		})
	}
}

func TestConfigNeverPrintsPassword(t *testing.T) {
	c := email.Config{Host: "smtp.example.com", Username: testUser, Password: secret.New(testPassword), From: "a@example.com", To: []string{"b@example.com"}}
	if err := c.Check(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	n, err := email.New(c, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "channel", c, "notifier", n)
	notifytest.NoLeak(t, fmt.Sprintf("%v %+v %#v %v %+v %s", c, c, c, n, n, logs.String()), testPassword)
}

func TestEchoedPasswordNeverLeaks(t *testing.T) {
	_, ca := serverCert(t)
	for _, auth := range []string{email.AuthPlain, email.AuthLogin} {
		r := startRelay(t, &relay{mode: startTLS, user: testUser, pass: testPassword, echoAuth: true})
		c := config(r, ca)
		c.Auth = auth
		var logs bytes.Buffer
		_, err := send(t, newNotifier(t, c, &logs), notifytest.Message())
		if err == nil || !notify.IsPermanent(err) {
			t.Fatalf("%s: 535 with an echo: %v", auth, err)
		}
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword))
		notifytest.NoLeak(t, err.Error()+logs.String(), testPassword, plain, base64.StdEncoding.EncodeToString([]byte(testPassword)))
	}
}

func TestConfigErrorsNeverPrintCredentials(t *testing.T) {
	for _, host := range []string{"smtp://trailwatch:SECRET-EXAMPLE@relay.example", "trailwatch:SECRET-EXAMPLE@relay.example"} {
		c := email.Config{Host: host, TLS: email.TLSNone, From: "a@example.com", To: []string{"b@example.com"}}
		err := c.Check(func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "host:") {
			t.Fatalf("host %s: %v", host, err)
		}
		notifytest.NoLeak(t, err.Error(), "SECRET-EXAMPLE")
	}
}
