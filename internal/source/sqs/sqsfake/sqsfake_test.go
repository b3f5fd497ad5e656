package sqsfake_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/trailwatch/trailwatch/internal/source/sqs/sqsfake"
)

func client(s *sqsfake.Server) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := sqsfake.New()
	defer s.Close()
	c := client(s)
	ctx := context.Background()

	created, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(created.QueueUrl), s.QueueURL("q"); got != want {
		t.Fatalf("QueueUrl = %q, want %q", got, want)
	}
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")})
	if err != nil || aws.ToString(got.QueueUrl) != s.QueueURL("q") {
		t.Fatalf("GetQueueUrl = %v, %v", got, err)
	}
	q := created.QueueUrl

	// The SDK checks the MD5 of what it sent and received: a multi-byte
	// body proves the fake hashes the UTF-8 bytes.
	body := `{"note":"größe – 漢字 \u2028"}`
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q, MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	sum := md5.Sum([]byte(body))
	if got, want := aws.ToString(sent.MD5OfMessageBody), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("MD5OfMessageBody = %s, want %s", got, want)
	}
	if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("second")}, {Id: aws.String("b"), MessageBody: aws.String("third")},
	}}); err != nil {
		t.Fatalf("SendMessageBatch: %v", err)
	}

	r1, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(r1.Messages) != 3 {
		t.Fatalf("received %d messages, want 3", len(r1.Messages))
	}
	m := r1.Messages[0]
	if aws.ToString(m.Body) != body || aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) {
		t.Fatalf("first message = %q (%s), want %q (%s)", aws.ToString(m.Body), aws.ToString(m.MessageId), body, aws.ToString(sent.MessageId))
	}
	if got := m.Attributes["ApproximateReceiveCount"]; got != "1" {
		t.Fatalf("ApproximateReceiveCount = %q, want 1", got)
	}
	if _, ok := m.Attributes["SentTimestamp"]; ok {
		t.Errorf("SentTimestamp returned though not asked for")
	}

	// In flight: nothing to receive, the long poll waits for the
	// visibility timeout (1 s) and then gets the messages again.
	start := time.Now()
	r2, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 1, WaitTimeSeconds: 5,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil || len(r2.Messages) != 1 {
		t.Fatalf("second ReceiveMessage = %v, %v", r2, err)
	}
	if d := time.Since(start); d < 700*time.Millisecond || d > 3*time.Second {
		t.Errorf("redelivery after %v, want about 1s", d)
	}
	m2 := r2.Messages[0]
	if aws.ToString(m2.ReceiptHandle) == aws.ToString(m.ReceiptHandle) {
		t.Errorf("receipt handle did not change on redelivery")
	}
	if got := m2.Attributes["ApproximateReceiveCount"]; got != "2" {
		t.Errorf("ApproximateReceiveCount = %q, want 2", got)
	}

	// The superseded handle is invalid, for delete and visibility.
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q, ReceiptHandle: m.ReceiptHandle})
	var invalid *types.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Fatalf("DeleteMessage with a stale handle: %v, want ReceiptHandleIsInvalid", err)
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q, ReceiptHandle: aws.String("bogus"), VisibilityTimeout: 5})
	if !errors.As(err, &invalid) {
		t.Fatalf("ChangeMessageVisibility with a bogus handle: %v, want ReceiptHandleIsInvalid", err)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q, ReceiptHandle: m2.ReceiptHandle, VisibilityTimeout: 30}); err != nil {
		t.Fatalf("ChangeMessageVisibility: %v", err)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q, ReceiptHandle: m2.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q, ReceiptHandle: m2.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage again with the same handle: %v, want success as on SQS", err)
	}

	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: q, Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("0"), ReceiptHandle: r1.Messages[1].ReceiptHandle},
		{Id: aws.String("1"), ReceiptHandle: aws.String("bogus")},
	}})
	if err != nil {
		t.Fatalf("DeleteMessageBatch: %v", err)
	}
	if len(del.Successful) != 1 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Fatalf("DeleteMessageBatch = %+v", del)
	}
	msgs := s.Messages("q")
	if len(msgs) != 1 || msgs[0].Body != "third" {
		t.Fatalf("left in the queue: %+v, want only the third message", msgs)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	s := sqsfake.New()
	defer s.Close()
	c := client(s)
	ctx := context.Background()

	_, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL("missing"))})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("ReceiveMessage on a missing queue: %v, want QueueDoesNotExist", err)
	}
	// The x-amzn-query-error header gives the classic code, as on SQS.
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("error code = %v, want AWS.SimpleQueueService.NonExistentQueue", err)
	}

	s.CreateQueue("q", sqsfake.QueueOptions{})
	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL("q")), MaxNumberOfMessages: 11})
	if err == nil || !strings.Contains(err.Error(), "MaxNumberOfMessages") {
		t.Errorf("MaxNumberOfMessages 11: %v, want an error", err)
	}

	// Unsigned requests are refused.
	req, _ := http.NewRequest("POST", s.URL(), strings.NewReader(`{"QueueName":"q"}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueUrl")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: status %d, want 403", resp.StatusCode)
	}
}

func TestLongPollEndsWithContext(t *testing.T) {
	t.Parallel()
	s := sqsfake.New()
	defer s.Close()
	s.CreateQueue("q", sqsfake.QueueOptions{})
	c := client(s)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL("q")), WaitTimeSeconds: 20})
	if err == nil {
		t.Fatal("ReceiveMessage on an empty queue returned without error before its context ended")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("long poll took %v after its context ended", d)
	}

	// A message sent during a long poll ends it at once.
	go func() {
		time.Sleep(100 * time.Millisecond)
		s.Send("q", "hello")
	}()
	start = time.Now()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL("q")), WaitTimeSeconds: 5})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %v, %v", out, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("long poll returned after %v, want soon after the send", d)
	}
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	s := sqsfake.New()
	defer s.Close()
	c := client(s)
	ctx := context.Background()
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("dlq")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"2"}`,
	}}); err != nil {
		t.Fatal(err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(s.QueueURL("q")), AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil || !strings.Contains(attrs.Attributes["RedrivePolicy"], `"maxReceiveCount":2`) {
		t.Fatalf("GetQueueAttributes = %v, %v", attrs, err)
	}
	id := s.Send("q", "poison")
	for i := 1; i <= 2; i++ {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL("q")), VisibilityTimeout: 0, WaitTimeSeconds: 1})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("receive %d = %v, %v", i, out, err)
		}
		// Make it visible again at once.
		if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(s.QueueURL("q")), ReceiptHandle: out.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL("q")), WaitTimeSeconds: 0})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("third receive = %v, %v; want nothing (moved to the DLQ)", out, err)
	}
	dlq := s.Messages("dlq")
	if len(dlq) != 1 || dlq[0].ID != id || dlq[0].Body != "poison" {
		t.Fatalf("dead-letter queue holds %+v, want the message", dlq)
	}
}
