package sqs

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/source/sourcetest"
	"github.com/trailwatch/trailwatch/internal/source/sqs/sqsfake"
)

func TestMain(m *testing.M) {
	// Keep the AWS SDK away from the developer's configuration.
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_SQS":        "",
		"AWS_ENDPOINT_URL_S3":         "",
	} {
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	os.Exit(m.Run())
}

const (
	bucket  = "trail-bucket"
	account = "111122223333"
	queue   = "events"
)

// env is one test's fake SQS and S3.
type env struct {
	t    *testing.T
	sqs  *sqsfake.Server
	s3   *s3mem.Backend
	s3rv *httptest.Server
	logs *syncBuffer
	// s3Gets counts GET requests to the fake S3.
	s3Gets atomic.Int64
}

func newEnv(t *testing.T, q sqsfake.QueueOptions) *env {
	t.Helper()
	e := &env{t: t, sqs: sqsfake.New(), s3: s3mem.New(), logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("SQS_TEST_LOGS") != "" {
			t.Logf("source logs:\n%s", e.logs)
		}
	})
	t.Cleanup(e.sqs.Close)
	h := gofakes3.New(e.s3, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	e.s3rv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			e.s3Gets.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.s3rv.Close)
	if err := e.s3.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	if q.DeadLetterQueue != "" {
		e.sqs.CreateQueue(q.DeadLetterQueue, sqsfake.QueueOptions{})
	}
	e.sqs.CreateQueue(queue, q)
	return e
}

func (e *env) config() Config {
	wait := 1
	return Config{
		QueueURL:          e.sqs.QueueURL(queue),
		Endpoint:          e.sqs.URL(),
		WaitSeconds:       &wait,
		VisibilityTimeout: 2,
		Workers:           1,
		RetryDelay:        1,
		AccessKeyID:       secret.New("AKIDEXAMPLE"),
		SecretAccessKey:   secret.New("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
		S3Endpoint:        e.s3rv.URL,
	}
}

// source starts a source on the queue; it is closed when the test ends.
func (e *env) source(c Config, o Options) *Source {
	e.t.Helper()
	if err := c.Check(func(string) string { return "" }); err != nil {
		e.t.Fatalf("Check: %v", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New("test", c, o)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			e.t.Errorf("Close: %v", err)
		}
	})
	return s
}

func (e *env) put(key string, data []byte) {
	e.t.Helper()
	if _, err := e.s3.PutObject(bucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		e.t.Fatal(err)
	}
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func read(t *testing.T, s *Source, d time.Duration) *source.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	b, err := s.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return b
}

