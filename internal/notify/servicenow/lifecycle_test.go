package servicenow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/notify/servicenow"
)

func TestAcknowledgeAndResolve(t *testing.T) {
	in, srv := newInstance(t, basicAuth)
	c := config(srv.URL)
	c.Resolve = servicenow.Resolve{State: "7", CloseCode: "Resolved by request", CloseNotesField: "u_close_notes"}
	n := newNotifier(t, c)
	first, err := n.Notify(context.Background(), notifytest.Message())
	if err != nil {
		t.Fatal(err)
	}
	in.take()
	m := notifytest.Message()
	m.Kind, m.Ref = notify.Acknowledge, first.Ref
	m.Transition = &notify.Transition{Actor: "alice", Note: "looking EXAMPLE", From: "open", To: "acknowledged", At: now}
	res, err := n.Notify(context.Background(), m)
	if err != nil || res.Ref != "" {
		t.Fatalf("acknowledge: %+v %v", res, err)
	}
	expect(t, in.take(), "PATCH "+table+"/"+first.Ref)
	rec := in.records()[0]
	if len(rec.workNotes) != 1 || !strings.HasPrefix(rec.workNotes[0], "Acknowledged in trailwatch by alice at 2026-11-20 10:16:00 UTC: looking EXAMPLE") {
		t.Errorf("work notes %q", rec.workNotes)
	}
	if rec.fields["state"] != nil {
		t.Errorf("acknowledging changed the state to %v", rec.fields["state"])
	}
	// Resolving without a ref finds the incident by fingerprint.
	m.Kind, m.Ref = notify.Resolve, ""
	m.Transition = &notify.Transition{Actor: "bob", Note: "fixed", From: "acknowledged", To: "resolved", At: now}
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	expect(t, in.take(), get, "PATCH "+table+"/"+first.Ref)
	rec = in.records()[0]
	if rec.fields["state"] != "7" || rec.fields["close_code"] != "Resolved by request" ||
		!strings.HasPrefix(rec.fields["u_close_notes"].(string), "Resolved in trailwatch by bob") {
		t.Errorf("resolved fields %v", rec.fields)
	}
	// No incident: nothing to do, and no error to retry.
	other := notifytest.Message()
	other.Finding.Fingerprint = "00000000000000000000000000000000"
	other.Kind = notify.Resolve
	if _, err := n.Notify(context.Background(), other); err != nil {
		t.Errorf("resolve without an incident: %v", err)
	}
	expect(t, in.take(), get)
}

func TestResolveColumnsChecked(t *testing.T) {
	c := config("https://servicenow.example.com")
	c.Resolve.CloseNotesField = "Close Notes"
	if err := c.Check(nil); err == nil || !strings.Contains(err.Error(), "resolve.close_notes_field") {
		t.Errorf("bad column: %v", err)
	}
}
