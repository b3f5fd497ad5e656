package dispatch_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/store/storetest"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, notify.Message) (notify.Result, error) {
	return notify.Result{}, nil
}

// BenchmarkDispatcher measures deliveries per second to a local sink that
// answers at once: the cost the outbox and dispatcher add to every alert.
// Run: go test -run '^$' -bench Dispatcher -benchtime 20000x ./internal/dispatch/
func BenchmarkDispatcher(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			st := openStore(b, nil)
			ctx := context.Background()
			const chunk = 1000
			for i := 0; i < b.N; i += chunk {
				var fs []finding.Finding
				for j := i; j < min(i+chunk, b.N); j++ {
					f := storetest.Sample(j, "EKS-A", finding.High)
					f.Fingerprint = f.ID
					f.Raw = nil
					fs = append(fs, f)
				}
				if _, err := st.SaveRouted(ctx, fs, dispatch.Router{{Channel: "sink"}}.Route); err != nil {
					b.Fatal(err)
				}
			}
			d := dispatch.New(st, []dispatch.Channel{{Name: "sink", Notifier: nopNotifier{}, Concurrency: conc}}, dispatch.Options{Poll: time.Millisecond})
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			start := time.Now()
			left, err := d.Drain(ctx)
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil || left != 0 {
				b.Fatalf("drain: %d left, %v", left, err)
			}
			if got := d.Stats()["sink"].Sent; got != int64(b.N) {
				b.Fatalf("sent %d, want %d", got, b.N)
			}
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(after.HeapAlloc)/1e6, "heap-MB-after")
		})
	}
}