func ack(t *testing.T, b *source.Batch, err error) {
	t.Helper()
	if err := b.Ack(context.Background(), source.Result{Err: err}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func (e *env) waitEmpty(q string) {
	e.t.Helper()
	eventually(e.t, 3*time.Second, "queue "+q+" is not empty", func() bool { return len(e.sqs.Messages(q)) == 0 })
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func record(id, name string) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::%[1]s:user/alice","accountId":"%[1]s","userName":"alice"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"iam.amazonaws.com","eventName":%[2]q,"awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","requestParameters":{"userName":"bob"},"eventID":%[3]q,"eventType":"AwsApiCall","recipientAccountId":"%[1]s"}`, account, name, id)
}

func envelope(rec string) string {
	return `{"version":"0","id":"6f1c9e2a-0000-4000-8000-000000000001","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"` + account + `","time":"2024-05-01T12:00:01Z","region":"us-east-1","resources":[],"detail":` + rec + `}`
}

func snsWrap(msg string) string {
	b, _ := json.Marshal(map[string]string{
		"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn": "arn:aws:sns:us-east-1:" + account + ":trail", "Message": msg,
		"Timestamp": "2024-05-01T12:00:02.000Z", "SignatureVersion": "1",
	})
	return string(b)
}

// s3Event is an S3 event notification; keys are given URL-encoded.
func s3Event(name string, encodedKeys ...string) string {
	var recs []string
	for _, k := range encodedKeys {
		recs = append(recs, `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-05-01T12:05:00.000Z","eventName":"`+name+`","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"`+bucket+`","arn":"arn:aws:s3:::`+bucket+`"},"object":{"key":"`+k+`","size":1234}}}`)
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func logFile(recs ...string) string { return `{"Records":[` + strings.Join(recs, ",") + `]}` }

func trailKey(name string) string {
	return "AWSLogs/" + account + "/CloudTrail/us-east-1/2024/05/01/" + name
}

func names(b *source.Batch) []string {
	var out []string
	for _, ev := range b.Events {
		out = append(out, ev.EventName)
	}
	return out
}

func TestInlineEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{})
	s := e.source(e.config(), Options{})
	for _, tc := range []struct {
		name, body string
		want       string
		envelope   bool
	}{
		{"eventbridge", envelope(record("e1", "CreateUser")), "CreateUser", true},
		{"sns eventbridge", snsWrap(envelope(record("e2", "DeleteUser"))), "DeleteUser", true},
		{"raw record", record("e3", "AttachUserPolicy"), "AttachUserPolicy", false},
		{"sns sns raw record", snsWrap(snsWrap(record("e4", "CreateAccessKey"))), "CreateAccessKey", false},
		{"records document", logFile(record("e5", "PutUserPolicy")), "PutUserPolicy", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.sqs.Send(queue, tc.body)
			b := read(t, s, 5*time.Second)
			if got, want := b.Origin, "sqs://"+queue+"/"+id; got != want {
				t.Errorf("Origin = %q, want %q", got, want)
			}
			if len(b.Errors) > 0 {
				t.Errorf("Errors = %v", b.Errors)
			}
			if got := names(b); len(got) != 1 || got[0] != tc.want || b.Records != 1 {
				t.Fatalf("events %v (records %d), want [%s]", got, b.Records, tc.want)
			}
			ev := b.Events[0]
			if (ev.Envelope != nil) != tc.envelope || ev.Origin != b.Origin {
				t.Errorf("envelope %v, origin %q", ev.Envelope, ev.Origin)
			}
			ack(t, b, nil)
			e.waitEmpty(queue)
		})
	}
	if got := s.Deleted.Load(); got != 5 {
		t.Errorf("Deleted = %d, want 5", got)
	}
	if got := e.sqs.Calls("DeleteMessage"); got != 0 {
		t.Errorf("%d DeleteMessage calls, want deletes batched (DeleteMessageBatch)", got)
	}
}

func TestS3Notifications(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{})
	// A key with a space and an '=', as S3 notifications encode them.
	key1 := "org=acme/AWSLogs/" + account + "/CloudTrail/us-east-1/2024/05/01/" + account + "_CloudTrail_us-east-1_20240501T1205Z_a b.json.gz"
	enc1 := "org%3Dacme/AWSLogs/" + account + "/CloudTrail/us-east-1/2024/05/01/" + account + "_CloudTrail_us-east-1_20240501T1205Z_a+b.json.gz"
	e.put(key1, gz(t, logFile(record("s1", "CreateUser"), record("s2", "CreateRole"))))
	key2, key3 := trailKey("two.json.gz"), trailKey("three.json")
	e.put(key2, gz(t, logFile(record("s3", "DeleteRole"))))
	e.put(key3, []byte(logFile(record("s4", "DeleteUser"), record("s5", "ListUsers")))) // not compressed
	digest := "AWSLogs/" + account + "/CloudTrail-Digest/us-east-1/2024/05/01/digest.json.gz"
	e.put(digest, gz(t, `{"awsAccountId":"`+account+`"}`))

	fetched := &e.s3Gets
	wants := func(src, name []byte) bool { return string(name) != "ListUsers" }
	s := e.source(e.config(), Options{Wants: wants})

	t.Run("s3 object created", func(t *testing.T) {
		e.sqs.Send(queue, s3Event("ObjectCreated:Put", enc1))
		b := read(t, s, 5*time.Second)
		if got := names(b); len(got) != 2 || got[0] != "CreateUser" || got[1] != "CreateRole" || len(b.Errors) > 0 {
			t.Fatalf("events %v, errors %v", got, b.Errors)
		}
		if got, want := b.Events[0].Origin, "s3://"+bucket+"/"+key1; got != want {
			t.Errorf("event origin %q, want %q", got, want)
		}
		ack(t, b, nil)
		e.waitEmpty(queue)
	})
	t.Run("cloudtrail sns notification with two keys", func(t *testing.T) {
		e.sqs.Send(queue, snsWrap(`{"s3Bucket":"`+bucket+`","s3ObjectKey":["`+key2+`","`+key3+`"]}`))
		b := read(t, s, 5*time.Second)
		// ListUsers is counted but not decoded: no rule wants it.
		if got := names(b); len(got) != 2 || got[0] != "DeleteRole" || got[1] != "DeleteUser" || b.Records != 3 {
			t.Fatalf("events %v (records %d), want [DeleteRole DeleteUser] of 3", got, b.Records)
		}
		ack(t, b, nil)
		e.waitEmpty(queue)
	})
	t.Run("digest and removal ignored", func(t *testing.T) {
		before := fetched.Load()
		e.sqs.Send(queue, s3Event("ObjectCreated:Put", digest))
		e.sqs.Send(queue, snsWrap(s3Event("ObjectRemoved:Delete", enc1)))
		for range 2 {
			b := read(t, s, 5*time.Second)
			if b.Records != 0 || len(b.Events) != 0 || len(b.Errors) != 0 {
				t.Errorf("batch %+v, want empty", b)
			}
			ack(t, b, nil)
		}
		e.waitEmpty(queue)
		if got := fetched.Load(); got != before {
			t.Errorf("%d objects fetched, want none", got-before)
		}
	})
	t.Run("s3 test event", func(t *testing.T) {
		e.sqs.Send(queue, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T12:00:00.000Z","Bucket":"`+bucket+`","RequestId":"X","HostId":"Y"}`)
		b := read(t, s, 5*time.Second)
		if b.Records != 0 || len(b.Events) != 0 || len(b.Errors) != 0 {
			t.Fatalf("batch %+v, want empty", b)
		}
		ack(t, b, nil)
		e.waitEmpty(queue)
	})
	t.Run("object neither gzip nor JSON", func(t *testing.T) {
		bad := trailKey("bad.json.gz")
		e.put(bad, []byte("this is not a log file\n"))
		e.sqs.Send(queue, s3Event("ObjectCreated:Put", bad, trailKey("gone.json.gz")))
		b := read(t, s, 5*time.Second)
		if len(b.Errors) != 2 {
			t.Fatalf("errors %v, want one for the bad file and one for the missing one", b.Errors)
		}
		if !strings.Contains(b.Errors[0].Error(), bad) || !errors.Is(b.Errors[1], ErrNotFound) {
			t.Errorf("errors %v", b.Errors)
		}
		ack(t, b, nil) // retrying would not fix the file: it is deleted
		e.waitEmpty(queue)
	})
	if got := s.Failed.Load() + s.Poison.Load(); got != 0 {
		t.Errorf("Failed+Poison = %d, want 0", got)
	}
}

func TestPoisonGoesToDeadLetterQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{DeadLetterQueue: "dlq", MaxReceiveCount: 2})
	c := e.config()
	c.VisibilityTimeout = 1
	s := e.source(c, Options{})
	secretBody := "not json: password=hunter2"
	e.sqs.Send(queue, secretBody)
	e.sqs.Send(queue, `{"Type":"Notification","Message":"{{{"}`)
	e.sqs.Send(queue, `{"hello":"world"}`)
	e.sqs.Send(queue, envelope(record("p1", "CreateUser")))

	// Receiving goes on past the poison messages.
	b := read(t, s, 5*time.Second)
	if got := names(b); len(got) != 1 || got[0] != "CreateUser" {
		t.Fatalf("events %v, want [CreateUser]", got)
	}
	ack(t, b, nil)
	if got := s.Poison.Load(); got != 3 {
		t.Errorf("Poison = %d, want 3", got)
	}
	// Not deleted: the redrive policy moves them after two receives.
	eventually(t, 8*time.Second, "poison messages not in the dead-letter queue", func() bool {
		return len(e.sqs.Messages("dlq")) == 3 && len(e.sqs.Messages(queue)) == 0
	})
	if got := s.Poison.Load(); got != 6 {
		t.Errorf("Poison = %d, want 6 (each received twice)", got)
	}
	if got := s.Deleted.Load(); got != 1 {
		t.Errorf("Deleted = %d, want 1", got)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "not understood") {
		t.Errorf("poison not logged:\n%s", logs)
	}
	if strings.Contains(logs, "hunter2") || strings.Contains(logs, "hello") {
		t.Errorf("log quotes a message body:\n%s", logs)
	}
}

func TestAckErrorRetriesLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{})
	c := e.config()
	c.VisibilityTimeout = 30
	s := e.source(c, Options{})
	id := e.sqs.Send(queue, record("r1", "CreateUser"))
	b := read(t, s, 5*time.Second)
	start := time.Now()
	ack(t, b, errors.New("store unavailable"))
	if err := b.Ack(context.Background(), source.Result{}); err == nil {
		t.Errorf("second Ack succeeded, want an error")
	}
	m := e.sqs.Messages(queue)
	if len(m) != 1 || !m[0].InFlight || m[0].VisibleAt.Sub(start) > 2*time.Second {
		t.Fatalf("after Ack(err): %+v, want the message hidden for the retry delay (1s), not the visibility timeout", m)
	}
	b = read(t, s, 5*time.Second)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("redelivered after %v, before the retry delay", d)
	}
	if b.Origin != "sqs://"+queue+"/"+id {
		t.Fatalf("redelivered %s, want message %s", b.Origin, id)
	}
	if got := e.sqs.Messages(queue)[0].ReceiveCount; got != 2 {
		t.Errorf("receive count %d, want 2", got)
	}
	ack(t, b, nil)
	e.waitEmpty(queue)
	if s.Failed.Load() != 1 || s.Deleted.Load() != 1 || s.Received.Load() != 2 {
		t.Errorf("Failed %d, Deleted %d, Received %d; want 1, 1, 2", s.Failed.Load(), s.Deleted.Load(), s.Received.Load())
	}
}

