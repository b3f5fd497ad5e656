package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/store"
)

// feedQuery is the feed's filter, read from and written to the URL so a
// view can be shared or bookmarked.
type feedQuery struct {
	Risk    string // minimum risk
	Rule    string
	Account string
	Region  string
	Actor   string
	Outcome string
	Service string // the rule's service (eks, iam)
	Method  string // the access method (console, terraform)
	Status  string
	Text    string // q: summary, actor, resource or event name contains it
	Silence string // the findings one silence silenced
	Since   string // a duration ago (24h, 7d) or a date
	Limit   int
	// After and Before are keyset cursors (store.Cursor): the page after
	// (older than) or before (newer than) a finding.
	After, Before string
}

var feedParams = []string{"risk", "rule", "account", "region", "actor", "outcome", "service", "method", "status", "q", "silence", "since", "limit", "after", "before"}

// maxFilterText bounds a filter's value.
const maxFilterText = 256

// parseFeed reads a feed query; an unknown parameter or a bad value is an
// error naming it.
func parseFeed(q url.Values, now time.Time) (feedQuery, store.Query, error) {
	var fq feedQuery
	var f store.Query
	for k := range q {
		if !slices.Contains(feedParams, k) {
			return fq, f, fmt.Errorf("unknown filter %s (filters: %s)", printable.Quote(k), strings.Join(feedParams, ", "))
		}
		if len(q[k]) > 1 {
			return fq, f, fmt.Errorf("filter %s given %d times", k, len(q[k]))
		}
		if len(q.Get(k)) > maxFilterText {
			return fq, f, fmt.Errorf("filter %s is longer than %d bytes", k, maxFilterText)
		}
	}
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	fq.Risk, fq.Rule, fq.Account, fq.Region = get("risk"), get("rule"), get("account"), get("region")
	fq.Actor, fq.Outcome, fq.Since, fq.Status, fq.Text = get("actor"), get("outcome"), get("since"), get("status"), get("q")
	fq.After, fq.Before, fq.Silence = get("after"), get("before"), get("silence")
	fq.Service, fq.Method = get("service"), get("method")
	if fq.Service != "" {
		f.Services = []string{fq.Service}
	}
	if fq.Method != "" {
		f.Methods = []string{fq.Method}
	}
	f.SilencedBy = fq.Silence
	if fq.Risk != "" {
		r, err := finding.ParseRisk(fq.Risk)
		if err != nil {
			return fq, f, fmt.Errorf("risk: %v", err)
		}
		fq.Risk, f.MinRisk = r.String(), r
	}
	if fq.Rule != "" {
		f.Rules = []string{fq.Rule}
	}
	if fq.Account != "" {
		f.Accounts = []string{fq.Account}
	}
	if fq.Region != "" {
		f.Regions = []string{fq.Region}
	}
	f.Actor, f.Text = fq.Actor, fq.Text
	if fq.Outcome != "" {
		if !slices.Contains(outcomes, fq.Outcome) {
			return fq, f, fmt.Errorf("outcome %s is not one of %s", printable.Quote(fq.Outcome), strings.Join(outcomes, ", "))
		}
		f.Outcomes = []string{fq.Outcome}
	}
	if fq.Status != "" {
		if !slices.Contains(store.Statuses, fq.Status) {
			return fq, f, fmt.Errorf("status %s is not one of %s", printable.Quote(fq.Status), strings.Join(store.Statuses, ", "))
		}
		f.Statuses = []string{fq.Status}
	}
	if fq.Since != "" {
		t, err := when(fq.Since, now)
		if err != nil {
			return fq, f, fmt.Errorf("since: %v", err)
		}
		f.Since = t
	}
	fq.Limit = 100
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return fq, f, fmt.Errorf("limit %s is not a number from 1 to 1000", printable.Quote(v))
		}
		fq.Limit = n
	}
	if fq.After != "" && fq.Before != "" {
		return fq, f, fmt.Errorf("give after or before, not both")
	}
	for _, c := range []struct{ name, v string }{{"after", fq.After}, {"before", fq.Before}} {
		if c.v == "" {
			continue
		}
		cur, err := store.ParseCursor(c.v)
		if err != nil {
			return fq, f, fmt.Errorf("%s: %s is not a position this server gave", c.name, printable.Quote(c.v))
		}
		f.After = &cur
		f.Oldest = c.name == "before" // newer ones: walk back up, then turn around
	}
	f.Limit = fq.Limit + 1 // one more says whether there are more
	return fq, f, nil
}

