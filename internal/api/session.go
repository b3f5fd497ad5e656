package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/trailwatch/trailwatch/internal/store"
)

// Browser sessions: a person signs in once (a configured user's password,
// or an OpenID Connect provider) and gets a cookie; the store keeps the
// hash of its value, who it is, its CSRF token and when it expires, so a
// session ends at its expiry or at sign-out whatever the browser keeps.
const (
	// SessionCookie holds a session's secret.
	SessionCookie = "trailwatch_session"
	// signinCookie holds the sign-in form's token (login CSRF: a form
	// posted from elsewhere cannot sign a browser in as someone else).
	signinCookie = "trailwatch_signin"
	// CSRFHeader carries a session's CSRF token on state-changing
	// requests (the dashboard's scripts send it); forms send the
	// csrf_token field instead.
	CSRFHeader = "X-CSRF-Token"
	// DefaultSessionTTL is how long a session lasts without SessionTTL.
	DefaultSessionTTL = 12 * time.Hour
	// maxForm bounds a sign-in or sign-out form.
	maxForm = 16 << 10
)

// SignInView is what the sign-in page shows.
type SignInView struct {
	// Status is the response's HTTP status.
	Status int
	// Password shows the user name and password form, posting to Action
	// with CSRF in the csrf_token field and Next in next.
	Password     bool
	Action, CSRF string
	Next         string
	// OIDC names the provider of the "Sign in with" link to OIDCURL ("":
	// none).
	OIDC, OIDCURL string
	// Error says why the last attempt failed.
	Error string
}

// sessionsOn reports whether people can sign in with a browser session.
func (s *Server) sessionsOn() bool { return len(s.users) > 0 || s.oidc != nil }

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookiePath is the path every cookie is scoped to.
func (s *Server) cookiePath() string {
	if s.cfg.BasePath == "" {
		return "/"
	}
	return s.cfg.BasePath + "/"
}

func (s *Server) setCookie(w http.ResponseWriter, name, value, path string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: sameSite})
}

// fromSession returns who the session cookie names. A state-changing
// request must carry the session's CSRF token.
func (s *Server) fromSession(r *http.Request, value string) (principal, error) {
	ss, err := s.cfg.Store.Session(r.Context(), HashToken(value), s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, &apiError{Status: http.StatusUnauthorized, Code: "session_expired", Message: "your session has expired or was ended; sign in again"}
	}
	if err != nil {
		return principal{}, err
	}
	p := principal{Name: ss.Name, Role: ss.Role, Via: "session", csrf: ss.CSRF, session: HashToken(value)}
	if !safeMethod(r.Method) {
		token := r.Header.Get(CSRFHeader)
		if token == "" && isForm(r) {
			r.Body = http.MaxBytesReader(nil, r.Body, maxForm)
			token = r.PostFormValue("csrf_token")
		}
		if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(ss.CSRF)) != 1 {
			s.cfg.Log.Warn("api: refused a state-changing request without the session's CSRF token", "user", ss.Name, "client", clientIP(r), "path", r.URL.Path)
			return principal{}, &apiError{Status: http.StatusForbidden, Code: "csrf",
				Message: "this request must carry the session's CSRF token (" + CSRFHeader + " header or csrf_token field); reload the page"}
		}
	}
	return p, nil
}

