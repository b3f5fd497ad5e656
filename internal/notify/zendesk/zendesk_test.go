package zendesk_test

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/notify/zendesk"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// Fake credentials; never real.
const (
	email = "secops-bot@example.com"
	token = "zd-EXAMPLE-4nV8pLq2Wt6Rb0Ys"
)

var (
	credentials = base64.StdEncoding.EncodeToString([]byte(email + "/token:" + token))
	now         = time.Date(2026, 11, 20, 10, 16, 0, 0, time.UTC)
)

// zticket is a ticket of the emulated account.
type zticket struct {
	id         int64
	status     string
	externalID string
	created    map[string]any // the "ticket" object of the create request
	comments   []map[string]any
}

type request struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// account emulates the Tickets API of one Zendesk account: it checks
// method, path, headers and query, stores created tickets, honours
// Idempotency-Key, answers the external_id listing, and adds comments
// (refusing them on closed tickets, as Zendesk does).
type account struct {
	t *testing.T

	mu          sync.Mutex
	tickets     []*zticket
	idempotency map[string]int64
	requests    []request
	// loseCreates makes the next creates succeed inside but answer 503.
	loseCreates int
}

func newAccount(t *testing.T) (*account, *httptest.Server) {
	a := &account{t: t, idempotency: map[string]int64{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (a *account) fail(w http.ResponseWriter, status int, format string, args ...any) {
	a.t.Helper()
	msg := fmt.Sprintf(format, args...)
	a.t.Errorf("emulator: %s", msg)
	reply(w, status, map[string]string{"error": "InvalidRequest", "description": msg})
}

func (a *account) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, request{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), body})

	if got := r.Header.Get("Authorization"); got != "Basic "+credentials {
		a.fail(w, http.StatusUnauthorized, "Authorization is not Basic {email}/token:{api_token}")
		return
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		a.fail(w, http.StatusNotAcceptable, "Accept = %q", got)
		return
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			a.fail(w, http.StatusUnsupportedMediaType, "Content-Type = %q", got)
			return
		}
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/tickets.json":
		a.list(w, r.URL.Query())
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/tickets.json":
		a.create(w, r.Header.Get("Idempotency-Key"), body)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/api/v2/tickets/") && strings.HasSuffix(r.URL.Path, ".json"):
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v2/tickets/"), ".json"), 10, 64)
		if err != nil {
			a.fail(w, http.StatusBadRequest, "bad ticket path %s", r.URL.Path)
			return
		}
		a.comment(w, id, body)
	default:
		a.fail(w, http.StatusBadRequest, "unexpected %s %s", r.Method, r.URL.Path)
	}
}

func (a *account) list(w http.ResponseWriter, q url.Values) {
	ext := q.Get("external_id")
	if ext == "" || q.Get("sort_by") != "created_at" || q.Get("sort_order") != "desc" || len(q) != 3 {
		a.fail(w, http.StatusBadRequest, "unexpected listing query %s", q.Encode())
		return
	}
	var hits []*zticket
	for _, t := range a.tickets {
		if t.externalID == ext {
			hits = append(hits, t)
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].id > hits[j].id })
	list := []map[string]any{}
	for _, t := range hits {
		list = append(list, map[string]any{"id": t.id, "status": t.status, "external_id": t.externalID, "subject": t.created["subject"]})
	}
	reply(w, http.StatusOK, map[string]any{"tickets": list, "next_page": nil, "previous_page": nil, "count": len(list)})
}

