// Package email delivers findings as e-mail through an SMTP relay (Amazon
// SES, Postfix, Microsoft 365, …). Each message is multipart/alternative:
// the rendered text body and an HTML rendering of the same facts. It
// imports notify, secret and finding only.
package email

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// TLS modes.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS and refuses to
	// go on when the server does not offer it (port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "implicit"
	// TLSNone sends in clear; only allowed for a relay on the loopback
	// interface (tests, a local MTA).
	TLSNone = "none"
)

// Authentication mechanisms.
const (
	AuthPlain   = "plain"
	AuthLogin   = "login"
	AuthCRAMMD5 = "cram-md5"
	AuthNone    = "none"
)

// Defaults.
const (
	DefaultPort         = 587
	DefaultImplicitPort = 465
	DefaultTimeout      = 30 * time.Second
)

// Config is one e-mail channel.
type Config struct {
	// Host is the SMTP relay (email-smtp.eu-west-1.amazonaws.com).
	Host string `yaml:"host"`
	// Port defaults to 587, or 465 with tls: implicit.
	Port int `yaml:"port"`
	// TLS is starttls (default), implicit or none (loopback hosts only).
	TLS string `yaml:"tls"`
	// Username and Password (or PasswordFile) log in to the relay.
	Username     string        `yaml:"username"`
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// Auth is plain, login, cram-md5 or none; plain when a username is
	// set, none otherwise.
	Auth string `yaml:"auth"`
	// From is the sender address ("Trailwatch <alerts@example.com>").
	From string `yaml:"from"`
	// To and CC list the recipients; To needs at least one.
	To []string `yaml:"to"`
	CC []string `yaml:"cc"`
	// SubjectPrefix is put before every subject ("[aws-prod]").
	SubjectPrefix string `yaml:"subject_prefix"`
	// InsecureSkipVerify accepts any server certificate. Never in
	// production.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one delivery attempt (connect, TLS, AUTH, DATA);
	// default 30s. The dispatcher's context deadline applies too.
	Timeout time.Duration `yaml:"timeout"`
	// HELO is the name sent in EHLO; the machine's hostname by default.
	HELO string `yaml:"helo"`

	// res is what Check resolved. A pointer, so that printing a Config
	// with %v never reaches the resolved password (fmt cannot call the
	// redacting methods of an unexported field, but prints a nested
	// pointer as an address).
	res *resolved
}

type resolved struct {
	password secret.Secret
	roots    *x509.CertPool
	from     *mail.Address
	to, cc   []*mail.Address
}

