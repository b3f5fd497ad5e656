package s3source_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/source"
	s3source "github.com/trailwatch/trailwatch/internal/source/s3"
	"github.com/trailwatch/trailwatch/internal/source/sourcetest"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

const (
	bucket = "trail-bucket"
	acctA  = "111111111111"
	acctB  = "222222222222"
	acctC  = "333333333333" // in the organization trail
	org    = "o-abc1234567"
	keyID  = "AKIAEXAMPLE000000000"
)

// fakeS3 is an in-process S3 (gofakes3 with the s3mem backend) behind a
// loopback HTTP server.
type fakeS3 struct {
	t   *testing.T
	be  *s3mem.Backend
	url string
	n   int
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	// Keep the AWS SDK away from the machine's profiles and the instance
	// metadata service.
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	be := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	return &fakeS3{t: t, be: be, url: srv.URL}
}

func (f *fakeS3) put(key string, body []byte) string {
	f.t.Helper()
	if _, err := f.be.PutObject(bucket, key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		f.t.Fatal(err)
	}
	return key
}

// putLog stores a CloudTrail log file with two EKS records and returns its
// key. ts is YYYYMMDDTHHmmZ.
func (f *fakeS3) putLog(orgID, account, region, ts string) string {
	f.n++
	day := ts[0:4] + "/" + ts[4:6] + "/" + ts[6:8]
	k := "trail/AWSLogs/" + account + "/CloudTrail/" + region + "/" + day + "/"
	if orgID != "" {
		k = "trail/AWSLogs/" + orgID + "/" + account + "/CloudTrail/" + region + "/" + day + "/"
	}
	k += fmt.Sprintf("%s_CloudTrail_%s_%s_r%03d.json.gz", account, region, ts, f.n)
	id := fmt.Sprintf("ev-%03d", f.n)
	return f.put(k, gz(`{"Records":[`+record(id+"a", account, region)+","+record(id+"b", account, region)+`]}`))
}

func (f *fakeS3) config() s3source.Config {
	return s3source.Config{Bucket: bucket, Prefix: "trail", Region: "us-east-1", Endpoint: f.url,
		AccessKeyID: secret.New(keyID), SecretAccessKey: secret.New("example-secret-key")}
}

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func record(id, account, region string) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::%[2]s:user/alice","accountId":"%[2]s","userName":"alice"},`+
		`"eventTime":"2026-11-01T01:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"%[3]s","sourceIPAddress":"203.0.113.7",`+
		`"userAgent":"aws-cli/2.15.0","requestParameters":{"name":"prod","resourcesVpcConfig":{"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":null,`+
		`"requestID":"req-%[1]s","eventID":"%[1]s","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%[2]s"}`, id, account, region)
}

// layout fills the bucket: two accounts × two regions with two days of
// logs, an organization trail, an object before 2026-11-01, digests and
// another service's logs. It returns the keys the source must read with
// start_after 2026-11-01, in key order.
func (f *fakeS3) layout() []string {
	var want []string
	f.putLog("", acctA, "us-east-1", "20261031T2300Z") // before start_after
	for _, a := range []string{acctA, acctB} {
		for _, r := range []string{"us-east-1", "eu-west-1"} {
			want = append(want, f.putLog("", a, r, "20261101T0100Z"), f.putLog("", a, r, "20261102T0100Z"))
		}
	}
	want = append(want, f.putLog(org, acctC, "us-east-1", "20261101T0200Z"), f.putLog(org, acctC, "eu-west-1", "20261101T0205Z"))
	digest := `{"awsAccountId":"111111111111","digestStartTime":"2026-11-01T00:00:00Z","logFiles":[]}`
	f.put("trail/AWSLogs/"+acctA+"/CloudTrail-Digest/us-east-1/2026/11/01/"+acctA+"_CloudTrail-Digest_us-east-1_trail_us-east-1_20261101T0130Z.json.gz", gz(digest))
	f.put("trail/AWSLogs/"+org+"/"+acctC+"/CloudTrail-Digest/us-east-1/2026/11/01/"+acctC+"_CloudTrail-Digest_us-east-1_trail_us-east-1_20261101T0230Z.json.gz", gz(digest))
	f.put("trail/AWSLogs/"+acctA+"/vpcflowlogs/us-east-1/2026/11/01/flow.log.gz", gz("version account-id"))
	f.put("other/AWSLogs/"+acctA+"/CloudTrail/us-east-1/2026/11/01/"+acctA+"_CloudTrail_us-east-1_20261101T0100Z_x.json.gz", gz(`{"Records":[]}`))
	sort.Strings(want)
	return want
}

