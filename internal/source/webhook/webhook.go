// Package webhook is the source that receives events over HTTP(S): the
// target of an EventBridge API destination (one event or a batch per
// request), authenticated by an API-key header or basic auth. It answers
// 2xx only after the request's events are committed. It imports source,
// event and secret.
package webhook

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/source"
)

// Config configures the webhook source.
type Config struct {
	// Listen is the address to listen on; default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Path is the URL path events are posted to; default /events.
	Path string `yaml:"path"`
	// APIKeyHeader and APIKey: the header an EventBridge connection with
	// API-key authorization sends. Default header: X-Api-Key.
	APIKeyHeader string        `yaml:"api_key_header"`
	APIKey       secret.Secret `yaml:"api_key"`
	APIKeyFile   string        `yaml:"api_key_file"`
	// Username and Password: basic authorization instead.
	Username     string        `yaml:"username"`
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// TLSCert and TLSKey are PEM files; without them the source speaks
	// plain HTTP (put it behind a TLS-terminating load balancer).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// MaxBody bounds a request body in bytes; default 1 MiB (EventBridge
	// events are at most 256 KB).
	MaxBody int64 `yaml:"max_body"`
	// AllowNoAuth accepts unauthenticated requests; only allowed when
	// listening on loopback (local trials).
	AllowNoAuth bool `yaml:"allow_no_auth"`

	apiKey, password secret.Secret
}

