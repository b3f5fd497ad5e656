package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	st     *sqlite.Store
	srv    *api.Server
	clock  *storetest.Clock
	tokens map[string]string // role -> bearer secret
	fs     []finding.Finding
	slept  *[]time.Duration // failed sign-ins held back (Config.Sleep)
}

const password = "correct horse EXAMPLE"

func hash(t *testing.T) string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// newFixture opens a store with 30 findings (two fingerprints), a dead
// delivery, users and tokens of each role.
func newFixture(t *testing.T, mutate ...func(*api.Config)) *fixture {
	t.Helper()
	clock := storetest.NewClock(t0)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	var fs []finding.Finding
	for i := 1; i <= 30; i++ {
		rule := "EKS-A"
		if i%2 == 0 {
			rule = "IAM-B"
		}
		f := storetest.Sample(i, rule, finding.Risk(1+i%5))
		if i == 5 {
			f.Summary = "=HYPERLINK(\"http://EXAMPLE\") alice"
		}
		fs = append(fs, f)
	}
	route := func(f finding.Finding) []store.Route {
		if f.ID == fs[0].ID {
			return []store.Route{{Channel: "pd", Repeats: true}}
		}
		return nil
	}
	if _, err := st.SaveRouted(ctx, fs[:1], route); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(ctx, fs[1:]); err != nil {
		t.Fatal(err)
	}
	ds, err := st.Claim(ctx, "pd", t0, 10, time.Minute)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim = %v, %v", ds, err)
	}
	if err := st.Settle(ctx, []store.Outcome{{ID: ds[0].ID, Status: store.Dead, Err: "HTTP 400", At: t0}}); err != nil {
		t.Fatal(err)
	}
	h := hash(t)
	var slept []time.Duration
	var sleptMu sync.Mutex
	cfg := api.Config{
		Store: st, Now: clock.Now, Tokens: true,
		Sleep: func(d time.Duration) { sleptMu.Lock(); slept = append(slept, d); sleptMu.Unlock() },
		Users: []api.User{{Name: "vera", PasswordHash: h, Role: store.RoleViewer}, {Name: "rita", PasswordHash: h, Role: store.RoleResponder},
			{Name: "ada", PasswordHash: h, Role: store.RoleAdmin}},
		Rules:    []api.Rule{{ID: "EKS-A", Summary: map[string]string{"id": "EKS-A"}, Detail: map[string]any{"id": "EKS-A", "ttl": "24h"}}},
		Channels: []api.Channel{{Name: "pd", Type: "pagerduty"}},
		Trails: func() []api.Trail {
			return []api.Trail{{Account: "111122223333", Region: "eu-west-1", LastEvent: t0, State: "ok"}, {Account: "444455556666", Region: "us-east-1", State: "silent"}}
		},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t, st: st, srv: srv, clock: clock, tokens: map[string]string{}, fs: fs, slept: &slept}
	for _, role := range store.Roles {
		tok, secret, err := api.MakeToken(ctx, st, "ci "+role, role, "", "test", t0)
		if err != nil {
			t.Fatal(err)
		}
		_ = tok
		fx.tokens[role] = secret
	}
	return fx
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%v): %s", err, r.body)
	}
	return m
}

// errField returns the error's code and field.
func (r response) err(t *testing.T) (code, field string) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", r.body)
	}
	if m, _ := e["message"].(string); m == "" {
		t.Errorf("error without a message: %s", r.body)
	}
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return
}

// do sends a request as who: a role (its bearer token), "user:NAME"
// (Basic with the right password), "" (nobody).
func (fx *fixture) do(method, path, who string, body any) response {
	fx.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if strings.Contains(path, "/stream") {
		// A stream ends when its client goes.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(who, "user:"):
		req.SetBasicAuth(strings.TrimPrefix(who, "user:"), password)
	case who != "":
		req.Header.Set("Authorization", "Bearer "+fx.tokens[who])
	}
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.Bytes()}
}

func (fx *fixture) status(id string) string {
	fx.t.Helper()
	t, err := fx.st.Triaged(context.Background(), id)
	if err != nil {
		fx.t.Fatal(err)
	}
	return t.Status
}

func TestOpenAPIDocumentListsEveryRoute(t *testing.T) {
	fx := newFixture(t)
	r := fx.do("GET", "/api/v1/openapi.json", "", nil)
	if r.status != 200 {
		t.Fatalf("openapi.json: %d", r.status)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" /api/v1"+path)
		}
	}
	routes := fx.srv.Routes()
	sort.Strings(documented)
	sort.Strings(routes)
	if !slices.Equal(documented, routes) {
		t.Errorf("the OpenAPI document and the router differ:\ndocumented: %v\nrouted:     %v", documented, routes)
	}
	// Every documented operation is answered by its route, not by the
	// catch-all.
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{id}", "1").Replace(path)
		r := fx.do(method, path, "admin", nil)
		if r.status == 404 && strings.Contains(string(r.body), "no such API route") || r.status == 405 {
			t.Errorf("%s: not routed (%d %s)", op, r.status, r.body)
		}
	}
}

