package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailwatch/trailwatch/internal/source/sqs/sqsfake"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/store/postgres"
	"github.com/trailwatch/trailwatch/internal/store/postgres/pgtest"
)

// countingS3 is gofakes3 counting the GETs of each object.
type countingS3 struct {
	be   *s3mem.Backend
	srv  *httptest.Server
	mu   sync.Mutex
	gets map[string]int
	n    int
}

const haBucket = "trail-bucket"

func newCountingS3(t *testing.T) *countingS3 {
	c := &countingS3{be: s3mem.New(), gets: map[string]int{}}
	h := gofakes3.New(c.be).Server()
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".json.gz") {
			c.mu.Lock()
			c.gets[strings.TrimPrefix(r.URL.Path, "/"+haBucket+"/")]++
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	if err := c.be.CreateBucket(haBucket); err != nil {
		t.Fatal(err)
	}
	return c
}

// putLog stores a log file of two EKS changes of one account and region
// and returns its key and event ids.
func (c *countingS3) putLog(t *testing.T, account, region string, minute int) (string, []string) {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	key := fmt.Sprintf("trail/AWSLogs/%s/CloudTrail/%s/2026/11/20/%s_CloudTrail_%s_20261120T10%02dZ_f%03d.json.gz", account, region, account, region, minute, n)
	var ids, recs []string
	for j := range 2 {
		id := fmt.Sprintf("10000000-0000-4000-8000-%06d%06d", n, j)
		ids = append(ids, id)
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::%[2]s:user/alice","accountId":"%[2]s","userName":"alice"},"eventTime":"2026-11-20T10:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"%[3]s","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.22.0","requestParameters":{"name":"s3-cluster-%[4]d","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"eventID":"%[1]s","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%[2]s"}`, id, account, region, n))
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`))
	zw.Close()
	if _, err := c.be.PutObject(haBucket, key, map[string]string{}, bytes.NewReader(b.Bytes()), int64(b.Len()), nil); err != nil {
		t.Fatal(err)
	}
	return key, ids
}

// instance is one trailwatch run child process.
type instance struct {
	cmd   *exec.Cmd
	log   *os.File
	admin string
	done  chan struct{}
}

func (in *instance) alive() bool {
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestThreeInstancesShareOnePostgres runs three trailwatch run processes
// on one PostgreSQL database, fed by one SQS queue and one S3 bucket.
// One is killed with SIGKILL mid-work and another stopped with SIGTERM.
// Every event ends as exactly one finding and one delivery to the
// channel; every S3 object is read exactly once (each account and region
// by the instance holding its lease, the next holder carrying on from the
// checkpoint); the expected trail that never sends raises one heartbeat
// finding, delivered once; and the leases of the killed and the stopped
// instance move within one lease period.
func TestThreeInstancesShareOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test starts three trailwatch processes on PostgreSQL; CI runs it (scripts/test has no -short)")
	}
	dsn := pgtest.Schema(t)
	const (
		nSQS   = 300
		period = 3 * time.Second // store.lease_period
		silent = "999988887777"  // an expected trail that never sends
	)
	q := sqsfake.New()
	defer q.Close()
	q.CreateQueue("trailwatch-events", sqsfake.QueueOptions{VisibilityTimeout: 2 * time.Second})
	for i := range nSQS {
		q.Send("trailwatch-events", envelope(i))
	}
	s3f := newCountingS3(t)
	prefixes := [][2]string{{"111111111111", "us-east-1"}, {"111111111111", "eu-west-1"}, {"222222222222", "us-east-1"}, {"222222222222", "eu-west-1"}}
	events := map[string]bool{}
	for i := range nSQS {
		events[fmt.Sprintf("00000000-0000-4000-8000-%012d", i)] = true
	}
	var objects []string
	putRound := func(minute int) {
		for _, p := range prefixes {
			k, ids := s3f.putLog(t, p[0], p[1], minute)
			objects = append(objects, k)
			for _, id := range ids {
				events[id] = true
			}
		}
	}
	putRound(1)
	putRound(2)

	var mu sync.Mutex
	keys := map[string]int{}
	silenceDeliveries := 0
	// Until the kill, the receiver is unavailable (503, Retry-After 1):
	// every alert is still owed when an instance dies, however fast this
	// machine is, and only what is answered 200 counts as delivered.
	var open atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !open.Load() {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		keys[r.Header.Get("Idempotency-Key")]++
		if bytes.Contains(body, []byte(silent)) {
			silenceDeliveries++
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // slow enough that the kill lands mid-work
	}))
	defer hook.Close()

	dir := t.TempDir()
	start := func(i int) *instance {
		admin := freePort(t)
		cfg := filepath.Join(dir, fmt.Sprintf("trailwatch-%d.yaml", i))
		os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: {dsn: %q, lease_period: %s}
admin: {listen: %q}
log: {level: info, format: json}
heartbeat:
  max_silence: 4s
  expect: [{account: %q, region: ap-south-1}]
sources:
  - name: queue
    type: sqs
    queue_url: %s
    endpoint: %s
    region: us-east-1
    access_key_id: AKIAIOSFODNN7EXAMPLE
    secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    wait_seconds: 1
    visibility_timeout: 2
    max_messages: 5
  - name: trail
    type: s3
    bucket: %s
    prefix: trail
    region: us-east-1
    endpoint: %s
    access_key_id: AKIAIOSFODNN7EXAMPLE
    secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    start_after: "2026-11-20"
    poll_interval: 1s
channels:
  - {name: soc, type: webhook, url: %s/alerts, concurrency: 2, attempt_timeout: 5s}
`, dsn, period, admin, silent, q.QueueURL("trailwatch-events"), q.URL(), haBucket, s3f.srv.URL, hook.URL)), 0o600)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("run-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		c := child(t, "run", "--config", cfg)
		c.Stdout, c.Stderr = logf, logf
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		in := &instance{cmd: c, log: logf, admin: admin, done: make(chan struct{})}
		go func() { c.Wait(); close(in.done) }()
		t.Cleanup(func() {
			if in.alive() {
				c.Process.Kill()
				<-in.done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("instance %d (pid %d) log:\n%s", i, c.Process.Pid, tail(string(b), 40))
			}
		})
		return in
	}
	ins := []*instance{start(0), start(1), start(2)}

	st, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	pidOf := func(holder string) int {
		f := strings.Split(holder, "/")
		if len(f) != 3 {
			return 0
		}
		p, _ := strconv.Atoi(f[1])
		return p
	}
	// holders maps each live lease to the pid holding it.
	holders := func() map[string]int {
		ls, err := st.Leases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, l := range ls {
			out[l.Name] = pidOf(l.Holder)
		}
		return out
	}
	waitUntil := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		began := time.Now()
		for !cond() {
			if time.Since(began) > limit {
				t.Fatalf("timed out after %v waiting for %s", limit, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(began)
	}
	lastKey := func(p [2]string) string {
		var last string
		for _, k := range objects {
			if strings.Contains(k, "/"+p[0]+"/CloudTrail/"+p[1]+"/") && k > last {
				last = k
			}
		}
		return last
	}
	s3Done := func() bool {
		for _, p := range prefixes {
			v, err := st.Checkpoint(ctx, "s3://"+haBucket+"/trail/AWSLogs/"+p[0]+"/"+p[1])
			if err != nil {
				t.Fatal(err)
			}
			if v != lastKey(p) {
				return false
			}
		}
		return true
	}
	// Every prefix and the heartbeat have a holder, and the S3 objects so
	// far are committed (so the kill cannot interrupt an S3 read), while
	// alerts for the SQS events are still going out.
	waitUntil("leases for the 4 prefixes and the heartbeat", 30*time.Second, func() bool { return len(holders()) == 5 })
	waitUntil("the first S3 objects committed", 30*time.Second, s3Done)
	if n, err := st.Pending(ctx, []string{"soc"}); err != nil || n == 0 {
		t.Fatalf("no alert is owed before the kill (%d, %v); the test proves nothing", n, err)
	}

	// The instance holding the most leases is killed.
	h := holders()
	byPid := map[int]int{}
	for _, pid := range h {
		byPid[pid]++
	}
	victim := -1
	for i, in := range ins {
		if victim < 0 || byPid[in.cmd.Process.Pid] > byPid[ins[victim].cmd.Process.Pid] {
			victim = i
		}
	}
	killed := ins[victim].cmd.Process.Pid
	if byPid[killed] == 0 {
		t.Fatalf("no instance holds a lease: %v", h)
	}
	ins[victim].cmd.Process.Signal(syscall.SIGKILL)
	<-ins[victim].done
	open.Store(true)
	movedIn := waitUntil("the killed instance's leases to move", 2*period, func() bool {
		for _, pid := range holders() {
			if pid == killed {
				return false
			}
		}
		return true
	})
	t.Logf("killed pid %d holding %d leases; they moved in %v", killed, byPid[killed], movedIn)
	if movedIn > period+time.Second { // one period, and a second for a loaded machine
		t.Errorf("the killed instance's leases moved after %v, more than one lease period (%v)", movedIn, period)
	}
	putRound(3) // read by the new holders, from the checkpoints
	waitUntil("the S3 objects after the kill committed", 30*time.Second, s3Done)

	// A graceful stop hands its leases over at once.
	var stopped *instance
	for i, in := range ins {
		if i != victim {
			h := holders()
			for _, pid := range h {
				if pid == in.cmd.Process.Pid {
					stopped = in
				}
			}
		}
	}
	if stopped == nil {
		t.Fatalf("no surviving instance holds a lease: %v", holders())
	}
	stoppedPid := stopped.cmd.Process.Pid
	stopped.cmd.Process.Signal(syscall.SIGTERM)
	began := time.Now()
	select {
	case <-stopped.done:
	case <-time.After(20 * time.Second):
		t.Fatal("an instance did not stop within 20s of SIGTERM")
	}
	if code := stopped.cmd.ProcessState.ExitCode(); code != 0 && code != 143 {
		t.Errorf("stopped instance exited %d", code)
	}
	waitUntil("the stopped instance's leases to move", 2*period, func() bool {
		for _, pid := range holders() {
			if pid == stoppedPid {
				return false
			}
		}
		return len(holders()) == 5
	})
	if took := time.Since(began); took > period+time.Second {
		t.Errorf("the stopped instance's leases moved %v after SIGTERM, more than one lease period", took)
	}
	putRound(4)

	// Everything is done by the last instance.
	waitUntil("every event alerted and every object committed", 90*time.Second, func() bool {
		fs, err := st.Findings(ctx, store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range fs {
			if events[f.EventID] {
				n++
			}
		}
		mu.Lock()
		got := len(keys)
		mu.Unlock()
		return n >= len(events) && got >= len(fs) && len(q.Messages("trailwatch-events")) == 0 && s3Done() && silenceDeliveries > 0
	})

	fs, err := st.Findings(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	perEvent := map[string]int{}
	silences := 0
	for _, f := range fs {
		if events[f.EventID] {
			perEvent[f.EventID]++
		}
		if f.AccountID == silent {
			silences++
		}
	}
	for id := range events {
		if perEvent[id] != 1 {
			t.Errorf("event %s: %d findings, want 1", id, perEvent[id])
		}
	}
	if silences != 1 {
		t.Errorf("%d heartbeat findings for the silent trail, want 1", silences)
	}
	dels, err := st.Deliveries(ctx, store.OutboxFilter{Channel: []string{"soc"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dels) != len(fs) {
		t.Errorf("%d deliveries in the outbox for %d findings, want one each", len(dels), len(fs))
	}
	// Each object read once: the kill came after the objects before it
	// were committed, and the new holders carried on from checkpoints.
	s3f.mu.Lock()
	sort.Strings(objects)
	for _, k := range objects {
		if n := s3f.gets[k]; n != 1 {
			t.Errorf("%s read %d times, want once", k, n)
		}
	}
	s3f.mu.Unlock()
	mu.Lock()
	again := 0
	for key, k := range keys {
		switch {
		case key == "":
			t.Errorf("%d deliveries without an Idempotency-Key", k)
		case k > 2:
			t.Errorf("alert %s delivered %d times", key, k)
		case k == 2:
			again++
		}
	}
	if again > 4*2 { // sent by the killed instance and not recorded: four per slot (concurrency 2)
		t.Errorf("%d alerts delivered twice, want at most the 8 that may be sent and not recorded at the kill (four per slot)", again)
	}
	if silenceDeliveries != 1 {
		t.Errorf("the silent trail's finding was delivered %d times, want once", silenceDeliveries)
	}
	mu.Unlock()

	// The survivor reports its leases in /metrics.
	for _, in := range ins {
		if !in.alive() {
			continue
		}
		resp, err := http.Get("http://" + in.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		held := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "trailwatch_lease_held{") && strings.HasSuffix(sc.Text(), " 1") {
				held++
			}
		}
		resp.Body.Close()
		if held != 5 {
			t.Errorf("the last instance's /metrics shows %d leases held, want 5 (4 prefixes and the heartbeat)", held)
		}
		in.cmd.Process.Signal(syscall.SIGTERM)
		<-in.done
	}
	b, _ := os.ReadFile(ins[victim].log.Name())
	if !bytes.Contains(b, []byte(`"lease acquired"`)) {
		t.Error("the killed instance never logged a lease acquired")
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestSecondRunOnSQLiteRefused starts trailwatch run on a SQLite file in a
// child process; a second run on the same file refuses to start and names
// the holder, and other commands still read the file.
func TestSecondRunOnSQLiteRefused(t *testing.T) {
	dir := t.TempDir()
	admin := freePort(t)
	cfg := filepath.Join(dir, "trailwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: {path: %s}
admin: {listen: %q}
log: {level: error}
sources:
  - {name: hook, type: webhook, listen: "127.0.0.1:0", api_key: EXAMPLE-KEY-0123456789}
channels:
  - {name: out, type: console}
`, filepath.Join(dir, "tw.db"), admin)), 0o600)
	c := child(t, "run", "--config", cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	defer func() {
		c.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			c.Process.Kill()
			t.Error("the first run did not stop within 15s of SIGTERM")
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run was not ready within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg2 := filepath.Join(dir, "second.yaml")
	os.WriteFile(cfg2, []byte(fmt.Sprintf(`
store: {path: %s}
admin: {listen: "off"}
sources:
  - {name: hook, type: webhook, listen: "127.0.0.1:0", api_key: EXAMPLE-KEY-0123456789}
channels:
  - {name: out, type: console}
`, filepath.Join(dir, "tw.db"))), 0o600)
	r := run(t, "", "run", "--config", cfg2)
	if r.code == ExitOK {
		t.Fatalf("a second run on the same file started (exit %d)", r.code)
	}
	want := fmt.Sprintf("in use by another trailwatch run (pid %d on ", c.Process.Pid)
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "store.dsn") {
		t.Errorf("second run's error does not name the holder and the way out:\n%s\nwant it to contain %q", r.stderr, want)
	}
	if r := run(t, "", "findings", "list", "--config", cfg2); r.code != ExitOK {
		t.Errorf("findings list beside a run: exit %d: %s", r.code, r.stderr)
	}
}
