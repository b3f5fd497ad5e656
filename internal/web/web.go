// Package web serves trailwatch's dashboard: server-rendered pages (the
// overview, the findings feed with its filters in the URL, a finding's
// whole story, the rule catalogue as configured, and the channels with
// their outbox) over a store, with every asset embedded in the binary and a
// strict Content-Security-Policy (no inline script or style). Event fields are attacker-controlled; every
// value reaches the page through html/template's contextual escaping. It
// imports store, finding, rule, printable and duration.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is the Content-Security-Policy of every response: scripts, styles and
// images only from the dashboard itself, no inline script or style, no
// plugins, no framing, forms posting only back to it.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options configure the dashboard.
type Options struct {
	// Store is read for every page.
	Store store.Store
	// Engine is the catalogue as configured, for the rules pages; nil
	// leaves them out.
	Engine *rule.Engine
	// Outbox and Channels feed the channels page (nil Outbox leaves it
	// out): the deliveries by channel and status, and each configured
	// channel's type and routing.
	Outbox   store.Outbox
	Channels []Channel
	// Who says who is signed in (name and role: viewer, responder or
	// admin); nil means nobody is asked (a local server: everyone may do
	// everything). The pages show a responder's triage buttons; the API
	// enforces the roles anyway.
	Who func(*http.Request) (name, role string, ok bool)
	// Account says who is signed in for the page's header (name, role, the
	// session's CSRF token the page's scripts send, where to sign out);
	// nil or not ok shows nobody.
	Account func(*http.Request) (Account, bool)
	// APIPath is where the pages send triage actions (the API's prefix,
	// "/api/v1", under BasePath).
	APIPath string
	// BasePath serves everything under a prefix ("/trailwatch") behind a
	// reverse proxy; "" or "/" serves at the root.
	BasePath string
	// Now is the clock of relative windows ("last 7 days"); nil means
	// time.Now.
	Now func() time.Time
	// Logger receives server-side errors (never request bodies); nil
	// discards them.
	Logger *slog.Logger
	// Trails, when set, reports each monitored account and region with
	// its last event (trailwatch run's heartbeat), for the overview.
	Trails func() []Trail
	// MaxScan bounds how many findings the overview reads to count
	// (newest first); 0 means 20,000. The page says when it was reached.
	MaxScan int
}

// Server is the dashboard's http.Handler.
type Server struct {
	opts  Options
	base  string
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the dashboard over o.Store.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("web: no store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxScan <= 0 {
		o.MaxScan = 20000
	}
	base := strings.TrimRight(o.BasePath, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		return nil, fmt.Errorf("web: base path %q must start with /", o.BasePath)
	}
	s := &Server{opts: o, base: base, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	for _, page := range []string{"overview", "feed", "detail", "rules", "rule", "channels", "silences", "error", "signin"} {
		t, err := template.New("layout.html").Funcs(s.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", page, err)
		}
		s.pages[page] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	s.mux.HandleFunc("GET /{$}", s.overview)
	s.mux.HandleFunc("GET /findings", s.feed)
	s.mux.HandleFunc("GET /findings/{id}", s.detail)
	if o.Engine != nil {
		s.mux.HandleFunc("GET /rules", s.rules)
		s.mux.HandleFunc("GET /rules/{id}", s.ruleDetail)
	}
	if o.Outbox != nil {
		s.mux.HandleFunc("GET /channels", s.channels)
	}
	if _, ok := o.Store.(store.Silences); ok {
		s.mux.HandleFunc("GET /silences", s.silences)
	}
	return s, nil
}

// ServeHTTP serves the dashboard with its security headers; requests
// outside BasePath are not found.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, r, http.StatusMethodNotAllowed, "this page only reads: use GET")
		return
	}
	path := r.URL.Path
	if s.base != "" {
		rest, ok := strings.CutPrefix(path, s.base)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			s.fail(w, r, http.StatusNotFound, "no such page")
			return
		}
		if rest == "" {
			http.Redirect(w, r, s.base+"/", http.StatusMovedPermanently)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		r = r2
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.fail(w, r, http.StatusNotFound, "no such page")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// staticFiles serves the embedded assets with a long cache life; they
// change only with the binary.
func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// render writes a page; a template error becomes a logged 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var b strings.Builder
	pd := pageData{Base: s.base, Page: page, Data: data, Rules: s.opts.Engine != nil, Channels: s.opts.Outbox != nil, Silences: s.silencesOn()}
	if s.opts.Account != nil && page != "signin" {
		if a, ok := s.opts.Account(r); ok {
			pd.Account = &a
		}
	}
	if err := s.pages[page].Execute(&b, pd); err != nil {
		s.opts.Logger.Error("rendering a dashboard page", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

// fail renders the error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", errorPage{Status: status, Title: http.StatusText(status), Message: msg})
}

// storeErr turns a store error into a page: not found, or a logged 500
// that does not show the store's text.
func (s *Server) storeErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, "no such finding")
	case errors.Is(err, context.Canceled):
	default:
		s.opts.Logger.Error("dashboard store read", "path", r.URL.Path, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "the store could not be read; see the server log")
	}
}

// Account is who is signed in, as the header shows them.
type Account struct {
	Name, Role string
	// CSRF is the session's token: the page's scripts send it with every
	// change (X-CSRF-Token), the sign-out form in csrf_token.
	CSRF string
	// SignOut is where signing out goes: a URL to post to when CSRF is
	// set, else a link (a signing-in proxy's); "" shows no sign-out.
	SignOut string
}

// SignIn is what the sign-in page shows (the API's authentication renders
// it through SignInPage).
type SignIn struct {
	Status int
	// Password shows the user name and password form, posting to Action
	// with CSRF and Next.
	Password           bool
	Action, CSRF, Next string
	// OIDC names the provider of the "Sign in with" link to OIDCURL.
	OIDC, OIDCURL string
	Error         string
}

// SignInPage renders the sign-in page.
func (s *Server) SignInPage(w http.ResponseWriter, r *http.Request, v SignIn) {
	setHeaders(w)
	if v.Status == 0 {
		v.Status = http.StatusOK
	}
	s.render(w, r, v.Status, "signin", v)
}

type pageData struct {
	Account  *Account
	Base     string
	Page     string
	Data     any
	Rules    bool // the rules pages are served
	Channels bool // the channels page is served
	Silences bool // the silences page is served
}

// silencesOn says whether the store keeps silences (the silences page).
func (s *Server) silencesOn() bool {
	_, ok := s.opts.Store.(store.Silences)
	return ok
}

// Trail is one account and region the heartbeat watches.
type Trail struct {
	Account, Region string
	// LastEvent is when its last event arrived; zero when none has.
	LastEvent time.Time
	// State is ok, silent (longer than allowed) or waiting (nothing yet,
	// within the allowed silence of the start).
	State string
}

type errorPage struct {
	Status  int
	Title   string
	Message string
}
