package api

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

const (
	defaultPage = 50
	maxPage     = 500
	maxText     = 256
	maxValues   = 50
)

var outcomes = []string{"success", "denied", "failed"}

// parseWhen reads a time parameter: RFC 3339 or a date (UTC).
func parseWhen(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, badParam(field, "%s: %q is not a time (2026-11-20T10:00:00Z) or a date (2026-11-20)", field, clip(s))
}

// clip shortens a value echoed in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// parseQuery reads the filters of GET /findings and its export.
func parseQuery(v url.Values) (store.Query, error) {
	var q store.Query
	for name, vals := range v {
		if len(vals) > maxValues {
			return q, badParam(name, "%s: at most %d values", name, maxValues)
		}
		for _, s := range vals {
			if len(s) > maxText {
				return q, badParam(name, "%s: a value is longer than %d bytes", name, maxText)
			}
		}
	}
	if s := v.Get("min_risk"); s != "" {
		r, err := finding.ParseRisk(s)
		if err != nil {
			return q, badParam("min_risk", "min_risk: %v", err)
		}
		q.MinRisk = r
	}
	q.Rules, q.Accounts, q.Regions, q.Outcomes = v["rule"], v["account"], v["region"], v["outcome"]
	q.Services, q.Methods = v["service"], v["method"]
	for _, o := range q.Outcomes {
		if !slices.Contains(outcomes, o) {
			return q, badParam("outcome", "outcome: %q is not success, denied or failed", clip(o))
		}
	}
	for _, c := range v["control"] {
		if _, err := store.ParseControl(c); err != nil {
			return q, badParam("control", "control: %v", err)
		}
	}
	q.Controls = v["control"]
	q.Actor, q.Text = v.Get("actor"), v.Get("q")
	var err error
	if s := v.Get("since"); s != "" {
		if q.Since, err = parseWhen("since", s); err != nil {
			return q, err
		}
	}
	if s := v.Get("until"); s != "" {
		if q.Until, err = parseWhen("until", s); err != nil {
			return q, err
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, badParam("since", "since must be before until")
	}
	q.Statuses = v["status"]
	if err := store.CheckStatuses(q.Statuses); err != nil {
		return q, badParam("status", "%s", strings.TrimPrefix(err.Error(), "invalid "))
	}
	switch s := v.Get("sort"); s {
	case "", "newest":
	case "oldest":
		q.Oldest = true
	default:
		return q, badParam("sort", "sort: %q is not newest or oldest", clip(s))
	}
	return q, nil
}

type findingsPage struct {
	Findings   []store.Triaged `json:"findings"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

func (s *Server) listFindings(w http.ResponseWriter, r *http.Request, _ principal) error {
	v := r.URL.Query()
	q, err := parseQuery(v)
	if err != nil {
		return err
	}
	q.Limit = defaultPage
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return badParam("limit", "limit: want a number from 1 to %d", maxPage)
		}
		q.Limit = n
	}
	if c := v.Get("cursor"); c != "" {
		cur, err := store.ParseCursor(c)
		if err != nil {
			return badParam("cursor", "cursor: not a cursor this server returned")
		}
		q.After = &cur
	}
	// One more than the page says whether there is a next page.
	q.Limit++
	list, err := s.cfg.Store.Page(r.Context(), q)
	if err != nil {
		return err
	}
	page := findingsPage{Findings: list}
	if len(list) == q.Limit {
		page.Findings = list[:q.Limit-1]
		last := page.Findings[len(page.Findings)-1]
		page.NextCursor = store.Cursor{EventTime: last.EventTime, ID: last.ID}.String()
	}
	if page.Findings == nil {
		page.Findings = []store.Triaged{}
	}
	return writeJSON(w, http.StatusOK, page)
}

// repeat is a finding of the same fingerprint, in a finding's detail.
type repeat struct {
	ID        string       `json:"id"`
	EventTime time.Time    `json:"event_time"`
	Actor     string       `json:"actor"`
	Risk      finding.Risk `json:"risk"`
	Status    string       `json:"status"`
}

// delivery is one notification of a finding, in its detail.
type delivery struct {
	ID        int64     `json:"id"`
	FindingID string    `json:"finding_id"`
	Channel   string    `json:"channel"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	Reference string    `json:"reference,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func deliveryOf(d store.Delivery) delivery {
	return delivery{ID: d.ID, FindingID: d.FindingID, Channel: d.Channel, Kind: d.Kind, Status: d.Status, Attempts: d.Attempts,
		LastError: d.LastError, Reference: d.Ref, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

type findingDetail struct {
	Finding    store.Triaged  `json:"finding"`
	Repeats    []repeat       `json:"repeats"`
	History    []store.Change `json:"history"`
	Deliveries []delivery     `json:"deliveries"`
}

// maxRepeats bounds the repeats a detail lists.
const maxRepeats = 100

func validID(id string) bool {
	if len(id) < 3 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) showFinding(w http.ResponseWriter, r *http.Request, _ principal) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound("no finding %q", clip(id))
	}
	ctx := r.Context()
	t, err := s.cfg.Store.Triaged(ctx, id)
	if err != nil {
		return err
	}
	d := findingDetail{Finding: t, Repeats: []repeat{}, History: []store.Change{}, Deliveries: []delivery{}}
	reps, err := s.cfg.Store.Page(ctx, store.Query{Fingerprint: t.Fingerprint, Filter: store.Filter{Limit: maxRepeats + 1}})
	if err != nil {
		return err
	}
	for _, x := range reps {
		if x.ID == t.ID {
			continue
		}
		who := x.Actor.Name
		if who == "" {
			who = x.Actor.ARN
		}
		d.Repeats = append(d.Repeats, repeat{ID: x.ID, EventTime: x.EventTime, Actor: who, Risk: x.Risk, Status: x.Status})
	}
	if len(d.Repeats) > maxRepeats {
		d.Repeats = d.Repeats[:maxRepeats]
	}
	h, err := s.cfg.Store.History(ctx, id)
	if err != nil {
		return err
	}
	d.History = append(d.History, h...)
	ds, err := s.cfg.Store.Deliveries(ctx, store.OutboxFilter{Findings: []string{id}})
	if err != nil {
		return err
	}
	for _, x := range ds {
		d.Deliveries = append(d.Deliveries, deliveryOf(x))
	}
	return writeJSON(w, http.StatusOK, d)
}

type noteBody struct {
	Note string `json:"note"`
}

type idsBody struct {
	IDs []string `json:"ids"`
	// Filter selects the findings instead: the parameters of GET
	// /findings (each a string or a list of strings).
	Filter map[string]json.RawMessage `json:"filter"`
	Note   string                     `json:"note"`
}

// filterParams are the GET /findings parameters a bulk filter takes.
var filterParams = []string{"min_risk", "rule", "account", "region", "outcome", "service", "method", "control", "actor", "since", "until", "status", "q"}

// bulkIDs returns the ids of the findings a bulk filter selects: all of
// them, at most maxBulk.
func (s *Server) bulkIDs(r *http.Request, filter map[string]json.RawMessage) ([]string, error) {
	v := url.Values{}
	for k, raw := range filter {
		if !slices.Contains(filterParams, k) {
			return nil, badBody("filter."+k, "filter.%s: unknown (filters: %s)", k, strings.Join(filterParams, ", "))
		}
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			v.Add(k, one)
		case json.Unmarshal(raw, &many) == nil:
			v[k] = many
		default:
			return nil, badBody("filter."+k, "filter.%s: want a string or a list of strings", k)
		}
	}
	if len(v) == 0 {
		return nil, badBody("filter", "filter: give at least one filter (a bulk change of every finding is refused)")
	}
	q, err := parseQuery(v)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			ae.Code, ae.Field = "invalid_body", "filter."+ae.Field
		}
		return nil, err
	}
	q.Limit = maxBulk + 1
	list, err := s.cfg.Store.Page(r.Context(), q)
	if err != nil {
		return nil, err
	}
	if len(list) > maxBulk {
		return nil, badBody("filter", "filter: matches more than %d findings; narrow it", maxBulk)
	}
	ids := make([]string, 0, len(list))
	for _, f := range list {
		ids = append(ids, f.ID)
	}
	return ids, nil
}

type changes struct {
	Changes []store.Change `json:"changes"`
}

const (
	maxNote = 4096
	maxBulk = 1000
)

func (s *Server) transition(w http.ResponseWriter, r *http.Request, p principal, ids []string, to, note string) error {
	if len(note) > maxNote {
		return badBody("note", "note: longer than %d bytes", maxNote)
	}
	ch, err := s.cfg.Store.Transition(r.Context(), ids, to, p.Name, note, s.cfg.Now(), s.cfg.Lifecycle)
	if err != nil {
		return err
	}
	changed := make([]string, 0, len(ch))
	for _, c := range ch {
		s.cfg.Log.Info("api: finding status changed", "finding", c.FindingID, "from", c.From, "to", c.To, "by", p.Name)
		changed = append(changed, c.FindingID)
	}
	if len(changed) > 0 {
		s.record(r, p.Name, "finding."+to, strings.Join(changed, ","), note)
	}
	if ch == nil {
		ch = []store.Change{}
	}
	return writeJSON(w, http.StatusOK, changes{ch})
}

func (s *Server) transitionOne(to string) func(http.ResponseWriter, *http.Request, principal) error {
	return func(w http.ResponseWriter, r *http.Request, p principal) error {
		id := r.PathValue("id")
		if !validID(id) {
			return notFound("no finding %q", clip(id))
		}
		var b noteBody
		if err := readBody(w, r, &b, true); err != nil {
			return err
		}
		return s.transition(w, r, p, []string{id}, to, b.Note)
	}
}

func (s *Server) transitionMany(to string) func(http.ResponseWriter, *http.Request, principal) error {
	return func(w http.ResponseWriter, r *http.Request, p principal) error {
		var b idsBody
		if err := readBody(w, r, &b, false); err != nil {
			return err
		}
		if b.Filter != nil {
			if len(b.IDs) > 0 {
				return badBody("filter", "give ids or filter, not both")
			}
			ids, err := s.bulkIDs(r, b.Filter)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				return writeJSON(w, http.StatusOK, changes{[]store.Change{}})
			}
			return s.transition(w, r, p, ids, to, b.Note)
		}
		switch {
		case len(b.IDs) == 0:
			return badBody("ids", "ids: name at least one finding, or give a filter")
		case len(b.IDs) > maxBulk:
			return badBody("ids", "ids: at most %d findings at once", maxBulk)
		}
		for _, id := range b.IDs {
			if !validID(id) {
				return badBody("ids", "ids: %q is not a finding id", clip(id))
			}
		}
		return s.transition(w, r, p, b.IDs, to, b.Note)
	}
}

// export streams every matching finding as CSV or JSON lines, reading them
// from the store as it writes (memory does not grow with their number).
func (s *Server) export(w http.ResponseWriter, r *http.Request, _ principal) error {
	v := r.URL.Query()
	q, err := parseQuery(v)
	if err != nil {
		return err
	}
	format := v.Get("format")
	switch format {
	case "csv", "jsonl":
	case "":
		return badParam("format", "format: say csv or jsonl")
	default:
		return badParam("format", "format: %q is not csv or jsonl", clip(format))
	}
	flusher, _ := w.(http.Flusher)
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		w.Header().Set("Content-Disposition", `attachment; filename="trailwatch-findings.`+format+`"`)
		w.WriteHeader(http.StatusOK)
	}
	n := 0
	flush := func() {
		n++
		if n%256 == 0 && flusher != nil {
			flusher.Flush()
		}
	}
	if format == "csv" {
		cw := csv.NewWriter(w)
		header := []string{"id", "event_time", "rule_id", "risk", "status", "account_id", "region", "actor", "event_name", "resource", "summary", "silenced_by"}
		err = s.cfg.Store.Each(r.Context(), q, func(t store.Triaged) error {
			if !started {
				start()
				cw.Write(header)
			}
			who := t.Actor.ARN
			if who == "" {
				who = t.Actor.Name
			}
			res := t.Resource.ARN
			if res == "" {
				res = t.Resource.Name
			}
			row := []string{t.ID, t.EventTime.UTC().Format(time.RFC3339), t.RuleID, t.Risk.String(), t.Status, t.AccountID, t.Region, who, t.EventName, res, t.Summary, t.SilencedBy}
			for i := range row {
				row[i] = csvCell(row[i])
			}
			if err := cw.Write(row); err != nil {
				return err
			}
			flush()
			if n%256 == 0 {
				cw.Flush()
			}
			return cw.Error()
		})
		if err == nil && !started {
			start()
			cw.Write(header)
		}
		cw.Flush()
	} else {
		enc := json.NewEncoder(w)
		err = s.cfg.Store.Each(r.Context(), q, func(t store.Triaged) error {
			start()
			flush()
			return enc.Encode(t)
		})
		if err == nil {
			start()
		}
	}
	if err != nil && !started {
		return err
	}
	if err != nil {
		// Too late for an error status: the body ends early, and the log
		// says why.
		s.cfg.Log.Warn("api: export stopped", "err", err)
	}
	return nil
}

// csvCell keeps a cell from being read as a formula by spreadsheets
// (CSV injection): a cell starting with = + - @ or a control is prefixed
// with a quote.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (s *Server) me(w http.ResponseWriter, _ *http.Request, p principal) error {
	return writeJSON(w, http.StatusOK, p)
}
