package app

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkWebhookFlood is issue 8's load: 150 clients post 1 MiB of
// EventBridge events each at once to trailwatch run (webhook source,
// engine, SQLite store), again and again. It reports the answers and the
// memory: the peak Go heap (sampled every millisecond) and the peak RSS
// (VmHWM, reset before the run where the kernel allows).
//
//	go test -run '^$' -bench WebhookFlood -benchtime 5x ./internal/app/
func BenchmarkWebhookFlood(b *testing.B) {
	const clients = 150
	cfg := testConfig(b, "https://receiver.example")
	setSourceKey(cfg, "max_body", "1048576")
	addrs, _, stop := startLogged(b, cfg)
	defer stop()
	url := "http://" + addrs["eventbridge"] + "/events"

	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM (Linux)
	runtime.GC()
	var peakHeap uint64
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			rtmetrics.Read(sample)
			peakHeap = max(peakHeap, sample[0].Value.Uint64())
		}
	}()
	counts := map[int]int{}
	b.ResetTimer()
	for n := range b.N {
		// Fresh event ids every round, so each round stores new findings.
		payload := eventsBody(b, n+1, 1<<20)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
				req.Header.Set("X-Api-Key", apiKey)
				code := -1
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				counts[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	close(done)
	<-sampled
	b.ReportMetric(float64(counts[200])/float64(b.N), "taken/op")
	b.ReportMetric(float64(counts[429])/float64(b.N), "busy429/op")
	b.ReportMetric(float64(len(counts)-boolInt(counts[200] > 0)-boolInt(counts[429] > 0)), "other-statuses")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
	if rss := vmHWM(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// vmHWM is the peak resident set size of this process, in bytes, or 0
// where /proc does not tell.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
