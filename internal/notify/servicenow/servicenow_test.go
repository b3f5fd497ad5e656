package servicenow_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/notify/servicenow"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// Fake credentials; never real.
const (
	user     = "trailwatch.integration"
	password = "pw-EXAMPLE-7hG2xQ9v"
	token    = "tok-EXAMPLE-Zr8KfP3m"
)

var (
	basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	now       = time.Date(2026, 11, 20, 10, 16, 0, 0, time.UTC)
)

// incident is a record of the emulated instance.
type incident struct {
	seq       int
	sysID     string
	number    string
	active    bool
	fields    map[string]any
	workNotes []string
}

type request struct {
	method, path string
	query        url.Values
	body         []byte
}

// instance emulates the Table API of one ServiceNow instance for the
// incident table: it checks method, path, headers and query, stores
// created records, answers the correlation_id look-up and appends work
// notes.
type instance struct {
	t    *testing.T
	auth string

	mu        sync.Mutex
	incidents []*incident
	requests  []request
	// loseCreates makes the next creates succeed inside but answer 503,
	// as if the connection dropped after the commit.
	loseCreates int
}

func newInstance(t *testing.T, auth string) (*instance, *httptest.Server) {
	in := &instance{t: t, auth: auth}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	return in, srv
}

func (in *instance) fail(w http.ResponseWriter, status int, format string, args ...any) {
	in.t.Helper()
	msg := fmt.Sprintf(format, args...)
	in.t.Errorf("emulator: %s", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}, "status": "failure"})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (in *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.requests = append(in.requests, request{r.Method, r.URL.Path, r.URL.Query(), body})

	if got := r.Header.Get("Authorization"); got != in.auth {
		in.fail(w, http.StatusUnauthorized, "Authorization = %q, want the configured credentials", strings.SplitN(got, " ", 2)[0]+" …")
		return
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		in.fail(w, http.StatusNotAcceptable, "Accept = %q", got)
		return
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			in.fail(w, http.StatusUnsupportedMediaType, "Content-Type = %q", got)
			return
		}
	}
	const table = "/api/now/table/incident"
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == table:
		in.list(w, q)
	case r.Method == http.MethodPost && r.URL.Path == table:
		in.create(w, q, body)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, table+"/"):
		in.patch(w, strings.TrimPrefix(r.URL.Path, table+"/"), q, body)
	default:
		in.fail(w, http.StatusBadRequest, "unexpected %s %s", r.Method, r.URL.Path)
	}
}

func (in *instance) list(w http.ResponseWriter, q url.Values) {
	if got := q.Get("sysparm_fields"); got != "sys_id,number" {
		in.fail(w, http.StatusBadRequest, "sysparm_fields = %q", got)
		return
	}
	if got := q.Get("sysparm_limit"); got != "1" {
		in.fail(w, http.StatusBadRequest, "sysparm_limit = %q", got)
		return
	}
	var corr string
	activeOnly, newestFirst := false, false
	for _, term := range strings.Split(q.Get("sysparm_query"), "^") {
		switch {
		case strings.HasPrefix(term, "correlation_id="):
			corr = strings.TrimPrefix(term, "correlation_id=")
		case term == "active=true":
			activeOnly = true
		case term == "ORDERBYDESCsys_created_on":
			newestFirst = true
		default:
			in.fail(w, http.StatusBadRequest, "unexpected query term %q", term)
			return
		}
	}
	if corr == "" || !activeOnly || !newestFirst {
		in.fail(w, http.StatusBadRequest, "query %q lacks correlation_id, active=true or the order", q.Get("sysparm_query"))
		return
	}
	var hits []*incident
	for _, x := range in.incidents {
		if x.fields["correlation_id"] == corr && x.active {
			hits = append(hits, x)
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].seq > hits[j].seq })
	result := []map[string]string{}
	for _, x := range hits[:min(1, len(hits))] {
		result = append(result, map[string]string{"sys_id": x.sysID, "number": x.number})
	}
	reply(w, http.StatusOK, map[string]any{"result": result})
}