func (a *account) create(w http.ResponseWriter, key string, body []byte) {
	var req struct {
		Ticket map[string]any `json:"ticket"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Ticket == nil {
		a.fail(w, http.StatusBadRequest, "body is not {\"ticket\":{…}}: %v", err)
		return
	}
	if c, _ := req.Ticket["comment"].(map[string]any); c == nil || c["body"] == "" {
		reply(w, http.StatusUnprocessableEntity, map[string]any{"error": "RecordInvalid", "description": "Record validation errors", "details": map[string]any{"description": []any{map[string]string{"description": "Description: cannot be blank"}}}})
		return
	}
	if id, ok := a.idempotency[key]; ok && key != "" {
		w.Header().Set("X-Idempotency-Lookup", "hit")
		reply(w, http.StatusCreated, map[string]any{"ticket": map[string]any{"id": id}})
		return
	}
	ext, _ := req.Ticket["external_id"].(string)
	t := &zticket{id: int64(35436 + len(a.tickets)), status: "new", externalID: ext, created: req.Ticket}
	a.tickets = append(a.tickets, t)
	if key != "" {
		a.idempotency[key] = t.id
	}
	if a.loseCreates > 0 {
		a.loseCreates--
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": "ServiceUnavailable"})
		return
	}
	w.Header().Set("Location", fmt.Sprintf("https://example.zendesk.com/api/v2/tickets/%d.json", t.id))
	reply(w, http.StatusCreated, map[string]any{"ticket": map[string]any{"id": t.id, "status": t.status, "external_id": t.externalID}})
}

func (a *account) comment(w http.ResponseWriter, id int64, body []byte) {
	var req struct {
		Ticket struct {
			Comment  map[string]any `json:"comment"`
			Priority string         `json:"priority"`
			Status   string         `json:"status"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Ticket.Comment == nil {
		a.fail(w, http.StatusBadRequest, "body is not {\"ticket\":{\"comment\":{…}}}: %v", err)
		return
	}
	for _, t := range a.tickets {
		if t.id != id {
			continue
		}
		if t.status == "closed" {
			reply(w, http.StatusUnprocessableEntity, map[string]any{"error": "RecordInvalid", "description": "Record validation errors", "details": map[string]any{"status": []any{map[string]string{"description": "Status: closed prevents ticket update"}}}})
			return
		}
		t.comments = append(t.comments, req.Ticket.Comment)
		if req.Ticket.Priority != "" {
			t.created["priority"] = req.Ticket.Priority
		}
		if req.Ticket.Status != "" {
			t.status = req.Ticket.Status
		}
		reply(w, http.StatusOK, map[string]any{"ticket": map[string]any{"id": t.id, "status": t.status}})
		return
	}
	reply(w, http.StatusNotFound, map[string]string{"error": "RecordNotFound", "description": "Not found"})
}

func (a *account) take() []request {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.requests
	a.requests = nil
	return r
}

func (a *account) all() []*zticket {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*zticket(nil), a.tickets...)
}

func (a *account) setStatus(id string, status string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tickets {
		if strconv.FormatInt(t.id, 10) == id {
			t.status = status
		}
	}
}

func config(baseURL string) zendesk.Config {
	return zendesk.Config{
		BaseURL:        baseURL,
		Email:          email,
		APIToken:       secret.New(token),
		GroupID:        360001234567,
		AssigneeID:     361234567890,
		RequesterEmail: "cloud-alerts@example.com",
		CustomFields:   []zendesk.CustomField{{ID: 360005551234, Value: "aws"}, {ID: 360005551235, Value: []any{"eks", "prod"}}},
	}
}

