package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/store"
)

// browser is a client with a cookie jar that does not follow redirects,
// so each answer can be checked.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(data)}
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// signIn fetches the sign-in form and posts it.
func (b *browser) signIn(user, pass, next string) answer {
	b.t.Helper()
	form := b.do("GET", "/signin", nil, nil)
	m := csrfField.FindStringSubmatch(form.body)
	if form.status != 200 || m == nil {
		b.t.Fatalf("sign-in form: %d %s", form.status, form.body)
	}
	return b.do("POST", "/signin", url.Values{"csrf_token": {m[1]}, "user": {user}, "password": {pass}, "next": {next}}, nil)
}

func setCookieOf(h http.Header, name string) string {
	for _, c := range h.Values("Set-Cookie") {
		if strings.HasPrefix(c, name+"=") {
			return c
		}
	}
	return ""
}

// A person signs in with a configured user's password and gets a
// session: HttpOnly, SameSite=Lax cookies whose value the store keeps
// only hashed; state changes need the session's CSRF token; sign-out and
// expiry end it on the server.
func TestSignInWithPassword(t *testing.T) {
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := api.AccountOf(r)
		json.NewEncoder(w).Encode(a)
	})
	fx := newFixture(t, func(c *api.Config) { c.Pages = pages })
	srv := httptest.NewServer(fx.srv)
	defer srv.Close()

	// A form posted without the sign-in page's cookie (another site's)
	// signs nobody in.
	stranger := newBrowser(t, srv.URL)
	if a := stranger.do("POST", "/signin", url.Values{"csrf_token": {"guess"}, "user": {"rita"}, "password": {password}}, nil); a.status != 403 || setCookieOf(a.header, api.SessionCookie) != "" {
		t.Fatalf("sign-in without the form's token: %d %v", a.status, a.header)
	}

	b := newBrowser(t, srv.URL)
	if a := b.signIn("rita", "wrong password EXAMPLE", "/"); a.status != 401 || !strings.Contains(a.body, "Wrong user name or password") || b.cookie(api.SessionCookie) != nil {
		t.Fatalf("wrong password: %d %s", a.status, a.body)
	}
	a := b.signIn("rita", password, "/findings?risk=HIGH")
	if a.status != 303 || a.header.Get("Location") != "/findings?risk=HIGH" {
		t.Fatalf("sign-in: %d %v %s", a.status, a.header, a.body)
	}
	set := setCookieOf(a.header, api.SessionCookie)
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("a plain-HTTP server's cookie is Secure (the browser would drop it): %q", set)
	}
	session := b.cookie(api.SessionCookie).Value

	// The page knows who signed in, their CSRF token and where to sign out.
	var acct api.Account
	page := b.do("GET", "/findings", nil, nil)
	if err := json.Unmarshal([]byte(page.body), &acct); err != nil || acct.Name != "rita" || acct.Role != store.RoleResponder || acct.Via != "session" || acct.CSRF == "" || acct.SignOut != "/signout" {
		t.Fatalf("page's account: %d %s", page.status, page.body)
	}
	if me := b.do("GET", "/api/v1/me", nil, nil); me.status != 200 || !strings.Contains(me.body, `"via":"session"`) || !strings.Contains(me.body, `"name":"rita"`) {
		t.Errorf("me: %d %s", me.status, me.body)
	}

	// A change without the session's CSRF token, or with another, changes
	// nothing.
	id := fx.fs[2].ID
	for _, tok := range []string{"", "forged-EXAMPLE"} {
		r := b.do("POST", "/api/v1/findings/"+id+"/acknowledge", nil, map[string]string{"X-CSRF-Token": tok})
		if r.status != 403 || !strings.Contains(r.body, `"code":"csrf"`) || fx.status(id) != store.StatusOpen {
			t.Errorf("CSRF token %q: %d %s, status %s", tok, r.status, r.body, fx.status(id))
		}
	}
	if r := b.do("POST", "/api/v1/findings/"+id+"/acknowledge", nil, map[string]string{"X-CSRF-Token": acct.CSRF}); r.status != 200 || fx.status(id) != store.StatusAcknowledged {
		t.Fatalf("acknowledge with the token: %d %s", r.status, r.body)
	}
	h, err := fx.st.History(context.Background(), id)
	if err != nil || len(h) == 0 || h[len(h)-1].Actor != "rita" {
		t.Errorf("history = %+v, %v", h, err)
	}
	audit := fx.do("GET", "/api/v1/audit", store.RoleAdmin, nil)
	if !strings.Contains(string(audit.body), `"action":"signin"`) || !strings.Contains(string(audit.body), `"action":"signin.failed"`) {
		t.Errorf("audit log lacks the sign-ins: %s", audit.body)
	}

	// Sign-out needs the token too; then the cookie is worth nothing,
	// even copied elsewhere.
	if r := b.do("POST", "/signout", url.Values{}, nil); r.status != 403 {
		t.Errorf("sign-out without the token: %d %s", r.status, r.body)
	}
	r := b.do("POST", "/signout", url.Values{"csrf_token": {acct.CSRF}}, nil)
	if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/signin") || !strings.Contains(setCookieOf(r.header, api.SessionCookie), "Max-Age=0") {
		t.Fatalf("sign-out: %d %v", r.status, r.header)
	}
	copied := newBrowser(t, srv.URL)
	me := copied.do("GET", "/api/v1/me", nil, map[string]string{"Cookie": api.SessionCookie + "=" + session})
	if me.status != 401 || !strings.Contains(me.body, "session_expired") || me.header.Get("WWW-Authenticate") != "" {
		t.Errorf("a signed-out session still works (or asks for a password): %d %v %s", me.status, me.header, me.body)
	}

	// A session ends at its expiry, on the server's clock; its pages send
	// the browser to sign in again.
	b2 := newBrowser(t, srv.URL)
	if a := b2.signIn("vera", password, ""); a.status != 303 || a.header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d %v", a.status, a.header)
	}
	if r := b2.do("GET", "/", nil, nil); r.status != 200 {
		t.Fatalf("a page after sign-in: %d", r.status)
	}
	fx.clock.Add(12*time.Hour + time.Second)
	if r := b2.do("GET", "/rules", nil, nil); r.status != 303 || r.header.Get("Location") != "/signin?next=%2Frules" {
		t.Errorf("a page after the session expired: %d %v", r.status, r.header)
	}
}

