// Package webhook is the source that receives events over HTTP(S): the
// target of an EventBridge API destination (one event or a batch per
// request), authenticated by an API-key header or basic auth. It answers
// 2xx only after the request's events are committed, saying how many of
// their findings were new. Memory is bounded by configuration: a request
// reserves its share of max_memory before its body is read, and one that
// does not fit is answered 429 at once. It imports source, event and
// secret.
package webhook

import (
	"compress/gzip"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/source"
)

// Defaults.
const (
	DefaultMaxBody = 1 << 20
	// DefaultMaxMemory is the memory budget of requests in flight.
	DefaultMaxMemory = 64 << 20
	// Amplification is how much memory a request may take per byte of
	// body while in flight: the body being split, the records kept
	// verbatim and their decoded form. Real CloudTrail events take about
	// 7 bytes per byte; hostile ones built of tiny objects within the
	// per-record value limit ({"a":0} items) up to 46, measured. Each
	// request reserves this many times its size (its Content-Length, or
	// max_body when the size is unknown or the body is compressed) from
	// max_memory, so the budget holds whatever the bodies are.
	Amplification = 48
	// MaxProblems is how many bad records an answer and a log line quote;
	// the rest are counted.
	MaxProblems = 10
	// retryAfter is what a 429 asks the sender to wait, in seconds.
	retryAfter = "1"
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
	// MaxBody bounds a request body in bytes, after decompression;
	// default 1 MiB (EventBridge events are at most 256 KB).
	MaxBody int64 `yaml:"max_body"`
	// MaxMemory bounds the memory of the requests in flight, in bytes;
	// default 64 MiB. Each reserves Amplification times its size; a
	// request that does not fit is answered 429 with Retry-After before
	// its body is read. It must hold at least one request of max_body.
	MaxMemory int64 `yaml:"max_memory"`
	// AllowNoAuth accepts unauthenticated requests; only allowed when
	// listening on loopback (local trials).
	AllowNoAuth bool `yaml:"allow_no_auth"`

	apiKey, password secret.Secret
}

// Check resolves secrets and validates, reporting every problem. getenv
// nil means os.Getenv.
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
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxBody < 0 {
		errs = append(errs, errors.New("max_body: must be positive"))
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = max(DefaultMaxMemory, Amplification*c.MaxBody)
	}
	if c.MaxMemory < Amplification*c.MaxBody {
		errs = append(errs, fmt.Errorf("max_memory: %d bytes cannot hold one request of max_body (%d bytes need %d)", c.MaxMemory, c.MaxBody, Amplification*c.MaxBody))
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	if c.apiKey, err = secret.Setting("api_key", c.APIKey, c.APIKeyFile, getenv, false); err != nil {
		errs = append(errs, err)
	}
	if c.password, err = secret.Setting("password", c.Password, c.PasswordFile, getenv, false); err != nil {
		errs = append(errs, err)
	}
	if (c.Username == "") != c.password.Empty() && err == nil {
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
	name      string
	cfg       Config
	wants     source.Wants
	log       *slog.Logger
	srv       *http.Server
	ln        net.Listener
	batches   chan *source.Batch
	closed    chan struct{}
	closeOnce sync.Once
	timeout   time.Duration
	budget    budget
	rejects   rejectLog
	// Counters for metrics: requests committed, refused (auth, method,
	// size, content), and turned away as busy (429).
	Accepted, Rejected, Throttled atomic.Int64
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
	// Now is the clock of the rejection log; nil means time.Now.
	Now func() time.Time
}

// New listens on the configured address, and logs the URL it serves.
func New(name string, c Config, o Options) (*Source, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 25 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxMemory <= 0 {
		c.MaxMemory = max(DefaultMaxMemory, Amplification*c.MaxBody)
	}
	s := &Source{name: name, cfg: c, wants: o.Wants, log: o.Logger, batches: make(chan *source.Batch), closed: make(chan struct{}), timeout: o.CommitTimeout,
		budget: budget{max: c.MaxMemory}, rejects: rejectLog{now: o.Now, log: o.Logger}}
	mux := http.NewServeMux()
	mux.HandleFunc(c.Path, s.handle)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: o.CommitTimeout + 10*time.Second,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}
	return s, nil
}

// Start listens and serves. An address that cannot be bound (in use, not
// this host's) is a permanent error.
func (s *Source) Start(ctx context.Context) error {
	c := s.cfg
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return source.Permanent(fmt.Errorf("webhook source %s: %w", s.name, err))
	}
	s.ln = ln
	go func() {
		var err error
		if c.TLSCert != "" {
			err = s.srv.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("webhook source stopped", "err", err)
		}
	}()
	s.log.Info("webhook source listening", "url", s.URL(), "max_body", c.MaxBody, "max_memory", c.MaxMemory)
	return nil
}

