package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/store"
)

// risks in order, for filters, legends and counts.
var risks = []finding.Risk{finding.Low, finding.Medium, finding.High, finding.VeryHigh, finding.Extreme}

// outcomes a finding can have.
var outcomes = []string{"success", "denied", "failed"}

// windows the overview offers, with their label.
var windows = []struct{ Key, Label string }{{"24h", "24 hours"}, {"7d", "7 days"}, {"30d", "30 days"}, {"all", "all time"}}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"risk":      func(r finding.Risk) string { return r.String() },
		"riskClass": func(r finding.Risk) string { return "risk-" + strings.ToLower(r.String()) },
		"when":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"short":     func(id string) string { return shortID(id) },
		"line":      printable.Line,
		"join":      strings.Join,
		"yesno": func(b bool) string {
			if b {
				return "yes"
			}
			return "no"
		},
		"plural": plural,
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
		"pct": func(n, total int) int {
			if total == 0 {
				return 0
			}
			return n * 100 / total
		},
	}
}

// quote quotes untrusted text for a message.
func quote(s string) string { return printable.Quote(s) }

// plural is "1 finding", "2 findings".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// shortID is a finding id as tables show it (as the CLI does).
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

type detailPage struct {
	F       finding.Finding
	Changes []change
	Raw     string
	Console string // a link to the resource in the AWS console, when one can be built
	// Triage, when the store keeps it: the status, its history, the
	// deliveries, and whether this user may change the status (and
	// where the API takes the change).
	Triaged    bool
	Status     string
	SilencedBy string
	History    []store.Change
	Deliveries []deliveryRow
	CanTriage  bool
	Action     string
	// Admin shows the deliveries' retry buttons; API is the API's prefix
	// under the base path (for silence similar); Silence pre-fills it.
	Admin   bool
	API     string
	Silence silenceForm
	// Repeats are the other findings of its fingerprint (the newest
	// maxRepeats), RepeatCount how many there are in all (at most
	// maxRepeats+1 counted), First and Last when the fingerprint was first
	// and last seen.
	Repeats     []store.Triaged
	RepeatCount int
	RepeatsMore bool
	First, Last time.Time
}

// maxRepeats bounds the repeats a finding's page lists.
const maxRepeats = 20

// silenceForm is "silence similar" pre-filled from a finding: its rule,
// account, region, actor, resource and service, at most its risk, for a
// day.
type silenceForm struct {
	Rule, Account, Region, Actor, Resource, Service, MaxRisk, Duration string
	Risks                                                              []finding.Risk
}

type change struct {
	Path, Value string
}

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, http.StatusBadRequest, "a finding's page takes no parameters")
		return
	}
	id := r.PathValue("id")
	f, err := s.opts.Store.Finding(r.Context(), id)
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	p := detailPage{F: f, Changes: flatten("", f.Changes, nil), Console: consoleLink(f)}
	if tr, ok := s.opts.Store.(store.Triage); ok {
		t, err := tr.Triaged(r.Context(), id)
		if err != nil {
			s.storeErr(w, r, err)
			return
		}
		if p.History, err = tr.History(r.Context(), id); err != nil {
			s.storeErr(w, r, err)
			return
		}
		p.Triaged, p.Status, p.SilencedBy = true, t.Status, t.SilencedBy
		if f.Fingerprint != "" {
			reps, err := tr.Page(r.Context(), store.Query{Fingerprint: f.Fingerprint, Filter: store.Filter{Limit: maxRepeats + 2}})
			if err != nil {
				s.storeErr(w, r, err)
				return
			}
			p.First, p.Last = f.EventTime, f.EventTime
			for _, x := range reps {
				if x.EventTime.Before(p.First) {
					p.First = x.EventTime
				}
				if x.EventTime.After(p.Last) {
					p.Last = x.EventTime
				}
				if x.ID != id {
					p.Repeats = append(p.Repeats, x)
				}
			}
			if len(p.Repeats) > maxRepeats {
				p.Repeats, p.RepeatsMore = p.Repeats[:maxRepeats], true
			}
			if p.RepeatsMore {
				// The oldest is further back than the page read.
				oldest, err := tr.Page(r.Context(), store.Query{Fingerprint: f.Fingerprint, Oldest: true, Filter: store.Filter{Limit: 1}})
				if err != nil {
					s.storeErr(w, r, err)
					return
				}
				if len(oldest) == 1 {
					p.First = oldest[0].EventTime
				}
			}
		}
		p.CanTriage = s.mayTriage(r)
		p.Action = s.base + s.opts.APIPath + "/findings/" + url.PathEscape(id) + "/"
		p.API = s.base + s.opts.APIPath
		act := f.Actor.ARN
		if act == "" {
			act = f.Actor.Name
		}
		res := f.Resource.ARN
		if res == "" {
			res = f.Resource.Name
		}
		p.Silence = silenceForm{Rule: f.RuleID, Account: f.AccountID, Region: f.Region, Actor: act, Resource: res, Service: f.Service,
			MaxRisk: f.Risk.String(), Duration: "24h", Risks: risks}
	}
	if s.opts.Outbox != nil {
		var err error
		ds, err := s.opts.Outbox.Deliveries(r.Context(), store.OutboxFilter{Findings: []string{id}})
		if err != nil {
			s.storeErr(w, r, err)
			return
		}
		p.Admin = s.mayAdmin(r)
		for _, d := range ds {
			p.Deliveries = append(p.Deliveries, s.deliveryRow(r, d, p.Admin))
		}
	}
	if len(f.Raw) > 0 {
		var b bytes.Buffer
		if json.Indent(&b, f.Raw, "", "  ") == nil {
			p.Raw = b.String()
		} else {
			p.Raw = string(f.Raw)
		}
	}
	s.render(w, r, http.StatusOK, "detail", p)
}

