// Command runbench measures trailwatch run end to end on loopback: clients
// post EventBridge events to the webhook source at a fixed rate; each
// request returns only after its findings and notifications are committed,
// so the request latency is the time from receipt to the notification
// being handed to the dispatcher. Paced, it runs from the moment each event
// was due, so an event the generator could not post on time (every client
// waiting for an answer) counts its wait; and there are enough clients
// (rate x the p99 target) that a server within the target is never held
// back by the generator. The dispatcher delivers every alert to a
// local webhook sink. It prints the achieved rate, latency percentiles and
// memory over time.
//
// After the run it measures, in the same process, the baseline: the raw
// insert rate of the same rows (read back from the run's database) through
// the same driver, one transaction per batch of -batch rows, into a fresh
// copy of the schema; and prints the run's rate as a ratio of it.
//
//	go run ./bench/cmd/runbench -rate 2000 -duration 60s
//	go run ./bench/cmd/runbench -rate 2000 -duration 10m     # the soak (baseline: its first 200,000 events)
//	go run ./bench/cmd/runbench -rate 0 -clients 64 -duration 30s   # as fast as it goes
//	go run ./bench/cmd/runbench -dsn "$TRAILWATCH_POSTGRES_DSN"     # PostgreSQL (a fresh schema)
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/store/postgres"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

