package pagerduty

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
)

// Acknowledging and resolving a finding sends acknowledge and resolve
// events with the alert's dedup_key (and the latest escalation's), and no
// payload.
func TestLifecycleEvents(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	fail := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		got = append(got, m)
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(response{Status: "success", Message: "Event processed", DedupKey: m["dedup_key"].(string)})
	}))
	defer srv.Close()
	n := newNotifier(t, Config{}, srv.URL, nil)
	m := notifytest.Message()
	trigger := DedupKey(m.Finding)
	m.Kind, m.Ref = notify.Acknowledge, trigger
	m.Transition = &notify.Transition{Actor: "alice", Note: "on it", From: "open", To: "acknowledged", At: now}
	res, err := n.Notify(context.Background(), m)
	if err != nil || res.Ref != "" {
		t.Fatalf("acknowledge: %+v %v (a lifecycle event must not replace the alert's reference)", res, err)
	}
	if len(got) != 1 || got[0]["event_action"] != "acknowledge" || got[0]["dedup_key"] != trigger || got[0]["routing_key"] != routingKey || got[0]["payload"] != nil {
		t.Errorf("acknowledge event: %v", got)
	}
	got = nil
	m.Kind, m.Ref = notify.Resolve, EscalationKey(m.Finding, 2)
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range got {
		if e["event_action"] != "resolve" {
			t.Errorf("resolve sent %v", e["event_action"])
		}
		keys = append(keys, e["dedup_key"].(string))
	}
	if !slices.Equal(keys, []string{trigger, EscalationKey(m.Finding, 2)}) {
		t.Errorf("resolved %v", keys)
	}
	fail = 1
	if _, err := n.Notify(context.Background(), m); err == nil || notify.IsPermanent(err) || strings.Contains(err.Error(), routingKey) {
		t.Errorf("a 503 on resolve: %v, want a retryable error without the routing key", err)
	}
}