// flatten turns the request parameters a rule kept into readable
// path/value lines, keys in order.
func flatten(prefix string, v any, out []change) []change {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = flatten(p, x[k], out)
		}
	case []any:
		if len(x) == 0 {
			out = append(out, change{prefix, "[]"})
		}
		for i, e := range x {
			out = flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	case string:
		if u, err := url.QueryUnescape(x); err == nil && u != x && strings.ContainsAny(x, "%") {
			x = u // URL-encoded policy documents, as IAM logs them
		}
		out = append(out, change{prefix, x})
	case nil:
		out = append(out, change{prefix, "null"})
	default:
		b, _ := json.Marshal(x)
		out = append(out, change{prefix, string(b)})
	}
	return out
}

// consoleLink builds a link to the resource in the AWS console for the
// resources whose console address is well known.
func consoleLink(f finding.Finding) string {
	region := f.Region
	if region == "" || f.Resource.Name == "" {
		return ""
	}
	name := url.PathEscape(f.Resource.Name)
	switch f.EventSource {
	case "eks.amazonaws.com":
		cluster, _, _ := strings.Cut(f.Resource.Name, "/")
		return fmt.Sprintf("https://%s.console.aws.amazon.com/eks/home?region=%s#/clusters/%s", region, url.QueryEscape(region), url.PathEscape(cluster))
	case "cloudtrail.amazonaws.com":
		return fmt.Sprintf("https://%s.console.aws.amazon.com/cloudtrailv2/home?region=%s#/trails", region, url.QueryEscape(region))
	case "s3.amazonaws.com":
		return "https://s3.console.aws.amazon.com/s3/buckets/" + name
	}
	return ""
}

type overviewPage struct {
	Window    string
	Windows   []struct{ Key, Label string }
	Total     int
	Truncated bool
	Max       int
	ByRisk    []riskCount
	Top       []topList
	Chart     chart
	FeedSince string
	// Channels is each channel's health, when the outbox is known.
	Channels []channelRow
	// Trails are the monitored accounts and regions, silent ones first
	// (TrailsKnown: this server knows them); Silent counts those silent.
	Trails      []trailRow
	TrailsKnown bool
	Silent      int
}

type trailRow struct {
	Trail
	Ago  string // how long since the last event
	Feed string // the account and region's findings
}

type riskCount struct {
	Risk  finding.Risk
	Count int
	Link  string
	// Open counts those still open (Triaged: the store keeps statuses);
	// OpenLink is the feed of the open ones.
	Open     int
	Triaged  bool
	OpenLink string
}

type topList struct {
	Title string
	Rows  []topRow
}

