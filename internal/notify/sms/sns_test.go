package sms_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
	"github.com/trailwatch/trailwatch/internal/notify/sms"
	"github.com/trailwatch/trailwatch/internal/notify/sms/snsfake"
	"github.com/trailwatch/trailwatch/internal/secret"
)

const (
	testKeyID     = "AKIAIOSFODNN7EXAMPLE"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion    = "eu-west-1"
	phoneUK       = "+447700900123"
	phoneUS       = "+15555550199"
)

func snsConfig(endpoint string) sms.Config {
	return sms.Config{
		Provider:        "sns",
		To:              []string{phoneUK, phoneUS},
		Region:          testRegion,
		Endpoint:        endpoint,
		AccessKeyID:     secret.New(testKeyID),
		SecretAccessKey: secret.New(testSecretKey),
	}
}

func newSMS(t *testing.T, c sms.Config, logger *slog.Logger) *sms.Notifier {
	t.Helper()
	if err := c.Check(func(string) string { return "" }); err != nil {
		t.Fatalf("check: %v", err)
	}
	n, err := sms.New(c, notify.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func notifyCtx(t *testing.T, n *sms.Notifier, m notify.Message) (notify.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Notify(ctx, m)
}

func TestSNSPublish(t *testing.T) {
	fake := snsfake.New(testKeyID, testRegion)
	defer fake.Close()
	c := snsConfig(fake.URL)
	c.SenderID = "Trailwatch"
	c.MaxPrice = 0.5
	c.OriginationNumber = "+447700900999"
	var logs bytes.Buffer
	n := newSMS(t, c, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	m := notifytest.Message()
	res, err := notifyCtx(t, n, m)
	if err != nil {
		t.Fatalf("notify: %v", err)
	}
	got := fake.Messages()
	if len(got) != 2 || got[0].PhoneNumber != phoneUK || got[1].PhoneNumber != phoneUS {
		t.Fatalf("published %+v", got)
	}
	if res.Ref != got[0].MessageID+","+got[1].MessageID {
		t.Errorf("Ref %q", res.Ref)
	}
	msg := got[0]
	if msg.AccessKeyID != testKeyID {
		t.Errorf("signed with %q", msg.AccessKeyID)
	}
	if !strings.HasPrefix(msg.Message, "trailwatch VERY_HIGH: ") || !strings.HasSuffix(msg.Message, " "+m.Finding.ID) {
		t.Errorf("message %q", msg.Message)
	}
	if enc, segs := sms.Segments(msg.Message); enc != sms.GSM7 || segs > 2 {
		t.Errorf("message is %s in %d segments", enc, segs)
	}
	want := map[string]snsfake.Attribute{
		"AWS.SNS.SMS.SMSType":          {DataType: "String", StringValue: "Transactional"},
		"AWS.SNS.SMS.SenderID":         {DataType: "String", StringValue: "Trailwatch"},
		"AWS.SNS.SMS.MaxPrice":         {DataType: "Number", StringValue: "0.5"},
		"AWS.MM.SMS.OriginationNumber": {DataType: "String", StringValue: "+447700900999"},
	}
	if len(msg.Attributes) != len(want) {
		t.Errorf("attributes %v", msg.AttributeNames())
	}
	for k, v := range want {
		if msg.Attributes[k] != v {
			t.Errorf("attribute %s = %+v, want %+v", k, msg.Attributes[k], v)
		}
	}
	for _, s := range []string{phoneUK, phoneUS, testSecretKey} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs contain %q:\n%s", s[:5], logs.String())
		}
	}
	if !strings.Contains(logs.String(), "+44••••••123") {
		t.Errorf("logs do not name the masked number:\n%s", logs.String())
	}
}

func TestSNSDefaultAttributesAndPromotional(t *testing.T) {
	fake := snsfake.New(testKeyID, testRegion)
	defer fake.Close()
	c := snsConfig(fake.URL)
	c.To = []string{phoneUK}
	c.SMSType = "promotional"
	if _, err := notifyCtx(t, newSMS(t, c, nil), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()[0]
	if names := got.AttributeNames(); len(names) != 1 || got.Attributes["AWS.SNS.SMS.SMSType"].StringValue != "Promotional" {
		t.Errorf("attributes %+v", got.Attributes)
	}
}

func TestSNSErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       snsfake.Error
		permanent bool
		text      string
	}{
		{"throttling", snsfake.Throttling, false, "Throttling"},
		{"throttled", snsfake.Throttled, false, "Throttled"},
		{"internal error", snsfake.InternalError, false, "InternalError"},
		{"service unavailable", snsfake.ServiceDown, false, "HTTP 503"},
		{"invalid parameter", snsfake.InvalidParameter, true, "InvalidParameter"},
		{"sandbox", snsfake.Sandbox, true, "sandbox"},
		{"authorization", snsfake.Authorization, true, "AuthorizationError"},
		{"opted out", snsfake.OptedOut, true, "OptedOut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := snsfake.New(testKeyID, testRegion)
			defer fake.Close()
			fake.FailNext(tc.err, 1)
			c := snsConfig(fake.URL)
			c.To = []string{phoneUK}
			var logs bytes.Buffer
			_, err := notifyCtx(t, newSMS(t, c, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))), notifytest.Message())
			if err == nil {
				t.Fatal("no error")
			}
			if got := notify.IsPermanent(err); got != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "+44••••••123") {
				t.Errorf("error %q lacks %q or the masked number", err, tc.text)
			}
			// The dispatcher owns retries: the SDK must not retry on its own.
			if got := fake.Requests(); got != 1 {
				t.Errorf("%d requests for one attempt", got)
			}
			notifytest.NoLeak(t, err.Error()+logs.String(), phoneUK, strings.TrimPrefix(phoneUK, "+"), testSecretKey)
		})
	}
}

