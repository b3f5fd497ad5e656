// Package api is trailwatch's HTTP API: REST and JSON under /api/v1 over a
// store (findings with their triage state, silences, the outbox), with
// authentication (config users with bcrypt hashes, API tokens) and roles
// (viewer, responder, admin). The OpenAPI 3 document it serves at
// /api/v1/openapi.json lists exactly its routes. It imports store,
// finding, duration and secret.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Prefix is where the API lives, under Config.BasePath.
const Prefix = "/api/v1"

// Rule is one rule of the catalogue as the API shows it: its id, and a
// document (any JSON value) with its effective settings.
type Rule struct {
	ID      string
	Summary any // GET /rules
	Detail  any // GET /rules/{id}
}

// Channel is one configured channel.
type Channel struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// User is a user from the configuration: a bcrypt hash of the password
// and a role.
type User struct {
	Name         string
	PasswordHash string
	Role         string
}

// Config is what a Server serves.
type Config struct {
	Store store.Full
	// Rules are the catalogue's rules, in catalogue order.
	Rules []Rule
	// Channels are the configured channels.
	Channels []Channel
	// PagerDutySecret verifies inbound PagerDuty v3 webhooks
	// (POST /inbound/pagerduty); empty turns them off.
	PagerDutySecret secret.Secret
	// ZendeskSecret verifies inbound Zendesk webhooks; ServiceNowSecret
	// is the shared secret of inbound ServiceNow messages.
	ZendeskSecret, ServiceNowSecret secret.Secret
	// Lifecycle names the channels that hold incidents or tickets:
	// acknowledging or resolving a finding owes them a delivery.
	Lifecycle []string
	// Users may sign in with HTTP Basic authentication.
	Users []User
	// Tokens accepts API tokens (Authorization: Bearer) from the store.
	Tokens bool
	// Proxy trusts a signing-in proxy's headers (oauth2-proxy and the
	// like) from its addresses.
	Proxy *Proxy
	// BasePath serves everything under a prefix ("/trailwatch"), behind
	// an ingress.
	BasePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Trails, when set, reports each monitored account and region (the
	// heartbeat of trailwatch run); nil: GET /trails says it is not known
	// here.
	Trails func() []Trail
	// StreamPoll is how often GET /stream looks for news (default 1s);
	// MaxStreams bounds the streams open at once (default 100).
	StreamPoll time.Duration
	MaxStreams int
	// Pages, when set, serves every other path under BasePath (the
	// dashboard) to signed-in viewers, with the API's authentication.
	Pages http.Handler
	// OIDC signs people in with an OpenID Connect provider; nil: off.
	OIDC *OIDC
	// SessionTTL is how long a browser session lasts (default
	// DefaultSessionTTL); SecureCookies marks the cookies Secure (served
	// over TLS, or behind an https external URL).
	SessionTTL    time.Duration
	SecureCookies bool
	// SignInPage renders the sign-in page (the dashboard's); nil: a plain
	// page of the API's own.
	SignInPage func(w http.ResponseWriter, r *http.Request, v SignInView)
	// Sleep holds a failed sign-in's answer (slowing down guessing before
	// the limit refuses it); nil waits on a timer, cut short when the
	// client goes.
	Sleep func(time.Duration)
	// Log receives security events (failed sign-ins, state changes);
	// nil discards them.
	Log *slog.Logger
}

// AuthConfigured reports whether any authentication is on. Without it the
// server must listen on loopback only, and everyone is admin.
func (c Config) AuthConfigured() bool {
	return len(c.Users) > 0 || c.Tokens || c.Proxy != nil || c.OIDC != nil
}

// Server is the API's http.Handler.
type Server struct {
	cfg     Config
	handler http.Handler
	routes  []route
	users   map[string]User
	limiter *limiter
	replays replays
	streams atomic.Int64
	oidc    *oidcClient
}

// route is one API operation.
type route struct {
	method, path string // path under Prefix, with {name} wildcards
	role         string // least role allowed; "" is public
	params       []string
	handle       func(w http.ResponseWriter, r *http.Request, p principal) error
}

// New returns the API server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: no store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	base := strings.TrimRight(cfg.BasePath, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		return nil, fmt.Errorf("api: base path %q must start with /", cfg.BasePath)
	}
	cfg.BasePath = base
	s := &Server{cfg: cfg, users: map[string]User{}, limiter: newLimiter(cfg.Now)}
	for _, u := range cfg.Users {
		if !slices.Contains(store.Roles, u.Role) {
			return nil, fmt.Errorf("api: user %q: role %q is not viewer, responder or admin", u.Name, u.Role)
		}
		s.users[u.Name] = u
	}
	if cfg.OIDC != nil {
		var err error
		if s.oidc, err = newOIDC(*cfg.OIDC, cfg.Now); err != nil {
			return nil, err
		}
	}
	s.routes = s.table()
	mux := http.NewServeMux()
	if s.sessionsOn() {
		mux.HandleFunc("GET "+base+"/signin", s.signInForm)
		mux.HandleFunc("POST "+base+"/signin", s.signIn)
	}
	mux.HandleFunc("POST "+base+"/signout", s.signOut)
	if s.oidc != nil {
		mux.HandleFunc("GET "+base+"/auth/oidc/login", s.oidcLogin)
		mux.HandleFunc("GET "+base+"/auth/oidc/callback", s.oidcCallback)
	}
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+base+Prefix+rt.path, s.wrap(rt))
	}
	mux.HandleFunc(base+Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such API route: " + r.Method + " " + r.URL.Path})
	})
	if cfg.Pages != nil {
		mux.Handle(base+"/", s.pages(cfg.Pages))
	} else {
		mux.HandleFunc(base+"/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such API route: " + r.Method + " " + r.URL.Path})
		})
	}
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "cross_origin", Message: "cross-origin state-changing requests are refused"})
	}))
	s.handler = csrf.Handler(mux)
	return s, nil
}