func TestExtendVisibility(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{})
	c := e.config()
	c.VisibilityTimeout = 2
	c.Workers = 2
	s := e.source(c, Options{})
	e.sqs.Send(queue, envelope(record("x1", "CreateUser")))
	b := read(t, s, 5*time.Second)
	// A slow pipeline: the batch stays unacknowledged for more than two
	// timeouts. No second delivery may happen meanwhile, to this source or
	// another.
	other := e.source(c, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	if b2, err := other.Read(ctx); err == nil {
		t.Fatalf("message redelivered while being worked on: %s", b2.Origin)
	}
	if m := e.sqs.Messages(queue); len(m) != 1 || !m[0].InFlight || m[0].ReceiveCount != 1 {
		t.Fatalf("queue: %+v, want the message in flight, received once", m)
	}
	if e.sqs.Calls("ChangeMessageVisibilityBatch") == 0 {
		t.Errorf("no visibility extension")
	}
	ack(t, b, nil)
	e.waitEmpty(queue)
}

func TestS3FetchFailureRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{})
	key := trailKey("f.json.gz")
	e.put(key, gz(t, logFile(record("f1", "CreateUser"))))
	g := &flakyGetter{fail: 1}
	g.data = gz(t, logFile(record("f1", "CreateUser")))
	s := e.source(e.config(), Options{S3: g})
	e.sqs.Send(queue, s3Event("ObjectCreated:CompleteMultipartUpload", key))
	start := time.Now()
	b := read(t, s, 5*time.Second)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("batch after %v: the failed fetch was not delayed", d)
	}
	if got := names(b); len(got) != 1 || len(b.Errors) != 0 {
		t.Fatalf("events %v, errors %v", got, b.Errors)
	}
	ack(t, b, nil)
	e.waitEmpty(queue)
	if s.Failed.Load() != 1 || s.Received.Load() != 2 {
		t.Errorf("Failed %d, Received %d; want 1, 2", s.Failed.Load(), s.Received.Load())
	}
}

