package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/trailwatch/trailwatch/internal/store"
)

// principal is who made a request.
type principal struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Via is how they signed in: "user", "token", "proxy", "session" (a
	// browser signed in with a password or OIDC) or "none" (no
	// authentication configured: loopback only, everyone is admin).
	Via string `json:"via"`
	// csrf is a session's CSRF token and session the hash of its cookie;
	// signOut is where its browser signs out ("" where it cannot).
	csrf, session, signOut string
}

// TokenPrefix starts every API token's secret, so secret scanners and
// people recognise one.
const TokenPrefix = "twt_"

// NewToken returns a new token's id, its secret (shown once) and the hash
// the store keeps.
func NewToken() (id, secret, hash string) {
	var b [32]byte
	rand.Read(b[:])
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	var i [6]byte
	rand.Read(i[:])
	return "t-" + hex.EncodeToString(i[:]), secret, HashToken(secret)
}

// HashToken is what the store keeps of a token's secret: its SHA-256 (the
// secret is 256 random bits, so no slow hash is needed).
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// HashPassword returns the bcrypt hash of a password, for users in the
// configuration.
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("the password is shorter than 8 characters")
	}
	if len(password) > 72 {
		return "", errors.New("the password is longer than 72 bytes (bcrypt reads no further)")
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// CheckHash checks that a configured password hash is a bcrypt hash.
func CheckHash(hash string) error {
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return errors.New("not a bcrypt hash (make one with trailwatch users hash-password)")
	}
	return nil
}

// dummyHash makes a sign-in of an unknown user cost as much as a known
// one's, so timing does not tell which users exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("trailwatch-no-such-user"), bcrypt.MinCost+6)

func unauthorized(msg string) error {
	return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
}

// Proxy is a signing-in reverse proxy (oauth2-proxy and the like) whose
// headers name the user: honoured only from Trusted addresses, ignored
// with a warning from anywhere else.
type Proxy struct {
	Trusted []netip.Prefix
	// UserHeader, EmailHeader and GroupsHeader name the headers (groups
	// comma-separated).
	UserHeader, EmailHeader, GroupsHeader string
	// GroupRoles maps groups to roles (the highest wins); DefaultRole is
	// the role of a user in none of them ("" refuses them).
	GroupRoles  map[string]string
	DefaultRole string
	// SignOutURL is where the proxy signs people out (oauth2-proxy's
	// /oauth2/sign_out); "" shows no sign-out.
	SignOutURL string
}

// fromProxy returns the principal the proxy's headers name, whether they
// were present, and an error for a user without a role.
func (s *Server) fromProxy(r *http.Request) (principal, bool, error) {
	px := s.cfg.Proxy
	if px == nil {
		return principal{}, false, nil
	}
	user, email := strings.TrimSpace(r.Header.Get(px.UserHeader)), strings.TrimSpace(r.Header.Get(px.EmailHeader))
	if user == "" && email == "" {
		return principal{}, false, nil
	}
	addr, err := netip.ParseAddr(clientIP(r))
	trusted := false
	if err == nil {
		addr = addr.Unmap()
		for _, p := range px.Trusted {
			if p.Contains(addr) {
				trusted = true
				break
			}
		}
	}
	if !trusted {
		s.cfg.Log.Warn("api: ignored sign-in headers from an address that is not a trusted proxy", "client", clientIP(r), "header", px.UserHeader)
		return principal{}, false, nil
	}
	name := user
	if name == "" {
		name = email
	}
	role := px.DefaultRole
	for _, g := range strings.Split(r.Header.Get(px.GroupsHeader), ",") {
		if rr, ok := px.GroupRoles[strings.TrimSpace(g)]; ok && (role == "" || store.RoleAtLeast(rr, role)) {
			role = rr
		}
	}
	if role == "" {
		return principal{}, true, &apiError{Status: http.StatusForbidden, Code: "forbidden",
			Message: fmt.Sprintf("%s is in no group that has a role here", printableName(name))}
	}
	return principal{Name: "proxy:" + printableName(name), Role: role, Via: "proxy"}, true, nil
}