// Check resolves secrets and validates, reporting every problem.
func (c *Config) Check(getenv func(string) string) error {
	var errs []error
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Path == "" {
		c.Path = "/events"
	}
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("path: %q must start with /", c.Path))
	}
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = "X-Api-Key"
	}
	if c.MaxBody == 0 {
		c.MaxBody = 1 << 20
	}
	if c.MaxBody < 0 {
		errs = append(errs, errors.New("max_body: must be positive"))
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	if c.apiKey, err = secret.Pick(c.APIKey, c.APIKeyFile, getenv, false); err != nil {
		errs = append(errs, fmt.Errorf("api_key: %w", err))
	}
	if c.password, err = secret.Pick(c.Password, c.PasswordFile, getenv, false); err != nil {
		errs = append(errs, fmt.Errorf("password: %w", err))
	}
	if (c.Username == "") != c.password.Empty() {
		errs = append(errs, errors.New("username and password: give both or neither"))
	}
	if c.apiKey.Empty() && c.Username == "" {
		ip := net.ParseIP(host)
		loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
		switch {
		case !c.AllowNoAuth:
			errs = append(errs, errors.New("api_key or username/password: required (or allow_no_auth on a loopback address)"))
		case !loopback:
			errs = append(errs, fmt.Errorf("allow_no_auth: only allowed on a loopback address, not %q", c.Listen))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key: give both or neither"))
	}
	if c.TLSCert != "" && c.TLSKey != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			errs = append(errs, fmt.Errorf("tls_cert/tls_key: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Source serves HTTP and hands each accepted request out as a batch.
type Source struct {
	name    string
	cfg     Config
	wants   source.Wants
	log     *slog.Logger
	srv     *http.Server
	ln      net.Listener
	batches chan *source.Batch
	timeout time.Duration
	// Counters for metrics.
	Accepted, Rejected atomic.Int64
}

// Options configure a Source beyond its Config.
type Options struct {
	Wants  source.Wants
	Logger *slog.Logger
	// CommitTimeout bounds how long a request waits for its events to be
	// committed before answering 503; default 25s (an EventBridge API
	// destination gives up after 5 s and retries, which is harmless:
	// saving is idempotent).
	CommitTimeout time.Duration
	// MaxRecord bounds one record.
	MaxRecord int
}

// New listens on the configured address.
func New(name string, c Config, o Options) (*Source, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 25 * time.Second
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("webhook source %s: %w", name, err)
	}
	s := &Source{name: name, cfg: c, wants: o.Wants, log: o.Logger, ln: ln, batches: make(chan *source.Batch), timeout: o.CommitTimeout}
	mux := http.NewServeMux()
	mux.HandleFunc(c.Path, s.handle)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: o.CommitTimeout + 10*time.Second}
	go func() {
		var err error
		if c.TLSCert != "" {
			err = s.srv.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("webhook source stopped", "source", name, "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the source listens on.
func (s *Source) Addr() string { return s.ln.Addr().String() }

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Read returns the next accepted request.
func (s *Source) Read(ctx context.Context) (*source.Batch, error) {
	select {
	case b := <-s.batches:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops accepting requests and waits for those in flight.
func (s *Source) Close(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

type reply struct {
	Accepted int      `json:"accepted,omitempty"`
	Records  int      `json:"records,omitempty"`
	Error    string   `json:"error,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

func writeReply(w http.ResponseWriter, code int, r reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(r)
}

func (s *Source) authorized(r *http.Request) (int, string) {
	c := &s.cfg
	if !c.apiKey.Empty() {
		got := r.Header.Get(c.APIKeyHeader)
		if got == "" {
			return http.StatusUnauthorized, "missing " + c.APIKeyHeader + " header"
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.apiKey.Reveal())) != 1 {
			return http.StatusForbidden, "wrong API key"
		}
		return 0, ""
	}
	if c.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok {
			return http.StatusUnauthorized, "missing basic authorization"
		}
		uok := subtle.ConstantTimeCompare([]byte(u), []byte(c.Username)) == 1
		pok := subtle.ConstantTimeCompare([]byte(p), []byte(c.password.Reveal())) == 1
		if !uok || !pok {
			return http.StatusForbidden, "wrong username or password"
		}
	}
	return 0, ""
}

func (s *Source) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeReply(w, http.StatusMethodNotAllowed, reply{Error: "POST events here"})
		return
	}
	if code, msg := s.authorized(r); code != 0 {
		s.Rejected.Add(1)
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="trailwatch"`)
		}
		writeReply(w, code, reply{Error: msg})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		s.Rejected.Add(1)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeReply(w, http.StatusRequestEntityTooLarge, reply{Error: fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBody)})
			return
		}
		writeReply(w, http.StatusBadRequest, reply{Error: "read body: " + err.Error()})
		return
	}
	origin := fmt.Sprintf("webhook %s from %s", s.name, r.RemoteAddr)
	events, records, errs := source.Decode(bytes.NewReader(body), origin, s.wants, 0)
	if records == 0 || (len(errs) > 0 && len(events) == 0 && records == len(errs)) {
		s.Rejected.Add(1)
		msg := "no CloudTrail records in the body"
		var problems []string
		for _, e := range errs {
			problems = append(problems, e.Error())
		}
		if len(problems) > 0 {
			msg = "malformed body"
		}
		writeReply(w, http.StatusBadRequest, reply{Error: msg, Problems: problems})
		return
	}
	done := make(chan error, 1)
	b := &source.Batch{Origin: origin, Events: events, Records: records, Errors: errs,
		Ack: func(_ context.Context, err error) error {
			done <- err
			return nil
		}}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	select {
	case s.batches <- b:
	case <-ctx.Done():
		writeReply(w, http.StatusServiceUnavailable, reply{Error: "busy: not accepted, retry"})
		return
	}
	select {
	case err := <-done:
		if err != nil {
			writeReply(w, http.StatusServiceUnavailable, reply{Error: "not committed, retry: " + err.Error()})
			return
		}
	case <-ctx.Done():
		// The pipeline still owns the batch and will commit it; saving is
		// idempotent, so the sender's retry is harmless.
		writeReply(w, http.StatusServiceUnavailable, reply{Error: "commit timed out, retry"})
		return
	}
	s.Accepted.Add(1)
	var problems []string
	for _, e := range errs {
		problems = append(problems, e.Error())
	}
	writeReply(w, http.StatusOK, reply{Accepted: len(events), Records: records, Problems: problems})
}

// Counters reports the source's request counts for metrics.
func (s *Source) Counters() map[string]int64 {
	return map[string]int64{"accepted": s.Accepted.Load(), "rejected": s.Rejected.Load()}
}
