package api_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

type sse struct{ id, name, data string }

// openStream connects as role, with a Last-Event-ID when last is set, and
// returns the events as they come.
func openStream(t *testing.T, url, token, last string) (*http.Response, <-chan sse, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan sse, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sse
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "id: "):
				ev.id = l[4:]
			case strings.HasPrefix(l, "event: "):
				ev.name = l[7:]
			case strings.HasPrefix(l, "data: "):
				ev.data = l[6:]
			case l == "" && ev.name != "":
				ch <- ev
				ev = sse{}
			}
		}
	}()
	return resp, ch, func() { cancel(); resp.Body.Close() }
}

func next(t *testing.T, ch <-chan sse) sse {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sse{}
}

func TestStreamReconnectMissesNothing(t *testing.T) {
	fx := newFixture(t, func(c *api.Config) { c.StreamPoll = 10 * time.Millisecond; c.MaxStreams = 1 })
	srv := httptest.NewServer(fx.srv)
	defer srv.Close()
	ctx := context.Background()
	resp, events, closeStream := openStream(t, srv.URL, fx.tokens["viewer"], "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// One stream at most here: the second is refused.
	if r, _, c := openStream(t, srv.URL, fx.tokens["viewer"], ""); r.StatusCode != 503 {
		t.Errorf("a second stream: %d, want 503", r.StatusCode)
		c()
	} else {
		c()
	}
	// News arrive: the finding stored (and nothing from before the stream).
	f := storetest.Sample(100, "EKS-NEW", finding.High)
	if _, err := fx.st.Save(ctx, []finding.Finding{f}); err != nil {
		t.Fatal(err)
	}
	ev := next(t, events)
	if ev.name != "finding" || !strings.Contains(ev.data, f.ID) || ev.id == "" {
		t.Fatalf("first event: %+v", ev)
	}
	if _, err := fx.st.Transition(ctx, []string{f.ID}, store.StatusAcknowledged, "rita", "", t0, nil); err != nil {
		t.Fatal(err)
	}
	ev = next(t, events)
	if ev.name != "status" || !strings.Contains(ev.data, `"to":"acknowledged"`) {
		t.Fatalf("second event: %+v", ev)
	}
	last := ev.id
	closeStream()
	// While away: two findings and a change.
	g, h := storetest.Sample(101, "EKS-NEW2", finding.Low), storetest.Sample(102, "EKS-NEW3", finding.Low)
	fx.st.Save(ctx, []finding.Finding{g, h})
	fx.st.Transition(ctx, []string{f.ID}, store.StatusResolved, "rita", "", t0, nil)
	var r2 *http.Response
	deadline := time.Now().Add(5 * time.Second)
	var events2 <-chan sse
	var close2 func()
	for {
		r2, events2, close2 = openStream(t, srv.URL, fx.tokens["viewer"], last)
		if r2.StatusCode != 503 || time.Now().After(deadline) {
			break
		}
		close2() // the first stream's slot is freed when its handler sees the client gone
		time.Sleep(10 * time.Millisecond)
	}
	defer close2()
	if r2.StatusCode != 200 {
		t.Fatalf("reconnect: %d", r2.StatusCode)
	}
	var got []string
	for i := 0; i < 3; i++ {
		ev := next(t, events2)
		got = append(got, ev.name)
		switch ev.name {
		case "finding":
			if !strings.Contains(ev.data, g.ID) && !strings.Contains(ev.data, h.ID) {
				t.Errorf("missed-finding event for another finding: %s", ev.data)
			}
		case "status":
			if !strings.Contains(ev.data, `"to":"resolved"`) {
				t.Errorf("missed change: %s", ev.data)
			}
		}
	}
	if strings.Join(got, ",") != "finding,finding,status" {
		t.Errorf("after reconnecting: %v", got)
	}
	select {
	case ev := <-events2:
		t.Errorf("an event more than was missed: %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStreamRefusals(t *testing.T) {
	fx := newFixture(t)
	if r := fx.do("GET", "/api/v1/stream", "", nil); r.status != 401 {
		t.Errorf("nobody: %d", r.status)
	}
	r := fx.do("GET", "/api/v1/stream?last_event_id=yesterday", "viewer", nil)
	if code, field := r.err(t); r.status != 400 || field != "last_event_id" {
		t.Errorf("bad Last-Event-ID: %d %s %s", r.status, code, field)
	}
	if r := fx.do("GET", "/api/v1/stream?since=1", "viewer", nil); r.status != 400 {
		t.Errorf("unknown parameter: %d", r.status)
	}
}
