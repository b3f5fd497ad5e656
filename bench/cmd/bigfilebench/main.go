// Command bigfilebench measures one large CloudTrail log file going
// through trailwatch run's file source (committed in chunks) while the
// webhook source is being posted to: it reports how long the file takes,
// the process's peak RSS (VmHWM), and the webhook request latency, against
// the same webhook load with no large file, measured in the same run. Each
// phase runs in a fresh child process, so that its peak RSS is its own.
//
//	go run ./bench/cmd/bigfilebench                      # 1,000,000 records, 1% raising findings
//	go run ./bench/cmd/bigfilebench -records 200000 -match 1   # every record raises a finding
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
)

const apiKey = "bench-EXAMPLE-key"

// result is what a child phase reports.
type result struct {
	Phase    string          `json:"phase"`
	Seconds  float64         `json:"seconds"`
	Requests int             `json:"requests"`
	Failed   int             `json:"failed"`
	Latency  []time.Duration `json:"latency"` // p50, p90, p99, max
	PeakMB   float64         `json:"peak_mb"`
	Records  int             `json:"records"`
}

func main() {
	records := flag.Int("records", 1000000, "records in the large file")
	match := flag.Float64("match", 0.01, "share of records that raise a finding (0-1)")
	rate := flag.Int("rate", 20, "webhook requests per second, one at a time")
	phase := flag.String("phase", "", "internal: run one phase (big or idle) in this process")
	dir := flag.String("dir", "", "internal: the folder of the phase")
	requests := flag.Int("requests", 0, "internal: requests of the idle phase")
	chunk := flag.Int("chunk", 2000, "the file source's chunk_records")
	flag.Parse()
	if *phase != "" {
		r, err := runPhase(*phase, *dir, *records, *rate, *requests, *chunk)
		if err != nil {
			fatal(err)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}

	tmp, err := os.MkdirTemp("", "bigfilebench")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)
	bigDir, idleDir := filepath.Join(tmp, "big"), filepath.Join(tmp, "idle")
	os.MkdirAll(bigDir, 0o755)
	os.MkdirAll(idleDir, 0o755)
	t0 := time.Now()
	size, err := generate(filepath.Join(bigDir, "111122223333_CloudTrail_us-east-1_20261101T0100Z_big.json.gz"), *records, *match)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("large file: %d records (%.1f%% raising a finding), %.1f MB gzip, generated in %s\n", *records, 100**match, float64(size)/1e6, time.Since(t0).Round(time.Millisecond))
	big, err := child("big", bigDir, *records, *rate, 0, *chunk)
	if err != nil {
		fatal(err)
	}
	idle, err := child("idle", idleDir, *records, *rate, min(big.Requests, 2000), *chunk)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("\n| phase | file done in | webhook requests (failed) | p50 | p90 | p99 | max | peak RSS |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range []result{idle, big} {
		done := "-"
		if r.Phase == "big" {
			done = fmt.Sprintf("%.1f s (%.0f records/s)", r.Seconds, float64(r.Records)/r.Seconds)
		}
		fmt.Printf("| %s | %s | %d (%d) | %s | %s | %s | %s | %.1f MB |\n", r.Phase, done, r.Requests, r.Failed,
			ms(r.Latency[0]), ms(r.Latency[1]), ms(r.Latency[2]), ms(r.Latency[3]), r.PeakMB)
	}
	ratio := func(i int) float64 { return float64(big.Latency[i]) / float64(idle.Latency[i]) }
	fmt.Printf("\nwebhook latency with the large file / without: p50 %.2f, p99 %.2f\n", ratio(0), ratio(2))
	verdict(big.Failed == 0, "every webhook request answered 200 while the large file was read")
	verdict(big.PeakMB < 256, fmt.Sprintf("peak RSS %.1f MB with a %d-record file (target < 256 MB)", big.PeakMB, *records))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func verdict(ok bool, what string) {
	s := "PASS"
	if !ok {
		s = "FAIL"
	}
	fmt.Printf("%s  %s\n", s, what)
}

func child(phase, dir string, records, rate, requests, chunk int) (result, error) {
	cmd := exec.Command(os.Args[0], "-phase", phase, "-dir", dir, "-records", strconv.Itoa(records), "-rate", strconv.Itoa(rate), "-requests", strconv.Itoa(requests), "-chunk", strconv.Itoa(chunk))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("phase %s: %w", phase, err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("phase %s: %w: %s", phase, err, out)
	}
	return r, nil
}

// generate writes a gzip log file of n records: mostly read-only calls no
// rule watches, and a share of EKS changes that raise a finding each.
func generate(path string, n int, match float64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	rng := rand.New(rand.NewPCG(1, 2))
	io.WriteString(zw, `{"Records":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			io.WriteString(zw, ",")
		}
		if rng.Float64() < match {
			fmt.Fprintf(zw, `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2026-11-01T01:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.22.0","requestParameters":{"name":"cluster-%d","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":null,"eventID":"00000000-0000-4000-8000-%012d","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`, i%97, i)
		} else {
			fmt.Fprintf(zw, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:app","arn":"arn:aws:sts::111122223333:assumed-role/app/i-0abc","accountId":"111122223333"},"eventTime":"2026-11-01T01:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.7","userAgent":"aws-sdk-go-v2/1.30.0","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-%08x"}]},"filterSet":{}},"responseElements":null,"eventID":"00000000-0000-4000-9000-%012d","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`, i, i)
		}
	}
	io.WriteString(zw, `]}`)
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func runPhase(phase, dir string, records, rate, requests, chunk int) (result, error) {
	cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(`
store: {path: %s}
admin: {listen: "127.0.0.1:0"}
log: {level: error}
sources:
  - {name: folder, type: file, path: %s, poll_interval: 0, chunk_records: %d}
  - {name: hook, type: webhook, listen: "127.0.0.1:0", api_key: %s}
channels:
  - {name: quiet, type: console, min_risk: EXTREME}
`, filepath.Join(dir, "..", phase+".db"), dir, chunk, apiKey)))
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan map[string]string, 1)
	svc, err := app.NewService(ctx, cfg, app.RunOptions{Started: func(a map[string]string) { addrs <- a }, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		cancel()
		return result{}, err
	}
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	a := <-addrs
	hook, admin := "http://"+a["hook"]+"/events", "http://"+a["admin"]+"/metrics"
	client := &http.Client{}
	var lat []time.Duration
	failed := 0
	start := time.Now()
	finished := func() bool {
		if phase != "big" {
			return len(lat)+failed >= requests
		}
		// Every record received, and the last chunk committed.
		m := metrics(client, admin)
		return m[`trailwatch_events_received_total{source="folder"}`] >= float64(records) &&
			m[`trailwatch_batches_total{result="acked",source="folder"}`] >= float64((records+chunk-1)/chunk)
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i := 0; ; i++ {
		if i%rate == 0 && finished() {
			break
		}
		<-tick.C
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader(event(i)))
		req.Header.Set("X-Api-Key", apiKey)
		resp, err := client.Do(req)
		if err != nil {
			failed++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed++
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	tick.Stop()
	cancel()
	<-done
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return result{Phase: phase, Seconds: elapsed.Seconds(), Requests: len(lat) + failed, Failed: failed,
		Latency: []time.Duration{pct(.5), pct(.9), pct(.99), pct(1)}, PeakMB: vmHWM(), Records: records}, nil
}

// metrics reads the admin server's counters.
func metrics(c *http.Client, url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := c.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

// event is an EventBridge event for an EKS change with a unique event id.
func event(i int) []byte {
	return []byte(fmt.Sprintf(`{"version":"0","id":"hook-%d","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"111122223333","time":"2026-11-20T10:00:00Z","region":"eu-west-1","resources":[],"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","userName":"bob"},"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.22.0","requestParameters":{"name":"web-%d","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":null,"eventID":"00000000-0000-4000-a000-%012d","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}}`, i, i%50, i))
}

// vmHWM is the process's peak resident set, in MB.
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bigfilebench:", err)
	os.Exit(1)
}