// Every route, with a valid request, for every role: allowed at its role
// and above, refused (403, nothing changed) below, and 401 for nobody.
func TestRoles(t *testing.T) {
	type call struct {
		method, path string
		body         any
		role         string
		ok           int
	}
	calls := func(fx *fixture) []call {
		f := fx.fs
		return []call{
			{"GET", "/api/v1/me", nil, "viewer", 200},
			{"GET", "/api/v1/findings", nil, "viewer", 200},
			{"GET", "/api/v1/findings/export?format=csv", nil, "viewer", 200},
			{"GET", "/api/v1/findings/" + f[1].ID, nil, "viewer", 200},
			{"GET", "/api/v1/findings/" + f[1].ID + "/silence", nil, "viewer", 200},
			{"POST", "/api/v1/findings/" + f[1].ID + "/acknowledge", map[string]string{"note": "mine"}, "responder", 200},
			{"POST", "/api/v1/findings/" + f[2].ID + "/resolve", nil, "responder", 200},
			{"POST", "/api/v1/findings/" + f[3].ID + "/reopen", nil, "responder", 200},
			{"POST", "/api/v1/findings/acknowledge", map[string]any{"ids": []string{f[4].ID}}, "responder", 200},
			{"POST", "/api/v1/findings/resolve", map[string]any{"ids": []string{f[5].ID}}, "responder", 200},
			{"POST", "/api/v1/findings/reopen", map[string]any{"ids": []string{f[6].ID}}, "responder", 200},
			{"GET", "/api/v1/rules", nil, "viewer", 200},
			{"GET", "/api/v1/rules/EKS-A", nil, "viewer", 200},
			{"GET", "/api/v1/channels", nil, "viewer", 200},
			{"GET", "/api/v1/trails", nil, "viewer", 200},
			{"GET", "/api/v1/outbox", nil, "viewer", 200},
			{"POST", "/api/v1/outbox/1/retry", nil, "admin", 200},
			{"POST", "/api/v1/outbox/1/drop", nil, "admin", 200},
			{"GET", "/api/v1/silences", nil, "viewer", 200},
			{"POST", "/api/v1/silences", map[string]any{"matchers": map[string]string{"rule": "EKS-*"}, "duration": "2h", "comment": "EXAMPLE"}, "responder", 201},
			{"DELETE", "/api/v1/silences/s-0000", nil, "responder", 404},
			{"GET", "/api/v1/tokens", nil, "admin", 200},
			{"GET", "/api/v1/audit", nil, "admin", 200},
			{"POST", "/api/v1/tokens", map[string]string{"name": "new EXAMPLE", "role": "viewer"}, "admin", 201},
			{"DELETE", "/api/v1/tokens/t-0000", nil, "admin", 404},
		}
	}
	fx := newFixture(t)
	// All but openapi.json, the three inbound webhooks (signed, no role:
	// inbound_test.go) and the stream (stream_test.go).
	if n := len(calls(fx)); n != len(fx.srv.Routes())-5 {
		t.Fatalf("the test covers %d routes of %d", n, len(fx.srv.Routes())-5)
	}
	for _, c := range calls(fx) {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			// One store per route: nobody and the roles below the
			// route's are refused first (nothing may change), then the
			// roles allowed succeed (store.Roles is least first).
			fx := newFixture(t)
			before := snapshot(t, fx)
			if r := fx.do(c.method, c.path, "", c.body); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("nobody: %d, want 401 with WWW-Authenticate", r.status)
			}
			if snapshot(t, fx) != before {
				t.Error("an unauthenticated request changed the store")
			}
			for _, role := range store.Roles {
				r := fx.do(c.method, c.path, role, c.body)
				if store.RoleAtLeast(role, c.role) {
					if r.status != c.ok {
						t.Errorf("%s: %d %s, want %d", role, r.status, r.body, c.ok)
					}
					continue
				}
				if r.status != 403 {
					t.Errorf("%s: %d %s, want 403", role, r.status, r.body)
				} else if code, _ := r.err(t); code != "forbidden" {
					t.Errorf("%s: code %q", role, code)
				}
				if after := snapshot(t, fx); after != before {
					t.Errorf("%s was refused but the store changed", role)
				}
			}
		})
	}
}