var heloRE = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]+$`)

// Check fills defaults, resolves the password (inline, ${ENV} or
// password_file) and the CA file, and validates the configuration. It
// reports every problem at once, each naming its YAML key; the password
// never appears in an error. Check may be called more than once. getenv
// nil means os.Getenv.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.res = nil
	r := &resolved{}

	c.Host = strings.TrimSpace(c.Host)
	switch {
	case c.Host == "":
		add("host", "required")
	case strings.ContainsAny(c.Host, " /@\r\n") || strings.Contains(c.Host, "://"):
		add("host", "%s is not a host name (give the port under port:, credentials under username: and password:)", notify.QuoteSetting(c.Host))
	}

	c.TLS = strings.ToLower(strings.TrimSpace(c.TLS))
	switch c.TLS {
	case "":
		c.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if c.Host != "" && !notify.Loopback(c.Host) {
			add("tls", "none sends mail and passwords in clear and is only allowed for localhost, 127.0.0.1 or ::1, not %s", notify.QuoteSetting(c.Host))
		}
	default:
		add("tls", "%q is not starttls, implicit or none", c.TLS)
	}

	if c.Port == 0 {
		c.Port = DefaultPort
		if c.TLS == TLSImplicit {
			c.Port = DefaultImplicitPort
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		add("port", "%d is not a TCP port", c.Port)
	}

	c.Auth = strings.ToLower(strings.TrimSpace(c.Auth))
	if c.Auth == "" {
		c.Auth = AuthNone
		if c.Username != "" {
			c.Auth = AuthPlain
		}
	}
	pw, err := secret.Setting("password", c.Password, c.PasswordFile, getenv, false)
	if err != nil {
		errs = append(errs, err)
	}
	r.password = pw
	switch c.Auth {
	case AuthPlain, AuthLogin, AuthCRAMMD5:
		if c.Username == "" {
			add("username", "required with auth: %s", c.Auth)
		}
		if err == nil && pw.Empty() {
			add("password", "required with auth: %s (or give password_file)", c.Auth)
		}
	case AuthNone:
		if c.Username != "" {
			add("auth", "none, but a username is set")
		}
		if !pw.Empty() {
			add("password", "set, but auth is none")
		}
	default:
		add("auth", "%q is not plain, login, cram-md5 or none", c.Auth)
	}

	if c.From == "" {
		add("from", "required")
	} else if a, err := mail.ParseAddress(c.From); err != nil {
		add("from", "%q is not an e-mail address: %v", c.From, err)
	} else {
		r.from = a
	}
	if len(c.To) == 0 {
		add("to", "at least one recipient is required")
	}
	for i, s := range c.To {
		if a, err := mail.ParseAddress(s); err != nil {
			add(fmt.Sprintf("to[%d]", i), "%q is not an e-mail address: %v", s, err)
		} else {
			r.to = append(r.to, a)
		}
	}
	for i, s := range c.CC {
		if a, err := mail.ParseAddress(s); err != nil {
			add(fmt.Sprintf("cc[%d]", i), "%q is not an e-mail address: %v", s, err)
		} else {
			r.cc = append(r.cc, a)
		}
	}

	if strings.ContainsAny(c.SubjectPrefix, "\r\n") {
		add("subject_prefix", "must be one line")
	}
	if c.HELO != "" && !heloRE.MatchString(c.HELO) {
		add("helo", "%q is not a host name", c.HELO)
	}

	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		add("timeout", "%v is negative", c.Timeout)
	}

	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		switch {
		case err != nil:
			add("ca_file", "%v", err)
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				add("ca_file", "%s holds no PEM certificate", c.CAFile)
			} else {
				r.roots = pool
			}
		}
	}

	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.res = r
	return nil
}

// Notifier sends findings by e-mail. It is safe for concurrent use: every
// Notify opens its own SMTP session.
//
// cfg is a pointer so that printing a Notifier never reaches the password
// (fmt cannot call the redacting methods of values in unexported fields).
type Notifier struct {
	cfg     *Config
	o       notify.Options
	tls     *tls.Config
	domain  string
	secrets *notify.Secrets
}

// New builds a Notifier. A Config that has not been through Check is
// checked here with the process environment.
func New(c Config, o notify.Options) (*Notifier, error) {
	if c.res == nil {
		if err := c.Check(nil); err != nil {
			return nil, err
		}
	}
	o = o.Defaults()
	domain := "trailwatch.invalid"
	if at := strings.LastIndexByte(c.res.from.Address, '@'); at >= 0 && at < len(c.res.from.Address)-1 {
		if d := c.res.from.Address[at+1:]; msgIDRE.MatchString("<x@"+d+">") && isASCII(d) {
			domain = d
		}
	}
	return &Notifier{
		cfg: &c,
		o:   o,
		tls: &tls.Config{
			ServerName:         strings.Trim(c.Host, "[]"),
			RootCAs:            c.res.roots,
			InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
			MinVersion:         tls.VersionTLS12,
		},
		domain:  domain,
		secrets: smtpSecrets(c.Username, c.res.password),
	}, nil
}

// smtpSecrets are the password and the forms AUTH sends it in, any of
// which a server may quote back in a reply: PLAIN's base64 of
// "\x00user\x00password", LOGIN's base64 of the password.
func smtpSecrets(user string, pw secret.Secret) *notify.Secrets {
	s := notify.NewSecrets(pw)
	if !pw.Empty() {
		p := pw.Reveal()
		s.Add(secret.New(base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+p))),
			secret.New(base64.StdEncoding.EncodeToString([]byte(user+"\x00"+user+"\x00"+p))),
			secret.New(base64.StdEncoding.EncodeToString([]byte(p))))
	}
	return s
}

// Notify sends one message to every recipient in one SMTP transaction. A
// 4yz reply, a network error or a timeout is retryable; a 5yz reply, a
// server without STARTTLS, an untrusted certificate or a rejected login
// is permanent. Result.Ref is the Message-ID of the trigger, which later
// Updates reply to (an Update without a usable Ref starts the chain with
// its own Message-ID).
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (notify.Result, error) {
	txt, err := n.o.Templates.Render(m)
	if err != nil {
		return notify.Result{}, err
	}
	msg, id, err := n.build(m, txt)
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("email: build message: %w", err))
	}
	if err := n.send(ctx, msg); err != nil {
		return notify.Result{}, err
	}
	n.o.Logger.Debug("e-mail sent", "finding_id", m.Finding.ID, "message_id", id, "recipients", len(n.cfg.res.to)+len(n.cfg.res.cc))
	if (m.Kind == notify.Update || m.Kind == notify.Escalation) && msgIDRE.MatchString(m.Ref) {
		// Later repeats keep replying to the first alert of the thread.
		return notify.Result{Ref: m.Ref}, nil
	}
	return notify.Result{Ref: id}, nil
}

// messageID is stable for one idempotency key, so a delivery repeated
// after a crash carries the same Message-ID and mail systems can drop
// the duplicate.
func (n *Notifier) messageID(key string) string {
	if key == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return "<trailwatch." + hex.EncodeToString(b[:]) + "@" + n.domain + ">"
	}
	return "<trailwatch." + digest("message", key) + "@" + n.domain + ">"
}

// threadID is the thread root shared by every mail about one
// fingerprint; no message carries it as its own Message-ID.
func (n *Notifier) threadID(fingerprint string) string {
	if fingerprint == "" {
		return ""
	}
	return "<trailwatch.thread." + digest("thread", fingerprint) + "@" + n.domain + ">"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func digest(kind, v string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + v))
	return hex.EncodeToString(h[:16])
}

var msgIDRE = regexp.MustCompile(`^<[^<>\s@]+@[^<>\s@]+>$`)

func (n *Notifier) build(m notify.Message, txt notify.Text) (*gomail.Msg, string, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(n.cfg.res.from)
	msg.ToMailAddress(n.cfg.res.to...)
	if len(n.cfg.res.cc) > 0 {
		msg.CcMailAddress(n.cfg.res.cc...)
	}
	subject := txt.Title
	if m.Kind == notify.Test && !strings.Contains(subject, "TEST") {
		subject = "[TEST] " + subject
	}
	if n.cfg.SubjectPrefix != "" {
		subject = n.cfg.SubjectPrefix + " " + subject
	}
	msg.Subject(subject)
	id := n.messageID(m.IdempotencyKey)
	msg.SetMessageIDWithValue(strings.Trim(id, "<>"))
	msg.SetDateWithValue(n.o.Now())
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader("X-Trailwatch-Finding", m.Finding.ID)
	msg.SetGenHeader("X-Trailwatch-Risk", m.Finding.Risk.String())
	msg.SetGenHeader("X-Trailwatch-Kind", string(m.Kind))
	msg.SetUserAgent("trailwatch")

	// Threading: every mail about a fingerprint references the same root;
	// an Update also replies to the trigger (its Message-ID comes back as
	// m.Ref) so mail clients nest repeats under the first alert.
	root := n.threadID(m.Finding.Fingerprint)
	if m.Kind == notify.Update || m.Kind == notify.Escalation {
		parent := root
		refs := root
		if msgIDRE.MatchString(m.Ref) {
			parent = m.Ref
			refs = strings.TrimSpace(root + " " + m.Ref)
		}
		if parent != "" {
			msg.SetGenHeaderPreformatted(gomail.HeaderInReplyTo, parent)
			msg.SetGenHeaderPreformatted(gomail.HeaderReferences, refs)
		}
	} else if root != "" && m.Kind == notify.Trigger {
		msg.SetGenHeaderPreformatted(gomail.HeaderReferences, root)
	}

	html, err := renderHTML(m, txt)
	if err != nil {
		return nil, "", err
	}
	msg.SetBodyString(gomail.TypeTextPlain, txt.Body)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, id, nil
}

func (n *Notifier) send(ctx context.Context, msg *gomail.Msg) error {
	if err := ctx.Err(); err != nil {
		return notify.Retryable(fmt.Errorf("email: %w", err), 0)
	}

	// The dialer is ours so that the end of ctx (deadline or cancel)
	// aborts a session that is already past the dial: go-mail only uses
	// ctx for the dial and bounds each command by the timeout setting.
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	// go-mail joins host and port with a bare colon, which breaks IPv6
	// literals: the address is ours too.
	addr := net.JoinHostPort(strings.Trim(n.cfg.Host, "[]"), strconv.Itoa(n.cfg.Port))
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if n.cfg.TLS == TLSImplicit {
			tc := tls.Client(conn, n.tls)
			if err := tc.HandshakeContext(dctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		stop = context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(n.cfg.Port),
		gomail.WithTimeout(n.cfg.Timeout),
		gomail.WithTLSConfig(n.tls),
		gomail.WithDialContextFunc(dial),
	}
	switch n.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if n.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(n.cfg.HELO))
	}
	switch n.cfg.Auth {
	case AuthPlain:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain))
	case AuthLogin:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthLogin))
	case AuthCRAMMD5:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthCramMD5))
	}
	if n.cfg.Auth != AuthNone {
		opts = append(opts, gomail.WithUsername(n.cfg.Username), gomail.WithPassword(n.cfg.res.password.Reveal()))
	}
	client, err := gomail.NewClient(strings.Trim(n.cfg.Host, "[]"), opts...)
	if err != nil {
		return notify.Permanent(fmt.Errorf("email: %s", n.scrub(err.Error())))
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return n.classify(ctx, err)
	}
	return nil
}

func (n *Notifier) scrub(s string) string { return n.secrets.Quote(s, 300) }

// classify turns an SMTP session error into a notify error: reply codes
// 4yz retry and 5yz do not; a connection that failed, timed out or was
// cut retries; a policy failure (no STARTTLS, untrusted certificate,
// missing AUTH mechanism) is permanent.
func (n *Notifier) classify(ctx context.Context, err error) error {
	where := net.JoinHostPort(n.cfg.Host, strconv.Itoa(n.cfg.Port))
	msg := n.scrub(err.Error())
	if ctx.Err() != nil {
		return notify.Retryable(fmt.Errorf("email: smtp %s: %s: %w", where, msg, ctx.Err()), 0)
	}
	e := fmt.Errorf("email: smtp %s: %s", where, msg)
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case se.IsTemp():
			return notify.Retryable(e, 0)
		case code >= 500 && code < 600:
			return notify.Permanent(e)
		}
		return notify.Retryable(e, 0)
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 400 && te.Code < 500 {
			return notify.Retryable(e, 0)
		}
		return notify.Permanent(e)
	}
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	if errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr) {
		return notify.Permanent(e)
	}
	for _, p := range []error{
		gosmtp.ErrUnencrypted, gosmtp.ErrWrongHostname,
		gomail.ErrPlainAuthNotSupported, gomail.ErrLoginAuthNotSupported, gomail.ErrCramMD5AuthNotSupported,
	} {
		if errors.Is(err, p) {
			return notify.Permanent(e)
		}
	}
	// go-mail reports these policy failures as plain text.
	if strings.Contains(msg, "does not support STARTTLS") || strings.Contains(msg, "does not support SMTP AUTH") {
		return notify.Permanent(e)
	}
	return notify.Retryable(e, 0)
}
