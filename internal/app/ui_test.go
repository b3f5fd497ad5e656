package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

// trailwatch run with ui.listen serves the API over the store it writes,
// and alerts link to ui.external_url.
func TestRunServesTheAPI(t *testing.T) {
	rcv, hook := newReceiver()
	defer hook.Close()
	cfg := testConfig(t, hook.URL)
	cfg.UI = config.UI{Listen: "127.0.0.1:0", ExternalURL: "https://tw.example.com/trailwatch"}
	addrs, stop := start(t, cfg)
	if addrs["ui"] == "" {
		t.Fatalf("no ui address in %v", addrs)
	}
	body, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := post(t, "http://"+addrs["eventbridge"]+"/events", apiKey, body); code != http.StatusOK {
		t.Fatalf("events: %d %s", code, msg)
	}
	api := "http://" + addrs["ui"] + "/api/v1"
	resp, err := http.Get(api + "/findings")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Findings []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"findings"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(page.Findings) != 2 || page.Findings[0].Status != "open" {
		t.Fatalf("GET /findings: %d %+v", resp.StatusCode, page)
	}
	id := page.Findings[0].ID
	resp, err = http.Post(api+"/findings/"+id+"/acknowledge", "application/json", strings.NewReader(`{"note":"looking EXAMPLE"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"to":"acknowledged"`) {
		t.Errorf("acknowledge: %d %s", resp.StatusCode, b)
	}
	waitFor(t, "2 alerts", func() bool { u, _ := rcv.count(); return u >= 2 })
	rcv.mu.Lock()
	link, _ := rcv.bodies[0]["dashboard_url"].(string)
	rcv.mu.Unlock()
	if !strings.HasPrefix(link, "https://tw.example.com/trailwatch/findings/f-") {
		t.Errorf("alert link %q", link)
	}
	// Resolve, reopen, resolve: the webhook hears the acknowledgement and
	// one resolution, signed, as finding.status_changed.
	for _, action := range []string{"resolve", "reopen", "resolve"} {
		resp, err := http.Post(api+"/findings/"+id+"/"+action, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", action, resp.StatusCode)
		}
	}
	changes := func() (kinds []string) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, b := range rcv.bodies {
			if b["event"] == "finding.status_changed" {
				kinds = append(kinds, b["kind"].(string))
			}
		}
		return kinds
	}
	waitFor(t, "acknowledge and resolve at the webhook", func() bool { return len(changes()) == 2 })
	stop()
	if k := changes(); len(k) != 2 || k[0] == k[1] {
		t.Errorf("status changes delivered: %v, want one acknowledge and one resolve", k)
	}
	if u, total := rcv.count(); u != 4 || total != 4 {
		t.Errorf("%d unique deliveries, %d in all; want 4 and 4", u, total)
	}
}