func hasSession(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func isForm(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// startSession signs p in: a new session in the store and its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, name, role, via string) error {
	value := randomString(32)
	now := s.cfg.Now()
	ttl := s.cfg.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	ss := store.Session{Name: name, Role: role, Via: via, CSRF: randomString(24), Created: now, Expires: now.Add(ttl)}
	if err := s.cfg.Store.CreateSession(r.Context(), HashToken(value), ss); err != nil {
		return err
	}
	s.setCookie(w, SessionCookie, value, s.cookiePath(), int(ttl/time.Second), http.SameSiteLaxMode)
	s.record(r, name, "signin", "", "signed in ("+via+") as "+role)
	s.cfg.Log.Info("api: signed in", "user", name, "role", role, "via", via, "client", clientIP(r))
	return nil
}

// safeNext is where to go after signing in: a path on this server under
// the base path, never another site.
func (s *Server) safeNext(next string) string {
	home := s.cfg.BasePath + "/"
	if next == "" || !strings.HasPrefix(next, home) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	return next
}

// signInPage renders the sign-in page: the dashboard's when it gives one
// (Config.SignInPage), else a plain page of the API's own.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request, v SignInView) {
	if v.Status == 0 {
		v.Status = http.StatusOK
	}
	if v.Password {
		// One token per browser, kept while its cookie lasts: two tabs
		// (or a page's assets) asking for the form do not outdate each
		// other's.
		v.CSRF = randomString(24)
		if c, err := r.Cookie(signinCookie); err == nil && len(c.Value) == len(v.CSRF) {
			v.CSRF = c.Value
		}
		s.setCookie(w, signinCookie, v.CSRF, s.cfg.BasePath+"/signin", 3600, http.SameSiteStrictMode)
		v.Action = s.cfg.BasePath + "/signin"
	}
	if s.oidc != nil {
		v.OIDC = s.oidc.cfg.Name
		v.OIDCURL = s.cfg.BasePath + "/auth/oidc/login?next=" + url.QueryEscape(v.Next)
	}
	w.Header().Set("Cache-Control", "no-store")
	if s.cfg.SignInPage != nil {
		s.cfg.SignInPage(w, r, v)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(v.Status)
	plainSignIn.Execute(w, v)
}

var plainSignIn = template.Must(template.New("signin").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · trailwatch</title></head><body><main>
<h1>Sign in to trailwatch</h1>{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
{{if .Password}}<form method="post" action="{{.Action}}"><input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="hidden" name="next" value="{{.Next}}">
<label>User <input name="user" autocomplete="username" required></label> <label>Password <input name="password" type="password" autocomplete="current-password" required></label> <button>Sign in</button></form>{{end}}
{{if .OIDC}}<p><a href="{{.OIDCURL}}">Sign in with {{.OIDC}}</a></p>{{end}}</main></body></html>`))

// signInForm serves GET /signin: the form, or straight on when the
// browser's session is still good.
func (s *Server) signInForm(w http.ResponseWriter, r *http.Request) {
	next := s.safeNext(r.URL.Query().Get("next"))
	if !s.sessionsOn() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if _, err := s.cfg.Store.Session(r.Context(), HashToken(c.Value), s.cfg.Now()); err == nil {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
	}
	v := SignInView{Password: len(s.users) > 0, Next: next}
	if r.URL.Query().Get("ended") != "" {
		v.Error = "You have signed out."
	}
	s.signInPage(w, r, v)
}

// signIn serves POST /signin: a configured user's name and password.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if len(s.users) == 0 {
		writeError(w, notFound("no users are configured to sign in with a password"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.signInPage(w, r, SignInView{Status: http.StatusBadRequest, Password: true, Error: "The form could not be read; try again."})
		return
	}
	next := s.safeNext(r.PostForm.Get("next"))
	c, err := r.Cookie(signinCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf_token"))) != 1 {
		s.cfg.Log.Warn("api: refused a sign-in form without its token", "client", clientIP(r))
		s.signInPage(w, r, SignInView{Status: http.StatusForbidden, Password: true, Next: next,
			Error: "This sign-in form has expired or came from another site; try again."})
		return
	}
	client := clientIP(r)
	if !s.limiter.allow(client) {
		w.Header().Set("Retry-After", "60")
		s.signInPage(w, r, SignInView{Status: http.StatusTooManyRequests, Password: true, Next: next,
			Error: "Too many failed sign-ins from this address; wait a minute."})
		return
	}
	u, ok := s.checkPassword(r, r.PostForm.Get("user"), r.PostForm.Get("password"))
	if !ok {
		s.signInPage(w, r, SignInView{Status: http.StatusUnauthorized, Password: true, Next: next, Error: "Wrong user name or password."})
		return
	}
	if err := s.startSession(w, r, u.Name, u.Role, "user"); err != nil {
		s.cfg.Log.Error("api: starting a session", "err", err)
		s.signInPage(w, r, SignInView{Status: http.StatusInternalServerError, Password: true, Next: next, Error: "The session could not be saved; see the server's log."})
		return
	}
	s.setCookie(w, signinCookie, "", s.cfg.BasePath+"/signin", -1, http.SameSiteStrictMode)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// checkPassword checks a configured user's password, counting a failure
// against the client. An unknown user costs as much as a known one.
func (s *Server) checkPassword(r *http.Request, name, pass string) (User, bool) {
	u, known := s.users[name]
	hash := dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !known {
		client := clientIP(r)
		s.slowDown(r, s.limiter.fail(client))
		s.cfg.Log.Warn("api: failed sign-in", "user", printableName(name), "client", client)
		s.record(r, printableName(name), "signin.failed", "", "wrong user name or password")
		return User{}, false
	}
	return u, true
}

// signOut serves POST /signout: the session ends in the store (its cookie
// is worth nothing from now on, wherever it was copied) and in the
// browser.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		http.Redirect(w, r, s.cfg.BasePath+"/signin", http.StatusSeeOther)
		return
	}
	p, err := s.fromSession(r, c.Value)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "session_expired" {
			s.setCookie(w, SessionCookie, "", s.cookiePath(), -1, http.SameSiteLaxMode)
			http.Redirect(w, r, s.cfg.BasePath+"/signin", http.StatusSeeOther)
			return
		}
		writeError(w, err)
		return
	}
	if err := s.cfg.Store.EndSession(r.Context(), p.session); err != nil {
		writeError(w, err)
		return
	}
	s.setCookie(w, SessionCookie, "", s.cookiePath(), -1, http.SameSiteLaxMode)
	s.record(r, p.Name, "signout", "", "")
	http.Redirect(w, r, s.cfg.BasePath+"/signin?ended=1", http.StatusSeeOther)
}

// Account is who signed in for a page the API served (Config.Pages):
// name, role, how (user, token, proxy, session, none), the session's CSRF
// token ("" outside a session) and where signing out posts ("" when the
// browser cannot sign out here).
type Account struct {
	Name, Role, Via, CSRF, SignOut string
}

// AccountOf returns who signed in for a page the API served; ok is false
// outside such a request.
func AccountOf(r *http.Request) (Account, bool) {
	p, ok := r.Context().Value(principalKey{}).(principal)
	if !ok {
		return Account{}, false
	}
	return Account{Name: p.Name, Role: p.Role, Via: p.Via, CSRF: p.csrf, SignOut: p.signOut}, true
}
