package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/pagerduty"
	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// pagerDuty is a loopback PagerDuty Events API v2, recording each event as
// "action dedup_key".
type pagerDuty struct {
	mu     sync.Mutex
	events []string
	// refuse answers 400 (an event PagerDuty rejects: a dead letter).
	refuse bool
}

func (p *pagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Action string `json:"event_action"`
		Key    string `json:"dedup_key"`
	}
	b, _ := io.ReadAll(r.Body)
	if r.URL.Path != "/v2/enqueue" || json.Unmarshal(b, &m) != nil {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	if p.refuse {
		p.mu.Unlock()
		http.Error(w, `{"status":"invalid event","message":"Event object is invalid"}`, http.StatusBadRequest)
		return
	}
	p.events = append(p.events, m.Action+" "+m.Key)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": m.Key})
}

func (p *pagerDuty) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// wait polls cond until it holds or 10 seconds pass.
func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// flow is the whole server as trailwatch run serves it: a store holding the
// example trail's findings, the dispatcher delivering its outbox to a
// loopback PagerDuty, and the API with the pages behind a signing-in
// proxy's headers (the browser sends them with every request).
type flow struct {
	st  *sqlite.Store
	pd  *pagerDuty
	d   *dispatch.Dispatcher
	srv *httptest.Server
	b   *browser
}