// store.retention: trailwatch run deletes findings past it at start.
func TestRunPrunesPastRetention(t *testing.T) {
	_, hook := newReceiver()
	defer hook.Close()
	cfg := testConfig(t, hook.URL)
	cfg.Store.Retention = duration.Duration(400 * 24 * time.Hour)
	st, err := sqlite.Open(cfg.Store.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, recent := storetest.Sample(1, "EKS-A", finding.High), storetest.Sample(2, "EKS-A", finding.High)
	old.EventTime = time.Now().Add(-401 * 24 * time.Hour)
	recent.EventTime = time.Now().Add(-399 * 24 * time.Hour)
	if _, err := st.Save(context.Background(), []finding.Finding{old, recent}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, stop := start(t, cfg)
	defer stop()
	ro, err := sqlite.Open(cfg.Store.Path, nil, sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	waitFor(t, "the old finding deleted", func() bool {
		_, err := ro.Finding(context.Background(), old.ID)
		return err != nil
	})
	if _, err := ro.Finding(context.Background(), recent.ID); err != nil {
		t.Errorf("the recent finding: %v", err)
	}
}

// config check resolves the inbound webhooks' secrets as the API would.
func TestCheckResolvesInboundSecrets(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("ui:\n  listen: \"127.0.0.1:0\"\n  inbound:\n    pagerduty_secret: ${PD_SECRET_UNSET_EXAMPLE}\n    zendesk_secret_file: /nonexistent/zd-EXAMPLE\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg, CheckOptions{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "ui.inbound.pagerduty_secret") || !strings.Contains(err.Error(), "ui.inbound.zendesk_secret_file") {
		t.Errorf("config check: %v", err)
	}
}

// GET /trails in trailwatch run: the heartbeat's accounts and regions.
func TestRunServesTrails(t *testing.T) {
	_, hook := newReceiver()
	defer hook.Close()
	cfg := testConfig(t, hook.URL)
	cfg.UI = config.UI{Listen: "127.0.0.1:0"}
	cfg.Heartbeat = config.Heartbeat{MaxSilence: duration.Duration(time.Hour), Expect: []config.Expect{{Account: "999988887777", Region: "eu-west-1"}}}
	addrs, stop := start(t, cfg)
	defer stop()
	body, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := post(t, "http://"+addrs["eventbridge"]+"/events", apiKey, body); code != http.StatusOK {
		t.Fatalf("events: %d %s", code, msg)
	}
	resp, err := http.Get("http://" + addrs["ui"] + "/api/v1/trails")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Trails []struct{ Account, Region, State string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	states := map[string]string{}
	for _, tr := range out.Trails {
		states[tr.Account+"/"+tr.Region] = tr.State
	}
	if resp.StatusCode != 200 || states["999988887777/eu-west-1"] != "waiting" || len(states) < 2 {
		t.Errorf("trails: %d %v", resp.StatusCode, out.Trails)
	}
	for k, st := range states {
		if k != "999988887777/eu-west-1" && st != "ok" {
			t.Errorf("%s: %s, want ok", k, st)
		}
	}
	// The dashboard's overview lists the same trails.
	page, err := http.Get("http://" + addrs["ui"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	html, _ := io.ReadAll(page.Body)
	if !strings.Contains(string(html), `data-trail="999988887777/eu-west-1" data-state="waiting"`) {
		t.Errorf("the overview does not list the expected trail: %.3000s", html)
	}
}

// GET /rules says what the engine runs: a rule that is off until it is
// configured is off, a rule switched off is off, and configured risk, TTL
// and event switches show as effective (the metrics' zero series follow
// the same list).
func TestAPIRulesFollowTheEngine(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader(`
rules:
  EKS-CLUSTER-CREATE: {enabled: false}
  EKS-ACCESS-POLICY: {risk: EXTREME, ttl: 2h, events: {DisassociateAccessPolicy: false}}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, eng, err := Engine(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ruleDetail{}
	for _, r := range APIRules(eng) {
		got[r.ID] = r.Detail.(ruleDetail)
	}
	var offUntilConfigured string
	cat, _ := rule.Embedded()
	for _, r := range cat.Rules {
		if !r.DefaultOn() {
			offUntilConfigured = r.ID
			break
		}
	}
	if offUntilConfigured == "" || got[offUntilConfigured].Enabled {
		t.Errorf("%q is off until configured, but /rules says enabled", offUntilConfigured)
	}
	if got["EKS-CLUSTER-CREATE"].Enabled {
		t.Error("a rule switched off says enabled")
	}
	c := got["EKS-ACCESS-POLICY"]
	if !c.Enabled || c.Effective.Risk != "EXTREME" || c.Effective.TTL != "2h" || c.Effective.Events["DisassociateAccessPolicy"] {
		t.Errorf("effective settings: %+v", c.Effective)
	}
	if _, listed := c.Effective.Events["DisassociateAccessPolicy"]; !listed {
		t.Error("the switched-off event is not listed")
	}
	on := enabledRules(eng)
	if len(on) != eng.Rules() || slices.Contains(on, offUntilConfigured) || slices.Contains(on, "EKS-CLUSTER-CREATE") {
		t.Errorf("enabledRules: %d of %d engine rules", len(on), eng.Rules())
	}
}