func TestSNSBadCredentialsArePermanent(t *testing.T) {
	fake := snsfake.New("AKIAOTHERKEYEXAMPLE1", testRegion)
	defer fake.Close()
	_, err := notifyCtx(t, newSMS(t, snsConfig(fake.URL), nil), notifytest.Message())
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "InvalidClientTokenId") {
		t.Fatalf("wrong access key: %v", err)
	}
	notifytest.NoLeak(t, err.Error(), testSecretKey)

	// Signed for the wrong region.
	fake2 := snsfake.New(testKeyID, "us-east-1")
	defer fake2.Close()
	if _, err := notifyCtx(t, newSMS(t, snsConfig(fake2.URL), nil), notifytest.Message()); err == nil || !notify.IsPermanent(err) {
		t.Fatalf("wrong region: %v", err)
	}
}

func TestSNSPartialFailure(t *testing.T) {
	fake := snsfake.New(testKeyID, testRegion)
	defer fake.Close()
	c := snsConfig(fake.URL)
	c.To = []string{phoneUK, "+447700900456", phoneUS}
	n := newSMS(t, c, nil)

	// A bad number among good ones: the others still get the text, and
	// the attempt fails permanently naming only the bad number.
	fake.FailNumber("+447700900456", snsfake.InvalidParameter)
	_, err := notifyCtx(t, n, notifytest.Message())
	if err == nil || !notify.IsPermanent(err) {
		t.Fatalf("bad number: %v", err)
	}
	if got := len(fake.Messages()); got != 2 {
		t.Errorf("%d numbers texted, want the 2 good ones", got)
	}
	if !strings.Contains(err.Error(), "1 of 3 numbers failed (+44••••••456)") {
		t.Errorf("error %q", err)
	}
	notifytest.NoLeak(t, err.Error(), "+447700900456", "447700900456")

	// A throttled number makes the attempt retryable even if another
	// failure is permanent: the retry will send to every number again.
	fake.FailNext(snsfake.Throttling, 1)
	_, err = notifyCtx(t, n, notifytest.Message())
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("throttled + bad number: %v", err)
	}
	if !strings.Contains(err.Error(), "2 of 3 numbers failed (+44••••••123, +44••••••456)") {
		t.Errorf("error %q", err)
	}
}

func TestSNSUnreachableAndTimeout(t *testing.T) {
	newNotifier := func(baseURL string, logger *slog.Logger) notify.Notifier {
		c := snsConfig(baseURL)
		c.To = []string{phoneUK}
		return newSMS(t, c, logger)
	}
	notifytest.CheckUnreachable(t, newNotifier, testSecretKey, phoneUK)
	notifytest.CheckTimeout(t, newNotifier, testSecretKey, phoneUK)
}

func TestSNSDefaultCredentialChain(t *testing.T) {
	// Credentials from the environment through the default chain; shared
	// files and the instance metadata service are switched off so the
	// test stays on the loopback interface.
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SNS", "")
	fake := snsfake.New(testKeyID, testRegion)
	defer fake.Close()
	c := sms.Config{Provider: "sns", To: []string{phoneUK}, Region: testRegion, Endpoint: fake.URL}
	if _, err := notifyCtx(t, newSMS(t, c, nil), notifytest.Message()); err != nil {
		t.Fatal(err)
	}
	if got := fake.Messages(); len(got) != 1 || got[0].AccessKeyID != testKeyID {
		t.Errorf("published %+v", got)
	}
}

func TestSNSEchoedCredentialsNeverLeak(t *testing.T) {
	// An endpoint (a proxy, a look-alike) answering 500 with an SNS error
	// whose message quotes the request: its Authorization header carries
	// the access key id; the secret key itself is never sent.
	for _, order := range [][]string{{"headers", "line", "body"}, {"body", "headers", "line"}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type><Code>InternalError</Code><Message>%s</Message></Error><RequestId>0f0e0d0c-EXAMPLE</RequestId></ErrorResponse>`,
				html.EscapeString(notifytest.EchoBody(r, body, 0, order...)))
		}))
		c := snsConfig(srv.URL)
		c.To = []string{phoneUK}
		var logs bytes.Buffer
		_, err := newSMS(t, c, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).Notify(context.Background(), notifytest.Message())
		srv.Close()
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("HTTP 500: %v", err)
		}
		notifytest.NoLeak(t, err.Error()+logs.String(), notifytest.Encodings(testKeyID, testSecretKey, phoneUK, strings.TrimPrefix(phoneUK, "+"))...)
	}
}
