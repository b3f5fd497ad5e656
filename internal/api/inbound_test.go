package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/store"
)

const pdSecret = "pd-webhook-secret-EXAMPLE"

func pdEvent(id, typ, key string, at time.Time) string {
	return fmt.Sprintf(`{"event":{"id":%q,"event_type":%q,"resource_type":"incident","occurred_at":%q,
		"agent":{"summary":"Paula Oncall","type":"user_reference"},
		"data":{"id":"Q1EXAMPLE","type":"incident","html_url":"https://example.pagerduty.com/incidents/Q1EXAMPLE","incident_key":%q,"status":"resolved"}}}`,
		id, typ, at.Format(time.RFC3339), key)
}

func (fx *fixture) inbound(body, sig string) response {
	fx.t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/inbound/pagerduty", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-PagerDuty-Signature", sig)
	}
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.Bytes()}
}

func TestInboundPagerDuty(t *testing.T) {
	fx := newFixture(t, func(c *api.Config) {
		c.PagerDutySecret = secret.New(pdSecret)
		c.Lifecycle = []string{"pd"}
	})
	f := fx.fs[0] // EKS-A: 15 findings share its fingerprint
	key := "trailwatch-" + f.Fingerprint + "-escalation-1"
	ack := pdEvent("01EXAMPLEACK", "incident.acknowledged", key, t0.Add(-time.Minute))
	before := snapshot(t, fx)
	for _, c := range []struct{ name, body, sig string }{
		{"unsigned", ack, ""},
		{"wrong secret", ack, api.SignPagerDuty("wrong-EXAMPLE", []byte(ack))},
		{"body changed", ack, api.SignPagerDuty(pdSecret, []byte(ack+" "))},
		{"stale", pdEvent("01EXAMPLEOLD", "incident.acknowledged", key, t0.Add(-6*time.Minute)), ""},
		{"future", pdEvent("01EXAMPLEFUT", "incident.acknowledged", key, t0.Add(6*time.Minute)), ""},
	} {
		sig := c.sig
		if sig == "" && (c.name == "stale" || c.name == "future") {
			sig = api.SignPagerDuty(pdSecret, []byte(c.body))
		}
		if r := fx.inbound(c.body, sig); r.status != 401 {
			t.Errorf("%s: %d %s, want 401", c.name, r.status, r.body)
		}
	}
	if snapshot(t, fx) != before {
		t.Fatal("a refused webhook changed the store")
	}
	// Signed (with a second signature during a rotation): acknowledged.
	r := fx.inbound(ack, "v1=00ff,"+api.SignPagerDuty(pdSecret, []byte(ack)))
	if r.status != 200 || len(r.json(t)["changes"].([]any)) != 15 {
		t.Fatalf("acknowledge: %d %s", r.status, r.body)
	}
	h, _ := fx.st.History(context.Background(), f.ID)
	if fx.status(f.ID) != "acknowledged" || len(h) != 1 || h[0].Actor != "pagerduty:Paula Oncall" || !strings.Contains(h[0].Note, "Q1EXAMPLE") {
		t.Errorf("after acknowledge: %s %+v", fx.status(f.ID), h)
	}
	if fx.status(fx.fs[1].ID) != "open" {
		t.Error("a finding of another fingerprint was acknowledged")
	}
	// The same event again is a replay.
	if r := fx.inbound(ack, api.SignPagerDuty(pdSecret, []byte(ack))); r.status != 401 {
		t.Errorf("replay: %d", r.status)
	}
	res := pdEvent("01EXAMPLERES", "incident.resolved", key, t0)
	if r := fx.inbound(res, api.SignPagerDuty(pdSecret, []byte(res))); r.status != 200 || fx.status(f.ID) != "resolved" {
		t.Errorf("resolve: %d %s, status %s", r.status, r.body, fx.status(f.ID))
	}
	// PagerDuty, which told us, is not told back.
	ds, _ := fx.st.Deliveries(context.Background(), store.OutboxFilter{Findings: []string{f.ID}})
	for _, d := range ds {
		if d.Kind == store.KindResolve || d.Kind == store.KindAcknowledge {
			t.Errorf("a %s went back to %s", d.Kind, d.Channel)
		}
	}
	other := pdEvent("01EXAMPLEOTH", "incident.resolved", "someone-elses-key", t0)
	if r := fx.inbound(other, api.SignPagerDuty(pdSecret, []byte(other))); r.status != 200 || !strings.Contains(string(r.body), "ignored") {
		t.Errorf("another tool's incident: %d %s", r.status, r.body)
	}
	// Not configured: 404.
	plain := newFixture(t)
	if r := plain.inbound(ack, api.SignPagerDuty(pdSecret, []byte(ack))); r.status != 404 {
		t.Errorf("without a secret: %d", r.status)
	}
}

func (fx *fixture) post(path, body string, hdr map[string]string) response {
	fx.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.Bytes()}
}

