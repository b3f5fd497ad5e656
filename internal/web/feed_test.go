package web

import (
	"context"
	"encoding/csv"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

var (
	rowID     = regexp.MustCompile(`<tr data-id="([^"]+)"`)
	olderLink = regexp.MustCompile(`id="older" rel="next" href="([^"]+)"`)
	newerLink = regexp.MustCompile(`id="newer" rel="prev" href="([^"]+)"`)
)

func ids(body string) []string {
	var out []string
	for _, m := range rowID.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// apiServer serves the pages behind the API, as trailwatch ui does.
func apiServer(t *testing.T, st store.Full, o Options) *httptest.Server {
	t.Helper()
	o.Store, o.Outbox, o.APIPath = st, st, api.Prefix
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	if o.Who == nil {
		o.Who = api.Who
	}
	pages, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Store: st, Now: o.Now, Pages: pages, StreamPoll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

// Keyset paging: following "older" from the first page visits every
// finding the filter selects once, newest first, and "newer" walks back
// to the same pages; every link keeps the filters.
func TestFeedPaging(t *testing.T) {
	st := exampleStore(t)
	srv := newServer(t, st, "")
	all, err := st.Page(context.Background(), store.Query{Filter: store.Filter{MinRisk: finding.Medium}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range all {
		want = append(want, f.ID)
	}
	if len(want) < 7 {
		t.Fatalf("only %d findings at MEDIUM or above", len(want))
	}
	var got []string
	var pages [][]string
	next := "/findings?risk=MEDIUM&limit=3"
	for next != "" {
		code, _, body := get(t, srv.URL+next)
		if code != 200 {
			t.Fatalf("%s: %d %.300s", next, code, body)
		}
		page := ids(body)
		if len(page) == 0 || len(page) > 3 {
			t.Fatalf("%s: %d rows", next, len(page))
		}
		pages = append(pages, page)
		got = append(got, page...)
		next = ""
		if m := olderLink.FindStringSubmatch(body); m != nil {
			next = html.UnescapeString(m[1])
			u, _ := url.Parse(next)
			if u.Query().Get("risk") != "MEDIUM" || u.Query().Get("limit") != "3" || u.Query().Get("after") == "" {
				t.Fatalf("older link %s drops the filters", next)
			}
		}
		if len(pages) > 1 != newerLink.MatchString(body) {
			t.Errorf("page %d: a newer link %v", len(pages), newerLink.MatchString(body))
		}
		if len(pages) > 100 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages visited %v, want %v", got, want)
	}
	// Back up from the last page.
	_, _, body := get(t, srv.URL+"/findings?risk=MEDIUM&limit=3&after="+url.QueryEscape(store.Cursor{EventTime: all[len(all)-1].EventTime, ID: all[len(all)-1].ID}.String()))
	if len(ids(body)) != 0 {
		t.Errorf("after the last finding: %v", ids(body))
	}
	for i := len(pages) - 1; i > 0; i-- {
		m := newerLink.FindStringSubmatch(getBody(t, srv.URL+pageURL(pages, i, all)))
		if m == nil {
			t.Fatalf("page %d has no newer link", i)
		}
		_, _, prev := get(t, srv.URL+html.UnescapeString(m[1]))
		if !slices.Equal(ids(prev), pages[i-1]) {
			t.Errorf("newer than page %d: %v, want %v", i, ids(prev), pages[i-1])
		}
	}
	// A cursor that this server did not give is a clear error.
	code, _, body := get(t, srv.URL+"/findings?after=nonsense")
	if code != 400 || !strings.Contains(body, "after: &#34;nonsense&#34; is not a position") {
		t.Errorf("bad cursor: %d %.300s", code, body)
	}
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	_, _, b := get(t, u)
	return b
}

// cursorOf is the cursor of finding id.
func cursorOf(all []store.Triaged, id string) string {
	for _, f := range all {
		if f.ID == id {
			return store.Cursor{EventTime: f.EventTime, ID: f.ID}.String()
		}
	}
	return ""
}

// pageURL is the URL of page i: after the last finding of page i-1.
func pageURL(pages [][]string, i int, all []store.Triaged) string {
	prev := pages[i-1]
	return "/findings?risk=MEDIUM&limit=3&after=" + url.QueryEscape(cursorOf(all, prev[len(prev)-1]))
}

// The export links carry the page's filters to the API's export, which
// answers every matching finding (not one page).
func TestFeedExportLinks(t *testing.T) {
	st := exampleStore(t)
	srv := apiServer(t, st, Options{})
	code, _, body := get(t, srv.URL+"/findings?risk=HIGH&since=30d&limit=2")
	if code != 200 {
		t.Fatalf("feed: %d", code)
	}
	m := regexp.MustCompile(`id="export-csv" href="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSV export link: %.2000s", body)
	}
	link := html.UnescapeString(m[1])
	u, _ := url.Parse(link)
	if u.Path != "/api/v1/findings/export" || u.Query().Get("min_risk") != "HIGH" || u.Query().Get("format") != "csv" ||
		u.Query().Get("since") != now.Add(-30*24*time.Hour).Format(time.RFC3339) {
		t.Errorf("export link %s", link)
	}
	resp, err := http.Get(srv.URL + link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %d %v", resp.StatusCode, err)
	}
	want, _ := st.Page(context.Background(), store.Query{Filter: store.Filter{MinRisk: finding.High, Since: now.Add(-30 * 24 * time.Hour)}})
	if len(rows)-1 != len(want) || len(want) <= 2 {
		t.Errorf("export: %d rows, want %d (more than a page)", len(rows)-1, len(want))
	}
	if !strings.Contains(body, `id="export-jsonl"`) {
		t.Error("no JSON lines export link")
	}
	// Without the API, the pages offer no export, live feed or bulk actions.
	_, _, body = get(t, newServer(t, st, "").URL+"/findings")
	for _, x := range []string{"export-csv", `id="live"`, `id="bulk"`} {
		if strings.Contains(body, x) {
			t.Errorf("served without the API, the feed has %s", x)
		}
	}
}

// Bulk selection and its actions are there for responders and admins,
// never for viewers; the live feed is on the first page only.
func TestFeedBulkFollowsTheRole(t *testing.T) {
	st := exampleStore(t)
	for role, want := range map[string]bool{store.RoleViewer: false, store.RoleResponder: true, store.RoleAdmin: true} {
		s, err := New(Options{Store: st, Now: func() time.Time { return now }, APIPath: "/api/v1",
			Who: func(*http.Request) (string, string, bool) { return "someone", role, true }})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		_, _, body := get(t, srv.URL+"/findings?limit=2")
		srv.Close()
		for _, x := range []string{`id="bulk"`, `id="select-all"`, `class="pick"`, `value="silence"`} {
			if strings.Contains(body, x) != want {
				t.Errorf("%s: %s shown %v, want %v", role, x, !want, want)
			}
		}
		if !strings.Contains(body, `data-stream="/api/v1/stream"`) {
			t.Errorf("%s: the first page does not subscribe to the live feed", role)
		}
	}
}

// The feed filters by service and access method, like every other
// filter: in the URL, the rows, the export link and the live filter; the
// overview's access methods link to it.
func TestFeedServiceAndMethod(t *testing.T) {
	st := exampleStore(t)
	ctx := context.Background()
	all, err := st.Findings(ctx, storeAll())
	if err != nil || len(all) < 3 {
		t.Fatalf("example findings: %d, %v", len(all), err)
	}
	counts := map[[2]string]int{}
	for _, f := range all {
		counts[[2]string{f.Service, f.AccessMethod}]++
	}
	var pick [2]string
	for k, n := range counts {
		if n < len(all) {
			pick = k
			break
		}
	}
	if pick == ([2]string{}) {
		t.Fatalf("the example findings have one service and method only: %v", counts)
	}
	srv := apiServer(t, st, Options{})
	q := url.Values{"service": {pick[0]}, "method": {pick[1]}, "limit": {"500"}}
	code, _, body := get(t, srv.URL+"/findings?"+q.Encode())
	if code != 200 {
		t.Fatalf("feed: %d %.500s", code, body)
	}
	got := ids(body)
	if len(got) != counts[pick] {
		t.Errorf("service %s, method %s: %d rows, want %d", pick[0], pick[1], len(got), counts[pick])
	}
	for _, id := range got {
		f, err := st.Finding(ctx, id)
		if err != nil || f.Service != pick[0] || f.AccessMethod != pick[1] {
			t.Errorf("row %s: %s/%s, %v", id, f.Service, f.AccessMethod, err)
		}
	}
	for _, want := range []string{`data-service="` + pick[0] + `"`, `data-method="` + pick[1] + `"`, "service=" + pick[0], "method=" + pick[1]} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	_, _, body = get(t, srv.URL+"/")
	if !strings.Contains(html.UnescapeString(body), "/findings?method="+url.QueryEscape(all[0].AccessMethod)) &&
		!strings.Contains(html.UnescapeString(body), "method="+url.QueryEscape(all[0].AccessMethod)) {
		t.Errorf("the overview's access methods do not link to the feed")
	}
}