func (s *Server) table() []route {
	filters := []string{"min_risk", "rule", "account", "region", "outcome", "service", "method", "control", "actor", "since", "until", "status", "q"}
	return []route{
		{method: "GET", path: "/openapi.json", handle: s.openAPI},
		{method: "POST", path: "/inbound/pagerduty", handle: s.inboundPagerDuty},
		{method: "POST", path: "/inbound/zendesk", handle: s.inboundZendesk},
		{method: "POST", path: "/inbound/servicenow", handle: s.inboundServiceNow},
		{method: "GET", path: "/me", role: store.RoleViewer, handle: s.me},
		{method: "GET", path: "/stream", role: store.RoleViewer, params: []string{"last_event_id"}, handle: s.stream},
		{method: "GET", path: "/findings", role: store.RoleViewer, params: append(slices.Clone(filters), "sort", "cursor", "limit"), handle: s.listFindings},
		{method: "GET", path: "/findings/export", role: store.RoleViewer, params: append(slices.Clone(filters), "sort", "format"), handle: s.export},
		{method: "GET", path: "/findings/{id}", role: store.RoleViewer, handle: s.showFinding},
		{method: "GET", path: "/findings/{id}/silence", role: store.RoleViewer, handle: s.silenceSimilar},
		{method: "POST", path: "/findings/{id}/acknowledge", role: store.RoleResponder, handle: s.transitionOne(store.StatusAcknowledged)},
		{method: "POST", path: "/findings/{id}/resolve", role: store.RoleResponder, handle: s.transitionOne(store.StatusResolved)},
		{method: "POST", path: "/findings/{id}/reopen", role: store.RoleResponder, handle: s.transitionOne(store.StatusOpen)},
		{method: "POST", path: "/findings/acknowledge", role: store.RoleResponder, handle: s.transitionMany(store.StatusAcknowledged)},
		{method: "POST", path: "/findings/resolve", role: store.RoleResponder, handle: s.transitionMany(store.StatusResolved)},
		{method: "POST", path: "/findings/reopen", role: store.RoleResponder, handle: s.transitionMany(store.StatusOpen)},
		{method: "GET", path: "/rules", role: store.RoleViewer, handle: s.listRules},
		{method: "GET", path: "/rules/{id}", role: store.RoleViewer, handle: s.showRule},
		{method: "GET", path: "/channels", role: store.RoleViewer, handle: s.listChannels},
		{method: "GET", path: "/trails", role: store.RoleViewer, handle: s.listTrails},
		{method: "GET", path: "/outbox", role: store.RoleViewer, params: []string{"status", "channel", "limit"}, handle: s.listOutbox},
		{method: "POST", path: "/outbox/{id}/retry", role: store.RoleAdmin, handle: s.outboxAct(true)},
		{method: "POST", path: "/outbox/{id}/drop", role: store.RoleAdmin, handle: s.outboxAct(false)},
		{method: "GET", path: "/silences", role: store.RoleViewer, params: []string{"active"}, handle: s.listSilences},
		{method: "POST", path: "/silences", role: store.RoleResponder, handle: s.addSilence},
		{method: "DELETE", path: "/silences/{id}", role: store.RoleResponder, handle: s.expireSilence},
		{method: "GET", path: "/tokens", role: store.RoleAdmin, handle: s.listTokens},
		{method: "GET", path: "/audit", role: store.RoleAdmin, params: []string{"before", "limit"}, handle: s.auditLog},
		{method: "POST", path: "/tokens", role: store.RoleAdmin, handle: s.createToken},
		{method: "DELETE", path: "/tokens/{id}", role: store.RoleAdmin, handle: s.revokeToken},
	}
}

// Routes lists the routes as "METHOD /api/v1/path" (without the base
// path), for the OpenAPI test.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes {
		out = append(out, rt.method+" "+Prefix+rt.path)
	}
	return out
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	s.handler.ServeHTTP(w, r)
}