func (in *instance) create(w http.ResponseWriter, q url.Values, body []byte) {
	if got := q.Get("sysparm_fields"); got != "sys_id,number" {
		in.fail(w, http.StatusBadRequest, "sysparm_fields = %q", got)
		return
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		in.fail(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	n := len(in.incidents) + 1
	x := &incident{
		seq: n, sysID: fmt.Sprintf("46d44a23a9fe19810012d100%08x", n), number: fmt.Sprintf("INC%07d", 10000+n),
		active: true, fields: fields,
	}
	if wn, ok := fields["work_notes"].(string); ok {
		x.workNotes = append(x.workNotes, wn)
	}
	in.incidents = append(in.incidents, x)
	if in.loseCreates > 0 {
		in.loseCreates--
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"message": "connection reset"}})
		return
	}
	reply(w, http.StatusCreated, map[string]any{"result": map[string]string{"sys_id": x.sysID, "number": x.number}})
}

func (in *instance) patch(w http.ResponseWriter, sysID string, q url.Values, body []byte) {
	if got := q.Get("sysparm_fields"); got != "sys_id,number" {
		in.fail(w, http.StatusBadRequest, "sysparm_fields = %q", got)
		return
	}
	var fields map[string]string
	if err := json.Unmarshal(body, &fields); err != nil {
		in.fail(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	for _, x := range in.incidents {
		if x.sysID == sysID {
			x.workNotes = append(x.workNotes, fields["work_notes"])
			for k, v := range fields {
				if k != "work_notes" {
					x.fields[k] = v
				}
			}
			reply(w, http.StatusOK, map[string]any{"result": map[string]string{"sys_id": x.sysID, "number": x.number}})
			return
		}
	}
	reply(w, http.StatusNotFound, map[string]any{"error": map[string]string{"message": "No Record found"}, "status": "failure"})
}

// take returns and forgets the requests seen so far.
func (in *instance) take() []request {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := in.requests
	in.requests = nil
	return r
}

func (in *instance) records() []*incident {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*incident(nil), in.incidents...)
}

func config(baseURL string) servicenow.Config {
	return servicenow.Config{
		BaseURL:         baseURL,
		Username:        user,
		Password:        secret.New(password),
		AssignmentGroup: "Cloud Security",
		CallerID:        "trailwatch.integration",
		Subcategory:     "cloud",
		Fields:          map[string]string{"u_aws_source": "trailwatch", "contact_type": "integration"},
	}
}

func newNotifier(t *testing.T, c servicenow.Config) *servicenow.Notifier {
	t.Helper()
	n, err := servicenow.New(c, notify.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// golden compares a request body with testdata/<name>.json.

func methods(reqs []request) string {
	var s []string
	for _, r := range reqs {
		s = append(s, r.method+" "+r.path)
	}
	return strings.Join(s, ", ")
}

func expect(t *testing.T, reqs []request, want ...string) {
	t.Helper()
	if got := methods(reqs); got != strings.Join(want, ", ") {
		t.Fatalf("requests = %s\nwant %s", got, strings.Join(want, ", "))
	}
}

const (
	table = "/api/now/table/incident"
	get   = "GET " + table
	post  = "POST " + table
)

func TestTrigger(t *testing.T) {
	in, srv := newInstance(t, basicAuth)
	n := newNotifier(t, config(srv.URL))
	m := notifytest.Message()
	res, err := n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := in.take()
	expect(t, reqs, get, post)
	if got, want := reqs[0].query.Get("sysparm_query"), "correlation_id="+m.Finding.Fingerprint+"^active=true^ORDERBYDESCsys_created_on"; got != want {
		t.Errorf("look-up query = %q, want %q", got, want)
	}
	notifytest.Golden(t, "trigger", reqs[1].body)
	recs := in.records()
	if len(recs) != 1 || res.Ref != recs[0].sysID {
		t.Fatalf("ref = %q, records = %d", res.Ref, len(recs))
	}
	if got := recs[0].fields["short_description"].(string); len([]rune(got)) > 160 {
		t.Errorf("short_description has %d characters", len([]rune(got)))
	}
}

func TestUrgencyFromRisk(t *testing.T) {
	for _, tc := range []struct {
		risk string
		want string
	}{{"EXTREME", "1"}, {"VERY_HIGH", "1"}, {"HIGH", "2"}, {"MEDIUM", "3"}, {"LOW", "3"}} {
		in, srv := newInstance(t, basicAuth)
		n := newNotifier(t, config(srv.URL))
		m := notifytest.Message()
		if err := m.Finding.Risk.UnmarshalText([]byte(tc.risk)); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		f := in.records()[0].fields
		if f["urgency"] != tc.want || f["impact"] != tc.want {
			t.Errorf("%s: urgency %v impact %v, want %s", tc.risk, f["urgency"], f["impact"], tc.want)
		}
	}
}

func TestUpdateWithRef(t *testing.T) {
	in, srv := newInstance(t, basicAuth)
	n := newNotifier(t, config(srv.URL))
	first, err := n.Notify(context.Background(), notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	in.take()
	m := notifytest.Message()
	m.Kind, m.Repeats, m.Ref = notify.Update, 3, first.Ref
	res, err := n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := in.take()
	expect(t, reqs, "PATCH "+table+"/"+first.Ref)
	notifytest.Golden(t, "update", reqs[0].body)
	if res.Ref != first.Ref {
		t.Errorf("ref = %q, want %q", res.Ref, first.Ref)
	}
	if recs := in.records(); len(recs) != 1 || len(recs[0].workNotes) != 1 || !strings.HasPrefix(recs[0].workNotes[0], "Repeat #3: ") {
		t.Errorf("records = %d, work notes %q", len(recs), recs[0].workNotes)
	}
}

func TestUpdateWithoutRef(t *testing.T) {
	in, srv := newInstance(t, basicAuth)
	n := newNotifier(t, config(srv.URL))
	first, err := n.Notify(context.Background(), notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	in.take()
	m := notifytest.Message()
	m.Kind, m.Repeats = notify.Update, 2
	res, err := n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := in.take()
	expect(t, reqs, get, "PATCH "+table+"/"+first.Ref)
	notifytest.Golden(t, "update_lookup", reqs[1].body)
	if res.Ref != first.Ref || len(in.records()) != 1 {
		t.Errorf("ref = %q, want %q; records %d", res.Ref, first.Ref, len(in.records()))
	}

	// Once the incident is resolved, a repeat without a ref opens a new
	// one that says why.
	in.mu.Lock()
	in.incidents[0].active = false
	in.mu.Unlock()
	m.Repeats = 4
	res, err = n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs = in.take()
	expect(t, reqs, get, post)
	notifytest.Golden(t, "update_new", reqs[1].body)
	recs := in.records()
	if len(recs) != 2 || res.Ref != recs[1].sysID {
		t.Errorf("ref = %q; records %d", res.Ref, len(recs))
	}
}

// An escalation joins the open incident but raises its urgency and impact
// and says why in a work note; with the incident gone it opens a new one.
func TestEscalation(t *testing.T) {
	in, srv := newInstance(t, basicAuth)
	n := newNotifier(t, config(srv.URL))
	first := notifytest.Message()
	first.Finding.Risk = finding.High
	trig, err := n.Notify(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if u := in.records()[0].fields["urgency"]; u != "2" {
		t.Fatalf("trigger urgency %v, want 2", u)
	}
	in.take()
	m := notifytest.Escalation()
	m.Ref = trig.Ref
	res, err := n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := in.take()
	expect(t, reqs, "PATCH "+table+"/"+trig.Ref)
	notifytest.Golden(t, "escalation", reqs[0].body)
	recs := in.records()
	if len(recs) != 1 || res.Ref != trig.Ref {
		t.Fatalf("%d incidents, ref %q; want the escalation on the open one", len(recs), res.Ref)
	}
	if f := recs[0].fields; f["urgency"] != "1" || f["impact"] != "1" {
		t.Errorf("urgency %v impact %v after escalation to VERY_HIGH, want 1", f["urgency"], f["impact"])
	}
	note := recs[0].workNotes[len(recs[0].workNotes)-1]
	for _, want := range append([]string{"ESCALATED to VERY_HIGH"}, m.Escalated.Why...) {
		if !strings.Contains(note, want) {
			t.Errorf("work note lacks %q:\n%s", want, note)
		}
	}
	// Another principal at a lower risk: urgency never drops.
	low := notifytest.Escalation()
	low.Ref, low.Finding.Risk = trig.Ref, finding.Medium
	low.Escalated.PreviousRisk, low.Escalated.Why = finding.VeryHigh, []string{"made by another principal: bob"}
	if _, err := n.Notify(context.Background(), low); err != nil {
		t.Fatal(err)
	}
	if u := in.records()[0].fields["urgency"]; u != "1" {
		t.Errorf("urgency %v after a lower-risk escalation, want it kept at 1", u)
	}
	// The incident was resolved meanwhile: a new one, saying why.
	in.mu.Lock()
	in.incidents[0].active = false
	in.mu.Unlock()
	in.take()
	m.Ref = ""
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	expect(t, in.take(), get, post)
	recs = in.records()
	if len(recs) != 2 || len(recs[1].workNotes) != 1 || !strings.Contains(recs[1].workNotes[0], "Escalation of a trailwatch alert") ||
		recs[1].fields["urgency"] != "1" {
		t.Errorf("new incident: %d records, notes %q", len(recs), recs[len(recs)-1].workNotes)
	}
}

func TestTriggerRetriedAfterCrash(t *testing.T) {
	t.Run("response lost", func(t *testing.T) {
		in, srv := newInstance(t, basicAuth)
		in.loseCreates = 1
		n := newNotifier(t, config(srv.URL))
		m := notifytest.Message()
		if _, err := n.Notify(context.Background(), m); err == nil || notify.IsPermanent(err) {
			t.Fatalf("lost response: err = %v, want retryable", err)
		}
		in.take()
		res, err := n.Notify(context.Background(), m) // the dispatcher's retry
		if err != nil {
			t.Fatal(err)
		}
		reqs := in.take()
		recs := in.records()
		if len(recs) != 1 {
			t.Fatalf("%d incidents after the retry, want exactly 1", len(recs))
		}
		expect(t, reqs, get, "PATCH "+table+"/"+recs[0].sysID)
		notifytest.Golden(t, "retry_note", reqs[1].body)
		if res.Ref != recs[0].sysID {
			t.Errorf("ref = %q, want %q", res.Ref, recs[0].sysID)
		}
	})
	t.Run("commit lost", func(t *testing.T) {
		in, srv := newInstance(t, basicAuth)
		n := newNotifier(t, config(srv.URL))
		m := notifytest.Message()
		first, err := n.Notify(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		// trailwatch crashed before recording first.Ref; the outbox
		// delivers the trigger again.
		again, err := n.Notify(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		if recs := in.records(); len(recs) != 1 || again.Ref != first.Ref {
			t.Errorf("%d incidents, refs %q and %q; want exactly 1 and equal refs", len(recs), first.Ref, again.Ref)
		}
	})
}

func TestTestMessage(t *testing.T) {
	in, srv := newInstance(t, basicAuth)
	n := newNotifier(t, config(srv.URL))
	m := notifytest.Message()
	m.Kind = notify.Test
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := in.take()
	expect(t, reqs, post, post) // a test never looks up, never merges
	notifytest.Golden(t, "test", reqs[0].body)
	recs := in.records()
	c0, c1 := recs[0].fields["correlation_id"].(string), recs[1].fields["correlation_id"].(string)
	if !strings.HasPrefix(c0, "trailwatch-test-") || c0 == c1 {
		t.Errorf("test correlation ids %q and %q: want distinct trailwatch-test-… ids", c0, c1)
	}
	if sd := recs[0].fields["short_description"].(string); !strings.HasPrefix(sd, "[TEST]") {
		t.Errorf("short_description = %q", sd)
	}

	// A custom title template without [TEST] still gets the mark.
	tpl, err := notify.ParseTemplates("{{.Finding.RuleTitle}}", "", "")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := servicenow.New(config(srv.URL), notify.Options{Templates: tpl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if sd := in.records()[2].fields["short_description"]; sd != "[TEST] EKS cluster configuration changed" {
		t.Errorf("short_description = %q", sd)
	}
}

func TestOAuthToken(t *testing.T) {
	in, srv := newInstance(t, "Bearer "+token)
	c := config(srv.URL)
	c.Username, c.Password, c.OAuthToken = "", secret.Secret{}, secret.New(token)
	n := newNotifier(t, c)
	if _, err := n.Notify(context.Background(), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if len(in.records()) != 1 {
		t.Error("no incident created")
	}
}

func TestUnknownKind(t *testing.T) {
	_, srv := newInstance(t, basicAuth)
	m := notifytest.Message()
	m.Kind = "reopen" // not a kind
	if _, err := newNotifier(t, config(srv.URL)).Notify(context.Background(), m); !notify.IsPermanent(err) {
		t.Errorf("unknown kind: err = %v, want permanent", err)
	}
}

func kit(baseURL string, logger *slog.Logger) notify.Notifier {
	n, err := servicenow.New(config(baseURL), notify.Options{Logger: logger})
	if err != nil {
		panic(err)
	}
	return n
}

var secrets = []string{password, base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}

func TestStatuses(t *testing.T)    { notifytest.CheckStatuses(t, kit, secrets...) }
func TestUnreachable(t *testing.T) { notifytest.CheckUnreachable(t, kit, secrets...) }
func TestTimeout(t *testing.T)     { notifytest.CheckTimeout(t, kit, secrets...) }

func TestStatusesOnWrite(t *testing.T) {
	// The look-up finds nothing; the create fails: classified alike.
	for _, tc := range notifytest.StatusCases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				reply(w, http.StatusOK, map[string]any{"result": []any{}})
				return
			}
			for k, v := range tc.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(tc.Status)
			fmt.Fprintf(w, `{"error":{"message":"failed","detail":"user %s"},"status":"failure"}`, password)
		}))
		_, err := kit(srv.URL, slog.New(slog.DiscardHandler)).Notify(context.Background(), notifytest.Message())
		srv.Close()
		if err == nil || notify.IsPermanent(err) != tc.Permanent || notify.RetryAfter(err) != tc.RetryAfter {
			t.Errorf("HTTP %d: err = %v (permanent %v, retry after %v)", tc.Status, err, notify.IsPermanent(err), notify.RetryAfter(err))
			continue
		}
		notifytest.NoLeak(t, err.Error(), secrets...)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SN_PASSWORD": password, "SN_TOKEN": token}
	getenv := func(k string) string { return env[k] }

	for _, tc := range []struct {
		name string
		c    servicenow.Config
		want []string // substrings of the error; none means valid
	}{
		{name: "basic inline", c: servicenow.Config{Instance: "acme", Username: user, Password: secret.New(password)}},
		{name: "basic from env", c: servicenow.Config{Instance: "acme", Username: user, Password: secret.New("${SN_PASSWORD}")}},
		{name: "basic from file", c: servicenow.Config{Instance: "acme", Username: user, PasswordFile: pwFile}},
		{name: "oauth from env", c: servicenow.Config{BaseURL: "https://servicenow.example.com/", OAuthToken: secret.New("${SN_TOKEN}")}},
		{name: "http on loopback", c: servicenow.Config{BaseURL: "http://127.0.0.1:8080", OAuthToken: secret.New(token)}},
		{name: "missing auth", c: servicenow.Config{Instance: "acme"}, want: []string{"username, password: missing"}},
		{name: "missing password", c: servicenow.Config{Instance: "acme", Username: user}, want: []string{"password: missing"}},
		{name: "missing username", c: servicenow.Config{Instance: "acme", Password: secret.New(password)}, want: []string{"username: missing"}},
		{name: "both auths", c: servicenow.Config{Instance: "acme", Username: user, Password: secret.New(password), OAuthToken: secret.New(token)}, want: []string{"oauth_token: give oauth_token or username and password, not both"}},
		{name: "no address", c: servicenow.Config{Username: user, Password: secret.New(password)}, want: []string{"instance: missing"}},
		{name: "instance and base_url", c: servicenow.Config{Instance: "acme", BaseURL: "https://acme.service-now.com", Username: user, Password: secret.New(password)}, want: []string{"instance, base_url: give one, not both"}},
		{name: "instance as host", c: servicenow.Config{Instance: "acme.service-now.com", Username: user, Password: secret.New(password)}, want: []string{"instance: give the instance name only"}},
		{name: "env missing", c: servicenow.Config{Instance: "acme", Username: user, Password: secret.New("${SN_NOPE}")}, want: []string{"password: environment variable SN_NOPE is not set"}},
		{name: "file missing", c: servicenow.Config{Instance: "acme", Username: user, PasswordFile: filepath.Join(dir, "nope")}, want: []string{"password_file: read secret file"}},
		{name: "file empty", c: servicenow.Config{Instance: "acme", Username: user, PasswordFile: emptyFile}, want: []string{"password_file: file " + emptyFile + " is empty"}},
		{name: "value and file", c: servicenow.Config{Instance: "acme", Username: user, Password: secret.New(password), PasswordFile: pwFile}, want: []string{"password, password_file: give the value or the file, not both"}},
		{name: "bad url", c: servicenow.Config{BaseURL: "servicenow.example.com/api", OAuthToken: secret.New(token)}, want: []string{"base_url: not an absolute URL"}},
		{name: "plain http", c: servicenow.Config{BaseURL: "http://servicenow.example.com", OAuthToken: secret.New(token)}, want: []string{"base_url: must use https"}},
		{name: "credentials in url", c: servicenow.Config{BaseURL: "https://" + user + ":" + password + "@servicenow.example.com", OAuthToken: secret.New(token)}, want: []string{"base_url: must not contain credentials"}},
		{name: "colon in username", c: servicenow.Config{Instance: "acme", Username: "a:b", Password: secret.New(password)}, want: []string{"username: must not contain a colon"}},
		{name: "bad table and fields", c: servicenow.Config{Instance: "acme", OAuthToken: secret.New(token), Table: "Incident; drop", Fields: map[string]string{"urgency": "1", "U Bad": "x", "u_ok": "y"}}, want: []string{`table: "Incident; drop"`, "fields.urgency: set by trailwatch from the risk", `fields: "U Bad" is not a column name`}},
		{name: "every problem at once", c: servicenow.Config{Instance: "acme", BaseURL: "ftp://x", Password: secret.New("${SN_NOPE}"), OAuthTokenFile: filepath.Join(dir, "nope")}, want: []string{"instance, base_url", "password: environment variable SN_NOPE", "oauth_token_file: read secret file", "oauth_token: give oauth_token or username and password, not both"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			err := c.Check(getenv)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if c.Table != "incident" || c.Category != "security" {
					t.Errorf("defaults: table %q category %q", c.Table, c.Category)
				}
				if c.OAuthToken.Empty() && c.Password.Reveal() != password {
					t.Errorf("password not resolved")
				}
				if !c.OAuthToken.Empty() && c.OAuthToken.Reveal() != token {
					t.Errorf("oauth_token not resolved")
				}
				if _, err := servicenow.New(c, notify.Options{}); err != nil {
					t.Errorf("New after Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check: no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			notifytest.NoLeak(t, err.Error(), password, token)
		})
	}
}

func TestNewWithoutCheck(t *testing.T) {
	_, err := servicenow.New(servicenow.Config{Instance: "acme", Username: user, PasswordFile: "/run/secrets/sn"}, notify.Options{})
	if err == nil || !strings.Contains(err.Error(), "password_file: not read yet") {
		t.Errorf("err = %v", err)
	}
}

func TestEchoedCredentialsNeverLeak(t *testing.T) { notifytest.CheckEcho(t, kit, secrets...) }