func ckKey(parts ...string) string {
	return "s3://" + bucket + "/trail/AWSLogs/" + strings.Join(parts, "/")
}

func openCheckpoints(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newSource(t *testing.T, c s3source.Config, o s3source.Options) *s3source.Source {
	t.Helper()
	if err := c.Check(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	s, err := s3source.New("trail", c, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// drain reads until the source is exhausted.
func drain(t *testing.T, s *s3source.Source) []*source.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*source.Batch
	for {
		b, err := s.Read(ctx)
		if errors.Is(err, source.ErrExhausted) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		out = append(out, b)
	}
}

func read(t *testing.T, s *s3source.Source) *source.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := s.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return b
}

func origins(bs []*source.Batch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, strings.TrimPrefix(b.Origin, "s3://"+bucket+"/"))
	}
	return out
}

func ack(t *testing.T, b *source.Batch, err error) {
	t.Helper()
	if e := b.Ack(context.Background(), source.Result{Err: err}); e != nil {
		t.Fatalf("Ack %s: %v", b.Origin, e)
	}
}

func checkpoint(t *testing.T, ck *sqlite.Store, key string) string {
	t.Helper()
	v, err := ck.Checkpoint(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// immediately makes the next pass start at once.
func immediately(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func TestReadsEveryAccountAndRegionThenResumes(t *testing.T) {
	f := newFakeS3(t)
	want := f.layout()
	ck := openCheckpoints(t)
	c := f.config()
	c.StartAfter, c.PollInterval = "2026-11-01", "0"
	s := newSource(t, c, s3source.Options{Checkpoints: ck, PageSize: 1})

	bs := drain(t, s)
	got := origins(bs)
	// Every object once; within an account and region in key order.
	sorted := slices.Clone(got)
	sort.Strings(sorted)
	if diff := cmp.Diff(want, sorted); diff != "" {
		t.Fatalf("objects read (-want +got):\n%s", diff)
	}
	last := map[string]string{}
	for _, k := range got {
		dir := k[:strings.Index(k, "/20")]
		if k < last[dir] {
			t.Errorf("%s read after %s", k, last[dir])
		}
		last[dir] = k
	}
	for _, b := range bs {
		if b.Records != 2 || len(b.Events) != 2 || len(b.Errors) != 0 {
			t.Errorf("%s: %d records, %d events, errors %v; want 2, 2, none", b.Origin, b.Records, len(b.Events), b.Errors)
		}
		if len(b.Events) > 0 && b.Events[0].Origin != b.Origin {
			t.Errorf("event origin %q, want %q", b.Events[0].Origin, b.Origin)
		}
	}
	if s.Objects.Load() != int64(len(want)) || s.ListErrors.Load() != 0 || s.ReadErrors.Load() != 0 {
		t.Errorf("counters: objects %d, list errors %d, read errors %d", s.Objects.Load(), s.ListErrors.Load(), s.ReadErrors.Load())
	}

	// Nothing acknowledged yet: the checkpoints are the start positions.
	start := "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/2026/11/01/"
	if got := checkpoint(t, ck, ckKey(acctA, "us-east-1")); got != start {
		t.Errorf("checkpoint before acks = %q, want %q", got, start)
	}
	for _, b := range bs {
		ack(t, b, nil)
	}
	lastOf := func(prefix string) string {
		var l string
		for _, k := range want {
			if strings.HasPrefix(k, prefix) {
				l = k
			}
		}
		return l
	}
	for _, tc := range []struct{ ck, prefix string }{
		{ckKey(acctA, "us-east-1"), "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/"},
		{ckKey(acctB, "eu-west-1"), "trail/AWSLogs/" + acctB + "/CloudTrail/eu-west-1/"},
		{ckKey(org, acctC, "us-east-1"), "trail/AWSLogs/" + org + "/" + acctC + "/CloudTrail/us-east-1/"},
	} {
		if got, want := checkpoint(t, ck, tc.ck), lastOf(tc.prefix); got != want {
			t.Errorf("checkpoint %s = %q, want %q", tc.ck, got, want)
		}
	}

	// A restart reads only what came after the checkpoints.
	f.putLog("", acctA, "us-east-1", "20261101T0000Z") // late, before the checkpoint
	newer := []string{
		f.putLog("", acctA, "us-east-1", "20261103T0100Z"),
		f.putLog("", acctB, "eu-west-1", "20261103T0000Z"),
		f.putLog("", acctA, "ap-south-1", "20261102T0000Z"), // a region seen for the first time
		f.putLog(org, acctC, "us-east-1", "20261103T0000Z"),
	}
	sort.Strings(newer)
	s2 := newSource(t, c, s3source.Options{Checkpoints: ck})
	bs = drain(t, s2)
	got = origins(bs)
	sort.Strings(got)
	if diff := cmp.Diff(newer, got); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

func TestCheckpointMovesOnlyOverAcknowledgedPredecessors(t *testing.T) {
	f := newFakeS3(t)
	f.layout()
	ck := openCheckpoints(t)
	c := f.config()
	c.StartAfter, c.PollInterval = "2026-11-01", "0"
	c.Accounts, c.Regions = []string{acctA}, []string{"us-east-1"}
	s := newSource(t, c, s3source.Options{Checkpoints: ck})
	bs := drain(t, s)
	if len(bs) != 2 {
		t.Fatalf("read %v, want 2 objects", origins(bs))
	}
	key := ckKey(acctA, "us-east-1")
	start := "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/2026/11/01/"
	ack(t, bs[1], nil)
	if got := checkpoint(t, ck, key); got != start {
		t.Errorf("after acking only the second object: checkpoint %q, want %q", got, start)
	}
	ack(t, bs[0], nil)
	if got, want := checkpoint(t, ck, key), strings.TrimPrefix(bs[1].Origin, "s3://"+bucket+"/"); got != want {
		t.Errorf("after acking both: checkpoint %q, want %q", got, want)
	}
	if err := bs[0].Ack(context.Background(), source.Result{}); err == nil {
		t.Error("a second Ack returned no error")
	}
}

func TestAckErrorReadsAgain(t *testing.T) {
	f := newFakeS3(t)
	f.layout()
	ck := openCheckpoints(t)
	c := f.config()
	c.StartAfter, c.PollInterval = "2026-11-01", "1m"
	c.Accounts, c.Regions = []string{acctA}, []string{"us-east-1"}
	s := newSource(t, c, s3source.Options{Checkpoints: ck, After: immediately})
	key := ckKey(acctA, "us-east-1")
	start := "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/2026/11/01/"

	b1, b2 := read(t, s), read(t, s)
	ack(t, b1, errors.New("store unavailable"))
	ack(t, b2, nil)
	if got := checkpoint(t, ck, key); got != start {
		t.Errorf("checkpoint moved to %q after a failed first object", got)
	}
	r1, r2 := read(t, s), read(t, s)
	if r1.Origin != b1.Origin || r2.Origin != b2.Origin {
		t.Fatalf("next pass read %s, %s; want %s, %s again", r1.Origin, r2.Origin, b1.Origin, b2.Origin)
	}
	ack(t, r1, nil)
	ack(t, r2, nil)
	if got, want := checkpoint(t, ck, key), strings.TrimPrefix(b2.Origin, "s3://"+bucket+"/"); got != want {
		t.Errorf("checkpoint %q, want %q", got, want)
	}
	// A newer object arrives and is read at the next pass.
	k := f.putLog("", acctA, "us-east-1", "20261104T0000Z")
	if b := read(t, s); b.Origin != "s3://"+bucket+"/"+k {
		t.Errorf("read %s, want the new %s", b.Origin, k)
	}
}

func TestCorruptObjectIsABatchWithErrors(t *testing.T) {
	f := newFakeS3(t)
	ck := openCheckpoints(t)
	dir := "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/2026/11/01/" + acctA + "_CloudTrail_us-east-1_"
	full := gz(`{"Records":[` + record("x1", acctA, "us-east-1") + `]}`)
	bad := []string{
		f.put(dir+"20261101T0000Z_plain.json.gz", []byte("this is not gzip, nor JSON\n")),
		f.put(dir+"20261101T0005Z_text.json.gz", gz("neither is this")),
		f.put(dir+"20261101T0010Z_truncated.json.gz", full[:len(full)-12]),
	}
	good := f.putLog("", acctA, "us-east-1", "20261101T0100Z")
	c := f.config()
	c.StartAfter, c.PollInterval = "2026-11-01", "0"
	s := newSource(t, c, s3source.Options{Checkpoints: ck})
	bs := drain(t, s)
	if diff := cmp.Diff(append(slices.Clone(bad), good), origins(bs)); diff != "" {
		t.Fatalf("objects read (-want +got):\n%s", diff)
	}
	for i, k := range bad {
		b := bs[i]
		if len(b.Errors) == 0 {
			t.Errorf("%s: no errors", k)
			continue
		}
		if !strings.Contains(b.Errors[0].Error(), "s3://"+bucket+"/"+k) {
			t.Errorf("%s: error %q does not name the object", k, b.Errors[0])
		}
	}
	if len(bs[3].Errors) != 0 || bs[3].Records != 2 {
		t.Errorf("good object: %d records, errors %v", bs[3].Records, bs[3].Errors)
	}
	for _, b := range bs {
		ack(t, b, nil)
	}
	if got := checkpoint(t, ck, ckKey(acctA, "us-east-1")); got != good {
		t.Errorf("checkpoint %q, want %q (corrupt objects are not retried)", got, good)
	}
}

func TestStartPosition(t *testing.T) {
	f := newFakeS3(t)
	f.layout()
	now := func() time.Time { return time.Date(2026, 11, 2, 0, 30, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name, startAfter string
		wantStart        string
		want             []string // timestamps of the objects read
	}{
		{"default: 24 hours before now", "", "2026/11/01/" + acctA + "_CloudTrail_us-east-1_20261101T0030Z", []string{"20261101T0100Z", "20261102T0100Z"}},
		{"a date", "2026-10-31", "2026/10/31/", []string{"20261031T2300Z", "20261101T0100Z", "20261102T0100Z"}},
		{"a time", "2026-11-01T05:00:00Z", "2026/11/01/" + acctA + "_CloudTrail_us-east-1_20261101T0500Z", []string{"20261102T0100Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck := openCheckpoints(t)
			c := f.config()
			c.StartAfter, c.PollInterval = tc.startAfter, "0"
			c.Accounts, c.Regions = []string{acctA}, []string{"us-east-1"}
			s := newSource(t, c, s3source.Options{Checkpoints: ck, Now: now})
			var got []string
			for _, k := range origins(drain(t, s)) {
				got = append(got, strings.Split(k, "_")[3])
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("read (-want +got):\n%s", diff)
			}
			// The start position is saved at once, so a restart a week
			// later still begins there.
			want := "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/" + tc.wantStart
			if got := checkpoint(t, ck, ckKey(acctA, "us-east-1")); got != want {
				t.Errorf("checkpoint %q, want %q", got, want)
			}
		})
	}
}

func TestPollingWaitsAndStops(t *testing.T) {
	f := newFakeS3(t)
	c := f.config()
	c.PollInterval = "1h"
	tick := make(chan time.Time)
	s := newSource(t, c, s3source.Options{After: func(time.Duration) <-chan time.Time { return tick }})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// An empty bucket: the first pass finds nothing and Read waits.
	if _, err := s.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read on an empty bucket: %v, want the context's deadline", err)
	}
	k := f.putLog("", acctB, "eu-west-1", time.Now().UTC().Format("20060102T1504Z"))
	done := make(chan *source.Batch)
	go func() {
		b, _ := s.Read(context.Background())
		done <- b
	}()
	tick <- time.Now()
	if b := <-done; b == nil || b.Origin != "s3://"+bucket+"/"+k {
		t.Fatalf("after the poll: %v, want %s", b, k)
	}
	s.Close(context.Background())
	if _, err := s.Read(context.Background()); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
}

func TestStartFailsOnMissingBucket(t *testing.T) {
	f := newFakeS3(t)
	c := f.config()
	c.Bucket = "no-such-bucket"
	if err := c.Check(nil); err != nil {
		t.Fatal(err)
	}
	s, err := s3source.New("trail", c, s3source.Options{})
	if err != nil {
		t.Fatalf("New (no I/O): %v", err)
	}
	defer s.Close(context.Background())
	err = s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket") || !source.IsPermanent(err) {
		t.Errorf("Start: %v, want a permanent error naming the bucket", err)
	}
}

// A bucket out of reach at start is worth retrying, not a permanent error.
func TestStartUnreachableIsRetried(t *testing.T) {
	c := s3source.Config{Bucket: "trail-bucket", Region: "us-east-1", Endpoint: "http://127.0.0.1:1",
		AccessKeyID: secret.New(keyID), SecretAccessKey: secret.New("example-secret-key")}
	if err := c.Check(nil); err != nil {
		t.Fatal(err)
	}
	s, err := s3source.New("trail", c, s3source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err == nil || source.IsPermanent(err) {
		t.Errorf("Start against a closed port: %v, want a retryable error", err)
	}
}

func TestCheck(t *testing.T) {
	env := func(k string) string { return map[string]string{"KEY": "AKIAEXAMPLE", "SECRET": "s3cr3t"}[k] }
	for _, tc := range []struct {
		name string
		c    s3source.Config
		want []string // substrings of the error; none: valid
	}{
		{"minimal", s3source.Config{Bucket: "trail-bucket"}, nil},
		{"everything", s3source.Config{Bucket: "trail-bucket", Prefix: "/org/", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000",
			Accounts: []string{acctA}, Regions: []string{"us-east-1", "us-gov-west-1"}, StartAfter: "2026-11-01", PollInterval: "0",
			AccessKeyID: secret.New("${KEY}"), SecretAccessKey: secret.New("${SECRET}")}, nil},
		{"no bucket", s3source.Config{}, []string{"bucket: missing"}},
		{"bucket URL", s3source.Config{Bucket: "s3://trail-bucket/x"}, []string{"bucket:"}},
		{"bad fields", s3source.Config{Bucket: "b-1", Endpoint: "localhost:9000", Accounts: []string{"1234"}, Regions: []string{"US East"},
			StartAfter: "yesterday", PollInterval: "often"},
			[]string{"endpoint:", "accounts[0]:", "regions[0]:", "start_after:", "poll_interval:"}},
		{"negative poll", s3source.Config{Bucket: "b-1", PollInterval: "-1s"}, []string{"poll_interval:"}},
		{"half the credentials", s3source.Config{Bucket: "b-1", AccessKeyID: secret.New("AKIAEXAMPLE")}, []string{"access_key_id and secret_access_key"}},
		{"unset variable", s3source.Config{Bucket: "b-1", AccessKeyID: secret.New("${NOPE}"), SecretAccessKey: secret.New("x")}, []string{"access_key_id:", "NOPE"}},
		{"both value and file", s3source.Config{Bucket: "b-1", AccessKeyID: secret.New("A"), SecretAccessKey: secret.New("x"), SecretAccessKeyFile: "/f"}, []string{"secret_access_key:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Check(env)
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check: no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check: %v; want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("Check leaks a secret: %v", err)
			}
		})
	}
}

func TestWalkSkipsDigests(t *testing.T) {
	f := newFakeS3(t)
	want := f.layout()
	ctx := context.Background()
	c, err := s3source.NewClient(ctx, s3source.ClientConfig{Region: "us-east-1", Endpoint: f.url, AccessKeyID: keyID, SecretAccessKey: "example-secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = s3source.Walk(ctx, c, bucket, "trail/AWSLogs/", func(key string, body io.Reader) error {
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if len(b) < 2 || b[0] != 0x1f {
			t.Errorf("%s: body is not the stored gzip", key)
		}
		if strings.Contains(key, "/CloudTrail/") {
			got = append(got, key)
		} else if !strings.Contains(key, "/vpcflowlogs/") {
			t.Errorf("walked %s", key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got = slices.DeleteFunc(got, func(k string) bool { return strings.Contains(k, "20261031T") })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walked (-want +got):\n%s", diff)
	}
	// A prefix without a trailing slash names a folder or one object.
	var one []string
	if err := s3source.List(ctx, c, bucket, want[0], func(k string) error { one = append(one, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:1], one); diff != "" {
		t.Errorf("listing one object (-want +got):\n%s", diff)
	}
	if err := s3source.List(ctx, c, "no-such-bucket", "", func(string) error { return nil }); err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket/") {
		t.Errorf("listing a missing bucket: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix string }{
		{"s3://b", "b", ""},
		{"s3://b/", "b", ""},
		{"s3://b/trail/AWSLogs/", "b", "trail/AWSLogs/"},
	} {
		b, p, err := s3source.ParseURL(tc.in)
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.in, b, p, err, tc.bucket, tc.prefix)
		}
	}
	for _, in := range []string{"s3://", "s3:///x", "/tmp/x", "https://b/x"} {
		if _, _, err := s3source.ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q): no error", in)
		}
	}
}

// flaky breaks the download of one object once, half way.
type flaky struct {
	s3source.Client
	key    string
	broken bool
}

func (f *flaky) GetObject(ctx context.Context, in *s3.GetObjectInput, opt ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := f.Client.GetObject(ctx, in, opt...)
	if err == nil && *in.Key == f.key && !f.broken {
		f.broken = true
		out.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(io.LimitReader(out.Body, 20), iotestErr{}), out.Body}
	}
	return out, err
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func TestBrokenDownloadIsReadAgain(t *testing.T) {
	f := newFakeS3(t)
	f.layout()
	c := f.config()
	c.StartAfter, c.PollInterval = "2026-11-01", "1m"
	c.Accounts, c.Regions = []string{acctA}, []string{"us-east-1"}
	if err := c.Check(nil); err != nil {
		t.Fatal(err)
	}
	base, err := s3source.NewClient(context.Background(), s3source.ClientConfig{Region: "us-east-1", Endpoint: f.url, AccessKeyID: keyID, SecretAccessKey: "x"})
	if err != nil {
		t.Fatal(err)
	}
	first := "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/2026/11/01/" + acctA + "_CloudTrail_us-east-1_20261101T0100Z_r002.json.gz"
	cl := &flaky{Client: base, key: first}
	s := newSource(t, c, s3source.Options{Client: cl, After: immediately})
	b := read(t, s)
	if !cl.broken || b.Origin != "s3://"+bucket+"/"+first || len(b.Errors) != 0 || b.Records != 2 {
		t.Errorf("got %s with %d records, errors %v; want %s read again whole", b.Origin, b.Records, b.Errors, first)
	}
	if s.ReadErrors.Load() != 1 {
		t.Errorf("read errors = %d, want 1", s.ReadErrors.Load())
	}
}

// A large object is handed out in chunks, the next once the previous is
// committed; a restart resumes it after its last committed chunk (nothing
// twice, nothing skipped), and the stream's checkpoint moves past it once
// its last chunk is committed.
func TestLargeObjectInChunksResumes(t *testing.T) {
	f := newFakeS3(t)
	var recs []string
	var want []string
	for i := 0; i < 25; i++ {
		id := fmt.Sprintf("big-%03d", i)
		recs = append(recs, record(id, acctA, "us-east-1"))
		want = append(want, id)
	}
	key := f.put("trail/AWSLogs/"+acctA+"/CloudTrail/us-east-1/2026/11/01/"+acctA+"_CloudTrail_us-east-1_20261101T0100Z_big.json.gz",
		gz(`{"Records":[`+strings.Join(recs, ",")+`]}`))
	ck := openCheckpoints(t)
	c := f.config()
	c.StartAfter, c.PollInterval, c.ChunkRecords = "2026-11-01", "0", 10
	s := newSource(t, c, s3source.Options{Checkpoints: ck})
	b1 := read(t, s)
	if b1.Records != 10 || b1.Object != "s3://"+bucket+"/"+key || b1.Offset != 0 || len(b1.Trails) != 1 {
		t.Fatalf("first chunk: %s, %d records, offset %d, trails %v", b1.Origin, b1.Records, b1.Offset, b1.Trails)
	}
	// The next chunk waits for the commit of the first.
	wctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if b, err := s.Read(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read before the first chunk was committed: %v, %v", b, err)
	}
	cancel()
	ack(t, b1, nil)
	b2 := read(t, s)
	if b2.Offset != 10 || b2.Records != 10 {
		t.Fatalf("second chunk: offset %d, %d records", b2.Offset, b2.Records)
	}
	ack(t, b2, nil)
	stream := ckKey(acctA, "us-east-1")
	if got := checkpoint(t, ck, stream); got == key {
		t.Errorf("the stream's checkpoint moved past an object part-way")
	}
	if got := checkpoint(t, ck, stream+"#partial"); !strings.HasPrefix(got, key+"@") || !strings.HasSuffix(got, ";records=20") {
		t.Errorf("partial checkpoint %q", got)
	}
	read(t, s) // the third chunk, never committed: the process stops
	s.Close(context.Background())

	s2 := newSource(t, c, s3source.Options{Checkpoints: ck})
	rest := drain(t, s2)
	if len(rest) != 1 || rest[0].Offset != 20 || rest[0].Records != 5 {
		t.Fatalf("after restart: %v", origins(rest))
	}
	ack(t, rest[0], nil)
	var got []string
	for _, b := range []*source.Batch{b1, b2, rest[0]} {
		for _, e := range b.Events {
			got = append(got, e.EventID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events over both runs (-want +got):\n%s", diff)
	}
	if got := checkpoint(t, ck, stream); got != key {
		t.Errorf("stream checkpoint %q once the object is done, want %q", got, key)
	}
}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{Open: func(t *testing.T) *sourcetest.Input {
		f := newFakeS3(t)
		ck := openCheckpoints(t)
		c := f.config()
		c.StartAfter, c.PollInterval = "2026-11-01", "1m"
		if err := c.Check(func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		s, err := s3source.New("trail", c, s3source.Options{Checkpoints: ck, After: func(time.Duration) <-chan time.Time {
			return time.After(time.Millisecond)
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		key := func(id string) string {
			return "trail/AWSLogs/" + acctA + "/CloudTrail/us-east-1/2026/11/01/" + acctA + "_CloudTrail_us-east-1_20261101T0100Z_" + id + ".json.gz"
		}
		return &sourcetest.Input{
			Source: s,
			Put:    func(t *testing.T, id string) { f.put(key(id), gz(`{"Records":[`+sourcetest.Record(id)+`]}`)) },
			Settled: func(t *testing.T, id string) bool {
				v, err := ck.Checkpoint(context.Background(), ckKey(acctA, "us-east-1"))
				return err == nil && v >= key(id)
			},
		}
	}})
}