// Where next points after signing in: only somewhere on this server.
func TestSignInGoesNowhereElse(t *testing.T) {
	fx := newFixture(t, func(c *api.Config) { c.BasePath = "/tw" })
	srv := httptest.NewServer(fx.srv)
	defer srv.Close()
	for next, want := range map[string]string{
		"https://evil.example.com/": "/tw/", "//evil.example.com/": "/tw/", "/tw//evil.example.com": "/tw/evil.example.com",
		"/elsewhere": "/tw/", "/tw/findings/x?y=1": "/tw/findings/x?y=1", "/tw/\\evil": "/tw/", "": "/tw/",
	} {
		b := newBrowser(t, srv.URL)
		form := b.do("GET", "/tw/signin", nil, nil)
		m := csrfField.FindStringSubmatch(form.body)
		if m == nil {
			t.Fatalf("no form: %d %s", form.status, form.body)
		}
		a := b.do("POST", "/tw/signin", url.Values{"csrf_token": {m[1]}, "user": {"vera"}, "password": {password}, "next": {next}}, nil)
		if a.status != 303 || a.header.Get("Location") != want {
			t.Errorf("next %q: %d to %q, want %q", next, a.status, a.header.Get("Location"), want)
		}
		if c := setCookieOf(a.header, api.SessionCookie); !strings.Contains(c, "Path=/tw/") {
			t.Errorf("cookie not scoped to the base path: %q", c)
		}
	}
}

// Behind https the cookies are Secure; failed sign-ins from one address
// are refused for a while after ten.
func TestSignInSecureCookiesAndLimit(t *testing.T) {
	fx := newFixture(t, func(c *api.Config) { c.SecureCookies = true })
	srv := httptest.NewServer(fx.srv)
	defer srv.Close()
	b := newBrowser(t, srv.URL)
	form := b.do("GET", "/signin", nil, nil)
	if c := setCookieOf(form.header, "trailwatch_signin"); !strings.Contains(c, "Secure") || !strings.Contains(c, "SameSite=Strict") {
		t.Errorf("sign-in form cookie %q", c)
	}
	m := csrfField.FindStringSubmatch(form.body)
	// (The jar keeps Secure cookies to https; send the form's by hand.)
	post := func(pass string) answer {
		return b.do("POST", "/signin", url.Values{"csrf_token": {m[1]}, "user": {"ada"}, "password": {pass}},
			map[string]string{"Cookie": "trailwatch_signin=" + m[1]})
	}
	a := post(password)
	if c := setCookieOf(a.header, api.SessionCookie); a.status != 303 || !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Errorf("sign-in: %d, cookie %q", a.status, c)
	}
	for i := 0; i < 10; i++ {
		if a := post("wrong EXAMPLE"); a.status != 401 {
			t.Fatalf("failure %d: %d", i, a.status)
		}
	}
	// Guessing slows down before it is refused: the first three failures
	// are answered at once, then each is held half a second longer, up to
	// three seconds.
	want := []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second, 2500 * time.Millisecond, 3 * time.Second, 3 * time.Second}
	if got := *fx.slept; !slices.Equal(got, want) {
		t.Errorf("failed sign-ins were held %v, want %v", got, want)
	}
	if a := post(password); a.status != 429 || a.header.Get("Retry-After") == "" {
		t.Errorf("after ten failures: %d %v", a.status, a.header)
	}
	fx.clock.Add(time.Minute)
	if a := post(password); a.status != 303 {
		t.Errorf("a minute later: %d", a.status)
	}
}