// when reads a duration ago, a date or an RFC 3339 time.
func when(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := duration.Parse(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s is not a time (a duration ago such as 24h or 7d, or a date such as 2026-11-20)", printable.Quote(s))
}

// filters are the query's filters by parameter name, in the URL's order
// (not the page size or the position).
func (q feedQuery) filters() []struct{ k, v string } {
	return []struct{ k, v string }{{"risk", q.Risk}, {"rule", q.Rule}, {"account", q.Account}, {"region", q.Region},
		{"actor", q.Actor}, {"outcome", q.Outcome}, {"service", q.Service}, {"method", q.Method}, {"status", q.Status}, {"q", q.Text}, {"silence", q.Silence}, {"since", q.Since}}
}

// with returns the feed's link for this query's filters (and page size)
// with one parameter changed ("" removes it). The position is dropped.
func (q feedQuery) with(key, value string) url.Values {
	v := url.Values{}
	for _, x := range q.filters() {
		if x.v != "" {
			v.Set(x.k, x.v)
		}
	}
	if q.Limit != 100 && q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if value == "" {
		v.Del(key)
	} else {
		v.Set(key, value)
	}
	return v
}

// export is the API's export link of the query's filters, in format.
// Times are absolute there (the API takes no durations ago).
func (q feedQuery) export(api, format string, since time.Time) string {
	v := url.Values{}
	set := func(k, x string) {
		if x != "" {
			v.Set(k, x)
		}
	}
	set("min_risk", q.Risk)
	set("rule", q.Rule)
	set("account", q.Account)
	set("region", q.Region)
	set("actor", q.Actor)
	set("outcome", q.Outcome)
	set("service", q.Service)
	set("method", q.Method)
	set("status", q.Status)
	set("q", q.Text)
	if !since.IsZero() {
		v.Set("since", since.UTC().Format(time.RFC3339))
	}
	v.Set("format", format)
	return api + "/findings/export?" + v.Encode()
}

type feedPage struct {
	Query    feedQuery
	Error    string
	Findings []store.Triaged
	Risks    []finding.Risk
	Outcomes []string
	Statuses []string
	// Active lists the filters in use, each with the link that drops it.
	Active []activeFilter
	// Newer and Older link the neighbouring pages ("" when there is none);
	// First says this is the newest page (where live findings appear).
	Newer, Older string
	First        bool
	// Triaged says the store keeps statuses (the status column and
	// filter); CanTriage shows the bulk actions; API is the API's prefix
	// under the base path ("" when the pages are served without it), for
	// exports, the live feed and the bulk actions.
	Triaged    bool
	CanTriage  bool
	API        string
	CSV, JSONL string
	// Live is the filter the page's script applies to live findings.
	Live liveFilter
}

// liveFilter is the page's filter as its script applies it to a finding
// arriving on the live feed.
type liveFilter struct {
	MinRisk string
	Rule    string
	Account string
	Region  string
	Actor   string
	Outcome string
	Service string
	Method  string
	Status  string
	Text    string
	Silence string
	SinceMS int64
}

type activeFilter struct {
	Name, Value, Drop string
}

func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	page := feedPage{Risks: risks, Outcomes: outcomes, Statuses: store.Statuses}
	fq, q, err := parseFeed(r.URL.Query(), s.opts.Now())
	page.Query = fq
	tr, triaged := s.opts.Store.(store.Triage)
	page.Triaged = triaged
	if err == nil && !triaged && (fq.Status != "" || fq.Text != "" || fq.Silence != "" || q.After != nil) {
		err = fmt.Errorf("this store keeps no statuses: status, q, silence, after and before are not available")
	}
	if err != nil {
		page.Error = err.Error()
		s.render(w, r, http.StatusBadRequest, "feed", page)
		return
	}
	var list []store.Triaged
	more := false
	if triaged {
		list, err = tr.Page(r.Context(), q)
		if err != nil {
			s.storeErr(w, r, err)
			return
		}
		more = len(list) > fq.Limit
		if more {
			list = list[:fq.Limit]
		}
		if fq.Before != "" {
			slices.Reverse(list)
			if !more {
				// Nothing newer than these: this is the first page.
				q.After, q.Oldest, fq.Before = nil, false, ""
				page.Query = fq
				if list, err = tr.Page(r.Context(), q); err != nil {
					s.storeErr(w, r, err)
					return
				}
				more = len(list) > fq.Limit
				if more {
					list = list[:fq.Limit]
				}
			}
		}
	} else {
		fs, err := s.opts.Store.Findings(r.Context(), q.Filter)
		if err != nil {
			s.storeErr(w, r, err)
			return
		}
		for _, f := range fs {
			list = append(list, store.Triaged{Finding: f})
		}
		more = len(list) > fq.Limit
		if more {
			list = list[:fq.Limit]
		}
	}
	page.Findings = list
	link := func(k, v string) string { return s.base + "/findings?" + fq.with(k, v).Encode() }
	cursor := func(t store.Triaged) string { return store.Cursor{EventTime: t.EventTime, ID: t.ID}.String() }
	page.First = fq.After == "" && fq.Before == ""
	if len(list) > 0 && triaged {
		switch {
		case fq.Before != "":
			page.Newer = link("before", cursor(list[0]))
			page.Older = link("after", cursor(list[len(list)-1]))
		case fq.After != "":
			page.Newer = link("before", cursor(list[0]))
			if more {
				page.Older = link("after", cursor(list[len(list)-1]))
			}
		case more:
			page.Older = link("after", cursor(list[len(list)-1]))
		}
	}
	for _, a := range fq.filters() {
		if a.v != "" {
			page.Active = append(page.Active, activeFilter{a.k, a.v, link(a.k, "")})
		}
	}
	if s.opts.APIPath != "" && triaged {
		page.API = s.base + s.opts.APIPath
		if fq.Silence == "" { // the API's export has no silence filter: no link that would export more than the page shows
			page.CSV, page.JSONL = fq.export(page.API, "csv", q.Since), fq.export(page.API, "jsonl", q.Since)
		}
		page.CanTriage = s.mayTriage(r)
		page.Live = liveFilter{MinRisk: fq.Risk, Rule: fq.Rule, Account: fq.Account, Region: fq.Region, Actor: fq.Actor,
			Outcome: fq.Outcome, Service: fq.Service, Method: fq.Method, Status: fq.Status, Text: fq.Text, Silence: fq.Silence}
		if !q.Since.IsZero() {
			page.Live.SinceMS = q.Since.UnixMilli()
		}
	}
	s.render(w, r, http.StatusOK, "feed", page)
}
