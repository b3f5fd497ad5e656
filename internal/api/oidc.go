package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/store"
)

// OIDC signs people in with an OpenID Connect provider: the authorization
// code flow with PKCE (S256), a nonce and a state bound to the browser by
// a short-lived cookie; the ID token's signature, issuer, audience, expiry
// and nonce are checked; a groups claim gives the role.
type OIDC struct {
	// Issuer is the provider's issuer URL (its discovery document is at
	// Issuer/.well-known/openid-configuration, read on the first sign-in
	// and again until it succeeds, so the server starts while the provider
	// is down).
	Issuer string
	// ClientID and ClientSecret are this server's registration at the
	// provider; RedirectURL is BASE/auth/oidc/callback as the browser
	// reaches it (registered at the provider).
	ClientID     string
	ClientSecret secret.Secret
	RedirectURL  string
	// Scopes asked for; default openid, email, profile.
	Scopes []string
	// Name is shown on the sign-in button ("Sign in with Name").
	Name string
	// GroupsClaim names the ID token's claim listing the person's groups
	// (default "groups"); GroupRoles maps groups to roles (the highest
	// wins) and DefaultRole is the role of someone in none of them (""
	// refuses them).
	GroupsClaim string
	GroupRoles  map[string]string
	DefaultRole string
	// AllowedDomains, when set, admits only verified e-mail addresses in
	// these domains.
	AllowedDomains []string
	// HTTPClient talks to the provider (nil: a client with a 15 s
	// timeout).
	HTTPClient *http.Client
}

// oidcCookie carries the pending sign-in's state, nonce, PKCE verifier
// and where to go next, from the redirect to the provider to its callback.
const oidcCookie = "trailwatch_oidc"

// oidcClient is the provider, discovered lazily.
type oidcClient struct {
	cfg OIDC
	now func() time.Time

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDC(cfg OIDC, now func() time.Time) (*oidcClient, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oidc: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: no client id")
	}
	if cfg.RedirectURL == "" {
		return nil, errors.New("oidc: no redirect URL (ui.external_url + /auth/oidc/callback)")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	} else if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.Name == "" {
		cfg.Name = u.Host
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	for g, r := range cfg.GroupRoles {
		if !slices.Contains(store.Roles, r) {
			return nil, fmt.Errorf("oidc: group %q: role %q is not viewer, responder or admin", g, r)
		}
	}
	if cfg.DefaultRole != "" && !slices.Contains(store.Roles, cfg.DefaultRole) {
		return nil, fmt.Errorf("oidc: default role %q is not viewer, responder or admin", cfg.DefaultRole)
	}
	return &oidcClient{cfg: cfg, now: now}, nil
}

func (o *oidcClient) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

// provider discovers the provider once it answers.
func (o *oidcClient) provider(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oauth != nil {
		return o.oauth, o.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(o.ctx(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery at %s: %w", o.cfg.Issuer, err)
	}
	o.oauth = &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret.Reveal(), RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: o.cfg.Scopes}
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.now})
	return o.oauth, o.verifier, nil
}