func newFlow(t *testing.T, user, group string) *flow {
	t.Helper()
	fl := &flow{st: exampleStore(t), pd: &pagerDuty{}}
	pdSrv := httptest.NewServer(fl.pd)
	t.Cleanup(pdSrv.Close)
	pc := pagerduty.Config{RoutingKey: secret.New("EXAMPLEROUTINGKEYEXAMPLE00000000"), BaseURL: pdSrv.URL}
	if err := pc.Check(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	pn, err := pagerduty.New(pc, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fl.d = dispatch.New(fl.st, []dispatch.Channel{{Name: "pd", Notifier: pn}}, dispatch.Options{Poll: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fl.d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	clock := func() time.Time { return now }
	pages, err := New(Options{Store: fl.st, Outbox: fl.st, Now: clock, Who: api.Who, APIPath: api.Prefix,
		Channels: []Channel{{Name: "pd", Type: "pagerduty", Routes: "every finding"}}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Store: fl.st, Now: clock, Pages: pages, StreamPoll: 50 * time.Millisecond, Lifecycle: []string{"pd"},
		Channels: []api.Channel{{Name: "pd", Type: "pagerduty"}},
		Proxy: &api.Proxy{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
			UserHeader: "X-Forwarded-User", GroupsHeader: "X-Forwarded-Groups",
			GroupRoles: map[string]string{"secops": store.RoleResponder, "platform": store.RoleAdmin}, DefaultRole: store.RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	fl.srv = httptest.NewServer(a)
	t.Cleanup(fl.srv.Close)
	fl.b = newBrowser(t)
	headers := network.Headers{"X-Forwarded-User": user}
	if group != "" {
		headers["X-Forwarded-Groups"] = group
	}
	if _, err := chromedp.Call(fl.b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers}); err != nil {
		t.Fatal(err)
	}
	return fl
}

// save stores findings as run does, routed to PagerDuty, and wakes the
// dispatcher.
func (fl *flow) save(t *testing.T, fs ...finding.Finding) {
	t.Helper()
	if _, err := fl.st.SaveRouted(context.Background(), fs, func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd"}} }); err != nil {
		t.Fatal(err)
	}
	fl.d.Kick("pd")
}

// fresh is a new finding of its own fingerprint.
func fresh(n int, rule string, risk finding.Risk) finding.Finding {
	f := finding.Finding{RuleID: rule, RuleTitle: "Test rule " + rule, Service: "eks", Risk: risk, RiskReasons: []string{"public endpoint"},
		EventID: fmt.Sprintf("live-%d", n), EventTime: now.Add(-time.Duration(n) * time.Minute), EventSource: "eks.amazonaws.com", EventName: "UpdateClusterConfig",
		AccountID: "111122223333", Region: "eu-west-1", Actor: hostile().Actor, AccessMethod: "cli", SourceIP: "203.0.113.9", Outcome: "success",
		Resource: finding.Resource{Type: "cluster", Name: fmt.Sprintf("prod-%d", n)}, Summary: fmt.Sprintf("mallory opened cluster prod-%d", n),
		Raw: json.RawMessage(`{"eventName":"UpdateClusterConfig"}`)}
	f.Actor.Name = "mallory"
	f.ID = finding.ID(f.EventID, f.RuleID)
	f.Fingerprint = fmt.Sprintf("fp-live-%d", n)
	return f
}

// A responder acknowledges, then resolves a finding from its page: the
// history shows both with their notes, and PagerDuty receives the
// acknowledge and the resolve of the incident the trigger opened (same
// dedup_key). Then "silence similar" silences the next such finding: it is
// stored silenced and PagerDuty hears nothing of it; the silences page
// counts it, and expires the silence.
func TestLifecycleInABrowser(t *testing.T) {
	fl := newFlow(t, "rita", "secops")
	b := fl.b
	f := fresh(1, "EKS-ENDPOINT-PUBLIC", finding.VeryHigh)
	fl.save(t, f)
	wait(t, "the PagerDuty trigger", func() bool { return len(fl.pd.got()) == 1 })
	trigger := fl.pd.got()[0]
	action, key, _ := strings.Cut(trigger, " ")
	if action != "trigger" || key == "" {
		t.Fatalf("PagerDuty got %q", trigger)
	}

	b.do(t, chromedp.Navigate(fl.srv.URL+"/findings/"+f.ID), chromedp.WaitVisible(chromedp.ID("triage-form")))
	b.do(t, chromedp.SendKeys(chromedp.ID("note"), "paged the platform team"))
	b.load(t, chromedp.Click(chromedp.CSS(`button[value="acknowledge"]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("history")))
	if s := run(t, b, chromedp.TextContent(chromedp.ID("status"))); s != "acknowledged" {
		t.Fatalf("status after acknowledge: %q", s)
	}
	b.do(t, chromedp.SendKeys(chromedp.ID("note"), "endpoint private again"))
	b.load(t, chromedp.Click(chromedp.CSS(`button[value="resolve"]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("history")))
	hist := run(t, b, chromedp.Text(chromedp.ID("history")))
	if !strings.Contains(hist, "rita: open → acknowledged — paged the platform team") || !strings.Contains(hist, "rita: acknowledged → resolved — endpoint private again") {
		t.Errorf("history: %q", hist)
	}
	wait(t, "PagerDuty's acknowledge and resolve", func() bool { return len(fl.pd.got()) == 3 })
	if got := fl.pd.got(); !slices.Equal(got, []string{"trigger " + key, "acknowledge " + key, "resolve " + key}) {
		t.Errorf("PagerDuty events %q, want trigger, acknowledge and resolve of %s", got, key)
	}
	b.clean(t)

	// Silence similar: the form is pre-filled from the finding; a comment
	// and it is created.
	b.do(t, chromedp.Navigate(fl.srv.URL+"/findings/"+f.ID), chromedp.WaitVisible(chromedp.ID("silence-details")),
		chromedp.Click(chromedp.CSS("#silence-details summary"), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.ID("silence-form")))
	if v := run(t, b, chromedp.Value(chromedp.CSS(`#silence-form input[name="rule"]`))); v != f.RuleID {
		t.Errorf("silence similar's rule: %q", v)
	}
	// Drop the resource: silence this rule for this account and region.
	b.do(t, chromedp.Clear(chromedp.CSS(`#silence-form input[name="resource"]`)),
		chromedp.SendKeys(chromedp.CSS(`#silence-form textarea[name="comment"]`), "cluster migration EXAMPLE"))
	b.shot(t, "silence-similar")
	b.do(t, chromedp.Click(chromedp.CSS(`#silence-form button[type="submit"]`), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.ID("silence-done")))
	b.clean(t)
	list, err := fl.st.Silences(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("silences after silence similar: %v %v", list, err)
	}
	sl := list[0]
	if sl.Matchers.Rule != f.RuleID || sl.Matchers.Account != f.AccountID || sl.Matchers.Region != f.Region || sl.Matchers.Resource != "" ||
		sl.Matchers.MaxRisk != finding.VeryHigh || sl.Creator != "proxy:rita" || !sl.End.Equal(now.Add(24*time.Hour)) {
		t.Errorf("silence created: %+v", sl)
	}
	// A matching event arrives: stored silenced, and not alerted.
	g := fresh(2, f.RuleID, finding.High)
	fl.save(t, g)
	got, err := fl.st.Triaged(context.Background(), g.ID)
	if err != nil || got.Status != store.StatusSilenced || got.SilencedBy != sl.ID {
		t.Errorf("the matching finding: %q by %q, %v", got.Status, got.SilencedBy, err)
	}
	if ds, _ := fl.st.Deliveries(context.Background(), store.OutboxFilter{Findings: []string{g.ID}}); len(ds) != 0 {
		t.Errorf("the silenced finding owes %d deliveries", len(ds))
	}
	// The silences page counts it; expiring the silence ends it.
	b.do(t, chromedp.Navigate(fl.srv.URL+"/silences"), chromedp.WaitVisible(chromedp.ID("active-silences")))
	if n := run(t, b, chromedp.AttributeValue(chromedp.CSS(`tr[data-silence="`+sl.ID+`"] [data-caught]`), "data-caught")); n.Value != "1" {
		t.Errorf("silence caught %q findings, want 1", n.Value)
	}
	b.shot(t, "silences")
	b.load(t, chromedp.Click(chromedp.CSS(`button[data-expire]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.CSS(`#expired-silences tr[data-silence="`+sl.ID+`"]`)))
	b.clean(t)
	if list, _ := fl.st.Silences(context.Background()); len(list) != 1 || list[0].Expired.IsZero() {
		t.Errorf("after expire: %+v", list)
	}
	if len(fl.pd.got()) != 3 {
		t.Errorf("PagerDuty heard more: %q", fl.pd.got())
	}
}

// The open feed shows a new finding at the top as it is stored, without
// moving what the reader looks at, and a status change updates its row;
// the CSV export of the page's filter holds every matching finding; several
// findings are resolved at once.
func TestLiveFeedExportAndBulkInABrowser(t *testing.T) {
	fl := newFlow(t, "rita", "secops")
	b := fl.b
	b.do(t, chromedp.EmulateViewport(1280, 600), chromedp.Navigate(fl.srv.URL+"/findings"), chromedp.WaitVisible(chromedp.ID("findings")))
	liveOn(t, b)
	if !run(t, b, chromedp.Evaluate[bool](`document.documentElement.scrollHeight > window.innerHeight + 400`)) {
		t.Fatal("the feed is too short to scroll")
	}
	// Scroll down, and note which row is at the top of the window.
	run(t, b, chromedp.Evaluate[bool](`window.scrollTo(0, 400), true`))
	before := run(t, b, chromedp.Evaluate[[]any](`(() => { const r = document.elementFromPoint(300, 200).closest("tr"); return [r.dataset.id, r.getBoundingClientRect().top]; })()`))
	h := fresh(3, "EKS-ENDPOINT-PUBLIC", finding.High)
	h.EventTime = now.Add(time.Minute) // the newest
	fl.save(t, h)
	run(t, b, chromedp.Poll[bool](`document.querySelector('#findings tbody tr[data-id="`+h.ID+`"]') !== null`, chromedp.WithPollingTimeout(10*time.Second)))
	if first := run(t, b, chromedp.Evaluate[string](`document.querySelector("#findings tbody tr").dataset.id`)); first != h.ID {
		t.Errorf("the live finding is not at the top: %s", first)
	}
	after := run(t, b, chromedp.Evaluate[[]any](`(() => { const r = document.querySelector('tr[data-id="`+before[0].(string)+`"]'); return [r.dataset.id, r.getBoundingClientRect().top]; })()`))
	if d := after[1].(float64) - before[1].(float64); d > 2 || d < -2 {
		t.Errorf("the row the reader looked at moved by %.0f px", d)
	}
	if s := run(t, b, chromedp.Text(chromedp.ID("live-state"))); !strings.Contains(s, "1 new finding") {
		t.Errorf("live state: %q", s)
	}
	// A status change reaches the row.
	if _, err := fl.st.Transition(context.Background(), []string{h.ID}, store.StatusAcknowledged, "sam", "", now, nil); err != nil {
		t.Fatal(err)
	}
	run(t, b, chromedp.Poll[bool](`document.querySelector('tr[data-id="`+h.ID+`"] .status').textContent === "acknowledged"`, chromedp.WithPollingTimeout(10*time.Second)))
	// A finding the filter leaves out does not appear on a filtered page.
	b.do(t, chromedp.Navigate(fl.srv.URL+"/findings?risk=EXTREME"), chromedp.WaitReady(chromedp.ID("findings")))
	liveOn(t, b)
	low := fresh(4, "EKS-ENDPOINT-PUBLIC", finding.Low)
	top := fresh(5, "EKS-ENDPOINT-PUBLIC", finding.Extreme)
	fl.save(t, low)
	fl.save(t, top)
	run(t, b, chromedp.Poll[bool](`document.querySelector('tr[data-id="`+top.ID+`"]') !== null`, chromedp.WithPollingTimeout(10*time.Second)))
	if run(t, b, chromedp.Evaluate[bool](`document.querySelector('tr[data-id="`+low.ID+`"]') !== null`)) {
		t.Error("a LOW finding appeared on the EXTREME feed")
	}
	b.clean(t)

	// Export CSV of a filter: the link's rows are the filter's findings.
	b.do(t, chromedp.Navigate(fl.srv.URL+"/findings?risk=HIGH&limit=2"), chromedp.WaitVisible(chromedp.ID("export-csv")))
	body := run(t, b, chromedp.Evaluate[string](`fetch(document.getElementById("export-csv").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export: %v\n%s", err, body)
	}
	want, _ := fl.st.Page(context.Background(), store.Query{Filter: store.Filter{MinRisk: finding.High}})
	if len(rows) != len(want)+1 || len(want) < 3 || rows[0][0] != "id" {
		t.Fatalf("export has %d rows, want a header and %d", len(rows), len(want))
	}
	for i, w := range want {
		if rows[i+1][0] != w.ID || rows[i+1][3] == "LOW" || rows[i+1][3] == "MEDIUM" {
			t.Errorf("export row %d: %v, want %s", i+1, rows[i+1], w.ID)
		}
	}
	b.clean(t)

	// Bulk: select two findings, resolve them with a note.
	b.do(t, chromedp.Navigate(fl.srv.URL+"/findings?status=open&limit=5"), chromedp.WaitVisible(chromedp.ID("bulk")))
	picked := run(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#findings tbody tr")).slice(0, 2).map(r => r.dataset.id)`))
	b.do(t, chromedp.Click(chromedp.CSS(`tr[data-id="`+picked[0]+`"] input.pick`), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`tr[data-id="`+picked[1]+`"] input.pick`), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.ID("bulk-note"), "known test accounts"))
	if c := run(t, b, chromedp.Text(chromedp.ID("bulk-count"))); c != "2 selected" {
		t.Errorf("bulk count: %q", c)
	}
	b.shot(t, "feed-bulk")
	b.load(t, chromedp.Click(chromedp.CSS(`#bulk button[value="resolve"]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("bulk")))
	for _, id := range picked {
		got, err := fl.st.Triaged(context.Background(), id)
		h, _ := fl.st.History(context.Background(), id)
		if err != nil || got.Status != store.StatusResolved || len(h) == 0 || h[len(h)-1].Note != "known test accounts" {
			t.Errorf("%s after bulk resolve: %q %v", id, got.Status, err)
		}
	}
	if run(t, b, chromedp.Evaluate[bool](`document.querySelector('tr[data-id="`+picked[0]+`"]') !== null`)) {
		t.Error("a resolved finding is still on the open feed")
	}
	// Select all, then silence: one silence per rule/account/region/resource.
	b.do(t, chromedp.Click(chromedp.ID("select-all"), chromedp.NodeVisible), chromedp.SendKeys(chromedp.ID("bulk-note"), "bulk silence EXAMPLE"))
	n := run(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#findings input.pick:checked").length`))
	if n != run(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#findings input.pick").length`)) || n == 0 {
		t.Errorf("select all checked %d", n)
	}
	b.load(t, chromedp.Click(chromedp.CSS(`#bulk button[value="silence"]`), chromedp.NodeVisible))
	if list, _ := fl.st.Silences(context.Background()); len(list) == 0 || len(list) > n || list[0].Comment != "bulk silence EXAMPLE" {
		t.Errorf("bulk silence made %d silences for %d findings", len(list), n)
	}
	b.clean(t)
}

// A viewer sees no triage, bulk, silence or outbox buttons, and the API
// refuses the change when the page forces it (403), changing nothing.
func TestViewerInABrowser(t *testing.T) {
	fl := newFlow(t, "vic", "")
	b := fl.b
	f := fresh(1, "EKS-ENDPOINT-PUBLIC", finding.VeryHigh)
	fl.save(t, f)
	for path, absent := range map[string][]string{
		"/findings/" + f.ID: {"#triage-form", "#silence-form", "button[data-outbox]"},
		"/findings":         {"#bulk", "#select-all", "input.pick"},
		"/silences":         {"#new-silence", "button[data-expire]"},
		"/channels":         {"button[data-outbox]"},
	} {
		b.do(t, chromedp.Navigate(fl.srv.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
		for _, sel := range absent {
			if run(t, b, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`)) {
				t.Errorf("a viewer sees %s on %s", sel, path)
			}
		}
		b.clean(t)
	}
	b.do(t, chromedp.Navigate(fl.srv.URL+"/findings/"+f.ID), chromedp.WaitVisible(chromedp.ID("summary")))
	status := run(t, b, chromedp.Evaluate[int](`send("POST", "/api/v1/findings/`+f.ID+`/acknowledge", {note: "forced"}).then(() => 200, e => e.status)`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Errorf("a viewer's forced acknowledge: %d, want 403", status)
	}
	silence := run(t, b, chromedp.Evaluate[int](`send("POST", "/api/v1/silences", {matchers: {rule: "*"}, duration: "1h", comment: "forced"}).then(() => 200, e => e.status)`, chromedp.EvalAwaitPromise))
	if silence != http.StatusForbidden {
		t.Errorf("a viewer's forced silence: %d, want 403", silence)
	}
	b.settled(t) // the refused requests are logged by the browser; expected here
	if got, _ := fl.st.Triaged(context.Background(), f.ID); got.Status != store.StatusOpen {
		t.Errorf("after a viewer's forced acknowledge the finding is %s", got.Status)
	}
	if list, _ := fl.st.Silences(context.Background()); len(list) != 0 {
		t.Errorf("a viewer created a silence: %+v", list)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// liveOn waits until the feed's live stream is open.
func liveOn(t *testing.T, b *browser) {
	t.Helper()
	run(t, b, chromedp.Poll[bool](`document.getElementById("live-state").textContent.startsWith("Live")`, chromedp.WithPollingTimeout(10*time.Second)))
}

// An admin retries a dead letter from the channels page and it is
// delivered; another is dropped.
func TestDeadLettersInABrowser(t *testing.T) {
	fl := newFlow(t, "ada", "platform")
	b := fl.b
	fl.pd.mu.Lock()
	fl.pd.refuse = true
	fl.pd.mu.Unlock()
	f1, f2 := fresh(1, "EKS-ENDPOINT-PUBLIC", finding.VeryHigh), fresh(2, "EKS-ENDPOINT-PUBLIC", finding.High)
	fl.save(t, f1, f2)
	dead := func() []store.Delivery {
		ds, err := fl.st.Deliveries(context.Background(), store.OutboxFilter{Status: []string{store.Dead}})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	wait(t, "two dead letters", func() bool { return len(dead()) == 2 })
	fl.pd.mu.Lock()
	fl.pd.refuse = false
	fl.pd.mu.Unlock()
	b.do(t, chromedp.Navigate(fl.srv.URL+"/channels?status=dead"), chromedp.WaitVisible(chromedp.ID("deliveries")))
	if n := run(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#deliveries button[data-outbox]").length`)); n != 4 {
		t.Errorf("%d retry/drop buttons for two dead letters", n)
	}
	b.shot(t, "channels")
	b.clean(t)
	ds := dead()
	retry, drop := ds[0], ds[1]
	b.load(t, chromedp.Click(chromedp.CSS(`tr[data-delivery="`+fmt.Sprint(retry.ID)+`"] button[data-outbox$="/retry"]`), chromedp.NodeVisible))
	wait(t, "the retried delivery", func() bool { return len(fl.pd.got()) == 1 })
	b.do(t, chromedp.WaitVisible(chromedp.ID("deliveries")))
	b.load(t, chromedp.Click(chromedp.CSS(`tr[data-delivery="`+fmt.Sprint(drop.ID)+`"] button[data-outbox$="/drop"]`), chromedp.NodeVisible))
	b.clean(t)
	byID := map[int64]string{}
	all, _ := fl.st.Deliveries(context.Background(), store.OutboxFilter{})
	for _, d := range all {
		byID[d.ID] = d.Status
	}
	wait(t, "the retried delivery done", func() bool {
		all, _ := fl.st.Deliveries(context.Background(), store.OutboxFilter{Status: []string{store.Done}})
		return len(all) == 1 && all[0].ID == retry.ID
	})
	if byID[drop.ID] != store.Dropped {
		t.Errorf("dropped delivery is %s", byID[drop.ID])
	}
	// On the finding's page the admin sees the delivery, done.
	b.do(t, chromedp.Navigate(fl.srv.URL+"/findings/"+retry.FindingID), chromedp.WaitVisible(chromedp.ID("finding-deliveries")))
	if s := run(t, b, chromedp.AttributeValue(chromedp.CSS(`#finding-deliveries tr[data-delivery="`+fmt.Sprint(retry.ID)+`"]`), "data-status")); s.Value != store.Done {
		t.Errorf("the finding's page shows its delivery %q", s.Value)
	}
	b.clean(t)
	// At phone width, with every button an admin gets, nothing is wider
	// than the screen.
	b.do(t, chromedp.EmulateViewport(390, 844))
	for _, p := range []string{"/findings", "/findings/" + retry.FindingID, "/silences", "/channels?status=dropped", "/"} {
		b.do(t, chromedp.Navigate(fl.srv.URL+p), chromedp.WaitReady(chromedp.CSS("main")))
		if w := run(t, b, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); w > 1 {
			t.Errorf("%s is %d px wider than a phone's screen", p, w)
		}
	}
	b.shot(t, "overview-phone")
	b.clean(t)
}

// Every change the pages send carries the page's CSRF token (the
// <meta name="csrf-token"> the sign-in layer adds) as X-CSRF-Token, and
// none when the page has no token.
func TestSendCarriesTheCSRFToken(t *testing.T) {
	st := exampleStore(t)
	pages, err := New(Options{Store: st, Now: func() time.Time { return now }, APIPath: api.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	mux := http.NewServeMux()
	mux.Handle("/", pages)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" token="+r.Header.Get("X-CSRF-Token")+" type="+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"changes":[]}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b := newBrowser(t)
	all, _ := st.Findings(context.Background(), storeAll())
	b.do(t, chromedp.Navigate(srv.URL+"/findings/"+all[0].ID), chromedp.WaitVisible(chromedp.ID("summary")))
	run(t, b, chromedp.Evaluate[bool](`send("POST", "/api/v1/findings/acknowledge", {ids: ["f-1"]}).then(() => true)`, chromedp.EvalAwaitPromise))
	run(t, b, chromedp.Evaluate[bool](`(() => { const m = document.createElement("meta"); m.name = "csrf-token"; m.content = "tok-EXAMPLE"; document.head.appendChild(m); return true; })()`))
	run(t, b, chromedp.Evaluate[bool](`send("DELETE", "/api/v1/silences/s-1").then(() => true)`, chromedp.EvalAwaitPromise))
	b.clean(t)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"POST /api/v1/findings/acknowledge token= type=application/json", "DELETE /api/v1/silences/s-1 token=tok-EXAMPLE type="}
	if !slices.Equal(seen, want) {
		t.Errorf("requests %q, want %q", seen, want)
	}
}

// Signed in with a browser session, the pages' changes (bulk acknowledge,
// a new silence, expiring it) carry the session's CSRF token and succeed;
// the same change without the token is refused.
func TestSessionChangesInABrowser(t *testing.T) {
	st := exampleStore(t)
	srv := sessionServer(t, st)
	b := newBrowser(t)
	b.load(t, chromedp.Navigate(srv.URL+"/findings?status=open&limit=3"))
	b.do(t, chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SendKeys(chromedp.ID("user"), "rita"), chromedp.SendKeys(chromedp.ID("password"), "correct horse EXAMPLE"))
	b.load(t, chromedp.Submit(chromedp.ID("signin-form")))
	b.do(t, chromedp.WaitVisible(chromedp.ID("bulk")), chromedp.Click(chromedp.ID("select-all"), chromedp.NodeVisible))
	picked := run(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#findings input.pick:checked")).map(i => i.value)`))
	if len(picked) != 3 {
		t.Fatalf("select all picked %v", picked)
	}
	b.load(t, chromedp.Click(chromedp.CSS(`#bulk button[value="acknowledge"]`), chromedp.NodeVisible))
	for _, id := range picked {
		if got, _ := st.Triaged(context.Background(), id); got.Status != store.StatusAcknowledged {
			t.Errorf("%s after bulk acknowledge in a session: %s", id, got.Status)
		}
	}
	b.clean(t)
	// A silence from the silences page, then expired.
	b.do(t, chromedp.Navigate(srv.URL+"/silences"), chromedp.WaitVisible(chromedp.ID("new-silence")),
		chromedp.SendKeys(chromedp.CSS(`#new-silence input[name="rule"]`), "EKS-*"),
		chromedp.SendKeys(chromedp.CSS(`#new-silence input[name="account"]`), "111122223333"),
		chromedp.SendKeys(chromedp.CSS(`#new-silence textarea[name="comment"]`), "upgrade window EXAMPLE"))
	b.load(t, chromedp.Click(chromedp.CSS(`#new-silence button[type="submit"]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("active-silences")))
	list, _ := st.Silences(context.Background())
	if len(list) != 1 || list[0].Matchers.Rule != "EKS-*" || list[0].Creator != "rita" || !list[0].End.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("silence from the page: %+v", list)
	}
	b.load(t, chromedp.Click(chromedp.CSS(`button[data-expire]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("expired-silences")))
	b.clean(t)
	// Without the token the session's change is refused.
	status := run(t, b, chromedp.Evaluate[int](`fetch("/api/v1/findings/`+picked[0]+`/resolve", {method: "POST", credentials: "same-origin",
		headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	b.settled(t)
	if status != http.StatusForbidden {
		t.Errorf("a change without the CSRF token: %d, want 403", status)
	}
	if got, _ := st.Triaged(context.Background(), picked[0]); got.Status != store.StatusAcknowledged {
		t.Errorf("after a refused change: %s", got.Status)
	}
}
