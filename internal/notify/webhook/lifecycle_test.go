package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
)

// A status change is a signed finding.status_changed event with who,
// when, from, to and the note.
func TestStatusChanged(t *testing.T) {
	var body []byte
	var sig, ts, key string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		sig, ts, key = r.Header.Get(DefaultSignatureHeader), r.Header.Get(TimestampHeader), r.Header.Get(IdempotencyHeader)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	m := notifytest.Message()
	m.Kind, m.IdempotencyKey = notify.Resolve, m.Finding.ID+"/hook/resolve"
	m.Transition = &notify.Transition{Actor: "rita", Note: "fixed EXAMPLE", From: "acknowledged", To: "resolved", At: now}
	if _, err := newNotifier(t, signedConfig(), srv.URL, nil).Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !Verify([]byte(hmacSecret), ts, body, sig) {
		t.Error("the status change is not signed")
	}
	if key != m.IdempotencyKey {
		t.Errorf("Idempotency-Key %q", key)
	}
	var b struct {
		Kind       string             `json:"kind"`
		Event      string             `json:"event"`
		Transition *notify.Transition `json:"transition"`
		Finding    struct {
			ID string `json:"id"`
		} `json:"finding"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Kind != "resolve" || b.Event != "finding.status_changed" || b.Transition == nil || b.Transition.Actor != "rita" ||
		b.Transition.To != "resolved" || b.Transition.Note != "fixed EXAMPLE" || b.Finding.ID != m.Finding.ID {
		t.Errorf("body: %s", body)
	}
}