// flakyGetter fails its first calls with a network error, then serves
// data; the failure happens mid-body, after the gzip header.
type flakyGetter struct {
	mu   sync.Mutex
	fail int
	data []byte
}

func (g *flakyGetter) GetObject(ctx context.Context, b, k string) (io.ReadCloser, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail > 0 {
		g.fail--
		return io.NopCloser(io.MultiReader(bytes.NewReader(g.data[:12]), errReader{errors.New("connection reset by peer")})), nil
	}
	return io.NopCloser(bytes.NewReader(g.data)), nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestRedeliveryAfterStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		stop func(s *Source, cancel context.CancelFunc)
		// within is how soon a new source gets the message: at once after
		// Close (released), after the timeout when the process dies.
		within time.Duration
	}{
		// Close releases the message at once; a long poll of the first
		// source that was cut off at Close may still take it on the server
		// side, as with real SQS, and then it comes back when that
		// visibility ends. So the bound is the visibility timeout, and the
		// release itself is checked by its call.
		{"close without ack", func(s *Source, _ context.CancelFunc) {
			ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			if err := s.Close(ctx); err != nil {
				t.Error(err)
			}
		}, 4 * time.Second},
		{"context cancelled", func(_ *Source, cancel context.CancelFunc) { cancel() }, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sqsfake.QueueOptions{})
			c := e.config()
			c.VisibilityTimeout = 2
			if err := c.Check(func(string) string { return "" }); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s1, err := New("first", c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s1.Start(ctx); err != nil {
				t.Fatal(err)
			}
			id := e.sqs.Send(queue, envelope(record("k1", "CreateUser")))
			b := read(t, s1, 5*time.Second)
			releases := e.sqs.Calls("ChangeMessageVisibilityBatch")
			tc.stop(s1, cancel)
			if closed := tc.name == "close without ack"; closed != (e.sqs.Calls("ChangeMessageVisibilityBatch") > releases) {
				t.Errorf("released the message at stop: %v, want %v", !closed, closed)
			}
			if _, err := s1.Read(context.Background()); !errors.Is(err, source.ErrClosed) {
				t.Errorf("Read after stop: %v, want ErrClosed", err)
			}
			start := time.Now()
			s2 := e.source(c, Options{})
			b2 := read(t, s2, tc.within+2*time.Second)
			if d := time.Since(start); d > tc.within {
				t.Errorf("redelivered after %v, want within %v", d, tc.within)
			}
			if b2.Origin != "sqs://"+queue+"/"+id || len(b2.Events) != 1 {
				t.Fatalf("redelivered %s with %d events", b2.Origin, len(b2.Events))
			}
			ack(t, b2, nil)
			e.waitEmpty(queue)
			// The first source's late acknowledgement does no harm.
			b.Ack(context.Background(), source.Result{})
		})
	}
}

