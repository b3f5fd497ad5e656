package zendesk_test

import (
	"context"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
)

func TestAcknowledgeAndResolve(t *testing.T) {
	a, srv := newAccount(t)
	n := newNotifier(t, config(srv.URL))
	first, err := n.Notify(context.Background(), notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	a.take()
	m := notifytest.Message()
	m.Kind, m.Ref = notify.Acknowledge, first.Ref
	m.Transition = &notify.Transition{Actor: "alice", Note: "looking EXAMPLE", From: "open", To: "acknowledged", At: now}
	if res, err := n.Notify(context.Background(), m); err != nil || res.Ref != "" {
		t.Fatalf("acknowledge: %+v %v", res, err)
	}
	tk := a.all()[0]
	if tk.status != "new" || len(tk.comments) != 1 || tk.comments[0]["public"] != false ||
		!strings.HasPrefix(tk.comments[0]["body"].(string), "Acknowledged in trailwatch by alice at 2026-11-20 10:16:00 UTC: looking EXAMPLE") {
		t.Errorf("after acknowledge: status %s, comments %v", tk.status, tk.comments)
	}
	m.Kind = notify.Resolve
	m.Transition = &notify.Transition{Actor: "bob", Note: "fixed", From: "acknowledged", To: "resolved", At: now}
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	tk = a.all()[0]
	if tk.status != "solved" || len(tk.comments) != 2 || !strings.HasPrefix(tk.comments[1]["body"].(string), "Resolved in trailwatch by bob") {
		t.Errorf("after resolve: status %s, comments %v", tk.status, tk.comments)
	}
	// Already solved: nothing more to do, and no error to retry.
	a.take()
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Errorf("resolving a solved ticket: %v", err)
	}
	for _, r := range a.take() {
		if r.method != "GET" {
			t.Errorf("resolving a solved ticket sent %s %s", r.method, r.path)
		}
	}
}