// Addr is the address the source listens on.
func (s *Source) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the URL events are posted to.
func (s *Source) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.Addr() + s.cfg.Path
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Read returns the next accepted request; source.ErrClosed once Close has
// answered every request in flight.
func (s *Source) Read(ctx context.Context) (*source.Batch, error) {
	select {
	case b := <-s.batches:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, source.ErrClosed
	}
}

// Close stops accepting requests and waits for those in flight (their
// batches are still read and acknowledged meanwhile); then Read returns
// source.ErrClosed.
func (s *Source) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.closeOnce.Do(func() { close(s.closed) })
	return err
}

// reply is the JSON answer. Accepted counts the records some rule
// watches; Findings those records raised, New the findings stored by
// this request and AlreadyStored the others; Message says it in words.
type reply struct {
	Accepted      int      `json:"accepted"`
	Records       int      `json:"records"`
	Findings      int      `json:"findings"`
	New           int      `json:"new"`
	AlreadyStored int      `json:"already_stored"`
	Message       string   `json:"message,omitempty"`
	Error         string   `json:"error,omitempty"`
	Problems      []string `json:"problems,omitempty"`
	MoreProblems  int      `json:"more_problems,omitempty"`
}

// failure is an answer that is not a 200.
type failure struct {
	Error        string   `json:"error"`
	Records      int      `json:"records,omitempty"`
	Problems     []string `json:"problems,omitempty"`
	MoreProblems int      `json:"more_problems,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
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

// reject answers a request that is not taken and logs it (without body or
// credentials), counting it as rejected or, for 429, throttled.
func (s *Source) reject(w http.ResponseWriter, r *http.Request, code int, f failure) {
	if code == http.StatusTooManyRequests {
		s.Throttled.Add(1)
	} else {
		s.Rejected.Add(1)
	}
	s.rejects.note(r, code, f.Error, len(f.Problems)+f.MoreProblems)
	writeJSON(w, code, f)
}

func (s *Source) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.reject(w, r, http.StatusMethodNotAllowed, failure{Error: "POST events here"})
		return
	}
	if code, msg := s.authorized(r); code != 0 {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="trailwatch"`)
		}
		s.reject(w, r, code, failure{Error: msg})
		return
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		s.reject(w, r, http.StatusUnsupportedMediaType, failure{Error: "Content-Encoding " + strconv.Quote(enc) + " is not supported (send gzip or nothing)"})
		return
	}
	if r.ContentLength > s.cfg.MaxBody {
		w.Header().Set("Connection", "close")
		s.reject(w, r, http.StatusRequestEntityTooLarge, failure{Error: fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBody)})
		return
	}
	// Reserve memory before reading anything: the size of the body as
	// declared, or the largest allowed when it is unknown or compressed.
	size := s.cfg.MaxBody
	if r.ContentLength >= 0 && !gz {
		size = r.ContentLength
	}
	cost := Amplification * max(size, 4<<10)
	if !s.budget.take(cost) {
		w.Header().Set("Retry-After", retryAfter)
		w.Header().Set("Connection", "close") // do not read the body to reuse the connection
		s.reject(w, r, http.StatusTooManyRequests, failure{Error: "busy: too many requests in flight; retry after " + retryAfter + "s"})
		return
	}
	var release sync.Once
	free := func() { release.Do(func() { s.budget.give(cost) }) }
	defer func() {
		if r := recover(); r != nil {
			free()
			panic(r)
		}
	}()

	raw := &limited{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBody), max: s.cfg.MaxBody}
	body := raw
	if gz {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			free()
			s.bodyError(w, r, raw, raw, fmt.Errorf("gzip: %w", err))
			return
		}
		defer zr.Close()
		// The decompressed size counts against max_body.
		body = &limited{r: zr, max: s.cfg.MaxBody, decompressed: true}
	}
	origin := fmt.Sprintf("webhook %s from %s", s.name, r.RemoteAddr)
	d := source.DecodeAll(body, origin, s.wants, 0)
	if body.err != nil || raw.err != nil {
		free()
		s.bodyError(w, r, raw, body, errors.Join(raw.err, body.err))
		return
	}
	if d.CloudTrail == 0 {
		free()
		msg := "no CloudTrail records in the body"
		if len(d.Errs) > 0 {
			msg = "malformed body"
		}
		first, more := source.Problems(append(d.Errs, d.Foreign...), MaxProblems)
		s.reject(w, r, http.StatusBadRequest, failure{Error: msg, Records: d.Records, Problems: first, MoreProblems: more})
		return
	}
	problems := append(d.Errs, d.Foreign...)
	done := make(chan source.Result, 1)
	var acked atomic.Bool
	b := &source.Batch{Origin: origin, Events: d.Events, Records: d.Records, Errors: problems,
		Ack: func(_ context.Context, res source.Result) error {
			// A second Ack must neither free the memory twice nor block.
			if !acked.CompareAndSwap(false, true) {
				return fmt.Errorf("%s: acknowledged twice", origin)
			}
			free() // the pipeline is done with the events
			done <- res
			return nil
		}}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	select {
	case s.batches <- b:
	case <-ctx.Done():
		free()
		writeJSON(w, http.StatusServiceUnavailable, failure{Error: "busy: not accepted, retry"})
		s.log.Warn("webhook request not taken in time", "remote", r.RemoteAddr, "records", d.Records)
		return
	}
	var res source.Result
	select {
	case res = <-done:
		if res.Err != nil {
			writeJSON(w, http.StatusServiceUnavailable, failure{Error: "not committed, retry: " + res.Err.Error()})
			return
		}
	case <-ctx.Done():
		// The pipeline still owns the batch and will commit it; saving is
		// idempotent, so the sender's retry is harmless.
		writeJSON(w, http.StatusServiceUnavailable, failure{Error: "commit timed out, retry"})
		return
	}
	s.Accepted.Add(1)
	first, more := source.Problems(problems, MaxProblems)
	out := reply{Accepted: len(d.Events), Records: d.Records, Findings: res.Findings, New: res.New, AlreadyStored: res.Findings - res.New,
		Message: Summary(d.Records, res), Problems: first, MoreProblems: more}
	s.log.Info("webhook request committed", "remote", r.RemoteAddr, "records", d.Records, "findings", res.Findings,
		"new", res.New, "already_stored", out.AlreadyStored, "bad_records", len(problems), "summary", out.Message)
	writeJSON(w, http.StatusOK, out)
}