// oidcLogin serves GET /auth/oidc/login: off to the provider.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	next := s.safeNext(r.URL.Query().Get("next"))
	oc, _, err := s.oidc.provider(r.Context())
	if err != nil {
		s.cfg.Log.Error("api: the OpenID Connect provider cannot be reached", "err", err)
		s.signInPage(w, r, SignInView{Status: http.StatusBadGateway, Password: len(s.users) > 0, Next: next,
			Error: "The sign-in provider cannot be reached; try again later."})
		return
	}
	state, nonce, verifier := randomString(24), randomString(24), oauth2.GenerateVerifier()
	pending := url.Values{"state": {state}, "nonce": {nonce}, "verifier": {verifier}, "next": {next}}
	s.setCookie(w, oidcCookie, pending.Encode(), s.cfg.BasePath+"/auth/oidc/", 600, http.SameSiteLaxMode)
	http.Redirect(w, r, oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// oidcCallback serves GET /auth/oidc/callback: the provider sends the
// browser back with a code, which is exchanged (with the PKCE verifier)
// for an ID token; a valid token for an admitted person starts a session.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, reason, msg string) {
		s.cfg.Log.Warn("api: OpenID Connect sign-in refused", "reason", reason, "client", clientIP(r))
		s.record(r, "oidc", "signin.failed", "", reason)
		s.signInPage(w, r, SignInView{Status: status, Password: len(s.users) > 0, Error: msg})
	}
	s.setCookie(w, oidcCookie, "", s.cfg.BasePath+"/auth/oidc/", -1, http.SameSiteLaxMode)
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		fail(http.StatusUnauthorized, "the provider answered "+printableName(e), "The provider did not sign you in ("+printableName(e)+").")
		return
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		fail(http.StatusBadRequest, "no pending sign-in in this browser", "This sign-in was not started here, or took longer than ten minutes; start again.")
		return
	}
	pending, err := url.ParseQuery(c.Value)
	state := q.Get("state")
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(pending.Get("state"))) != 1 {
		fail(http.StatusBadRequest, "state mismatch", "This sign-in was not started here; start again.")
		return
	}
	oc, verifier, err := s.oidc.provider(r.Context())
	if err != nil {
		s.cfg.Log.Error("api: the OpenID Connect provider cannot be reached", "err", err)
		fail(http.StatusBadGateway, "provider unreachable", "The sign-in provider cannot be reached; try again later.")
		return
	}
	ctx, cancel := context.WithTimeout(s.oidc.ctx(r.Context()), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pending.Get("verifier")))
	if err != nil {
		fail(http.StatusUnauthorized, "code exchange: "+scrub(err.Error(), s.oidc.cfg.ClientSecret.Reveal()), "The provider did not accept this sign-in; start again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail(http.StatusUnauthorized, "the token response has no id_token", "The provider sent no ID token.")
		return
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		fail(http.StatusUnauthorized, "id token: "+err.Error(), "The provider's ID token is not valid for this server.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Get("nonce"))) != 1 {
		fail(http.StatusUnauthorized, "id token: wrong nonce", "The provider's ID token is not for this sign-in.")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		fail(http.StatusUnauthorized, "id token claims: "+err.Error(), "The provider's ID token could not be read.")
		return
	}
	name, role, why := s.oidc.admit(claims)
	if why != "" {
		fail(http.StatusForbidden, why, "You are signed in at the provider, but "+why+".")
		return
	}
	if err := s.startSession(w, r, name, role, "oidc"); err != nil {
		s.cfg.Log.Error("api: starting a session", "err", err)
		fail(http.StatusInternalServerError, "session not saved", "The session could not be saved; see the server's log.")
		return
	}
	http.Redirect(w, r, s.safeNext(pending.Get("next")), http.StatusSeeOther)
}

// admit decides from the ID token's claims who someone is and their role;
// why says why they are refused.
func (o *oidcClient) admit(claims map[string]any) (name, role, why string) {
	str := func(k string) string { v, _ := claims[k].(string); return printableName(strings.TrimSpace(v)) }
	email := str("email")
	name = email
	if name == "" {
		name = str("preferred_username")
	}
	if name == "" {
		name = str("sub")
	}
	if len(o.cfg.AllowedDomains) > 0 {
		_, domain, ok := strings.Cut(email, "@")
		verified, present := claims["email_verified"].(bool)
		switch {
		case !ok:
			return "", "", "your account has no e-mail address, and only some domains are admitted"
		case present && !verified:
			return "", "", "your e-mail address is not verified"
		case !slices.ContainsFunc(o.cfg.AllowedDomains, func(d string) bool { return strings.EqualFold(d, domain) }):
			return "", "", "the domain " + domain + " is not admitted here"
		}
	}
	role = o.cfg.DefaultRole
	var groups []string
	switch g := claims[o.cfg.GroupsClaim].(type) {
	case string:
		groups = []string{g}
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				groups = append(groups, s)
			}
		}
	}
	for _, g := range groups {
		if r, ok := o.cfg.GroupRoles[g]; ok && (role == "" || store.RoleAtLeast(r, role)) {
			role = r
		}
	}
	if role == "" {
		return "", "", "you are in no group that has a role here"
	}
	return name, role, ""
}

// scrub removes a secret from a message.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[redacted]")
}
