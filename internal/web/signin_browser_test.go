package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/store"
)

// A person opens an alert's link, signs in with a configured user, lands
// on the finding, sees who they are, acknowledges it (the page's script
// sends the session's CSRF token), and signs out.
func TestSignInInABrowser(t *testing.T) {
	st := exampleStore(t)
	all, err := st.Findings(context.Background(), storeAll())
	if err != nil {
		t.Fatal(err)
	}
	id := all[0].ID
	srv := sessionServer(t, st)
	b := newBrowser(t)

	// The alert's link: first the sign-in page.
	b.load(t, chromedp.Navigate(srv.URL+"/findings/"+id))
	b.do(t, chromedp.WaitVisible(chromedp.ID("signin-form")))
	if u := run(t, b, chromedp.Location()); !strings.HasPrefix(u, srv.URL+"/signin?next=") {
		t.Fatalf("an alert's link went to %s, not the sign-in page", u)
	}
	b.shot(t, "signin")
	// A wrong password says so and signs nobody in.
	b.do(t, chromedp.SendKeys(chromedp.ID("user"), "rita"), chromedp.SendKeys(chromedp.ID("password"), "wrong EXAMPLE"))
	b.do(t, chromedp.Submit(chromedp.ID("signin-form")), chromedp.WaitVisible(chromedp.ID("signin-error")))
	if msg := run(t, b, chromedp.Text(chromedp.ID("signin-error"))); !strings.Contains(msg, "Wrong user name or password") {
		t.Errorf("wrong password: %q", msg)
	}
	// The browser reports the refusal's 401, and nothing else.
	for _, p := range b.settled(t) {
		if !strings.Contains(p, "status of 401") || !strings.Contains(p, "/signin") {
			t.Errorf("page problem: %s", p)
		}
	}
	b.do(t, chromedp.SendKeys(chromedp.ID("user"), "rita"), chromedp.SendKeys(chromedp.ID("password"), "correct horse EXAMPLE"))
	b.load(t, chromedp.Submit(chromedp.ID("signin-form")))
	b.do(t, chromedp.WaitVisible(chromedp.ID("triage-form")))
	if u := run(t, b, chromedp.Location()); u != srv.URL+"/findings/"+id {
		t.Errorf("after signing in the browser is at %s", u)
	}
	if who := run(t, b, chromedp.Text(chromedp.ID("account"))); !strings.Contains(who, "rita") || !strings.Contains(who, "responder") {
		t.Errorf("the header says %q", who)
	}
	// The session cookie is out of the page's scripts' reach.
	if c := run(t, b, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(c, api.SessionCookie) {
		t.Errorf("the session cookie is readable by scripts: %q", c)
	}
	b.load(t, chromedp.Click(chromedp.CSS(`button[value="acknowledge"]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("history")))
	if s := run(t, b, chromedp.TextContent(chromedp.ID("status"))); s != "acknowledged" {
		t.Fatalf("status after acknowledge: %q", s)
	}
	h, err := st.History(context.Background(), id)
	if err != nil || len(h) != 1 || h[0].Actor != "rita" {
		t.Errorf("history %+v, %v", h, err)
	}
	// Sign out: back to the sign-in page, and the pages ask again.
	b.load(t, chromedp.Click(chromedp.ID("signout"), chromedp.NodeVisible))
	if msg := run(t, b, chromedp.Text(chromedp.ID("signin-error"))); !strings.Contains(msg, "signed out") {
		t.Errorf("after sign-out: %q", msg)
	}
	b.load(t, chromedp.Navigate(srv.URL+"/"))
	if u := run(t, b, chromedp.Location()); !strings.HasPrefix(u, srv.URL+"/signin") {
		t.Errorf("after sign-out the overview opened at %s", u)
	}
	b.clean(t)
}

// sessionServer serves the pages behind the API with a configured user,
// rita (responder, password "correct horse EXAMPLE"), who signs in on the
// sign-in page and gets a browser session: the wiring trailwatch ui makes.
func sessionServer(t *testing.T, st store.Full) *httptest.Server {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse EXAMPLE"), bcrypt.MinCost)
	clock := func() time.Time { return now }
	pages, err := New(Options{Store: st, Outbox: st, Now: clock, Who: api.Who, APIPath: api.Prefix,
		Account: func(r *http.Request) (Account, bool) {
			a, ok := api.AccountOf(r)
			return Account{Name: a.Name, Role: a.Role, CSRF: a.CSRF, SignOut: a.SignOut}, ok
		}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Store: st, Now: clock, Pages: pages,
		Users: []api.User{{Name: "rita", PasswordHash: string(hash), Role: store.RoleResponder}},
		SignInPage: func(w http.ResponseWriter, r *http.Request, v api.SignInView) {
			pages.SignInPage(w, r, SignIn{Status: v.Status, Password: v.Password, Action: v.Action, CSRF: v.CSRF, Next: v.Next, OIDC: v.OIDC, OIDCURL: v.OIDCURL, Error: v.Error})
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}