// bodyError answers a body that could not be read: too large as sent or
// decompressed (413), not gzip (400), or cut off (400).
func (s *Source) bodyError(w http.ResponseWriter, r *http.Request, raw, body *limited, err error) {
	var mbe *http.MaxBytesError
	switch {
	case raw.over || body.over || errors.As(err, &mbe):
		what := "body"
		if body.over && body.decompressed {
			what = "decompressed body"
		}
		w.Header().Set("Connection", "close")
		s.reject(w, r, http.StatusRequestEntityTooLarge, failure{Error: fmt.Sprintf("%s larger than %d bytes", what, s.cfg.MaxBody)})
	default:
		s.reject(w, r, http.StatusBadRequest, failure{Error: "read body: " + err.Error()})
	}
}

// Summary says in words what a committed request did: "2 records: 2
// findings, all already stored".
func Summary(records int, r source.Result) string {
	head := plural(records, "record")
	switch {
	case r.Quarantined:
		return head + ": not judged; quarantined after repeated commit failures (see trailwatch_quarantined_total)"
	case r.Findings == 0:
		return head + ", no findings"
	case r.New == r.Findings:
		return head + ": " + plural(r.Findings, "new finding")
	case r.New == 0:
		return head + ": " + plural(r.Findings, "finding") + ", all already stored"
	}
	return fmt.Sprintf("%s: %s, %d new, %d already stored", head, plural(r.Findings, "finding"), r.New, r.Findings-r.New)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// Counters reports the source's request counts for metrics.
func (s *Source) Counters() map[string]int64 {
	return map[string]int64{"accepted": s.Accepted.Load(), "rejected": s.Rejected.Load(), "throttled": s.Throttled.Load()}
}

// InFlight reports the memory reserved by requests in flight and the
// most ever reserved at once, in bytes.
func (s *Source) InFlight() (now, peak int64) { return s.budget.load() }

// budget is a counting semaphore of bytes that never waits.
type budget struct {
	mu              sync.Mutex
	used, peak, max int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

func (b *budget) load() (int64, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// limited reads at most max bytes and remembers the first read error;
// over reports a body longer than max.
type limited struct {
	r            io.Reader
	n, max       int64
	over         bool
	decompressed bool
	err          error
}

func (l *limited) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if int64(len(p)) > l.max-l.n+1 {
		p = p[:l.max-l.n+1]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		l.over = true
		l.err = errors.New("body too large")
		return n - int(l.n-l.max), l.err
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// rejectLog logs rejected requests without their bodies or credentials:
// each one while they are rare, then at most one line a second with the
// number not shown, so a flood cannot flood the log.
type rejectLog struct {
	mu         sync.Mutex
	now        func() time.Time
	log        *slog.Logger
	last       time.Time
	suppressed int
}

func (l *rejectLog) note(r *http.Request, code int, reason string, problems int) {
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.last = now
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	args := []any{"status", code, "reason", reason, "remote", r.RemoteAddr, "content_length", r.ContentLength}
	if problems > 0 {
		args = append(args, "bad_records", problems)
	}
	if n > 0 {
		args = append(args, "also_rejected_since_last_line", n)
	}
	l.log.Warn("webhook request rejected", args...)
}
