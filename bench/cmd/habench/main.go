// Command habench measures how trailwatch run scales out: 1, 2 and 3
// trailwatch processes on one PostgreSQL database read the same SQS queue
// (the in-repository SQS fake) and commit findings; every alert goes to a
// local webhook sink. For each instance count it loads the queue with the
// same events, starts the processes (the trailwatch binary, built once),
// and times until every event is a committed finding and until every
// alert is delivered. Instance counts are measured alternately (1 2 3 3 2
// 1 …) so that the machine's load affects each alike; ratios against one
// instance are the figures to read.
//
//	TRAILWATCH_POSTGRES_DSN=postgres://… go run ./bench/cmd/habench -events 20000 -reps 2
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trailwatch/trailwatch/internal/source/sqs/sqsfake"
)

func main() {
	events := flag.Int("events", 20000, "events in the queue per measurement")
	counts := flag.String("instances", "1,2,3", "instance counts to compare")
	reps := flag.Int("reps", 2, "measurements per instance count (alternating order)")
	flag.StringVar(&logLevel, "log-level", "error", "the instances' log level (their logs go to stderr)")
	flag.IntVar(&visibility, "visibility", 5, "the sqs source's visibility_timeout, seconds")
	flag.Parse()
	dsn := os.Getenv("TRAILWATCH_POSTGRES_DSN")
	if dsn == "" || !strings.Contains(dsn, "://") {
		fatal(fmt.Errorf("set TRAILWATCH_POSTGRES_DSN to a postgres:// URL"))
	}
	var ns []int
	for _, s := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fatal(fmt.Errorf("-instances: %q", s))
		}
		ns = append(ns, n)
	}
	dir, err := os.MkdirTemp("", "habench")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "trailwatch")
	build := exec.Command("go", "build", "-o", bin, "./cmd/trailwatch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fatal(fmt.Errorf("go build (run habench from the repository root): %w", err))
	}
	var order []int
	for r := range *reps {
		if r%2 == 0 {
			order = append(order, ns...)
		} else {
			for i := len(ns) - 1; i >= 0; i-- {
				order = append(order, ns[i])
			}
		}
	}
	type result struct{ commit, deliver time.Duration }
	results := map[int][]result{}
	for _, n := range order {
		c, d, err := measure(dsn, bin, dir, n, *events)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("%d instance(s): %d events committed in %s (%.0f events/s), alerts delivered by %s (%.0f/s)\n",
			n, *events, c.Round(time.Millisecond), float64(*events)/c.Seconds(), d.Round(time.Millisecond), float64(*events)/d.Seconds())
		results[n] = append(results[n], result{c, d})
	}
	median := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	fmt.Println("\ninstances  commit events/s  vs 1   delivered alerts/s  vs 1")
	var base, baseD float64
	for _, n := range ns {
		var cs, dls []time.Duration
		for _, r := range results[n] {
			cs, dls = append(cs, r.commit), append(dls, r.deliver)
		}
		rate, rateD := float64(*events)/median(cs).Seconds(), float64(*events)/median(dls).Seconds()
		if base == 0 {
			base, baseD = rate, rateD
		}
		fmt.Printf("%9d  %15.0f  %4.2f  %18.0f  %4.2f\n", n, rate, rate/base, rateD, rateD/baseD)
	}
}

// measure runs n instances on a fresh schema until every event is a
// finding (commit) and every alert reached the sink (deliver).
func measure(dsn, bin, dir string, n, events int) (commit, deliver time.Duration, err error) {
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	schema := "tw_habench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return 0, 0, err
	}
	defer conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	sdsn := u.String()

	var delivered atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		delivered.Add(1)
	}))
	defer sink.Close()
	fake := sqsfake.New()
	defer fake.Close()
	fake.CreateQueue("trailwatch-events", sqsfake.QueueOptions{VisibilityTimeout: 30 * time.Second})
	for i := range events {
		fake.Send("trailwatch-events", event(i))
	}
	cfg := filepath.Join(dir, "trailwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: {dsn: %q}
admin: {listen: "off"}
log: {level: %s}
sources:
  - name: queue
    type: sqs
    queue_url: %s
    endpoint: %s
    region: us-east-1
    access_key_id: AKIAIOSFODNN7EXAMPLE
    secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    wait_seconds: 1
    max_messages: 10
    # Short, so that a receive whose answer is lost (see bench/README.md)
    # delays its messages by seconds, not the default minute.
    visibility_timeout: %d
channels:
  - {name: sink, type: webhook, url: %s/alerts, concurrency: 16}
`, sdsn, logLevel, fake.QueueURL("trailwatch-events"), fake.URL(), visibility, sink.URL)), 0o600)
	// The schema is created once, before the clock starts.
	mig := exec.Command(bin, "findings", "list", "--config", cfg, "--limit", "1")
	if out, err := mig.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("migrate: %v: %s", err, out)
	}
	start := time.Now()
	var procs []*exec.Cmd
	for range n {
		p := exec.Command(bin, "run", "--config", cfg)
		p.Stderr = os.Stderr
		if err := p.Start(); err != nil {
			return 0, 0, err
		}
		procs = append(procs, p)
	}
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	deadline := start.Add(10 * time.Minute)
	for {
		var c int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".findings").Scan(&c); err != nil {
			return 0, 0, err
		}
		if c >= events && commit == 0 {
			commit = time.Since(start)
		}
		if commit > 0 && delivered.Load() >= int64(events) {
			return commit, time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%d instances: %d of %d findings, %d alerts after 10 minutes", n, c, events, delivered.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// event is an EventBridge event of one EKS change with a unique event id;
// clusters cycle so that some changes repeat within the TTL.
func event(i int) string {
	return fmt.Sprintf(`{"version":"0","id":"bench-%d","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"111122223333","time":"2026-11-20T10:00:00Z","region":"eu-west-1","resources":[],"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.22.0","requestParameters":{"name":"cluster-%d","resourcesVpcConfig":{"endpointPublicAccess":true,"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":{"update":{"id":"u-%d","status":"InProgress","type":"EndpointAccessUpdate"}},"requestID":"r-%d","eventID":"00000000-0000-4000-8000-%012d","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}}`, i, i, i, i, i)
}

var (
	logLevel   string
	visibility int
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "habench:", err)
	os.Exit(1)
}
