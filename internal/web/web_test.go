package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/scan"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// now is the dashboard's clock in tests: four days after the shipped example
// trail (2026-11-20).
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// exampleStore scans the shipped example trail into a fresh SQLite store,
// as `trailwatch scan examples/cloudtrail` does, and adds extra findings.
func exampleStore(t *testing.T, extra ...finding.Finding) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rule.NewEngine(cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var found []finding.Finding
	sc := scan.New(scan.Options{Engine: eng, Findings: func(fs []finding.Finding) error {
		mu.Lock()
		defer mu.Unlock()
		found = append(found, fs...)
		return nil
	}})
	if err := sc.Paths(context.Background(), []string{"../../examples/cloudtrail"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(found) < 10 {
		t.Fatalf("the example trail gave %d findings", len(found))
	}
	found = append(found, extra...)
	if _, err := st.Save(context.Background(), found); err != nil {
		t.Fatal(err)
	}
	return st
}

// hostile is a finding whose every attacker-controlled field carries
// markup, as a CloudTrail record's request parameters and user agent can.
func hostile() finding.Finding {
	const x = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	f := finding.Finding{
		RuleID: "EKS-ENDPOINT-PUBLIC", RuleTitle: "EKS endpoint " + x, Service: "eks", Risk: finding.VeryHigh,
		RiskReasons: []string{"reason " + x}, EventID: "hostile-1", EventTime: now.Add(-time.Hour),
		EventSource: "eks.amazonaws.com", EventName: "UpdateClusterConfig" + x, AccountID: "111122223333", Region: "eu-west-1",
		Actor:        actor.Actor{Type: "IAMUser", Name: "mallory" + x, ARN: "arn:aws:iam::111122223333:user/mallory"},
		AccessMethod: "cli", UserAgent: "aws-cli/2 " + x, SourceIP: "203.0.113.9", Outcome: "success",
		Resource:    finding.Resource{Type: "cluster", Name: "prod" + x},
		Summary:     "mallory opened prod " + x + "\x1b[2J",
		Changes:     map[string]any{"name": "prod", "policy": "%7B%22Action%22%3A%22%2A%22%7D", "tags": map[string]any{"k": x}},
		Remediation: "undo " + x, References: []string{"javascript:alert(3)", "https://docs.aws.amazon.com/eks/"},
		Raw: json.RawMessage(`{"eventName":"UpdateClusterConfig","requestParameters":{"name":"` + strings.ReplaceAll(x, `"`, `\"`) + `"}}`),
	}
	f.ID = finding.ID(f.EventID, f.RuleID)
	f.Fingerprint = "fp-hostile"
	return f
}

func newServer(t *testing.T, st *sqlite.Store, base string) *httptest.Server {
	t.Helper()
	s, err := New(Options{Store: st, BasePath: base, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestPagesCarryTheDataAndSecurityHeaders(t *testing.T) {
	st := exampleStore(t)
	srv := newServer(t, st, "")
	all, err := st.Findings(context.Background(), storeAll())
	if err != nil {
		t.Fatal(err)
	}
	code, h, body := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("overview: %d %s", code, body)
	}
	if h.Get("Content-Security-Policy") != CSP || !strings.Contains(CSP, "script-src 'self'") || strings.Contains(CSP, "unsafe-inline") {
		t.Errorf("CSP: %q", h.Get("Content-Security-Policy"))
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", h)
	}
	counts := map[finding.Risk]int{}
	for _, f := range all {
		counts[f.Risk]++
	}
	for _, r := range risks {
		want := `data-risk="` + r.String() + `">` + strconv.Itoa(counts[r]) + `</span>`
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %s", want)
		}
	}
	if !strings.Contains(body, "<svg class=\"chart\"") || !strings.Contains(body, "("+strconv.Itoa(len(all))+" in all)") {
		t.Errorf("overview lacks the chart or the total %d", len(all))
	}
	if strings.Contains(body, " style=") || strings.Contains(body, "<script>") || strings.Contains(body, "onclick") {
		t.Error("a page carries inline style or script")
	}

	// The feed: every finding by default, newest first; filters narrow it.
	code, _, body = get(t, srv.URL+"/findings")
	if code != 200 || strings.Count(body, "<tr data-id=") != len(all) {
		t.Fatalf("feed: %d, %d rows for %d findings", code, strings.Count(body, "<tr data-id="), len(all))
	}
	code, _, body = get(t, srv.URL+"/findings?risk=VERY_HIGH")
	want := counts[finding.VeryHigh] + counts[finding.Extreme]
	if code != 200 || strings.Count(body, "<tr data-id=") != want || want == 0 {
		t.Errorf("risk filter: %d, %d rows, want %d", code, strings.Count(body, "<tr data-id="), want)
	}
	if strings.Contains(body, `data-risk="HIGH"`) || strings.Contains(body, `data-risk="LOW"`) {
		t.Error("risk filter let a lower risk through")
	}
	rule := all[0].RuleID
	_, _, body = get(t, srv.URL+"/findings?rule="+rule)
	n := 0
	for _, f := range all {
		if f.RuleID == rule {
			n++
		}
	}
	if strings.Count(body, "<tr data-id=") != n || strings.Count(body, `data-rule="`+rule+`"`) != n {
		t.Errorf("rule filter %s: %d rows, want %d", rule, strings.Count(body, "<tr data-id="), n)
	}
	// The detail page of each of the first findings carries its reasons
	// and raw event.
	f, err := st.Finding(context.Background(), all[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body = get(t, srv.URL+"/findings/"+f.ID)
	if code != 200 || !strings.Contains(body, "id=\"raw-event\"") || !strings.Contains(body, escaped(f.EventID)) {
		t.Errorf("detail: %d, raw event with %s missing", code, f.EventID)
	}
	for _, r := range f.RiskReasons {
		if !strings.Contains(body, escaped(r)) {
			t.Errorf("detail lacks reason %q", r)
		}
	}
}

func TestHostileFieldsAreEscaped(t *testing.T) {
	h := hostile()
	st := exampleStore(t, h)
	srv := newServer(t, st, "")
	for _, path := range []string{"/", "/findings", "/findings?risk=VERY_HIGH", "/findings/" + h.ID} {
		code, _, body := get(t, srv.URL+path)
		if code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", `href="javascript:`, "\x1b"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s carries %q unescaped", path, bad)
			}
		}
	}
	_, _, body := get(t, srv.URL+"/findings/"+h.ID)
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `{"Action":"*"}`, "\\x1b[2J", "tags.k"} {
		if !strings.Contains(body, escaped(want)) && !strings.Contains(body, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
}

func TestBadInputGetsAClearError(t *testing.T) {
	st := exampleStore(t)
	srv := newServer(t, st, "")
	for path, want := range map[string]string{
		"/findings?risk=SEVERE":        "unknown risk level",
		"/findings?colour=red":         "unknown filter &#34;colour&#34;",
		"/findings?limit=0":            "limit &#34;0&#34; is not a number from 1 to 1000",
		"/findings?outcome=maybe":      "outcome &#34;maybe&#34; is not one of",
		"/findings?since=yesterdayish": "since: &#34;yesterdayish&#34; is not a time",
		"/?window=1y":                  "window &#34;1y&#34; is not one of",
		"/findings/f-nope":             "no such finding",
		"/nothing":                     "no such page",
	} {
		code, _, body := get(t, srv.URL+path)
		if code < 400 || code > 499 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want a 4xx saying %q; got %.300s", path, code, want, body)
		}
	}
	resp, err := http.Post(srv.URL+"/findings", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestBasePath(t *testing.T) {
	st := exampleStore(t)
	srv := newServer(t, st, "/trailwatch/")
	code, _, body := get(t, srv.URL+"/trailwatch/findings?risk=HIGH")
	if code != 200 || !strings.Contains(body, `href="/trailwatch/static/app.css"`) || !strings.Contains(body, `href="/trailwatch/findings/f-`) {
		t.Errorf("under a base path: %d; links do not carry it", code)
	}
	if code, _, _ := get(t, srv.URL+"/findings"); code != 404 {
		t.Errorf("outside the base path: %d, want 404", code)
	}
	if code, _, _ := get(t, srv.URL+"/trailwatchx/"); code != 404 {
		t.Errorf("a sibling of the base path: %d, want 404", code)
	}
	code, h, css := get(t, srv.URL+"/trailwatch/static/app.css")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/css") || !strings.Contains(css, "prefers-color-scheme: dark") {
		t.Errorf("stylesheet: %d %q", code, h.Get("Content-Type"))
	}
	if _, err := New(Options{Store: st, BasePath: "trailwatch"}); err == nil {
		t.Error("a base path without a leading slash was accepted")
	}
}

// The budget: a page and its assets stay under 300 KB uncompressed, the
// feed at its full first page (100 findings) with a responder's bulk
// selection and live feed.
func TestPageWeight(t *testing.T) {
	var extra []finding.Finding
	for i := range 150 {
		f := hostile()
		f.EventID = "weight-" + strconv.Itoa(i)
		f.ID = finding.ID(f.EventID, f.RuleID)
		extra = append(extra, f)
	}
	st := exampleStore(t, extra...)
	s, err := New(Options{Store: st, Outbox: st, Now: func() time.Time { return now }, APIPath: "/api/v1", Who: as(store.RoleAdmin)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	all, _ := st.Findings(context.Background(), storeAll())
	_, _, feed := get(t, srv.URL+"/findings")
	if strings.Count(feed, "<tr data-id=") != 100 || !strings.Contains(feed, `class="pick"`) {
		t.Fatal("the feed's first page is not full, or has no bulk selection")
	}
	assets := 0
	for _, p := range []string{"/static/app.css", "/static/app.js", "/static/favicon.svg"} {
		_, _, body := get(t, srv.URL+p)
		assets += len(body)
	}
	for _, p := range []string{"/", "/findings", "/findings/" + all[0].ID, "/findings/" + extra[0].ID, "/silences", "/channels"} {
		_, _, body := get(t, srv.URL+p)
		if len(body)+assets > 300<<10 {
			t.Errorf("%s is %d bytes, with its assets %d", p, len(body), len(body)+assets)
		}
	}
}

// escaped is how html/template writes s as element text.
func escaped(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	return r.Replace(s)
}

func storeAll() store.Filter { return store.Filter{} }

func TestRulesPages(t *testing.T) {
	st := exampleStore(t)
	cat, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	all, _ := st.Findings(context.Background(), storeAll())
	id := all[0].RuleID
	var off string
	for _, r := range cat.Rules {
		if r.DefaultOn() && r.ID != id {
			off = r.ID
			break
		}
	}
	no := false
	eng, err := rule.NewEngine(cat, map[string]rule.Settings{id: {Risk: finding.Extreme}, off: {Enabled: &no}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Engine: eng, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	code, _, body := get(t, srv.URL+"/rules")
	if code != 200 || strings.Count(body, "<tr data-rule=") != len(cat.Rules) {
		t.Fatalf("rules: %d, %d rows for %d rules", code, strings.Count(body, "<tr data-rule="), len(cat.Rules))
	}
	if !strings.Contains(body, `data-rule="`+off+`" data-enabled="false"`) || !strings.Contains(body, `data-rule="`+id+`" data-enabled="true"`) {
		t.Error("rules page does not say which rules are on")
	}
	n := 0
	for _, f := range all {
		if f.RuleID == id {
			n++
		}
	}
	def, _ := cat.Get(id)
	code, _, body = get(t, srv.URL+"/rules/"+id)
	if code != 200 || !strings.Contains(body, "EXTREME (the rule's default is "+def.Risk.String()+")") || !strings.Contains(body, ">"+plural(n, "finding")+"</a>") ||
		!strings.Contains(body, `id="test-cases"`) {
		t.Errorf("rule %s: %d; effective risk, 7-day count %d or tests missing: %.2000s", id, code, n, body)
	}
	if code, _, _ := get(t, srv.URL+"/rules/NO-SUCH-RULE"); code != 404 {
		t.Errorf("unknown rule: %d", code)
	}
	// Without an engine the pages are not served, and not linked.
	_, _, body = get(t, newServer(t, st, "").URL+"/findings")
	if strings.Contains(body, "/rules") {
		t.Error("rules linked without a catalogue")
	}
}

func TestChannelsPage(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "tw.db"), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	h := hostile()
	second := hostile()
	second.EventID, second.Fingerprint = "hostile-2", "fp-2"
	second.ID = finding.ID(second.EventID, second.RuleID)
	route := func(finding.Finding) []store.Route {
		return []store.Route{{Channel: "pager"}, {Channel: "chat"}, {Channel: "retired"}}
	}
	if _, err := st.SaveRouted(ctx, []finding.Finding{h, second}, route); err != nil {
		t.Fatal(err)
	}
	settle := func(channel, status, msg string) {
		ds, err := st.Claim(ctx, channel, now, 10, time.Minute)
		if err != nil || len(ds) != 2 {
			t.Fatalf("claim %s: %d, %v", channel, len(ds), err)
		}
		var out []store.Outcome
		for _, d := range ds {
			out = append(out, store.Outcome{ID: d.ID, Status: status, Err: msg, Ref: "INC0010001", At: now})
		}
		if err := st.Settle(ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	settle("pager", store.Done, "")
	settle("chat", store.Dead, "slack: 404 no_service <b>\x1b[2J</b>")
	s, err := New(Options{Store: st, Outbox: st, Now: func() time.Time { return now },
		Channels: []Channel{{Name: "pager", Type: "pagerduty", Routes: "risk ≥ HIGH"}, {Name: "chat", Type: "slack"}, {Name: "quiet", Type: "email"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	code, _, body := get(t, srv.URL+"/channels")
	if code != 200 {
		t.Fatalf("channels: %d %s", code, body)
	}
	for _, want := range []string{
		`<tr data-channel="pager" data-health="ok">`, `<tr data-channel="chat" data-health="failing">`, `<tr data-channel="quiet" data-health="idle">`,
		`<tr data-channel="retired" data-health="waiting">`, "(no longer configured)", "risk ≥ HIGH",
		`<td class="num-cell" data-status="done">2</td>`, `<td class="num-cell" data-status="dead">2</td>`,
		"slack: 404 no_service &lt;b&gt;\\x1b[2J&lt;/b&gt;", `href="/findings/` + h.ID + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("channels page lacks %s", want)
		}
	}
	if strings.Count(body, "<tr data-delivery=") != 2 {
		t.Errorf("dead deliveries listed: %d, want 2", strings.Count(body, "<tr data-delivery="))
	}
	_, _, body = get(t, srv.URL+"/channels?status=done")
	if strings.Count(body, "<tr data-delivery=") != 2 || !strings.Contains(body, "INC0010001") {
		t.Error("done deliveries not listed with their reference")
	}
	// The overview shows each channel's health too.
	_, _, body = get(t, srv.URL+"/")
	if !strings.Contains(body, `id="overview-channels"`) || !strings.Contains(body, `<tr data-channel="chat" data-health="failing">`) {
		t.Error("overview lacks channel health")
	}
	if code, _, _ := get(t, srv.URL+"/channels?status=lost"); code != 400 {
		t.Errorf("unknown status: %d", code)
	}
}

// The detail page shows the status and its history, and the triage
// buttons only to a responder or an admin.
func TestTriageButtonsFollowTheRole(t *testing.T) {
	st := exampleStore(t)
	all, _ := st.Findings(context.Background(), storeAll())
	id := all[0].ID
	if _, err := st.Transition(context.Background(), []string{id}, store.StatusAcknowledged, "rita", "looking <b>into</b> it", now, nil); err != nil {
		t.Fatal(err)
	}
	for role, buttons := range map[string]bool{store.RoleViewer: false, store.RoleResponder: true, store.RoleAdmin: true, "": false} {
		s, err := New(Options{Store: st, Now: func() time.Time { return now }, APIPath: "/api/v1",
			Who: func(*http.Request) (string, string, bool) { return "someone", role, role != "" }})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		code, _, body := get(t, srv.URL+"/findings/"+id)
		srv.Close()
		if code != 200 || !strings.Contains(body, `<span id="status" class="status status-acknowledged">acknowledged</span>`) ||
			!strings.Contains(body, "rita: open → acknowledged") || !strings.Contains(body, "looking &lt;b&gt;into&lt;/b&gt; it") {
			t.Errorf("%q: status or history missing", role)
		}
		if got := strings.Contains(body, `id="triage-form"`); got != buttons {
			t.Errorf("%q sees the triage buttons: %v, want %v", role, got, buttons)
		}
		if buttons && (!strings.Contains(body, `data-action="/api/v1/findings/`+id+`/"`) || strings.Contains(body, `value="acknowledge"`) || !strings.Contains(body, `value="resolve"`)) {
			t.Errorf("%q: the form does not offer resolve (only) to the API", role)
		}
	}
}

// The overview counts at most MaxScan findings (the newest), streamed from
// the store, and says when it stopped there.
func TestOverviewBoundedByMaxScan(t *testing.T) {
	st := exampleStore(t)
	s, err := New(Options{Store: st, Now: func() time.Time { return now }, MaxScan: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, _, body := get(t, srv.URL+"/?window=all")
	if !strings.Contains(body, "Counted over the newest 3 findings of the window.") || !strings.Contains(body, "(3 in all)") {
		t.Errorf("overview with MaxScan 3 does not say it stopped: %.400s", body)
	}
	_, _, body = get(t, srv.URL+"/")
	if n := strings.Count(body, "Counted over the newest"); n != 1 {
		t.Errorf("30-day window: the note appears %d times", n)
	}
}
