package notify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// A channel delivers concurrently to one host: the default client must
// keep those connections open between deliveries instead of dialling one
// for nearly every request (net/http keeps 2 idle per host by default).
func TestDefaultClientReusesConcurrentConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := Options{}.Defaults().HTTPClient
	const concurrent, rounds = 16, 20
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, concurrent)
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := Do(context.Background(), c, Request{Service: "test", Method: "POST", URL: srv.URL + "/hook", Body: []byte(`{"a":1}`)})
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// Each round needs at most `concurrent` connections; kept idle, they
	// serve every later round. Without reuse this is close to
	// (concurrent-2) * rounds.
	if n := conns.Load(); n > 2*concurrent {
		t.Fatalf("%d connections dialled for %d rounds of %d concurrent deliveries; want at most %d (idle connections reused)", n, rounds, concurrent, 2*concurrent)
	}
}