func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		inline     bool
		objects    int
		errs       int
		poison     bool
	}{
		{name: "eventbridge", body: envelope(record("a", "X")), inline: true},
		{name: "array", body: "[" + record("a", "X") + "]", inline: true},
		{name: "json lines", body: record("a", "X") + "\n" + record("b", "Y") + "\n", inline: true},
		{name: "s3 event", body: s3Event("ObjectCreated:Put", trailKey("a.json.gz"), trailKey("b.json.gz")), objects: 2},
		{name: "eventbridge s3 object created", body: `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"` + trailKey("a b.json.gz") + `"}}}`, objects: 1},
		{name: "other eventbridge event", body: `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"running"}}`, errs: 1},
		{name: "subscription confirmation", body: `{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:us-east-1:1:t","SubscribeURL":"https://example.com"}`},
		{name: "not json", body: "hello", poison: true},
		{name: "empty", body: "", poison: true},
		{name: "string", body: `"hello"`, poison: true},
		{name: "unknown object", body: `{"a":1}`, poison: true},
		{name: "sns with bad message", body: snsWrap("oops"), poison: true},
		{name: "sns nested too deep", body: snsWrap(snsWrap(snsWrap(snsWrap(record("a", "X"))))), poison: true},
		{name: "cloudtrail notification without bucket", body: `{"s3Bucket":"","s3ObjectKey":["k"]}`, poison: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseBody([]byte(tc.body), 0)
			if tc.poison {
				if !errors.Is(err, errPoison) {
					t.Fatalf("err = %v, want errPoison", err)
				}
				if len(tc.body) > 4 && strings.Contains(err.Error(), tc.body) {
					t.Errorf("error %q quotes the body", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.inline != nil) != tc.inline || len(p.objects) != tc.objects || len(p.errs) != tc.errs {
				t.Errorf("plan: inline %v, %d objects, errs %v", p.inline != nil, len(p.objects), p.errs)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"SECRET": "s3cr3t"}[k] }
	ptr := func(n int) *int { return &n }
	for _, tc := range []struct {
		name    string
		c       Config
		wantErr []string
		check   func(t *testing.T, c *Config)
	}{
		{name: "defaults from an AWS queue URL", c: Config{QueueURL: "https://sqs.eu-west-2.amazonaws.com/" + account + "/trail"}, check: func(t *testing.T, c *Config) {
			if c.Region != "eu-west-2" || c.S3Region != "eu-west-2" || c.Endpoint != "" || c.queueName != "trail" {
				t.Errorf("region %q, s3 region %q, endpoint %q, queue %q", c.Region, c.S3Region, c.Endpoint, c.queueName)
			}
			if c.MaxMessages != 10 || *c.WaitSeconds != 20 || c.VisibilityTimeout != 60 || !*c.ExtendVisibility || c.Workers != 2 || *c.MaxReceiveCountWarn != 3 || c.RetryDelay != 10 || c.MaxRetryDelay != 900 {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "vpc endpoint host", c: Config{QueueURL: "https://vpce-0a1b-xyz.sqs.ap-southeast-2.vpce.amazonaws.com/" + account + "/trail"}, check: func(t *testing.T, c *Config) {
			if c.Region != "ap-southeast-2" {
				t.Errorf("region %q", c.Region)
			}
		}},
		{name: "local queue URL is its own endpoint", c: Config{QueueURL: "http://localhost:4566/000000000000/trail", WaitSeconds: ptr(0)}, check: func(t *testing.T, c *Config) {
			if c.Endpoint != "http://localhost:4566" || c.Region != "us-east-1" || *c.WaitSeconds != 0 {
				t.Errorf("endpoint %q, region %q, wait %d", c.Endpoint, c.Region, *c.WaitSeconds)
			}
		}},
		{name: "static credentials", c: Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", AccessKeyID: secret.New("AKID"), SecretAccessKey: secret.New("${SECRET}")}, check: func(t *testing.T, c *Config) {
			if c.secretAccessKey.Reveal() != "s3cr3t" {
				t.Errorf("secret not resolved")
			}
		}},
		{name: "everything wrong", c: Config{
			MaxMessages: 11, WaitSeconds: ptr(21), VisibilityTimeout: -1, Workers: -1, MaxReceiveCountWarn: ptr(-1),
			RetryDelay: 50, MaxRetryDelay: 20, Region: "mars", Endpoint: "ftp://x", AccessKeyID: secret.New("AKID"),
		}, wantErr: []string{"queue_url: required", "region:", "endpoint:", "max_messages:", "wait_seconds:", "visibility_timeout:", "workers:", "max_receive_count_warn:", "max_retry_delay:", "access_key_id and secret_access_key:"}},
		{name: "queue URL without a queue", c: Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/"}, wantErr: []string{"queue_url:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			err := c.Check(getenv)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, &c)
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestStartFailsOnMissingQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{})
	c := e.config()
	c.QueueURL = e.sqs.QueueURL("nope")
	if err := c.Check(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	s, err := New("x", c, Options{})
	if err != nil {
		t.Fatalf("New (no I/O): %v", err)
	}
	defer s.Close(context.Background())
	err = s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "QueueDoesNotExist") && !strings.Contains(err.Error(), "NonExistentQueue") {
		t.Fatalf("Start on a missing queue: %v", err)
	}
	if !source.IsPermanent(err) {
		t.Errorf("a missing queue is not a permanent error: %v", err)
	}
}

// A large log file named by a notification is handed out in chunks, the
// next once the previous is committed; the message is deleted only once
// every chunk (and the message's own batch) is committed, and a failed
// chunk makes the message come again.
func TestLargeLogFileInChunks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqsfake.QueueOptions{})
	var recs []string
	for i := 0; i < 25; i++ {
		recs = append(recs, record(fmt.Sprintf("big-%02d", i), "CreateUser"))
	}
	e.put(trailKey("big.json.gz"), gz(t, logFile(recs...)))
	e.put(trailKey("small.json.gz"), gz(t, logFile(record("s1", "DeleteUser"))))
	c := e.config()
	c.ChunkRecords = 10
	s := e.source(c, Options{})
	e.sqs.Send(queue, s3Event("ObjectCreated:Put", trailKey("big.json.gz"), trailKey("small.json.gz")))

	var seen []string
	for i, want := range []int{10, 10, 5} {
		b := read(t, s, 5*time.Second)
		if b.Records != want || b.Offset != 10*i || !strings.HasSuffix(b.Object, "big.json.gz") {
			t.Fatalf("chunk %d: %s, %d records at %d", i, b.Origin, b.Records, b.Offset)
		}
		for _, ev := range b.Events {
			seen = append(seen, ev.EventID)
		}
		if i < 2 {
			// The next chunk waits for this one's commit.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			if nb, err := s.Read(ctx); err == nil {
				t.Fatalf("read %s before chunk %d was committed", nb.Origin, i)
			}
			cancel()
		}
		ack(t, b, nil)
		if len(e.sqs.Messages(queue)) != 1 {
			t.Fatal("the message was deleted before all its batches were committed")
		}
	}
	last := read(t, s, 5*time.Second)
	if got := names(last); len(got) != 1 || got[0] != "DeleteUser" {
		t.Fatalf("the message's own batch: %v", got)
	}
	ack(t, last, nil)
	e.waitEmpty(queue)
	if len(seen) != 25 {
		t.Errorf("%d events of the large file, want 25", len(seen))
	}

	// A failed chunk: the message comes again.
	e.sqs.Send(queue, s3Event("ObjectCreated:Put", trailKey("big.json.gz")))
	b := read(t, s, 5*time.Second)
	ack(t, b, errors.New("store unavailable"))
	again := read(t, s, 10*time.Second)
	if again.Offset != 0 || again.Records != 10 {
		t.Fatalf("after a failed chunk: %s at %d", again.Origin, again.Offset)
	}
	if m := e.sqs.Messages(queue); len(m) != 1 || m[0].ReceiveCount != 2 {
		t.Errorf("after a failed chunk the message was not received again: %+v", m)
	}
}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{Open: func(t *testing.T) *sourcetest.Input {
		e := newEnv(t, sqsfake.QueueOptions{})
		s := e.source(e.config(), Options{})
		return &sourcetest.Input{
			Source: s,
			Put:    func(t *testing.T, id string) { e.sqs.Send(queue, sourcetest.Record(id)) },
			Settled: func(t *testing.T, id string) bool {
				for _, m := range e.sqs.Messages(queue) {
					if strings.Contains(m.Body, id) {
						return false
					}
				}
				return true
			},
		}
	}})
}

// Building does no I/O, and a source closed before it started reads
// nothing: Read returns source.ErrClosed at once.
func TestCloseBeforeStart(t *testing.T) {
	t.Parallel()
	c := Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/111122223333/never-reached", Endpoint: "http://127.0.0.1:1",
		AccessKeyID: secret.New("AKIDEXAMPLE"), SecretAccessKey: secret.New("secret-EXAMPLE")}
	if err := c.Check(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	s, err := New("x", c, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	if _, err := s.Read(context.Background()); !errors.Is(err, source.ErrClosed) {
		t.Fatalf("Read after Close: %v, want source.ErrClosed", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Start after Close: %v, want source.ErrClosed", err)
	}
}
