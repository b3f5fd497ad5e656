package webhook_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/notify/webhook"
)

// A receiver checks the signature over the timestamp and the body it read,
// and refuses a timestamp far from its clock, so a captured request cannot
// be replayed later.
func ExampleVerify() {
	secret := []byte("hmac-EXAMPLE-secret")
	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		ts := r.Header.Get(webhook.TimestampHeader)
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || math.Abs(time.Since(time.Unix(sec, 0)).Seconds()) > 300 {
			http.Error(w, "stale or missing timestamp", http.StatusUnauthorized)
			return
		}
		if !webhook.Verify(secret, ts, body, r.Header.Get(webhook.DefaultSignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Println("accepted:", strings.TrimSpace(string(body)))
	})

	// What trailwatch sends: the signature of "timestamp.body".
	body := `{"kind":"test"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for _, sig := range []string{webhook.Sign(secret, ts, []byte(body)), "sha256=forged"} {
		req := httptest.NewRequest(http.MethodPost, "/alerts", strings.NewReader(body))
		req.Header.Set(webhook.TimestampHeader, ts)
		req.Header.Set(webhook.DefaultSignatureHeader, sig)
		rec := httptest.NewRecorder()
		receive.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// accepted: {"kind":"test"}
	// 200
	// 401
}