func main() {
	rate := flag.Int("rate", 2000, "events per second to send")
	duration := flag.Duration("duration", 60*time.Second, "how long to send")
	clients := flag.Int("clients", 0, "concurrent HTTP clients (0: 32 unpaced; paced, as many as the rate needs at the p99 target, rate x p99, at least 32)")
	p99Target := flag.Duration("p99", 50*time.Millisecond, "p99 latency target")
	dsn := flag.String("dsn", "", "PostgreSQL DSN: run against a fresh schema there instead of SQLite")
	batch := flag.Int("batch", 32, "rows per transaction of the baseline")
	baselineEvents := flag.Int("baseline-events", 200000, "insert at most the run's first `N` events' rows in the baseline (they are held in memory; 0: all)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run (not the baseline) to this file")
	flag.Parse()
	maxRate := *rate <= 0
	if *clients <= 0 {
		// Paced, the generator must not be what holds the rate back:
		// each client waits for its answer, so a server answering within
		// the target needs rate x target of them in flight.
		*clients = 32
		if !maxRate {
			*clients = max(32, int(math.Ceil(float64(*rate)*p99Target.Seconds())))
		}
	}

	var delivered atomic.Int64
	// sentAt and arrived are each event's post and its alert's first
	// arrival at the sink, in nanoseconds since start (set below, once
	// the number of events is known).
	var sentAt, arrived []atomic.Int64
	var start time.Time
	ready := make(chan struct{})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		delivered.Add(1)
		<-ready
		if i, ok := eventIndex(body); ok && i < len(arrived) {
			arrived[i].CompareAndSwap(0, int64(time.Since(start)))
		}
	}))
	defer sink.Close()
	dir, err := os.MkdirTemp("", "runbench")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	storeConf := "{path: " + filepath.Join(dir, "tw.db") + "}"
	var bl baseline
	bl.batch, bl.limit = *batch, *baselineEvents
	if *dsn != "" {
		runDSN, err := freshSchema(*dsn, "runbench_run")
		if err != nil {
			fatal(err)
		}
		toDSN, err := freshSchema(*dsn, "runbench_baseline")
		if err != nil {
			fatal(err)
		}
		defer dropSchemas(*dsn)
		ps, err := postgres.Open(context.Background(), toDSN, nil) // the schema
		if err != nil {
			fatal(err)
		}
		ps.Close()
		storeConf = fmt.Sprintf("{dsn: %q}", runDSN)
		bl.driver, bl.from, bl.to = "pgx", runDSN, toDSN
	} else {
		to := filepath.Join(dir, "baseline.db")
		ss, err := sqlite.Open(to, nil) // the schema
		if err != nil {
			fatal(err)
		}
		ss.Close()
		bl.driver, bl.from, bl.to = "sqlite", sqliteDSN(filepath.Join(dir, "tw.db")), sqliteDSN(to)
	}
	cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(`
store: %s
admin: {listen: "127.0.0.1:0"}
log: {level: error}
sources:
  - {name: bench, type: webhook, listen: "127.0.0.1:0", api_key: bench-EXAMPLE-key}
channels:
  - {name: sink, type: webhook, url: %s/alerts, concurrency: 32}
`, storeConf, sink.URL)))
	if err != nil {
		fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan map[string]string, 1)
	svc, err := app.NewService(ctx, cfg, app.RunOptions{Started: func(a map[string]string) { addrs <- a }})
	if err != nil {
		fatal(err)
	}
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	url := "http://" + (<-addrs)["bench"] + "/events"

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
	}
	total := int(float64(*rate) * duration.Seconds())
	if maxRate {
		// Unpaced: every client posts its next event as soon as the last
		// was answered, until the duration ends.
		total = int(50000 * duration.Seconds())
	}
	lat := make([]time.Duration, total)
	sentAt, arrived = make([]atomic.Int64, total), make([]atomic.Int64, total)
	var sent, failed atomic.Int64
	ticks := make(chan int, *clients*4)
	var interval time.Duration
	if !maxRate {
		interval = time.Second / time.Duration(*rate)
	}
	start = time.Now()
	close(ready)
	cpu0 := cpuTime()
	go func() {
		if maxRate {
			end := time.Now().Add(*duration)
			for i := 0; i < total && time.Now().Before(end); i++ {
				ticks <- i
			}
			close(ticks)
			return
		}
		next := start
		for i := 0; i < total; i++ {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
			ticks <- i
		}
		close(ticks)
	}()
	var rss []string
	stopMem := make(chan struct{})
	go func() {
		t := time.NewTicker(*duration / 10)
		defer t.Stop()
		for {
			select {
			case <-stopMem:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				rss = append(rss, fmt.Sprintf("%5.0fs heap %6.1f MB  rss %6.1f MB", time.Since(start).Seconds(), float64(ms.HeapAlloc)/1e6, vmRSS()))
			}
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ticks {
				body := event(i)
				t0 := time.Now()
				if !maxRate {
					// Paced, an event's latency runs from when it was due:
					// one the generator could not send on time (every
					// client waiting for an answer) waits in its latency,
					// not outside it.
					t0 = start.Add(time.Duration(i) * interval)
				}
				sentAt[i].Store(max(1, int64(t0.Sub(start))))
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("X-Api-Key", "bench-EXAMPLE-key")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	// Let the dispatcher catch up, then stop.
	deadline := time.Now().Add(max(60*time.Second, *duration/2))
	for delivered.Load() < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	drained := time.Since(start)
	runCPU := cpuTime() - cpu0 // sending and delivering every alert
	close(stopMem)
	cancel()
	<-done
	cpu1 := cpuTime()
	bEvents, bRate, bErr := bl.run(context.Background())
	bCPU := cpuTime() - cpu1

	var ok []time.Duration
	for _, l := range lat {
		if l > 0 {
			ok = append(ok, l)
		}
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	pct := func(p float64) time.Duration {
		if len(ok) == 0 {
			return 0
		}
		return ok[min(len(ok)-1, int(p*float64(len(ok))))]
	}
	achieved := float64(sent.Load()) / elapsed.Seconds()
	target := fmt.Sprint(*rate) + ", " + fmt.Sprint(*clients) + " clients"
	if maxRate {
		target = "unpaced, " + fmt.Sprint(*clients) + " clients"
	}
	fmt.Printf("events sent %d (failed %d) in %s: %.0f events/s (target %s)\n", sent.Load(), failed.Load(), elapsed.Round(time.Millisecond), achieved, target)
	if bErr != nil {
		fmt.Printf("baseline: %v\n", bErr)
	} else {
		fmt.Printf("baseline (%s): %d events' rows (finding, outbox row, alert upsert) inserted raw, %d per transaction: %.0f events/s; run/baseline %.3f\n",
			bl.driver, bEvents, bl.batch, bRate, achieved/bRate)
		// CPU time is barely affected by other load on the machine: the
		// figure to compare on a busy one.
		runPer := float64(sent.Load()) / runCPU.Seconds()
		basePer := float64(bEvents) / bCPU.Seconds()
		fmt.Printf("per CPU-second (this process, load generator and sink included): run %.0f events (%.0f µs each, until every alert was delivered), baseline %.0f; run/baseline %.3f\n",
			runPer, 1e6/runPer, basePer, runPer/basePer)
	}
	fmt.Printf("alerts delivered to the sink: %d, all by %s\n", delivered.Load(), drained.Round(time.Millisecond))
	fmt.Printf("latency receipt -> committed and handed to the dispatcher: p50 %s  p90 %s  p99 %s  max %s\n",
		pct(.50).Round(10*time.Microsecond), pct(.90).Round(10*time.Microsecond), pct(.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	// Post -> alert at the sink: what the user waits for. It includes the
	// dispatcher's queue, so it grows without bound if delivery falls
	// behind ingestion.
	var alertLat []time.Duration
	for i := range arrived {
		if a, s := arrived[i].Load(), sentAt[i].Load(); a > 0 && s > 0 {
			alertLat = append(alertLat, time.Duration(a-s))
		}
	}
	sort.Slice(alertLat, func(i, j int) bool { return alertLat[i] < alertLat[j] })
	apct := func(p float64) time.Duration {
		if len(alertLat) == 0 {
			return 0
		}
		return alertLat[min(len(alertLat)-1, int(p*float64(len(alertLat))))].Round(100 * time.Microsecond)
	}
	fmt.Printf("latency post -> alert at the sink: p50 %s  p90 %s  p99 %s  max %s (%d alerts matched to their events)\n",
		apct(.50), apct(.90), apct(.99), apct(1), len(alertLat))
	fmt.Println("memory over the run:")
	for _, l := range rss {
		fmt.Println("  " + l)
	}
	verdict := func(okay bool, what string) {
		s := "PASS"
		if !okay {
			s = "FAIL"
		}
		fmt.Printf("%s  %s\n", s, what)
	}
	if maxRate {
		verdict(achieved >= 5000 && failed.Load() == 0, fmt.Sprintf("sustained %.0f events/s with no failed request (target 5000)", achieved))
	} else {
		verdict(achieved >= 0.98*float64(*rate) && failed.Load() == 0, fmt.Sprintf("sustained %.0f events/s with no failed request (target %d)", achieved, *rate))
	}
	verdict(pct(.99) < *p99Target, fmt.Sprintf("p99 latency %s (target < %s)", pct(.99).Round(10*time.Microsecond), *p99Target))
	verdict(delivered.Load() >= sent.Load(), fmt.Sprintf("every alert delivered (%d of %d)", delivered.Load(), sent.Load()))
}

// event is an EventBridge event for an EKS change with a unique event id;
// clusters cycle so that some changes repeat within the TTL.
func event(i int) []byte {
	return []byte(fmt.Sprintf(`{"version":"0","id":"bench-%d","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"111122223333","time":"2026-11-20T10:00:00Z","region":"eu-west-1","resources":[],"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.22.0","requestParameters":{"name":"cluster-%d","resourcesVpcConfig":{"endpointPublicAccess":true,"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":{"update":{"id":"u-%d","status":"InProgress","type":"EndpointAccessUpdate"}},"requestID":"r-%d","eventID":"00000000-0000-4000-8000-%012d","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}}`, i, i%5000, i, i, i))
}

// eventIndex finds the event number in an alert's body: the last 12
// digits of the eventID event() wrote.
func eventIndex(body []byte) (int, bool) {
	const mark = "00000000-0000-4000-8000-"
	j := bytes.Index(body, []byte(mark))
	if j < 0 || len(body) < j+len(mark)+12 {
		return 0, false
	}
	n, err := strconv.Atoi(string(body[j+len(mark) : j+len(mark)+12]))
	return n, err == nil
}

func vmRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "runbench:", err)
	os.Exit(1)
}
