package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/store"
)

// browser is headless Chromium (Debian's chromium package, which .ci/run
// installs) for one test. It collects every console error or warning,
// uncaught exception and security message (CSP violations) the pages
// cause.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
	shots    string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv("TRAILWATCH_CHROMIUM")
	if path == "" {
		for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if found, err := exec.LookPath(p); err == nil {
				path = found
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("TRAILWATCH_REQUIRE_BROWSER") != "" {
			t.Fatal("no Chromium found (install Debian's chromium package or set TRAILWATCH_CHROMIUM), and TRAILWATCH_REQUIRE_BROWSER is set")
		}
		t.Skip("browser tests need Chromium: install Debian's chromium package (.ci/run does) or set TRAILWATCH_CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("no-proxy-server", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	b := &browser{ctx: ctx, shots: screenshotDir(t)}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Source == "security" {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s (%s %s)", m, m.Source, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// screenshotDir is where the pages' screenshots go: TRAILWATCH_SCREENSHOTS,
// or a folder under the system's temporary folder that outlives the test.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("TRAILWATCH_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "trailwatch-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// load runs steps that end in a page load (a click on a link, a form
// submitted) and waits for it.
func (b *browser) load(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 {
		t.Fatalf("page %s answered %d", resp.URL, resp.Status)
	}
}

func run[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	png := run(t, b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// settled returns the problems seen so far, after giving the browser a
// moment to report what the last page did.
func (b *browser) settled(t *testing.T) []string {
	t.Helper()
	run(t, b, chromedp.Evaluate[bool]("true"))
	time.Sleep(200 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

func (b *browser) clean(t *testing.T) {
	t.Helper()
	for _, p := range b.settled(t) {
		t.Errorf("page problem: %s", p)
	}
}

// rows returns the feed's rows as their data-risk values.
func (b *browser) rows(t *testing.T) []string {
	t.Helper()
	return run(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#findings tbody tr")).map(r => r.dataset.risk)`))
}

// The browser's problem collector sees a CSP violation: a page under the
// dashboard's policy with an inline script is reported.
func TestBrowserReportsCSPViolations(t *testing.T) {
	b := newBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", CSP)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>x</title><p id="p">x</p><script>document.title = "ran"</script>`)
	}))
	defer srv.Close()
	b.do(t, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.ID("p")))
	if title := run(t, b, chromedp.Title()); title == "ran" {
		t.Error("an inline script ran under the dashboard's CSP")
	}
	p := b.settled(t)
	if len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), "Content Security Policy") {
		t.Errorf("no CSP violation reported: %q", p)
	}
}

func TestDashboardInABrowser(t *testing.T) {
	h := hostile()
	st := exampleStore(t, h)
	cat, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rule.NewEngine(cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Engine: eng, Outbox: st, Now: func() time.Time { return now },
		Channels: []Channel{{Name: "oncall", Type: "pagerduty", Routes: "risk ≥ VERY_HIGH"}, {Name: "secops", Type: "slack", Routes: "every finding"}},
		Trails: func() []Trail {
			return []Trail{{Account: "111122223333", Region: "us-east-1", LastEvent: now.Add(-4 * time.Minute), State: "ok"},
				{Account: "444455556666", Region: "eu-west-1", LastEvent: now.Add(-7 * time.Hour), State: "silent"}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	b := newBrowser(t)
	all, err := st.Findings(context.Background(), storeAll())
	if err != nil {
		t.Fatal(err)
	}
	count := func(keep func(f finding.Finding) bool) int {
		n := 0
		for _, f := range all {
			if keep(f) {
				n++
			}
		}
		return n
	}

	// The overview loads with numbers from the example trail.
	b.do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("risk-counts")))
	high := run(t, b, chromedp.Text(chromedp.CSS(`#risk-counts [data-risk="HIGH"]`)))
	want := count(func(f finding.Finding) bool { return f.Risk == finding.High })
	if high != strconv.Itoa(want) || want == 0 {
		t.Errorf("overview HIGH count %q, want %d", high, want)
	}
	if s := run(t, b, chromedp.Text(chromedp.CSS(`tr[data-state="silent"]`))); !strings.Contains(s, "SILENT") {
		t.Errorf("the silent trail is not flagged in words: %q", s)
	}
	b.shot(t, "overview")
	b.clean(t)

	// A number links to the filtered feed.
	b.load(t, chromedp.Click(chromedp.CSS(`#risk-counts [data-risk="VERY_HIGH"]`), chromedp.NodeVisible))
	loc := run(t, b, chromedp.Location())
	if u, _ := url.Parse(loc); u.Path != "/findings" || u.Query().Get("risk") != "VERY_HIGH" {
		t.Errorf("the VERY_HIGH tile led to %s", loc)
	}
	rows := b.rows(t)
	if len(rows) != count(func(f finding.Finding) bool { return f.Risk >= finding.VeryHigh }) {
		t.Errorf("%d rows at VERY_HIGH or above", len(rows))
	}
	for _, r := range rows {
		if r != "VERY_HIGH" && r != "EXTREME" {
			t.Errorf("a %s row under risk >= VERY_HIGH", r)
		}
	}

	// Filter the feed by risk and rule with the form: the URL says what
	// was chosen (and nothing else), and the rows match.
	rule := ""
	for _, f := range all {
		if f.Risk == finding.High {
			rule = f.RuleID
			break
		}
	}
	b.do(t, chromedp.Navigate(srv.URL+"/findings"), chromedp.WaitVisible(chromedp.CSS(`form.filters`)),
		chromedp.SetValue(chromedp.CSS(`select[name="risk"]`), "HIGH"), chromedp.SendKeys(chromedp.CSS(`input[name="rule"]`), rule))
	b.load(t, chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`), chromedp.NodeVisible))
	loc = run(t, b, chromedp.Location())
	u, _ := url.Parse(loc)
	if q := u.Query(); q.Get("risk") != "HIGH" || q.Get("rule") != rule || len(q) != 2 {
		t.Errorf("filtered URL %s, want only risk=HIGH and rule=%s", loc, rule)
	}
	wantRows := count(func(f finding.Finding) bool { return f.RuleID == rule && f.Risk >= finding.High })
	if rows := b.rows(t); len(rows) != wantRows || wantRows == 0 {
		t.Errorf("%d rows for rule %s at HIGH or above, want %d", len(rows), rule, wantRows)
	}
	b.shot(t, "feed")
	b.clean(t)

	// Open a finding: its reasons and raw event are there, and the
	// attacker's markup is text.
	b.do(t, chromedp.Navigate(srv.URL+"/findings?risk=VERY_HIGH"), chromedp.WaitVisible(chromedp.ID("findings")))
	b.load(t, chromedp.Click(chromedp.CSS(`tr[data-id="`+h.ID+`"] a`), chromedp.NodeVisible))
	reasons := run(t, b, chromedp.Text(chromedp.ID("reasons")))
	raw := run(t, b, chromedp.Text(chromedp.ID("raw-event")))
	if !strings.Contains(reasons, "reason <script>alert(1)</script>") || !strings.Contains(raw, `"eventName": "UpdateClusterConfig"`) {
		t.Errorf("detail: reasons %q, raw %q", reasons, raw)
	}
	if run(t, b, chromedp.Evaluate[bool](`document.querySelectorAll("main script, main img").length > 0`)) {
		t.Error("the hostile finding's markup became elements")
	}
	b.shot(t, "detail")
	b.clean(t)

	// The rules and channels pages load without problems.
	b.do(t, chromedp.Navigate(srv.URL+"/rules"), chromedp.WaitVisible(chromedp.ID("rules")))
	if n := run(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#rules tbody tr").length`)); n != len(cat.Rules) {
		t.Errorf("rules page: %d rows for %d rules", n, len(cat.Rules))
	}
	b.shot(t, "rules")
	b.do(t, chromedp.Navigate(srv.URL+"/channels"), chromedp.WaitVisible(chromedp.ID("channels")))
	b.shot(t, "channels")
	b.clean(t)

	// Phone width: nothing wider than the screen.
	b.do(t, chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/findings"), chromedp.WaitVisible(chromedp.ID("findings")))
	if run(t, b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
		t.Error("the feed is wider than a phone's screen")
	}
	b.shot(t, "feed-phone")

	// Keyboard: the first Tab reaches the skip link, which shows.
	b.do(t, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("risk-counts")),
		chromedp.KeyEvent("\t"))
	focused := run(t, b, chromedp.Evaluate[string](`document.activeElement.className + ":" + Math.round(document.activeElement.getBoundingClientRect().left)`))
	if !strings.HasPrefix(focused, "skip:") || strings.HasPrefix(focused, "skip:-") {
		t.Errorf("first Tab focused %q, want the visible skip link", focused)
	}
	b.clean(t)
}

// Acknowledge, then resolve with a note, from the page: the change goes
// through the API (same origin, JSON) and the page shows the new status and
// history.
func TestTriageInABrowser(t *testing.T) {
	st := exampleStore(t)
	all, err := st.Findings(context.Background(), storeAll())
	if err != nil {
		t.Fatal(err)
	}
	id := all[len(all)-1].ID
	pages, err := New(Options{Store: st, Outbox: st, Now: func() time.Time { return now }, Who: api.Who, APIPath: api.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Store: st, Now: func() time.Time { return now }, Pages: pages})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(srv.URL+"/findings/"+id), chromedp.WaitVisible(chromedp.ID("triage-form")))
	b.do(t, chromedp.SendKeys(chromedp.ID("note"), "paged the platform team"))
	b.load(t, chromedp.Click(chromedp.CSS(`button[value="acknowledge"]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("history")))
	if s := run(t, b, chromedp.TextContent(chromedp.ID("status"))); s != "acknowledged" {
		t.Fatalf("status after acknowledge: %q", s)
	}
	b.do(t, chromedp.SendKeys(chromedp.ID("note"), "endpoint closed again"))
	b.load(t, chromedp.Click(chromedp.CSS(`button[value="resolve"]`), chromedp.NodeVisible))
	b.do(t, chromedp.WaitVisible(chromedp.ID("history")))
	if s := run(t, b, chromedp.TextContent(chromedp.ID("status"))); s != "resolved" {
		t.Errorf("status after resolve: %q", s)
	}
	hist := run(t, b, chromedp.Text(chromedp.ID("history")))
	if !strings.Contains(hist, "open → acknowledged — paged the platform team") || !strings.Contains(hist, "acknowledged → resolved — endpoint closed again") {
		t.Errorf("history: %q", hist)
	}
	b.shot(t, "triage")
	b.clean(t)
	// The store agrees.
	h, err := st.History(context.Background(), id)
	if err != nil || len(h) != 2 || h[1].To != store.StatusResolved || h[1].Note != "endpoint closed again" {
		t.Errorf("stored history %+v, %v", h, err)
	}
}
