package api_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/store"
)

const (
	oidcClientID     = "trailwatch-EXAMPLE"
	oidcClientSecret = "client-secret-EXAMPLE"
)

// provider is an in-process OpenID Connect provider: discovery, JWKS, an
// authorization endpoint that signs everyone in at once, and a token
// endpoint that checks the client, the code and its PKCE verifier and
// returns an ID token signed with go-jose. claims may change the token.
type provider struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	signer *rsa.PrivateKey // signs tokens; another key than key forges them
	mu     sync.Mutex
	codes  map[string]url.Values // code -> the authorization request
	claims func(c map[string]any)
	seen   url.Values // the last authorization request
}

func newProvider(t *testing.T) *provider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{t: t, key: key, signer: key, codes: map[string]url.Values{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token",
			"jwks_uri": p.srv.URL + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		p.seen = q
		code := fmt.Sprintf("code-%d", len(p.codes)+1)
		p.codes[code] = q
		p.mu.Unlock()
		if q.Get("response_type") != "code" || q.Get("client_id") != oidcClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "bad authorization request", 400)
			return
		}
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		p.mu.Lock()
		req, known := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case id != oidcClientID || sec != oidcClientSecret:
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		case !known || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != req.Get("redirect_uri"):
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != req.Get("code_challenge"):
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"PKCE verifier does not match"}`)
			return
		}
		c := map[string]any{"iss": p.srv.URL, "sub": "u-123", "aud": oidcClientID, "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
			"nonce": req.Get("nonce"), "email": "alice@example.com", "email_verified": true, "groups": []string{"staff", "sec-team"}}
		if p.claims != nil {
			p.claims(c)
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-EXAMPLE", "token_type": "Bearer", "expires_in": 3600, "id_token": p.sign(c)})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) sign(claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.signer}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		p.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// oidcSetup starts trailwatch with OIDC sign-in against p.
func oidcSetup(t *testing.T, p *provider, mutate func(o *api.OIDC)) (*fixture, *httptest.Server) {
	var h http.Handler
	tw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(tw.Close)
	fx := newFixture(t, func(c *api.Config) {
		c.Users = nil
		c.OIDC = &api.OIDC{Issuer: p.srv.URL, ClientID: oidcClientID, ClientSecret: secret.New(oidcClientSecret), RedirectURL: tw.URL + "/auth/oidc/callback",
			Name: "Example SSO", GroupRoles: map[string]string{"sec-team": store.RoleAdmin, "staff": store.RoleViewer}}
		if mutate != nil {
			mutate(c.OIDC)
		}
		c.Pages = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "dashboard") })
	})
	h = fx.srv
	return fx, tw
}

// signInOIDC goes through the whole flow from the sign-in button; it
// returns the callback's answer.
func signInOIDC(t *testing.T, b *browser, next string) answer {
	t.Helper()
	page := b.do("GET", "/signin?next="+url.QueryEscape(next), nil, nil)
	if page.status != 200 || !strings.Contains(page.body, "Sign in with Example SSO") {
		t.Fatalf("sign-in page: %d %s", page.status, page.body)
	}
	login := b.do("GET", "/auth/oidc/login?next="+url.QueryEscape(next), nil, nil)
	if login.status != 302 {
		t.Fatalf("login: %d %s", login.status, login.body)
	}
	return b.follow(b.follow(login))
}

// follow requests an answer's Location (absolute or on this server).
func (b *browser) follow(a answer) answer {
	b.t.Helper()
	loc := a.header.Get("Location")
	if loc == "" {
		b.t.Fatalf("no redirect: %d %s", a.status, a.body)
	}
	if strings.HasPrefix(loc, "/") {
		return b.do("GET", loc, nil, nil)
	}
	saved := b.base
	b.base = ""
	defer func() { b.base = saved }()
	return b.do("GET", loc, nil, nil)
}

func TestOIDCSignIn(t *testing.T) {
	p := newProvider(t)
	fx, tw := oidcSetup(t, p, nil)
	b := newBrowser(t, tw.URL)
	cb := signInOIDC(t, b, "/findings?risk=HIGH")
	if cb.status != 303 || cb.header.Get("Location") != "/findings?risk=HIGH" {
		t.Fatalf("callback: %d %v %s", cb.status, cb.header, cb.body)
	}
	if p.seen.Get("nonce") == "" || p.seen.Get("state") == "" || !strings.Contains(p.seen.Get("scope"), "openid") {
		t.Errorf("authorization request: %v", p.seen)
	}
	if c := setCookieOf(cb.header, api.SessionCookie); !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
		t.Errorf("session cookie %q", c)
	}
	me := b.do("GET", "/api/v1/me", nil, nil)
	if me.status != 200 || !strings.Contains(me.body, `"name":"alice@example.com"`) || !strings.Contains(me.body, `"role":"admin"`) || !strings.Contains(me.body, `"via":"session"`) {
		t.Errorf("me: %d %s", me.status, me.body)
	}
	if r := b.do("GET", "/findings", nil, nil); r.status != 200 || r.body != "dashboard" {
		t.Errorf("page: %d %s", r.status, r.body)
	}
	audit := fx.do("GET", "/api/v1/audit", store.RoleAdmin, nil)
	if !strings.Contains(string(audit.body), `signed in (oidc) as admin`) {
		t.Errorf("audit: %s", audit.body)
	}
	// A replayed callback (the code was used, the pending sign-in is gone)
	// signs nobody in.
	replay := newBrowser(t, tw.URL)
	if r := replay.do("GET", "/auth/oidc/callback?code=code-1&state="+url.QueryEscape(p.seen.Get("state")), nil, nil); r.status != 400 || replay.cookie(api.SessionCookie) != nil {
		t.Errorf("replayed callback: %d %s", r.status, r.body)
	}
	if strings.Contains(string(audit.body), oidcClientSecret) {
		t.Error("the client secret reached the audit log")
	}
}

// Every way an ID token or a callback can be wrong: no session, a clear
// page, an audited reason.
func TestOIDCRefusals(t *testing.T) {
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name   string
		claims func(c map[string]any)
		cfg    func(o *api.OIDC)
		forge  bool
		status int
		reason string
	}{
		{name: "wrong audience", claims: func(c map[string]any) { c["aud"] = "another-client" }, status: 401, reason: "audience"},
		{name: "expired", claims: func(c map[string]any) { c["exp"] = t0.Add(-time.Minute).Unix(); c["iat"] = t0.Add(-time.Hour).Unix() }, status: 401, reason: "expired"},
		{name: "wrong nonce", claims: func(c map[string]any) { c["nonce"] = "not-the-one-EXAMPLE" }, status: 401, reason: "nonce"},
		{name: "wrong issuer", claims: func(c map[string]any) { c["iss"] = "https://idp.example.com" }, status: 401, reason: "different provider"},
		{name: "signed by another key", forge: true, status: 401, reason: "signature"},
		{name: "domain not admitted", cfg: func(o *api.OIDC) { o.AllowedDomains = []string{"example.org"} }, status: 403, reason: "domain example.com"},
		{name: "unverified address", claims: func(c map[string]any) { c["email_verified"] = false }, cfg: func(o *api.OIDC) { o.AllowedDomains = []string{"example.com"} }, status: 403, reason: "not verified"},
		{name: "no group with a role", claims: func(c map[string]any) { c["groups"] = []string{"contractors"} }, status: 403, reason: "no group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t)
			p.claims = tc.claims
			if tc.forge {
				p.signer = other
			}
			fx, tw := oidcSetup(t, p, tc.cfg)
			b := newBrowser(t, tw.URL)
			cb := signInOIDC(t, b, "/")
			if cb.status != tc.status || b.cookie(api.SessionCookie) != nil || setCookieOf(cb.header, api.SessionCookie) != "" {
				t.Fatalf("callback: %d (want %d) %s", cb.status, tc.status, cb.body)
			}
			if me := b.do("GET", "/api/v1/me", nil, nil); me.status != 401 {
				t.Errorf("me after a refused sign-in: %d", me.status)
			}
			audit := fx.do("GET", "/api/v1/audit", store.RoleAdmin, nil)
			if !strings.Contains(string(audit.body), "signin.failed") || !strings.Contains(string(audit.body), tc.reason) {
				t.Errorf("audit lacks %q: %s", tc.reason, audit.body)
			}
		})
	}
	t.Run("state from another browser", func(t *testing.T) {
		p := newProvider(t)
		_, tw := oidcSetup(t, p, nil)
		b := newBrowser(t, tw.URL)
		login := b.do("GET", "/auth/oidc/login", nil, nil)
		toProvider := b.follow(login)
		u, _ := url.Parse(toProvider.header.Get("Location"))
		q := u.Query()
		q.Set("state", "forged-EXAMPLE")
		u.RawQuery = q.Encode()
		cb := b.follow(answer{header: http.Header{"Location": {u.String()}}})
		if cb.status != 400 || b.cookie(api.SessionCookie) != nil {
			t.Errorf("forged state: %d %s", cb.status, cb.body)
		}
	})
	t.Run("provider down", func(t *testing.T) {
		p := newProvider(t)
		p.srv.Close()
		_, tw := oidcSetup(t, p, nil)
		b := newBrowser(t, tw.URL)
		if r := b.do("GET", "/auth/oidc/login", nil, nil); r.status != 502 || !strings.Contains(r.body, "cannot be reached") {
			t.Errorf("login with the provider down: %d %s", r.status, r.body)
		}
	})
}