// snapshot summarizes what the API can change: statuses, history,
// silences, tokens, outbox.
func snapshot(t *testing.T, fx *fixture) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	list, err := fx.st.Page(ctx, store.Query{Oldest: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list {
		h, err := fx.st.History(ctx, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s/%d ", x.ID, x.Status, len(h))
	}
	sl, _ := fx.st.Silences(ctx)
	tk, _ := fx.st.Tokens(ctx)
	ds, _ := fx.st.Deliveries(ctx, store.OutboxFilter{})
	fmt.Fprintf(&b, "silences=%d tokens=%d ", len(sl), len(tk))
	if au, _ := fx.st.AuditLog(ctx, 0, 1000); len(au) > 0 {
		// Refused requests may log a failed sign-in, nothing else.
		for _, e := range au {
			if e.Action != "signin.failed" {
				fmt.Fprintf(&b, "audit:%s ", e.Action)
			}
		}
	}
	for _, d := range ds {
		fmt.Fprintf(&b, "d%d=%s ", d.ID, d.Status)
	}
	for _, x := range tk {
		fmt.Fprintf(&b, "%s revoked=%v ", x.ID, !x.Revoked.IsZero())
	}
	return b.String()
}

func TestAuthentication(t *testing.T) {
	fx := newFixture(t)
	if r := fx.do("GET", "/api/v1/me", "user:rita", nil); r.status != 200 || r.json(t)["role"] != "responder" || r.json(t)["via"] != "user" {
		t.Errorf("basic sign-in: %d %s", r.status, r.body)
	}
	if r := fx.do("GET", "/api/v1/me", "admin", nil); r.status != 200 || r.json(t)["role"] != "admin" || r.json(t)["via"] != "token" {
		t.Errorf("token: %d %s", r.status, r.body)
	}
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.SetBasicAuth("rita", "wrong EXAMPLE")
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	if w.Code != 401 || strings.Contains(w.Body.String(), "EXAMPLE") {
		t.Errorf("wrong password: %d %s", w.Code, w.Body)
	}
	// A revoked token is refused.
	list, _ := fx.st.Tokens(context.Background())
	for _, tk := range list {
		if tk.Role == store.RoleAdmin {
			fx.st.RevokeToken(context.Background(), tk.ID, t0)
		}
	}
	if r := fx.do("GET", "/api/v1/me", "admin", nil); r.status != 401 {
		t.Errorf("revoked token: %d", r.status)
	}
	// Failed sign-ins from one address slow down, then 429.
	for i := 0; i < 12; i++ {
		req := httptest.NewRequest("GET", "/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer twt_wrongEXAMPLE")
		w := httptest.NewRecorder()
		fx.srv.ServeHTTP(w, req)
		if i >= 10 && w.Code != 429 {
			t.Errorf("failure %d: %d, want 429", i+1, w.Code)
		}
	}
	if r := fx.do("GET", "/api/v1/me", "user:rita", nil); r.status != 429 {
		t.Errorf("right password while limited: %d, want 429", r.status)
	}
	fx.clock.Add(time.Minute)
	if r := fx.do("GET", "/api/v1/me", "user:rita", nil); r.status != 200 {
		t.Errorf("after the window: %d", r.status)
	}
}

func TestNoAuthenticationIsLocalAdmin(t *testing.T) {
	fx := newFixture(t, func(c *api.Config) { c.Users, c.Tokens = nil, false })
	r := fx.do("GET", "/api/v1/me", "", nil)
	if r.status != 200 || r.json(t)["role"] != "admin" || r.json(t)["via"] != "none" {
		t.Errorf("no auth: %d %s", r.status, r.body)
	}
}

func TestSecurityHeadersAndCrossOrigin(t *testing.T) {
	fx := newFixture(t)
	r := fx.do("GET", "/api/v1/findings", "viewer", nil)
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if r.header.Get(k) != want {
			t.Errorf("%s = %q", k, r.header.Get(k))
		}
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	req := httptest.NewRequest("POST", "/api/v1/findings/"+fx.fs[1].ID+"/resolve", nil)
	req.Header.Set("Authorization", "Bearer "+fx.tokens["admin"])
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	if w.Code != 403 || fx.status(fx.fs[1].ID) != "open" {
		t.Errorf("cross-site POST: %d, status %s", w.Code, fx.status(fx.fs[1].ID))
	}
}

func TestBasePath(t *testing.T) {
	fx := newFixture(t, func(c *api.Config) { c.BasePath = "/tw/" })
	if r := fx.do("GET", "/tw/api/v1/findings", "viewer", nil); r.status != 200 {
		t.Errorf("under the base path: %d", r.status)
	}
	if r := fx.do("GET", "/api/v1/findings", "viewer", nil); r.status != 404 {
		t.Errorf("outside the base path: %d", r.status)
	}
}

func ids(t *testing.T, r response) []string {
	t.Helper()
	var page struct {
		Findings []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range page.Findings {
		out = append(out, f.ID)
	}
	return out
}

func TestListFindings(t *testing.T) {
	fx := newFixture(t)
	// Pages of 7 cover all 30, newest first, without repeats.
	var all []string
	next := "/api/v1/findings?limit=7"
	for i := 0; i < 10 && next != ""; i++ {
		r := fx.do("GET", next, "viewer", nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", next, r.status, r.body)
		}
		all = append(all, ids(t, r)...)
		next = ""
		if c, _ := r.json(t)["next_cursor"].(string); c != "" {
			next = "/api/v1/findings?limit=7&cursor=" + c
		}
	}
	if len(all) != 30 || all[0] != fx.fs[29].ID || all[29] != fx.fs[0].ID {
		t.Errorf("paged %d findings: first %s last %s", len(all), all[0], all[len(all)-1])
	}
	r := fx.do("GET", "/api/v1/findings?rule=IAM-*&min_risk=HIGH&sort=oldest", "viewer", nil)
	got := ids(t, r)
	for _, id := range got {
		i := slices.IndexFunc(fx.fs, func(f finding.Finding) bool { return f.ID == id })
		if fx.fs[i].RuleID != "IAM-B" || fx.fs[i].Risk < finding.High {
			t.Errorf("filter let %s through", id)
		}
	}
	if len(got) == 0 {
		t.Error("the filter matched nothing")
	}
	if r := fx.do("GET", "/api/v1/findings?q=hyperlink", "viewer", nil); len(ids(t, r)) != 1 {
		t.Errorf("text search: %s", r.body)
	}
	fx.st.Transition(context.Background(), []string{fx.fs[3].ID}, "acknowledged", "x", "", t0, nil)
	if r := fx.do("GET", "/api/v1/findings?status=acknowledged", "viewer", nil); !slices.Equal(ids(t, r), []string{fx.fs[3].ID}) {
		t.Errorf("status filter: %s", r.body)
	}
	for _, c := range []struct{ query, code, field string }{
		{"colour=red", "unknown_parameter", "colour"},
		{"min_risk=SCARY", "invalid_parameter", "min_risk"},
		{"limit=0", "invalid_parameter", "limit"},
		{"limit=501", "invalid_parameter", "limit"},
		{"cursor=nonsense", "invalid_parameter", "cursor"},
		{"status=closed", "invalid_parameter", "status"},
		{"sort=random", "invalid_parameter", "sort"},
		{"since=yesterday", "invalid_parameter", "since"},
		{"since=2026-11-21&until=2026-11-20", "invalid_parameter", "since"},
		{"outcome=maybe", "invalid_parameter", "outcome"},
		{"control=nothing", "invalid_parameter", "control"},
	} {
		r := fx.do("GET", "/api/v1/findings?"+c.query, "viewer", nil)
		if r.status != 400 {
			t.Errorf("%s: %d, want 400", c.query, r.status)
			continue
		}
		if code, field := r.err(t); code != c.code || field != c.field {
			t.Errorf("%s: code %q field %q, want %q %q", c.query, code, field, c.code, c.field)
		}
	}
}

func TestFindingDetail(t *testing.T) {
	fx := newFixture(t)
	id := fx.fs[0].ID
	fx.do("POST", "/api/v1/findings/"+id+"/acknowledge", "user:rita", map[string]string{"note": "on it"})
	r := fx.do("GET", "/api/v1/findings/"+id, "viewer", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var d struct {
		Finding struct {
			ID     string          `json:"id"`
			Status string          `json:"status"`
			Raw    json.RawMessage `json:"raw"`
		} `json:"finding"`
		Repeats    []map[string]any `json:"repeats"`
		History    []store.Change   `json:"history"`
		Deliveries []map[string]any `json:"deliveries"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Finding.ID != id || d.Finding.Status != "acknowledged" || !strings.Contains(string(d.Finding.Raw), fx.fs[0].EventID) {
		t.Errorf("finding: %+v", d.Finding)
	}
	if len(d.Repeats) != 14 { // the other EKS-A findings (odd numbers) share the fingerprint
		t.Errorf("repeats: %d", len(d.Repeats))
	}
	if len(d.History) != 1 || d.History[0].Actor != "rita" || d.History[0].Note != "on it" {
		t.Errorf("history: %+v", d.History)
	}
	if len(d.Deliveries) != 1 || d.Deliveries[0]["channel"] != "pd" || d.Deliveries[0]["status"] != "dead" || d.Deliveries[0]["last_error"] != "HTTP 400" {
		t.Errorf("deliveries: %+v", d.Deliveries)
	}
	if r := fx.do("GET", "/api/v1/findings/f-000000", "viewer", nil); r.status != 404 {
		t.Errorf("unknown finding: %d", r.status)
	}
	if r := fx.do("GET", "/api/v1/findings/F%00X", "viewer", nil); r.status != 404 {
		t.Errorf("bad id: %d", r.status)
	}
}

func TestTransitionsRefuseBadInput(t *testing.T) {
	fx := newFixture(t)
	a, b := fx.fs[1].ID, fx.fs[2].ID
	for _, c := range []struct {
		path  string
		body  any
		want  int
		field string
	}{
		{"/api/v1/findings/resolve", map[string]any{"ids": []string{a, "f-000000000000"}}, 404, ""},
		{"/api/v1/findings/resolve", map[string]any{"ids": []string{}}, 400, "ids"},
		{"/api/v1/findings/resolve", map[string]any{"ids": []string{a}, "colour": "red"}, 400, "colour"},
		{"/api/v1/findings/resolve", map[string]any{"ids": "f-1"}, 400, "ids"},
		{"/api/v1/findings/resolve", `{"ids": [`, 400, ""},
		{"/api/v1/findings/resolve", nil, 400, ""},
		{"/api/v1/findings/" + a + "/resolve", map[string]string{"note": strings.Repeat("x", 5000)}, 400, "note"},
		{"/api/v1/findings/" + a + "/resolve", `{"note": "x"} {"note": "y"}`, 400, ""},
	} {
		r := fx.do("POST", c.path, "responder", c.body)
		if r.status != c.want {
			t.Errorf("%s %v: %d %s, want %d", c.path, c.body, r.status, r.body, c.want)
			continue
		}
		if _, field := r.err(t); field != c.field {
			t.Errorf("%s %v: field %q, want %q", c.path, c.body, field, c.field)
		}
	}
	if fx.status(a) != "open" || fx.status(b) != "open" {
		t.Error("refused requests changed a status")
	}
	req := httptest.NewRequest("POST", "/api/v1/findings/"+a+"/resolve", strings.NewReader(`{"note":"x"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+fx.tokens["admin"])
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	if w.Code != 415 || fx.status(a) != "open" {
		t.Errorf("text/plain body: %d", w.Code)
	}
	// Bulk: all or nothing, then both.
	r := fx.do("POST", "/api/v1/findings/resolve", "responder", map[string]any{"ids": []string{a, b}, "note": "fixed"})
	if r.status != 200 || fx.status(a) != "resolved" || fx.status(b) != "resolved" {
		t.Errorf("bulk resolve: %d %s", r.status, r.body)
	}
	if ch := r.json(t)["changes"].([]any); len(ch) != 2 {
		t.Errorf("changes: %v", ch)
	}
	// Again: nothing to change.
	if r := fx.do("POST", "/api/v1/findings/"+a+"/resolve", "responder", nil); r.status != 200 || len(r.json(t)["changes"].([]any)) != 0 {
		t.Errorf("resolving again: %d %s", r.status, r.body)
	}
}

func TestExport(t *testing.T) {
	fx := newFixture(t)
	r := fx.do("GET", "/api/v1/findings/export?format=csv&rule=EKS-A", "viewer", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", r.status, r.header)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 16 || rows[0][0] != "id" {
		t.Errorf("csv rows: %d (want a header and 15)", len(rows))
	}
	for _, row := range rows {
		if row[10] != "" && strings.ContainsAny(row[10][:1], "=+-@") {
			t.Errorf("a cell starts a formula: %q", row[10])
		}
	}
	r = fx.do("GET", "/api/v1/findings/export?format=jsonl", "viewer", nil)
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.status != 200 || len(lines) != 30 {
		t.Errorf("jsonl: %d, %d lines", r.status, len(lines))
	}
	var first store.Triaged
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Status != "open" {
		t.Errorf("jsonl line: %v %+v", err, first)
	}
	if r := fx.do("GET", "/api/v1/findings/export?format=csv&rule=NONE", "viewer", nil); r.status != 200 || strings.Count(string(r.body), "\n") != 1 {
		t.Errorf("empty export: %d %q", r.status, r.body)
	}
	for _, q := range []string{"", "format=xlsx", "format=csv&limit=5"} {
		if r := fx.do("GET", "/api/v1/findings/export?"+q, "viewer", nil); r.status != 400 {
			t.Errorf("%q: %d", q, r.status)
		}
	}
}

func TestSilencesEndpoints(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"matchers": map[string]string{}, "duration": "1h", "comment": "x"}, "matchers"},
		{map[string]any{"matchers": map[string]string{"rule": "X"}, "duration": "1h"}, "comment"},
		{map[string]any{"matchers": map[string]string{"rule": "X"}, "comment": "x"}, "end"},
		{map[string]any{"matchers": map[string]string{"rule": "X"}, "duration": "soon", "comment": "x"}, "duration"},
		{map[string]any{"matchers": map[string]string{"rule": "X"}, "end": t0.Add(-time.Hour), "comment": "x"}, "end"},
		{map[string]any{"matchers": map[string]string{"max_risk": "HUGE"}, "duration": "1h", "comment": "x"}, "matchers.max_risk"},
		{map[string]any{"matchers": map[string]string{"colour": "red"}, "duration": "1h", "comment": "x"}, "colour"},
		{map[string]any{"matchers": map[string]string{"rule": "X"}, "duration": "400d", "comment": "x"}, "end"},
	} {
		r := fx.do("POST", "/api/v1/silences", "responder", c.body)
		if r.status != 400 {
			t.Errorf("%v: %d %s", c.body, r.status, r.body)
			continue
		}
		if _, field := r.err(t); field != c.field {
			t.Errorf("%v: field %q, want %q", c.body, field, c.field)
		}
	}
	if list, _ := fx.st.Silences(context.Background()); len(list) != 0 {
		t.Fatalf("refused silences were stored: %+v", list)
	}
	r := fx.do("POST", "/api/v1/silences", "user:rita", map[string]any{"matchers": map[string]string{"rule": "EKS-*", "max_risk": "high"}, "duration": "2h", "comment": "maintenance"})
	if r.status != 201 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	sl := r.json(t)
	if sl["creator"] != "rita" || sl["matchers"].(map[string]any)["max_risk"] != "HIGH" {
		t.Errorf("silence: %v", sl)
	}
	id := sl["id"].(string)
	// A finding it matches is stored silenced and owes nothing.
	f := storetest.Sample(99, "EKS-Z", finding.Medium)
	res, err := fx.st.SaveRouted(context.Background(), []finding.Finding{f}, func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd"}} })
	if err != nil || len(res.Owed) != 0 || fx.status(f.ID) != "silenced" {
		t.Errorf("save under the silence: %+v %v %s", res, err, fx.status(f.ID))
	}
	if r := fx.do("GET", "/api/v1/silences?active=true", "viewer", nil); len(r.json(t)["silences"].([]any)) != 1 {
		t.Errorf("active silences: %s", r.body)
	}
	if r := fx.do("DELETE", "/api/v1/silences/"+id, "responder", nil); r.status != 200 {
		t.Errorf("expire: %d %s", r.status, r.body)
	}
	if r := fx.do("GET", "/api/v1/silences?active=true", "viewer", nil); len(r.json(t)["silences"].([]any)) != 0 {
		t.Errorf("active after expiry: %s", r.body)
	}
	if r := fx.do("GET", "/api/v1/silences?active=maybe", "viewer", nil); r.status != 400 {
		t.Errorf("active=maybe: %d", r.status)
	}
}

func TestOutboxActions(t *testing.T) {
	fx := newFixture(t)
	r := fx.do("GET", "/api/v1/outbox?status=dead", "viewer", nil)
	ds := r.json(t)["deliveries"].([]any)
	if len(ds) != 1 {
		t.Fatalf("dead deliveries: %s", r.body)
	}
	id := int(ds[0].(map[string]any)["id"].(float64))
	if r := fx.do("POST", fmt.Sprintf("/api/v1/outbox/%d/retry", id), "admin", nil); r.status != 200 {
		t.Errorf("retry: %d %s", r.status, r.body)
	}
	if r := fx.do("POST", fmt.Sprintf("/api/v1/outbox/%d/retry", id), "admin", nil); r.status != 409 {
		t.Errorf("retrying a pending delivery: %d", r.status)
	}
	if r := fx.do("POST", "/api/v1/outbox/x/retry", "admin", nil); r.status != 404 {
		t.Errorf("bad id: %d", r.status)
	}
	if r := fx.do("GET", "/api/v1/outbox?status=lost", "viewer", nil); r.status != 400 {
		t.Errorf("bad status: %d", r.status)
	}
	r = fx.do("GET", "/api/v1/channels", "viewer", nil)
	ch := r.json(t)["channels"].([]any)[0].(map[string]any)
	if ch["name"] != "pd" || ch["depth"].(map[string]any)["pending"] != float64(1) {
		t.Errorf("channels: %s", r.body)
	}
}

func TestTokensEndpoints(t *testing.T) {
	fx := newFixture(t)
	r := fx.do("POST", "/api/v1/tokens", "admin", map[string]string{"name": "deploy EXAMPLE", "role": "responder", "expires_in": "1h"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	secret := r.json(t)["secret"].(string)
	fx.tokens["new"] = secret
	if r := fx.do("GET", "/api/v1/me", "new", nil); r.status != 200 || r.json(t)["role"] != "responder" {
		t.Errorf("new token: %d %s", r.status, r.body)
	}
	list := fx.do("GET", "/api/v1/tokens", "admin", nil)
	if strings.Contains(string(list.body), secret) || strings.Contains(string(list.body), api.HashToken(secret)) {
		t.Error("the token list shows a secret or its hash")
	}
	fx.clock.Add(time.Hour)
	if r := fx.do("GET", "/api/v1/me", "new", nil); r.status != 401 {
		t.Errorf("expired token: %d", r.status)
	}
	for _, b := range []map[string]string{{"name": "", "role": "viewer"}, {"name": "x", "role": "root"}, {"name": "x", "role": "viewer", "expires_in": "later"}} {
		if r := fx.do("POST", "/api/v1/tokens", "admin", b); r.status != 400 {
			t.Errorf("%v: %d", b, r.status)
		}
	}
}

func TestBulkByFilter(t *testing.T) {
	fx := newFixture(t)
	before := snapshot(t, fx)
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"filter": map[string]any{}}, "filter"},
		{map[string]any{"filter": map[string]any{"colour": "red"}}, "filter.colour"},
		{map[string]any{"filter": map[string]any{"min_risk": "SCARY"}}, "filter.min_risk"},
		{map[string]any{"filter": map[string]any{"rule": 7}}, "filter.rule"},
		{map[string]any{"filter": map[string]any{"rule": "EKS-A"}, "ids": []string{fx.fs[0].ID}}, "filter"},
	} {
		r := fx.do("POST", "/api/v1/findings/resolve", "responder", c.body)
		if r.status != 400 {
			t.Errorf("%v: %d %s", c.body, r.status, r.body)
			continue
		}
		if _, field := r.err(t); field != c.field {
			t.Errorf("%v: field %q, want %q", c.body, field, c.field)
		}
	}
	if snapshot(t, fx) != before {
		t.Fatal("refused bulk requests changed the store")
	}
	r := fx.do("POST", "/api/v1/findings/acknowledge", "responder", map[string]any{"filter": map[string]any{"rule": []string{"IAM-B"}, "min_risk": "VERY_HIGH"}, "note": "triaged"})
	if r.status != 200 {
		t.Fatalf("bulk by filter: %d %s", r.status, r.body)
	}
	n := len(r.json(t)["changes"].([]any))
	want := 0
	for _, f := range fx.fs {
		acked := fx.status(f.ID) == "acknowledged"
		if f.RuleID == "IAM-B" && f.Risk >= finding.VeryHigh {
			want++
			if !acked {
				t.Errorf("%s not acknowledged", f.ID)
			}
		} else if acked {
			t.Errorf("%s acknowledged outside the filter", f.ID)
		}
	}
	if n != want || want == 0 {
		t.Errorf("%d changes, want %d", n, want)
	}
}

func TestAuditLog(t *testing.T) {
	fx := newFixture(t)
	fx.do("POST", "/api/v1/findings/"+fx.fs[1].ID+"/resolve", "user:rita", map[string]string{"note": "fixed EXAMPLE"})
	fx.do("POST", "/api/v1/silences", "responder", map[string]any{"matchers": map[string]string{"rule": "X"}, "duration": "1h", "comment": "why"})
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.SetBasicAuth("rita", "wrong EXAMPLE")
	fx.srv.ServeHTTP(httptest.NewRecorder(), req)
	r := fx.do("GET", "/api/v1/audit?limit=2", "admin", nil)
	var page struct{ Entries []store.AuditEntry }
	json.Unmarshal(r.body, &page)
	if r.status != 200 || len(page.Entries) != 2 || page.Entries[0].Action != "signin.failed" || page.Entries[0].Actor != "rita" ||
		page.Entries[1].Action != "silence.add" || strings.Contains(string(r.body), "wrong EXAMPLE") {
		t.Fatalf("audit page: %d %s", r.status, r.body)
	}
	r = fx.do("GET", fmt.Sprintf("/api/v1/audit?before=%d", page.Entries[1].ID), "admin", nil)
	json.Unmarshal(r.body, &page)
	if len(page.Entries) != 1 || page.Entries[0].Action != "finding.resolved" || page.Entries[0].Actor != "rita" ||
		page.Entries[0].Target != fx.fs[1].ID || page.Entries[0].Detail != "fixed EXAMPLE" {
		t.Errorf("older entries: %s", r.body)
	}
	if r := fx.do("GET", "/api/v1/audit?before=x", "admin", nil); r.status != 400 {
		t.Errorf("bad before: %d", r.status)
	}
}

func TestSilenceSimilar(t *testing.T) {
	fx := newFixture(t)
	f := fx.fs[0]
	r := fx.do("GET", "/api/v1/findings/"+f.ID+"/silence", "viewer", nil)
	if r.status != 200 {
		t.Fatalf("template: %d %s", r.status, r.body)
	}
	var body map[string]any
	json.Unmarshal(r.body, &body)
	m := body["matchers"].(map[string]any)
	if m["rule"] != f.RuleID || m["account"] != f.AccountID || m["region"] != f.Region || m["resource"] != f.Resource.Name || body["duration"] != "24h" {
		t.Errorf("template: %s", r.body)
	}
	body["comment"] = "known noise EXAMPLE"
	if r := fx.do("POST", "/api/v1/silences", "responder", body); r.status != 201 {
		t.Fatalf("posting the template: %d %s", r.status, r.body)
	}
	similar := storetest.Sample(200, f.RuleID, finding.High)
	res, err := fx.st.SaveRouted(context.Background(), []finding.Finding{similar}, func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd"}} })
	if err != nil || len(res.Owed) != 0 || fx.status(similar.ID) != "silenced" {
		t.Errorf("a similar finding: %+v %v %s", res, err, fx.status(similar.ID))
	}
	if r := fx.do("GET", "/api/v1/findings/f-000000000000/silence", "viewer", nil); r.status != 404 {
		t.Errorf("unknown finding: %d", r.status)
	}
}

func TestTrails(t *testing.T) {
	fx := newFixture(t)
	r := fx.do("GET", "/api/v1/trails", "viewer", nil)
	tr := r.json(t)["trails"].([]any)
	if r.status != 200 || len(tr) != 2 || tr[1].(map[string]any)["state"] != "silent" {
		t.Errorf("trails: %d %s", r.status, r.body)
	}
	none := newFixture(t, func(c *api.Config) { c.Trails = nil })
	if r := none.do("GET", "/api/v1/trails", "viewer", nil); r.status != 404 {
		t.Errorf("without a heartbeat: %d", r.status)
	}
}

// The dashboard's pages (Config.Pages) get the API's authentication:
// nobody is asked to sign in, a signed-in viewer reads them, and API
// routes stay the API's.
func TestPagesNeedAViewer(t *testing.T) {
	var served []string
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served = append(served, r.URL.Path)
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<p>dashboard</p>")
	})
	fx := newFixture(t, func(c *api.Config) { c.Pages = pages })
	// A browser that has not signed in goes to the sign-in page, and back
	// to the page after.
	r := fx.do("GET", "/findings?risk=HIGH", "", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/signin?next=%2Ffindings%3Frisk%3DHIGH" || len(served) != 0 {
		t.Errorf("a page without signing in: %d %q, served %v", r.status, r.header.Get("Location"), served)
	}
	// With tokens only (no sign-in page), the client is asked for
	// credentials.
	tokensOnly := newFixture(t, func(c *api.Config) { c.Pages = pages; c.Users = nil })
	r = tokensOnly.do("GET", "/findings", "", nil)
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm=") || len(served) != 0 {
		t.Errorf("a page without signing in, tokens only: %d %q, served %v", r.status, r.header.Get("WWW-Authenticate"), served)
	}
	for _, who := range []string{"user:vera", store.RoleViewer, store.RoleAdmin} {
		if r := fx.do("GET", "/findings?risk=HIGH", who, nil); r.status != 200 || string(r.body) != "<p>dashboard</p>" {
			t.Errorf("%s: %d %s", who, r.status, r.body)
		}
	}
	if r := fx.do("GET", "/api/v1/nothing", store.RoleViewer, nil); r.status != 404 || !strings.Contains(string(r.body), "not_found") {
		t.Errorf("an unknown API route went to the pages: %d %s", r.status, r.body)
	}
	if r := fx.do("GET", "/findings", "user:mallory", nil); r.status != http.StatusUnauthorized {
		t.Errorf("an unknown user: %d", r.status)
	}
	if len(served) != 3 {
		t.Errorf("pages served %v", served)
	}
}
