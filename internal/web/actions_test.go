package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

func as(role string) func(*http.Request) (string, string, bool) {
	return func(*http.Request) (string, string, bool) { return "someone", role, role != "" }
}

// The silences page lists active, later and ended silences with their
// matchers, creator, comment and how many findings each caught; the create
// form and the expire buttons are there for responders and admins only.
func TestSilencesPage(t *testing.T) {
	st := exampleStore(t)
	ctx := context.Background()
	h := hostile()
	active, err := st.AddSilence(ctx, store.Silence{Matchers: store.Matchers{Rule: h.RuleID, Account: h.AccountID, MaxRisk: finding.Extreme},
		Start: now.Add(-time.Hour), End: now.Add(3 * time.Hour), Creator: "rita", Comment: "maintenance <b>EXAMPLE</b>"})
	if err != nil {
		t.Fatal(err)
	}
	later, err := st.AddSilence(ctx, store.Silence{Matchers: store.Matchers{Region: "eu-north-1"}, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour),
		Creator: "sam", Comment: "window"})
	if err != nil {
		t.Fatal(err)
	}
	ended, err := st.AddSilence(ctx, store.Silence{Matchers: store.Matchers{Service: "iam"}, Start: now.Add(-48 * time.Hour), End: now.Add(-24 * time.Hour),
		Creator: "sam", Comment: "old"})
	if err != nil {
		t.Fatal(err)
	}
	// Two findings the active silence catches, saved as run saves them.
	for i := range 2 {
		f := h
		f.EventID = "silenced-" + string(rune('a'+i))
		f.ID = finding.ID(f.EventID, f.RuleID)
		if _, err := st.SaveRouted(ctx, []finding.Finding{f}, func(finding.Finding) []store.Route { return []store.Route{{Channel: "pd"}} }); err != nil {
			t.Fatal(err)
		}
	}
	for role, edit := range map[string]bool{store.RoleViewer: false, store.RoleResponder: true, store.RoleAdmin: true} {
		s, err := New(Options{Store: st, Now: func() time.Time { return now }, APIPath: "/api/v1", Who: as(role)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		code, _, body := get(t, srv.URL+"/silences")
		srv.Close()
		if code != 200 {
			t.Fatalf("%s: silences page %d %.300s", role, code, body)
		}
		for _, want := range []string{
			`id="active-silences"`, `id="pending-silences"`, `id="expired-silences"`,
			`<tr data-silence="` + active.ID + `">`, `<tr data-silence="` + later.ID + `">`, `<tr data-silence="` + ended.ID + `">`,
			"rule: " + h.RuleID, "account: " + h.AccountID, "risk at most: EXTREME", "region: eu-north-1", "service: iam",
			"maintenance &lt;b&gt;EXAMPLE&lt;/b&gt;", "rita", `data-caught="2"><a href="/findings?silence=` + active.ID + `">2 findings</a>`, "in 3 hours", "24 hours ago",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: silences page lacks %s", role, want)
			}
		}
		if got := strings.Contains(body, `id="new-silence"`); got != edit {
			t.Errorf("%s: create form shown %v", role, got)
		}
		if got := strings.Count(body, "data-expire="); (got == 2) != edit || (!edit && got != 0) {
			t.Errorf("%s: %d expire buttons (active and later ones, for responders)", role, got)
		}
		if edit && !strings.Contains(body, `data-expire="/api/v1/silences/`+active.ID+`"`) {
			t.Errorf("%s: no expire button for the active silence", role)
		}
	}
	// The count links the findings that silence caught, and only those.
	s, err := New(Options{Store: st, Now: func() time.Time { return now }, APIPath: "/api/v1", Who: as(store.RoleViewer)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, _, body := get(t, srv.URL+"/findings?silence="+active.ID)
	if got := ids(body); len(got) != 2 || strings.Count(body, "status-silenced") != 2 {
		t.Errorf("findings of silence %s: %v", active.ID, got)
	}
	if strings.Contains(body, "export-csv") {
		t.Error("an export link that would not keep the silence filter")
	}
	if code, _, _ := get(t, newServer(t, st, "").URL+"/silences?x=1"); code != 400 {
		t.Errorf("silences page with a parameter: %d", code)
	}
}

// A finding's page offers "silence similar" pre-filled from the finding to
// responders, links its deliveries' incidents and tickets, and offers
// admins a retry of a dead delivery.
func TestDetailActionsFollowTheRole(t *testing.T) {
	st := exampleStore(t)
	ctx := context.Background()
	h := hostile()
	h.Resource.ARN = "arn:aws:eks:eu-west-1:111122223333:cluster/prod"
	if _, err := st.SaveRouted(ctx, []finding.Finding{h}, func(finding.Finding) []store.Route {
		return []store.Route{{Channel: "desk"}, {Channel: "pager"}}
	}); err != nil {
		t.Fatal(err)
	}
	for ch, status := range map[string]string{"desk": store.Done, "pager": store.Dead} {
		ds, err := st.Claim(ctx, ch, now, 10, time.Minute)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim %s: %d %v", ch, len(ds), err)
		}
		if err := st.Settle(ctx, []store.Outcome{{ID: ds[0].ID, Status: status, Ref: "4242/x", Err: "boom", At: now}}); err != nil {
			t.Fatal(err)
		}
	}
	chans := []Channel{{Name: "desk", Type: "zendesk", RefURL: "https://example.zendesk.com/agent/tickets/{ref}"}, {Name: "pager", Type: "pagerduty"}}
	for role, want := range map[string][2]bool{store.RoleViewer: {false, false}, store.RoleResponder: {true, false}, store.RoleAdmin: {true, true}} {
		s, err := New(Options{Store: st, Outbox: st, Channels: chans, Now: func() time.Time { return now }, APIPath: "/api/v1", Who: as(role)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		code, _, body := get(t, srv.URL+"/findings/"+h.ID)
		srv.Close()
		if code != 200 {
			t.Fatalf("%s: %d", role, code)
		}
		if got := strings.Contains(body, `id="silence-form"`); got != want[0] {
			t.Errorf("%s: silence similar shown %v", role, got)
		}
		if want[0] {
			for _, x := range []string{`name="rule" value="EKS-ENDPOINT-PUBLIC"`, `name="account" value="111122223333"`, `name="region" value="eu-west-1"`,
				`name="actor" value="arn:aws:iam::111122223333:user/mallory"`, `name="resource" value="arn:aws:eks:eu-west-1:111122223333:cluster/prod"`,
				`name="service" value="eks"`, `<option value="VERY_HIGH" selected>`, `name="duration" value="24h"`, `data-api="/api/v1"`} {
				if !strings.Contains(body, x) {
					t.Errorf("%s: silence similar lacks %s", role, x)
				}
			}
		}
		retry := `data-outbox="/api/v1/outbox/`
		if got := strings.Contains(body, retry); got != want[1] {
			t.Errorf("%s: retry shown %v", role, got)
		}
		if want[1] && strings.Count(body, retry) != 1 {
			t.Errorf("%s: %d retry buttons, want 1 (the dead delivery only)", role, strings.Count(body, retry))
		}
		if !strings.Contains(body, `<a class="ref" href="https://example.zendesk.com/agent/tickets/4242%2Fx"`) {
			t.Errorf("%s: the ticket is not linked", role)
		}
		if strings.Count(body, `class="ref"`) != 1 {
			t.Errorf("%s: a reference without a RefURL is linked", role)
		}
	}
	// The channels page: admins retry or drop dead letters.
	for role, want := range map[string]bool{store.RoleResponder: false, store.RoleAdmin: true} {
		s, err := New(Options{Store: st, Outbox: st, Channels: chans, Now: func() time.Time { return now }, APIPath: "/api/v1", Who: as(role)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		_, _, body := get(t, srv.URL+"/channels?status=dead")
		srv.Close()
		if got := strings.Contains(body, `/retry">Retry</button>`) && strings.Contains(body, `/drop">Drop</button>`); got != want {
			t.Errorf("%s: dead letter retry and drop shown %v", role, got)
		}
	}
}

// The overview lists every trail with its last event, silent ones first
// and flagged in words (not only colour).
func TestOverviewTrails(t *testing.T) {
	st := exampleStore(t)
	trails := []Trail{
		{Account: "111122223333", Region: "us-east-1", LastEvent: now.Add(-5 * time.Minute), State: "ok"},
		{Account: "444455556666", Region: "eu-west-1", LastEvent: now.Add(-3 * time.Hour), State: "silent"},
		{Account: "777788889999", Region: "ap-south-1", State: "waiting"},
	}
	s, err := New(Options{Store: st, Now: func() time.Time { return now }, Trails: func() []Trail { return trails }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, _, body := get(t, srv.URL+"/")
	for _, want := range []string{`id="trails"`, "(1 silent)", `data-state="silent"`, "⚠ SILENT", "3 hours ago", "5 minutes ago", "waiting for a first event",
		`href="/findings?account=111122223333&amp;region=us-east-1"`} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %s", want)
		}
	}
	if i, j := strings.Index(body, `data-trail="444455556666/eu-west-1"`), strings.Index(body, `data-trail="111122223333/us-east-1"`); i < 0 || j < 0 || i > j {
		t.Error("the silent trail is not listed first")
	}
	// Without a heartbeat the overview does not pretend to know.
	_, _, body = get(t, newServer(t, st, "").URL+"/")
	if strings.Contains(body, `id="trails-h"`) {
		t.Error("trails shown without a source of them")
	}
}

// A finding's page lists its repeats (the other findings of its
// fingerprint) with first and last seen.
func TestDetailRepeats(t *testing.T) {
	var extra []finding.Finding
	for i := range 3 {
		f := hostile()
		f.EventID = "repeat-" + string(rune('a'+i))
		f.ID = finding.ID(f.EventID, f.RuleID)
		f.EventTime = now.Add(-time.Duration(i+1) * 24 * time.Hour)
		extra = append(extra, f)
	}
	h := hostile()
	st := exampleStore(t, append(extra, h)...)
	srv := newServer(t, st, "")
	_, _, body := get(t, srv.URL+"/findings/"+h.ID)
	for _, want := range []string{`id="repeats"`, "3 other findings of the same change", "first seen " + extra[2].EventTime.UTC().Format("2006-01-02 15:04:05 UTC"),
		"last seen " + h.EventTime.UTC().Format("2006-01-02 15:04:05 UTC"), `href="/findings/` + extra[0].ID + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("repeats lack %s", want)
		}
	}
	if strings.Contains(body, `<a href="/findings/`+h.ID+`" class="nowrap">`) {
		t.Error("a finding lists itself as its repeat")
	}
	// A finding alone with its fingerprint has no repeats section.
	alone := hostile()
	alone.EventID, alone.Fingerprint = "alone-1", "fp-alone"
	alone.ID = finding.ID(alone.EventID, alone.RuleID)
	if _, err := st.Save(context.Background(), []finding.Finding{alone}); err != nil {
		t.Fatal(err)
	}
	if _, _, body := get(t, srv.URL+"/findings/"+alone.ID); strings.Contains(body, `id="repeats"`) {
		t.Error("a finding alone with its fingerprint shows repeats")
	}
}

// The overview counts the open findings of each risk, linking to the feed
// of those.
func TestOverviewOpenByRisk(t *testing.T) {
	st := exampleStore(t)
	all, _ := st.Page(context.Background(), store.Query{})
	var high []string
	for _, f := range all {
		if f.Risk == finding.VeryHigh {
			high = append(high, f.ID)
		}
	}
	if len(high) < 2 {
		t.Fatalf("%d VERY_HIGH findings in the example", len(high))
	}
	if _, err := st.Transition(context.Background(), high[:1], store.StatusResolved, "rita", "", now, nil); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, st, "")
	_, _, body := get(t, srv.URL+"/?window=all")
	want := `<a class="open" href="/findings?risk=VERY_HIGH&amp;status=open"><span data-open="VERY_HIGH">` + strconv.Itoa(len(high)-1) + `</span> open</a>`
	if !strings.Contains(body, want) {
		t.Errorf("overview lacks %s", want)
	}
}
