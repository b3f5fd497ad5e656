package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// incidents is one loopback server speaking the three protocols that hold
// incidents or tickets: PagerDuty Events v2, the ServiceNow Table API and
// the Zendesk Tickets API, recording what each was told.
type incidents struct {
	mu      sync.Mutex
	pd      []string          // event_action dedup_key
	snow    map[string]string // sys_id -> state
	snowCor map[string]string // correlation_id -> sys_id
	zd      map[int64]string  // ticket id -> status
	zdExt   map[string]int64
	log     []string // every state-changing request
}

func (in *incidents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	in.mu.Lock()
	defer in.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	var m map[string]any
	json.Unmarshal(b, &m)
	switch {
	case r.URL.Path == "/v2/enqueue":
		in.pd = append(in.pd, fmt.Sprint(m["event_action"], " ", m["dedup_key"]))
		in.log = append(in.log, "pd "+fmt.Sprint(m["event_action"]))
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "dedup_key": m["dedup_key"]})
	case r.URL.Path == "/api/now/table/incident" && r.Method == "GET":
		q := strings.TrimPrefix(r.URL.Query().Get("sysparm_query"), "correlation_id=")
		corr, _, _ := strings.Cut(q, "^")
		var res []map[string]string
		if id, ok := in.snowCor[corr]; ok && in.snow[id] != "6" {
			res = append(res, map[string]string{"sys_id": id, "number": "INC0010001"})
		}
		json.NewEncoder(w).Encode(map[string]any{"result": res})
	case r.URL.Path == "/api/now/table/incident" && r.Method == "POST":
		id := fmt.Sprintf("%032x", len(in.snow)+1)
		in.snow[id] = "1"
		in.snowCor[fmt.Sprint(m["correlation_id"])] = id
		in.log = append(in.log, "snow create")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]string{"sys_id": id, "number": "INC0010001"}})
	case strings.HasPrefix(r.URL.Path, "/api/now/table/incident/") && r.Method == "PATCH":
		id := strings.TrimPrefix(r.URL.Path, "/api/now/table/incident/")
		if st, ok := m["state"].(string); ok {
			in.snow[id] = st
		}
		in.log = append(in.log, fmt.Sprintf("snow patch state=%v close_code=%v", m["state"], m["close_code"]))
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]string{"sys_id": id, "number": "INC0010001"}})
	case r.URL.Path == "/api/v2/tickets.json" && r.Method == "GET":
		var ts []map[string]any
		if id, ok := in.zdExt[r.URL.Query().Get("external_id")]; ok {
			ts = append(ts, map[string]any{"id": id, "status": in.zd[id], "external_id": r.URL.Query().Get("external_id")})
		}
		json.NewEncoder(w).Encode(map[string]any{"tickets": ts})
	case r.URL.Path == "/api/v2/tickets.json" && r.Method == "POST":
		t, _ := m["ticket"].(map[string]any)
		id := int64(35436 + len(in.zd))
		in.zd[id] = "new"
		in.zdExt[fmt.Sprint(t["external_id"])] = id
		in.log = append(in.log, "zd create")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"ticket": map[string]any{"id": id, "status": "new"}})
	case strings.HasPrefix(r.URL.Path, "/api/v2/tickets/") && r.Method == "PUT":
		var id int64
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/api/v2/tickets/"), "%d.json", &id)
		t, _ := m["ticket"].(map[string]any)
		if st, ok := t["status"].(string); ok {
			in.zd[id] = st
		}
		in.log = append(in.log, fmt.Sprintf("zd update status=%v", t["status"]))
		json.NewEncoder(w).Encode(map[string]any{"ticket": map[string]any{"id": id, "status": in.zd[id]}})
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
	}
}

func (in *incidents) requests() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.log...)
}

// A finding alerts PagerDuty, ServiceNow and Zendesk; resolving it through
// the API sends the resolve to each exactly once, even when the process
// dies between the commit and the delivery.
func TestResolveReachesEveryIncidentOnce(t *testing.T) {
	in := &incidents{snow: map[string]string{}, snowCor: map[string]string{}, zd: map[int64]string{}, zdExt: map[string]int64{}}
	srv := httptest.NewServer(in)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "tw.db")
	cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(`
store: {path: %s}
channels:
  - {name: pd, type: pagerduty, routing_key: EXAMPLEROUTINGKEYEXAMPLE00000000, base_url: %[2]s}
  - {name: snow, type: servicenow, base_url: %[2]s, username: trailwatch, password: pw-EXAMPLE}
  - {name: zd, type: zendesk, base_url: %[2]s, email: bot@example.com, api_token: tok-EXAMPLE}
`, path, srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock(time.Now())
	open := func() (*sqlite.Store, *dispatch.Dispatcher) {
		st, err := sqlite.Open(path, clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		chans, _, err := Channels(cfg, ChannelOptions{Getenv: getenv})
		if err != nil {
			t.Fatal(err)
		}
		return st, dispatch.New(st, chans, dispatch.Options{Poll: 10 * time.Millisecond})
	}
	drain := func(d *dispatch.Dispatcher) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if n, err := d.Drain(ctx); n != 0 || err != nil {
			t.Fatalf("drain: %d left, %v", n, err)
		}
	}
	st, d := open()
	_, router, _ := Channels(cfg, ChannelOptions{Getenv: getenv})
	f := storetest.Sample(1, "EKS-A", finding.Extreme)
	f.EventTime = clock.Now()
	if _, err := st.SaveRouted(context.Background(), []finding.Finding{f}, router.Route); err != nil {
		t.Fatal(err)
	}
	drain(d)
	if got := strings.Join(in.requests(), ","); !allOf(got, "pd trigger", "snow create", "zd create") {
		t.Fatalf("alerts: %s", got)
	}
	// Resolve through the API, then die before any delivery.
	full := store.Full(st)
	h, err := api.New(api.Config{Store: full, Lifecycle: []string{"pd", "snow", "zd"}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1/findings/"+f.ID+"/resolve", strings.NewReader(`{"note":"fixed EXAMPLE"}`))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("resolve: %d %s", w.Code, w.Body)
	}
	st.Close() // as kill -9 after the commit: nothing was sent
	before := len(in.requests())
	st, d = open()
	defer st.Close()
	drain(d)
	after := in.requests()[before:]
	if !allOf(strings.Join(after, ","), "pd resolve", "snow patch state=6 close_code=Solved (Permanently)", "zd update status=solved") || len(after) != 3 {
		t.Errorf("after the restart: %v, want one resolve to each", after)
	}
	// Nothing more is owed: another drain, or resolving again, sends nothing.
	full = store.Full(st)
	if _, err := full.Transition(context.Background(), []string{f.ID}, store.StatusOpen, "x", "", clock.Now(), []string{"pd", "snow", "zd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := full.Transition(context.Background(), []string{f.ID}, store.StatusResolved, "x", "", clock.Now(), []string{"pd", "snow", "zd"}); err != nil {
		t.Fatal(err)
	}
	drain(d)
	if n := len(in.requests()) - before; n != 3 {
		t.Errorf("%d requests after the restart, want 3: %v", n, in.requests()[before:])
	}
}

func allOf(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