// pages serves the dashboard to whoever may read findings: the same
// authentication as the API (Basic users, tokens, trusted proxy headers;
// everyone on a loopback listener without authentication), viewer role
// at least. The dashboard checks its own parameters.
func (s *Server) pages(h http.Handler) http.Handler {
	static := s.cfg.BasePath + "/static/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, static) && safeMethod(r.Method) {
			// The pages' embedded stylesheet, script and icon are the
			// same for everyone, and the sign-in page needs them.
			h.ServeHTTP(w, r)
			return
		}
		p, err := s.authenticate(r)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				if s.sessionsOn() && safeMethod(r.Method) && r.Header.Get("Authorization") == "" {
					// A browser: to the sign-in page, and back here after.
					if ae.Code == "session_expired" {
						s.setCookie(w, SessionCookie, "", s.cookiePath(), -1, http.SameSiteLaxMode)
					}
					http.Redirect(w, r, s.cfg.BasePath+"/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				w.Header().Set("WWW-Authenticate", `Basic realm="trailwatch", charset="UTF-8"`)
			}
			writeError(w, err)
			return
		}
		switch p.Via {
		case "session":
			p.signOut = s.cfg.BasePath + "/signout"
		case "proxy":
			p.signOut = s.cfg.Proxy.SignOutURL
		}
		if !store.RoleAtLeast(p.Role, store.RoleViewer) {
			writeError(w, &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: p.Name + " may not read findings"})
			return
		}
		w.Header().Del("Cache-Control")
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

type principalKey struct{}

// Who returns who signed in for a page the API served (Config.Pages): their
// name and role; ok is false outside such a request.
func Who(r *http.Request) (name, role string, ok bool) {
	p, ok := r.Context().Value(principalKey{}).(principal)
	return p.Name, p.Role, ok
}

// wrap authenticates, authorizes and checks the query parameters of one
// route.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p principal
		if rt.role != "" {
			var err error
			p, err = s.authenticate(r)
			if err != nil {
				var ae *apiError
				if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && !hasSession(r) {
					// (A page's script whose session ended gets no
					// browser password prompt: it sends the reader to the
					// sign-in page.)
					w.Header().Set("WWW-Authenticate", `Basic realm="trailwatch", charset="UTF-8"`)
				}
				writeError(w, err)
				return
			}
			if !store.RoleAtLeast(p.Role, rt.role) {
				writeError(w, &apiError{Status: http.StatusForbidden, Code: "forbidden",
					Message: fmt.Sprintf("%s needs the %s role; %s has %s", rt.method+" "+Prefix+rt.path, rt.role, p.Name, p.Role)})
				return
			}
		}
		for name := range r.URL.Query() {
			if !slices.Contains(rt.params, name) {
				msg := fmt.Sprintf("unknown query parameter %q", name)
				if len(rt.params) > 0 {
					msg += " (this route takes " + strings.Join(rt.params, ", ") + ")"
				} else {
					msg += " (this route takes none)"
				}
				writeError(w, &apiError{Status: http.StatusBadRequest, Code: "unknown_parameter", Message: msg, Field: name})
				return
			}
		}
		if err := rt.handle(w, r, p); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid) && !errors.Is(err, context.Canceled) {
				// The client gets a 500 that says no more; the log says
				// what failed.
				s.cfg.Log.Error("api: "+rt.method+" "+Prefix+rt.path, "err", err)
			}
			writeError(w, err)
		}
	})
}

// apiError is an error response: {"error": {"code", "message", "field"}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func badParam(field, format string, a ...any) error {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_parameter", Message: fmt.Sprintf(format, a...), Field: field}
}

func badBody(field, format string, a ...any) error {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_body", Message: fmt.Sprintf(format, a...), Field: field}
}

func notFound(format string, a ...any) error {
	return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf(format, a...)}
}

// writeError writes err as an error response: an *apiError as it is, a
// store's ErrNotFound as 404, ErrInvalid as 400, anything else as a 500
// that says no more than that.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}
	case errors.Is(err, store.ErrInvalid):
		ae = &apiError{Status: http.StatusBadRequest, Code: "invalid", Message: strings.Replace(err.Error(), "invalid ", "", 1)}
	case errors.Is(err, context.Canceled):
		ae = &apiError{Status: 499, Code: "canceled", Message: "the request was canceled"}
	default:
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error: " + err.Error()}
	}
	if ae.Status == http.StatusInternalServerError {
		// Store errors carry no secrets (the stores strip DSNs), but say
		// no more than the operation that failed.
		ae.Message = "internal error; see the server's log"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	json.NewEncoder(w).Encode(map[string]*apiError{"error": ae})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	return enc.Encode(v)
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// readBody decodes a JSON body strictly into v; an empty body leaves v as
// it is when empty is allowed.
func readBody(w http.ResponseWriter, r *http.Request, v any, empty bool) error {
	if r.ContentLength == 0 {
		if empty {
			return nil
		}
		return badBody("", "a JSON body is required")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send the body as application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the body is larger than %d bytes", maxBody)}
		case errors.As(err, &ute):
			return badBody(ute.Field, "%s: want a %s", ute.Field, ute.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return badBody(f, "unknown field %q", f)
		}
		return badBody("", "the body is not valid JSON: %v", err)
	}
	if dec.More() {
		return badBody("", "the body holds more than one JSON value")
	}
	return nil
}

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDoc)
	return err
}