func newNotifier(t *testing.T, c zendesk.Config) *zendesk.Notifier {
	t.Helper()
	n, err := zendesk.New(c, notify.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// golden compares a request body with testdata/<name>.json.

func expect(t *testing.T, reqs []request, want ...string) {
	t.Helper()
	var got []string
	for _, r := range reqs {
		got = append(got, r.method+" "+r.path)
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("requests = %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

const (
	list   = "GET /api/v2/tickets.json"
	create = "POST /api/v2/tickets.json"
)

func put(ref string) string { return "PUT /api/v2/tickets/" + ref + ".json" }

func trigger(t *testing.T, n *zendesk.Notifier) string {
	t.Helper()
	res, err := n.Notify(context.Background(), notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	return res.Ref
}

func TestTrigger(t *testing.T) {
	a, srv := newAccount(t)
	n := newNotifier(t, config(srv.URL))
	m := notifytest.Message()
	ref := trigger(t, n)
	reqs := a.take()
	expect(t, reqs, list, create)
	if got, want := reqs[0].query.Get("external_id"), "trailwatch-"+m.Finding.Fingerprint; got != want {
		t.Errorf("look-up external_id = %q, want %q", got, want)
	}
	if got := reqs[1].header.Get("Idempotency-Key"); got != m.IdempotencyKey {
		t.Errorf("Idempotency-Key = %q, want %q", got, m.IdempotencyKey)
	}
	notifytest.Golden(t, "trigger", reqs[1].body)
	if ts := a.all(); len(ts) != 1 || ref != strconv.FormatInt(ts[0].id, 10) {
		t.Errorf("ref %q, %d tickets", ref, len(ts))
	}
}

func TestPriorityAndTags(t *testing.T) {
	for _, tc := range []struct{ risk, priority string }{
		{"EXTREME", "urgent"}, {"VERY_HIGH", "urgent"}, {"HIGH", "high"}, {"MEDIUM", "normal"}, {"LOW", "low"},
	} {
		a, srv := newAccount(t)
		m := notifytest.Message()
		if err := m.Finding.Risk.UnmarshalText([]byte(tc.risk)); err != nil {
			t.Fatal(err)
		}
		if _, err := newNotifier(t, config(srv.URL)).Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		got := a.all()[0].created
		if got["priority"] != tc.priority {
			t.Errorf("%s: priority %v, want %s", tc.risk, got["priority"], tc.priority)
		}
		if tags := fmt.Sprint(got["tags"]); tags != "[trailwatch aws eks-cluster-config "+strings.ToLower(tc.risk)+"]" {
			t.Errorf("%s: tags %s", tc.risk, tags)
		}
	}

	a, srv := newAccount(t)
	c := config(srv.URL)
	c.Tags, c.TicketType = []string{"cloud_security", "aws"}, "problem"
	trigger(t, newNotifier(t, c))
	got := a.all()[0].created
	if fmt.Sprint(got["tags"]) != "[cloud_security aws]" || got["type"] != "problem" {
		t.Errorf("configured tags %v, type %v", got["tags"], got["type"])
	}
}

func TestUpdateWithRef(t *testing.T) {
	a, srv := newAccount(t)
	n := newNotifier(t, config(srv.URL))
	ref := trigger(t, n)
	a.take()
	m := notifytest.Message()
	m.Kind, m.Repeats, m.Ref = notify.Update, 3, ref
	res, err := n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := a.take()
	expect(t, reqs, list, put(ref))
	notifytest.Golden(t, "update", reqs[1].body)
	if ts := a.all(); res.Ref != ref || len(ts) != 1 || len(ts[0].comments) != 1 {
		t.Errorf("ref %q (want %q), %d tickets", res.Ref, ref, len(ts))
	}
}

func TestUpdateWithoutRef(t *testing.T) {
	a, srv := newAccount(t)
	n := newNotifier(t, config(srv.URL))
	ref := trigger(t, n)
	a.take()
	m := notifytest.Message()
	m.Kind, m.Repeats = notify.Update, 2
	res, err := n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := a.take()
	expect(t, reqs, list, put(ref))
	notifytest.Golden(t, "update_lookup", reqs[1].body)
	if res.Ref != ref || len(a.all()) != 1 {
		t.Errorf("ref %q (want %q), %d tickets", res.Ref, ref, len(a.all()))
	}

	// A ref that is not a ticket id is ignored, not fatal.
	m.Ref = "INC0010001"
	if res, err := n.Notify(context.Background(), m); err != nil || res.Ref != ref {
		t.Errorf("bad ref: %q, %v", res.Ref, err)
	}
}

func TestUpdateFinishedTicket(t *testing.T) {
	for _, status := range []string{"solved", "closed"} {
		t.Run(status, func(t *testing.T) {
			a, srv := newAccount(t)
			n := newNotifier(t, config(srv.URL))
			ref := trigger(t, n)
			a.setStatus(ref, status)
			a.take()
			m := notifytest.Message()
			m.Kind, m.Repeats, m.Ref = notify.Update, 2, ref
			res, err := n.Notify(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			reqs := a.take()
			expect(t, reqs, list, create)
			notifytest.Golden(t, "update_followup_"+status, reqs[1].body)
			if got := reqs[1].header.Get("Idempotency-Key"); got != "" {
				t.Errorf("follow-up sent Idempotency-Key %q", got)
			}
			ts := a.all()
			if len(ts) != 2 || res.Ref != strconv.FormatInt(ts[1].id, 10) || len(ts[0].comments) != 0 {
				t.Fatalf("ref %q, %d tickets, %d comments on the finished one", res.Ref, len(ts), len(ts[0].comments))
			}

			// The next repeat still carries the old ref: it goes to the
			// follow-up, not to a third ticket.
			m.Repeats = 3
			again, err := n.Notify(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, a.take(), list, put(res.Ref))
			if again.Ref != res.Ref || len(a.all()) != 2 {
				t.Errorf("second repeat: ref %q (want %q), %d tickets", again.Ref, res.Ref, len(a.all()))
			}
		})
	}
}

// An escalation joins the open ticket but raises its priority and says
// why in a comment; with the ticket solved it opens a follow-up.
func TestEscalation(t *testing.T) {
	a, srv := newAccount(t)
	n := newNotifier(t, config(srv.URL))
	first := notifytest.Message()
	first.Finding.Risk = finding.High
	res, err := n.Notify(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	ref := res.Ref
	if p := a.all()[0].created["priority"]; p != "high" {
		t.Fatalf("trigger priority %v, want high", p)
	}
	a.take()
	m := notifytest.Escalation()
	m.Ref = ref
	res, err = n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	reqs := a.take()
	expect(t, reqs, list, put(ref))
	notifytest.Golden(t, "escalation", reqs[1].body)
	ts := a.all()
	if len(ts) != 1 || res.Ref != ref || ts[0].created["priority"] != "urgent" || len(ts[0].comments) != 1 {
		t.Fatalf("%d tickets, ref %q, priority %v: want the open ticket raised to urgent with a comment", len(ts), res.Ref, ts[0].created["priority"])
	}
	body, _ := ts[0].comments[0]["body"].(string)
	for _, want := range append([]string{"ESCALATED to VERY_HIGH"}, m.Escalated.Why...) {
		if !strings.Contains(body, want) {
			t.Errorf("comment lacks %q:\n%s", want, body)
		}
	}
	// Solved meanwhile: a follow-up ticket that says why, at the
	// escalated priority.
	a.setStatus(ref, "solved")
	a.take()
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	ts = a.all()
	if len(ts) != 2 || ts[1].created["priority"] != "urgent" {
		t.Fatalf("%d tickets after escalating a solved one, want a follow-up at urgent", len(ts))
	}
	c, _ := ts[1].created["comment"].(map[string]any)
	if b, _ := c["body"].(string); !strings.Contains(b, "this alert is ESCALATED") || !strings.Contains(b, m.Escalated.Why[0]) {
		t.Errorf("follow-up body: %q", b)
	}
}

func TestTriggerAfterFinishedTicket(t *testing.T) {
	a, srv := newAccount(t)
	n := newNotifier(t, config(srv.URL))
	old := trigger(t, n)
	a.setStatus(old, "closed")
	m := notifytest.Message()
	m.IdempotencyKey = "f-fedcba9876543210fedcba98/test-channel" // a later finding
	res, err := n.Notify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	ts := a.all()
	if len(ts) != 2 || res.Ref == old {
		t.Fatalf("ref %q, %d tickets", res.Ref, len(ts))
	}
	if ts[1].created["via_followup_source_id"] != float64(ts[0].id) {
		t.Errorf("via_followup_source_id = %v, want %d", ts[1].created["via_followup_source_id"], ts[0].id)
	}
}

func TestTriggerRetriedAfterCrash(t *testing.T) {
	t.Run("response lost", func(t *testing.T) {
		a, srv := newAccount(t)
		a.loseCreates = 1
		n := newNotifier(t, config(srv.URL))
		m := notifytest.Message()
		if _, err := n.Notify(context.Background(), m); err == nil || notify.IsPermanent(err) {
			t.Fatalf("lost response: err = %v, want retryable", err)
		}
		a.take()
		res, err := n.Notify(context.Background(), m) // the dispatcher's retry
		if err != nil {
			t.Fatal(err)
		}
		ts := a.all()
		if len(ts) != 1 {
			t.Fatalf("%d tickets after the retry, want exactly 1", len(ts))
		}
		id := strconv.FormatInt(ts[0].id, 10)
		reqs := a.take()
		expect(t, reqs, list, put(id))
		notifytest.Golden(t, "retry_comment", reqs[1].body)
		if res.Ref != id {
			t.Errorf("ref = %q, want %q", res.Ref, id)
		}
	})
	t.Run("commit lost", func(t *testing.T) {
		a, srv := newAccount(t)
		n := newNotifier(t, config(srv.URL))
		first := trigger(t, n)
		// trailwatch crashed before recording first; the outbox
		// delivers the trigger again.
		again := trigger(t, n)
		if ts := a.all(); len(ts) != 1 || again != first {
			t.Errorf("%d tickets, refs %q and %q; want exactly 1 and equal refs", len(ts), first, again)
		}
	})
}

func TestTestMessage(t *testing.T) {
	a, srv := newAccount(t)
	n := newNotifier(t, config(srv.URL))
	m := notifytest.Message()
	m.Kind = notify.Test
	for range 2 {
		if _, err := n.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	reqs := a.take()
	expect(t, reqs, create, create) // a test never looks up, never merges
	notifytest.Golden(t, "test", reqs[0].body)
	if got := reqs[0].header.Get("Idempotency-Key"); got != "" {
		t.Errorf("test message sent Idempotency-Key %q: a second test would be swallowed", got)
	}
	ts := a.all()
	if len(ts) != 2 || !strings.HasPrefix(ts[0].externalID, "trailwatch-test-") || ts[0].externalID == ts[1].externalID {
		t.Errorf("test external ids %q and %q: want distinct trailwatch-test-… ids", ts[0].externalID, ts[1].externalID)
	}
	if s := ts[0].created["subject"].(string); !strings.HasPrefix(s, "[TEST] ") {
		t.Errorf("subject = %q", s)
	}
}

func TestUnknownKind(t *testing.T) {
	_, srv := newAccount(t)
	m := notifytest.Message()
	m.Kind = "reopen" // not a kind
	if _, err := newNotifier(t, config(srv.URL)).Notify(context.Background(), m); !notify.IsPermanent(err) {
		t.Errorf("unknown kind: err = %v, want permanent", err)
	}
}

func kit(baseURL string, logger *slog.Logger) notify.Notifier {
	n, err := zendesk.New(config(baseURL), notify.Options{Logger: logger})
	if err != nil {
		panic(err)
	}
	return n
}

var secrets = []string{token, credentials}

func TestStatuses(t *testing.T)    { notifytest.CheckStatuses(t, kit, secrets...) }
func TestUnreachable(t *testing.T) { notifytest.CheckUnreachable(t, kit, secrets...) }
func TestTimeout(t *testing.T)     { notifytest.CheckTimeout(t, kit, secrets...) }

func TestStatusesOnWrite(t *testing.T) {
	// The look-up finds nothing; the create fails: classified alike, and a
	// body echoing the token is scrubbed.
	for _, tc := range notifytest.StatusCases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				reply(w, http.StatusOK, map[string]any{"tickets": []any{}})
				return
			}
			for k, v := range tc.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(tc.Status)
			fmt.Fprintf(w, `{"error":"Couldn't authenticate you","token":%q}`, token)
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
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"ZD_TOKEN": token}[k] }
	ok := func(c zendesk.Config) zendesk.Config {
		if c.Subdomain == "" && c.BaseURL == "" {
			c.Subdomain = "acme"
		}
		if c.Email == "" {
			c.Email = email
		}
		if c.APIToken.Empty() && c.APITokenFile == "" {
			c.APIToken = secret.New(token)
		}
		return c
	}

	for _, tc := range []struct {
		name string
		c    zendesk.Config
		want []string // substrings of the error; none means valid
	}{
		{name: "inline", c: ok(zendesk.Config{})},
		{name: "from env", c: ok(zendesk.Config{APIToken: secret.New("${ZD_TOKEN}")})},
		{name: "from file", c: ok(zendesk.Config{APITokenFile: tokFile})},
		{name: "base_url", c: ok(zendesk.Config{BaseURL: "https://support.example.com/"})},
		{name: "everything", c: ok(zendesk.Config{TicketType: "task", Tags: []string{"sec"}, GroupID: 1, AssigneeID: 2, RequesterEmail: "a@example.com", CustomFields: []zendesk.CustomField{{ID: 3, Value: true}}})},
		{name: "missing auth", c: zendesk.Config{Subdomain: "acme"}, want: []string{"email: missing", "api_token: missing"}},
		{name: "no address", c: zendesk.Config{Email: email, APIToken: secret.New(token)}, want: []string{"subdomain: missing"}},
		{name: "subdomain and base_url", c: ok(zendesk.Config{Subdomain: "acme", BaseURL: "https://acme.zendesk.com"}), want: []string{"subdomain, base_url: give one, not both"}},
		{name: "subdomain as host", c: ok(zendesk.Config{Subdomain: "acme.zendesk.com"}), want: []string{"subdomain: give the subdomain only"}},
		{name: "env missing", c: ok(zendesk.Config{APIToken: secret.New("${ZD_NOPE}")}), want: []string{"api_token: environment variable ZD_NOPE is not set"}},
		{name: "file missing", c: ok(zendesk.Config{APITokenFile: filepath.Join(dir, "nope")}), want: []string{"api_token_file: read secret file"}},
		{name: "file empty", c: ok(zendesk.Config{APITokenFile: emptyFile}), want: []string{"api_token_file: file " + emptyFile + " is empty"}},
		{name: "value and file", c: ok(zendesk.Config{APIToken: secret.New(token), APITokenFile: tokFile}), want: []string{"api_token, api_token_file: give the value or the file, not both"}},
		{name: "bad url", c: ok(zendesk.Config{BaseURL: "acme.zendesk.com"}), want: []string{"base_url: not an absolute URL"}},
		{name: "plain http", c: ok(zendesk.Config{BaseURL: "http://acme.zendesk.com"}), want: []string{"base_url: must use https"}},
		{name: "credentials in url", c: ok(zendesk.Config{BaseURL: "https://" + email + ":" + token + "@acme.zendesk.com"}), want: []string{"base_url: must not contain credentials"}},
		{name: "bad email", c: ok(zendesk.Config{Email: "secops"}), want: []string{"email: not an e-mail address"}},
		{name: "bad fields", c: ok(zendesk.Config{TicketType: "bug", Tags: []string{"ok", "two words", ""}, GroupID: -1, RequesterEmail: "nobody", CustomFields: []zendesk.CustomField{{Value: "x"}, {ID: 4}}}), want: []string{
			`ticket_type: "bug"`, `tags[1]: "two words"`, `tags[2]: ""`, "group_id: must be a positive id", "requester_email: not an e-mail address", "custom_fields[0].id: missing", "custom_fields[1].value: missing",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			err := c.Check(getenv)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if c.APIToken.Reveal() != token || c.APITokenFile != "" {
					t.Errorf("api_token not resolved")
				}
				if c.TicketType == "" {
					t.Errorf("ticket_type default not filled")
				}
				if _, err := zendesk.New(c, notify.Options{}); err != nil {
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
			notifytest.NoLeak(t, err.Error(), token, credentials)
		})
	}
}

func TestNewWithoutCheck(t *testing.T) {
	_, err := zendesk.New(zendesk.Config{Subdomain: "acme", Email: email, APITokenFile: "/run/secrets/zd"}, notify.Options{})
	if err == nil || !strings.Contains(err.Error(), "api_token_file: not read yet") {
		t.Errorf("err = %v", err)
	}
}

func TestEchoedCredentialsNeverLeak(t *testing.T) { notifytest.CheckEcho(t, kit, secrets...) }