const (
	zdSecret   = "zd-webhook-secret-EXAMPLE"
	snowSecret = "snow-shared-secret-EXAMPLE"
)

func TestInboundZendeskAndServiceNow(t *testing.T) {
	fx := newFixture(t, func(c *api.Config) {
		c.ZendeskSecret, c.ServiceNowSecret = secret.New(zdSecret), secret.New(snowSecret)
	})
	eks, iam := fx.fs[0], fx.fs[1] // two fingerprints, 15 findings each
	ts := t0.Add(-time.Minute).Format(time.RFC3339)
	zd := fmt.Sprintf(`{"ticket_id": 35436, "external_id": "trailwatch-%s", "status": "Solved", "updated_by": "Zoe Agent", "url": "https://example.zendesk.com/agent/tickets/35436"}`, eks.Fingerprint)
	sign := func(ts, body string) map[string]string {
		return map[string]string{"X-Zendesk-Webhook-Signature-Timestamp": ts, "X-Zendesk-Webhook-Signature": api.SignZendesk(zdSecret, ts, []byte(body))}
	}
	before := snapshot(t, fx)
	for name, h := range map[string]map[string]string{
		"unsigned":     {"X-Zendesk-Webhook-Signature-Timestamp": ts},
		"wrong secret": {"X-Zendesk-Webhook-Signature-Timestamp": ts, "X-Zendesk-Webhook-Signature": api.SignZendesk("wrong", ts, []byte(zd))},
		"other time":   {"X-Zendesk-Webhook-Signature-Timestamp": t0.Format(time.RFC3339), "X-Zendesk-Webhook-Signature": api.SignZendesk(zdSecret, ts, []byte(zd))},
		"stale":        sign(t0.Add(-10*time.Minute).Format(time.RFC3339), zd),
	} {
		if r := fx.post("/api/v1/inbound/zendesk", zd, h); r.status != 401 {
			t.Errorf("zendesk %s: %d %s", name, r.status, r.body)
		}
	}
	snow := fmt.Sprintf(`{"correlation_id": %q, "state": "6", "number": "INC0010001", "updated_by": "sam.agent", "updated_at": %q}`,
		iam.Fingerprint, t0.Add(-time.Minute).Format("2006-01-02 15:04:05"))
	for name, h := range map[string]map[string]string{
		"no secret":    {},
		"wrong secret": {"Authorization": "Bearer wrong-EXAMPLE"},
	} {
		if r := fx.post("/api/v1/inbound/servicenow", snow, h); r.status != 401 {
			t.Errorf("servicenow %s: %d %s", name, r.status, r.body)
		}
	}
	staleSnow := strings.Replace(snow, t0.Add(-time.Minute).Format("2006-01-02 15:04:05"), t0.Add(-time.Hour).Format("2006-01-02 15:04:05"), 1)
	if r := fx.post("/api/v1/inbound/servicenow", staleSnow, map[string]string{"Authorization": "Bearer " + snowSecret}); r.status != 401 {
		t.Errorf("servicenow stale: %d", r.status)
	}
	if snapshot(t, fx) != before {
		t.Fatal("a refused request changed the store")
	}
	if r := fx.post("/api/v1/inbound/zendesk", zd, sign(ts, zd)); r.status != 200 || len(r.json(t)["changes"].([]any)) != 15 {
		t.Fatalf("zendesk solved: %d %s", r.status, r.body)
	}
	if r := fx.post("/api/v1/inbound/zendesk", zd, sign(ts, zd)); r.status != 401 {
		t.Errorf("zendesk replay: %d", r.status)
	}
	h, _ := fx.st.History(context.Background(), eks.ID)
	if fx.status(eks.ID) != "resolved" || fx.status(iam.ID) != "open" || len(h) != 1 || h[0].Actor != "zendesk:Zoe Agent" {
		t.Errorf("after zendesk: %s %s %+v", fx.status(eks.ID), fx.status(iam.ID), h)
	}
	req := httptest.NewRequest("POST", "/api/v1/inbound/servicenow", strings.NewReader(snow))
	req.SetBasicAuth("servicenow", snowSecret)
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, req)
	if w.Code != 200 || fx.status(iam.ID) != "resolved" {
		t.Errorf("servicenow resolved: %d %s, status %s", w.Code, w.Body, fx.status(iam.ID))
	}
	h, _ = fx.st.History(context.Background(), iam.ID)
	if len(h) != 1 || h[0].Actor != "servicenow:sam.agent" || !strings.Contains(h[0].Note, "INC0010001") {
		t.Errorf("servicenow history: %+v", h)
	}
	pending := strings.Replace(snow, `"state": "6"`, `"state": "2"`, 1)
	if r := fx.post("/api/v1/inbound/servicenow", pending, map[string]string{"Authorization": "Bearer " + snowSecret}); r.status != 200 || !strings.Contains(string(r.body), "ignored") {
		t.Errorf("servicenow in progress: %d %s", r.status, r.body)
	}
}