type topRow struct {
	Name  string
	Count int
	Link  string
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "window" {
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown parameter %s (the overview takes window)", printable.Quote(k)))
			return
		}
	}
	win := q.Get("window")
	if win == "" {
		win = "30d"
	}
	ok := false
	for _, x := range windows {
		ok = ok || x.Key == win
	}
	if !ok {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("window %s is not one of 24h, 7d, 30d, all", printable.Quote(win)))
		return
	}
	now := s.opts.Now()
	var f store.Filter
	since := ""
	if win != "all" {
		d, _ := duration.Parse(win)
		f.Since, since = now.Add(-d), win
	}
	counts := map[finding.Risk]int{}
	rules, actors, accounts, methods := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	var points []point
	open := map[finding.Risk]int{}
	_, triaged := s.opts.Store.(store.Triage)
	truncated, err := s.each(r, f, func(f finding.Finding, status string) {
		counts[f.Risk]++
		if status == store.StatusOpen {
			open[f.Risk]++
		}
		rules[f.RuleID]++
		actors[actorName(f)]++
		accounts[f.AccountID]++
		methods[f.AccessMethod]++
		points = append(points, point{f.EventTime, f.Risk})
	})
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	p := overviewPage{Window: win, Windows: windows, Max: s.opts.MaxScan, FeedSince: since, Truncated: truncated, Total: len(points)}
	feedLink := func(k, v string) string {
		fq := feedQuery{Since: since, Limit: 100}
		return s.base + "/findings?" + fq.with(k, v).Encode()
	}
	for i := len(risks) - 1; i >= 0; i-- {
		rk := risks[i]
		rc := riskCount{Risk: rk, Count: counts[rk], Link: feedLink("risk", rk.String())}
		if triaged {
			rc.Open, rc.Triaged = open[rk], true
			v := feedQuery{Since: since, Limit: 100, Status: store.StatusOpen}.with("risk", rk.String())
			rc.OpenLink = s.base + "/findings?" + v.Encode()
		}
		p.ByRisk = append(p.ByRisk, rc)
	}
	p.Top = []topList{
		top("Rules", rules, func(k string) string { return feedLink("rule", k) }),
		top("Actors", actors, func(k string) string { return feedLink("actor", k) }),
		top("Accounts", accounts, func(k string) string { return feedLink("account", k) }),
		top("Access methods", methods, func(k string) string { return feedLink("method", k) }),
	}
	p.Chart = riskChart(points, now, win)
	if s.opts.Outbox != nil {
		if p.Channels, err = s.channelRows(r.Context()); err != nil {
			s.storeErr(w, r, err)
			return
		}
	}
	if s.opts.Trails != nil {
		p.TrailsKnown = true
		for _, t := range s.opts.Trails() {
			row := trailRow{Trail: t, Feed: s.base + "/findings?" + url.Values{"account": {t.Account}, "region": {t.Region}}.Encode()}
			if !t.LastEvent.IsZero() {
				row.Ago = untilWords(t.LastEvent, now)
			}
			if t.State == "silent" {
				p.Silent++
			}
			p.Trails = append(p.Trails, row)
		}
		sort.SliceStable(p.Trails, func(i, j int) bool {
			a, b := p.Trails[i], p.Trails[j]
			if (a.State == "silent") != (b.State == "silent") {
				return a.State == "silent"
			}
			if a.Account != b.Account {
				return a.Account < b.Account
			}
			return a.Region < b.Region
		})
	}
	s.render(w, r, http.StatusOK, "overview", p)
}

// actorName is how the overview names an actor: its ARN when it has one
// (what the feed's actor filter matches), else its readable name.
func actorName(f finding.Finding) string {
	if f.Actor.ARN != "" {
		return f.Actor.ARN
	}
	if f.Actor.Name != "" {
		return f.Actor.Name
	}
	return f.Actor.Type
}

// top returns the five largest counts, largest first, ties by name.
func top(title string, m map[string]int, link func(string) string) topList {
	t := topList{Title: title}
	for k, n := range m {
		if k == "" {
			continue
		}
		t.Rows = append(t.Rows, topRow{k, n, link(k)})
	}
	sort.Slice(t.Rows, func(i, j int) bool {
		if t.Rows[i].Count != t.Rows[j].Count {
			return t.Rows[i].Count > t.Rows[j].Count
		}
		return t.Rows[i].Name < t.Rows[j].Name
	})
	if len(t.Rows) > 5 {
		t.Rows = t.Rows[:5]
	}
	return t
}

// mayTriage says whether the signed-in user may change a finding's
// status: a responder or an admin (everyone on a server that asks nobody to
// sign in), and only where the API takes the change.
func (s *Server) mayTriage(r *http.Request) bool {
	if s.opts.APIPath == "" {
		return false
	}
	if s.opts.Who == nil {
		return true
	}
	_, role, ok := s.opts.Who(r)
	return ok && store.RoleAtLeast(role, store.RoleResponder)
}

// errEnough stops a scan at Options.MaxScan findings.
var errEnough = errors.New("enough findings")

// each calls fn with the findings f selects, newest first, at most
// MaxScan of them (truncated says whether there were more). A store that
// keeps triage state streams them, so memory does not grow with MaxScan;
// another one lists them.
func (s *Server) each(r *http.Request, f store.Filter, fn func(f finding.Finding, status string)) (truncated bool, err error) {
	if tr, ok := s.opts.Store.(store.Triage); ok {
		n := 0
		err := tr.Each(r.Context(), store.Query{Filter: f}, func(t store.Triaged) error {
			if n == s.opts.MaxScan {
				truncated = true
				return errEnough
			}
			n++
			fn(t.Finding, t.Status)
			return nil
		})
		if errors.Is(err, errEnough) {
			err = nil
		}
		return truncated, err
	}
	f.Limit = s.opts.MaxScan + 1
	list, err := s.opts.Store.Findings(r.Context(), f)
	if err != nil {
		return false, err
	}
	if len(list) > s.opts.MaxScan {
		list, truncated = list[:s.opts.MaxScan], true
	}
	for _, x := range list {
		fn(x, "")
	}
	return truncated, nil
}
