package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/trailwatch/trailwatch/internal/api"
)

func TestTrustedProxyHeaders(t *testing.T) {
	proxy := &api.Proxy{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		UserHeader: "X-Forwarded-User", EmailHeader: "X-Forwarded-Email", GroupsHeader: "X-Forwarded-Groups",
		GroupRoles: map[string]string{"sec-admins": "admin", "sre": "responder"}, DefaultRole: "viewer"}
	fx := newFixture(t, func(c *api.Config) { c.Proxy = proxy })
	me := func(remote, bearer string, hdr map[string]string) response {
		req := httptest.NewRequest("GET", "/api/v1/me", nil)
		req.RemoteAddr = remote
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		fx.srv.ServeHTTP(w, req)
		return response{w.Code, w.Header(), w.Body.Bytes()}
	}
	claims := map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Email": "alice@example.com", "X-Forwarded-Groups": "other, sre"}
	r := me("10.1.2.3:5555", "", claims)
	if m := r.json(t); r.status != 200 || m["name"] != "proxy:alice" || m["role"] != "responder" || m["via"] != "proxy" {
		t.Errorf("from the proxy: %d %s", r.status, r.body)
	}
	r = me("[::ffff:10.9.9.9]:5555", "", map[string]string{"X-Forwarded-Email": "bob@example.com", "X-Forwarded-Groups": "sec-admins"})
	if m := r.json(t); r.status != 200 || m["name"] != "proxy:bob@example.com" || m["role"] != "admin" {
		t.Errorf("email only, admin group: %d %s", r.status, r.body)
	}
	if r := me("10.1.2.3:5555", "", map[string]string{"X-Forwarded-User": "carol"}); r.status != 200 || r.json(t)["role"] != "viewer" {
		t.Errorf("no group, default role: %d %s", r.status, r.body)
	}
	// From anywhere else the headers are ignored: nobody, or whoever the
	// token says.
	admin := map[string]string{"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "sec-admins"}
	if r := me("192.0.2.7:4444", "", admin); r.status != 401 {
		t.Errorf("untrusted address, headers only: %d %s", r.status, r.body)
	}
	if r := me("192.0.2.7:4444", fx.tokens["viewer"], admin); r.status != 200 || r.json(t)["role"] != "viewer" || r.json(t)["via"] != "token" {
		t.Errorf("untrusted address with a viewer token: %d %s", r.status, r.body)
	}
	proxy.DefaultRole = ""
	strict := newFixture(t, func(c *api.Config) { c.Proxy = proxy })
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	req.Header.Set("X-Forwarded-User", "dave")
	w := httptest.NewRecorder()
	strict.srv.ServeHTTP(w, req)
	if w.Code != 403 {
		t.Errorf("a user in no group without a default role: %d", w.Code)
	}
}

// Behind a signing-in proxy the pages know who arrived and link to the
// proxy's sign-out; they get no CSRF token (no session).
func TestProxyPagesAccount(t *testing.T) {
	proxy := &api.Proxy{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, UserHeader: "X-Forwarded-User",
		EmailHeader: "X-Forwarded-Email", GroupsHeader: "X-Forwarded-Groups", DefaultRole: "viewer", SignOutURL: "/oauth2/sign_out"}
	var got api.Account
	fx := newFixture(t, func(c *api.Config) {
		c.Proxy = proxy
		c.Pages = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, _ = api.AccountOf(r) })
	})
	req := httptest.NewRequest("GET", "/findings", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	req.Header.Set("X-Forwarded-User", "alice")
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	if w.Code != 200 || got.Name != "proxy:alice" || got.Role != "viewer" || got.Via != "proxy" || got.SignOut != "/oauth2/sign_out" || got.CSRF != "" {
		t.Errorf("%d, account %+v", w.Code, got)
	}
}