// authenticate finds who sent r.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if !s.cfg.AuthConfigured() {
		return principal{Name: "local", Role: store.RoleAdmin, Via: "none"}, nil
	}
	if p, ok, err := s.fromProxy(r); ok || err != nil {
		return p, err
	}
	if s.sessionsOn() && r.Header.Get("Authorization") == "" {
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			return s.fromSession(r, c.Value)
		}
	}
	client := clientIP(r)
	if !s.limiter.allow(client) {
		return principal{}, &apiError{Status: http.StatusTooManyRequests, Code: "too_many_failures",
			Message: "too many failed sign-ins from this address; wait a minute"}
	}
	auth := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	switch {
	case auth == "":
		return principal{}, unauthorized("sign in: send a user's password (Basic) or an API token (Bearer)")
	case strings.EqualFold(scheme, "Bearer") && s.cfg.Tokens:
		t, err := s.cfg.Store.UseToken(r.Context(), HashToken(strings.TrimSpace(cred)), s.cfg.Now())
		if errors.Is(err, store.ErrNotFound) {
			s.slowDown(r, s.limiter.fail(client))
			s.cfg.Log.Warn("api: refused an unknown, expired or revoked token", "client", client)
			s.record(r, "token", "signin.failed", "", "unknown, expired or revoked token")
			return principal{}, unauthorized("the token is unknown, expired or revoked")
		}
		if err != nil {
			return principal{}, err
		}
		return principal{Name: "token:" + t.Name, Role: t.Role, Via: "token"}, nil
	case strings.EqualFold(scheme, "Basic") && len(s.users) > 0:
		name, pass, ok := r.BasicAuth()
		if !ok {
			return principal{}, unauthorized("malformed Basic credentials")
		}
		u, ok := s.checkPassword(r, name, pass)
		if !ok {
			return principal{}, unauthorized("wrong user name or password")
		}
		return principal{Name: u.Name, Role: u.Role, Via: "user"}, nil
	}
	return principal{}, unauthorized(fmt.Sprintf("authentication scheme %q is not accepted here", printableName(scheme)))
}

// printableName keeps a name the client sent fit for a log line.
func printableName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter counts failed sign-ins per client address: past maxFailures in
// a window, the client is refused (429) until the window ends. Memory is
// bounded: at most maxClients addresses are remembered.
type limiter struct {
	mu      sync.Mutex
	now     func() time.Time
	clients map[string]*failures
}

type failures struct {
	n     int
	start time.Time
}

const (
	maxFailures   = 10
	failureWindow = time.Minute
	maxClients    = 10000
	slowAfter     = 3
	slowStep      = 500 * time.Millisecond
	maxSlow       = 3 * time.Second
)

// slowDown holds a failed sign-in's answer for d (Config.Sleep in tests).
func (s *Server) slowDown(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	if s.cfg.Sleep != nil {
		s.cfg.Sleep(d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, clients: map[string]*failures{}}
}

func (l *limiter) allow(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[client]
	if f == nil {
		return true
	}
	if l.now().Sub(f.start) >= failureWindow {
		delete(l.clients, client)
		return true
	}
	return f.n < maxFailures
}

// fail counts a failure and returns how long to hold its answer: nothing
// for the first slowAfter failures in the window, then half a second more
// for each (at most maxSlow), so guessing slows down before it is refused.
func (l *limiter) fail(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.clients[client]
	if f == nil || now.Sub(f.start) >= failureWindow {
		if len(l.clients) >= maxClients {
			for k, v := range l.clients {
				if now.Sub(v.start) >= failureWindow {
					delete(l.clients, k)
				}
			}
			if len(l.clients) >= maxClients {
				return maxSlow
			}
		}
		f = &failures{start: now}
		l.clients[client] = f
	}
	f.n++
	if f.n <= slowAfter {
		return 0
	}
	return min(time.Duration(f.n-slowAfter)*slowStep, maxSlow)
}
