// Package sqsfake is an in-memory Amazon SQS for tests: an HTTP server on
// 127.0.0.1 that speaks the AWS JSON 1.0 protocol the aws-sdk-go-v2 SQS
// client uses (X-Amz-Target: AmazonSQS.<Operation>), faithfully enough for
// the client's own checks (MD5 of bodies, error shapes) and for testing
// at-least-once consumers: long polling, visibility timeouts, receipt
// handles that change on every receive, ApproximateReceiveCount,
// redelivery and a redrive policy that moves a message to a dead-letter
// queue after maxReceiveCount receives.
//
// It implements CreateQueue, GetQueueUrl, GetQueueAttributes, SendMessage,
// SendMessageBatch, ReceiveMessage, DeleteMessage, DeleteMessageBatch,
// ChangeMessageVisibility and ChangeMessageVisibilityBatch. It is a
// standard (not FIFO) queue that hands messages out in the order they
// were sent. It imports nothing of the project.
package sqsfake

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Account is the account id in the fake's queue URLs and ARNs.
const Account = "000000000000"

// Region is the region in the fake's queue ARNs.
const Region = "us-east-1"

// QueueOptions configure a queue made with Server.CreateQueue.
type QueueOptions struct {
	// VisibilityTimeout is the queue's default; 30 s when zero.
	VisibilityTimeout time.Duration
	// DeadLetterQueue names a queue of this server that messages move to
	// when they are about to be received more than MaxReceiveCount times.
	DeadLetterQueue string
	MaxReceiveCount int
}

// Message is a snapshot of a message in a queue, for inspection.
type Message struct {
	ID   string
	Body string
	// ReceiveCount is how often the message was received.
	ReceiveCount int
	// InFlight reports whether the message is invisible (received, not
	// deleted, visibility timeout not over).
	InFlight bool
	// VisibleAt is when an in-flight message becomes visible again.
	VisibleAt time.Time
}

// Server is a fake SQS endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex
	queues map[string]*queue
	calls  map[string]int
	// deleted holds the receipt handles that deleted a message: deleting
	// again with one succeeds, as on SQS.
	deleted map[string]bool
}

type queue struct {
	name       string
	visibility time.Duration
	wait       time.Duration
	dlq        string
	maxRecv    int
	msgs       []*message
	// changed is closed (and replaced) whenever a message may have become
	// receivable, waking long polls.
	changed chan struct{}
}

type message struct {
	id, body    string
	md5         string
	sent        time.Time
	firstRecv   time.Time
	recvCount   int
	visibleAt   time.Time
	receipt     string // the latest receipt handle; "" before the first receive
	oldReceipts map[string]bool
}

// New starts a server on 127.0.0.1.
func New() *Server {
	s := &Server{closed: make(chan struct{}), queues: map[string]*queue{}, calls: map[string]int{}, deleted: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint to give the SDK client as its base endpoint.
func (s *Server) URL() string { return s.srv.URL }

// QueueURL is the URL of the named queue (whether or not it exists).
func (s *Server) QueueURL(name string) string { return s.srv.URL + "/" + Account + "/" + name }

// Close ends pending long polls and stops the server.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// CreateQueue creates a queue (or changes the options of an existing one)
// and returns its URL.
func (s *Server) CreateQueue(name string, o QueueOptions) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queueLocked(name)
	if o.VisibilityTimeout > 0 {
		q.visibility = o.VisibilityTimeout
	}
	q.dlq, q.maxRecv = o.DeadLetterQueue, o.MaxReceiveCount
	if q.dlq != "" {
		s.queueLocked(q.dlq)
	}
	return s.QueueURL(name)
}

func (s *Server) queueLocked(name string) *queue {
	q := s.queues[name]
	if q == nil {
		q = &queue{name: name, visibility: 30 * time.Second, changed: make(chan struct{})}
		s.queues[name] = q
	}
	return q
}

// Send puts a message on a queue and returns its id. It panics when the
// queue does not exist (a mistake in the test).
func (s *Server) Send(queueName, body string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueName]
	if q == nil {
		panic(fmt.Sprintf("sqsfake: Send to queue %q that does not exist", queueName))
	}
	return q.add(body, 0).id
}

// Messages returns the messages a queue holds (not deleted), in order.
func (s *Server) Messages(queueName string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueName]
	if q == nil {
		return nil
	}
	now := time.Now()
	var out []Message
	for _, m := range q.msgs {
		out = append(out, Message{ID: m.id, Body: m.body, ReceiveCount: m.recvCount, InFlight: m.visibleAt.After(now), VisibleAt: m.visibleAt})
	}
	return out
}

// Calls reports how many requests of an operation ("ReceiveMessage",
// "DeleteMessageBatch", …) the server answered, errors included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (q *queue) add(body string, delay time.Duration) *message {
	sum := md5.Sum([]byte(body))
	now := time.Now()
	m := &message{id: newID(), body: body, md5: hex.EncodeToString(sum[:]), sent: now, visibleAt: now.Add(delay)}
	q.msgs = append(q.msgs, m)
	q.signal()
	return m
}

func (q *queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *queue) remove(m *message) {
	for i, x := range q.msgs {
		if x == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			return
		}
	}
}

// find returns the message a receipt handle names. stale reports a handle
// that was superseded by a later receive.
func (q *queue) find(receipt string) (m *message, stale bool) {
	for _, x := range q.msgs {
		if x.receipt == receipt {
			return x, false
		}
		if x.oldReceipts[receipt] {
			return x, true
		}
	}
	return nil, false
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newReceipt() string {
	var b [96]byte
	rand.Read(b[:])
	return "AQEB" + base64.StdEncoding.EncodeToString(b[:])
}

// apiError is an error in the JSON protocol's shape.
type apiError struct {
	status int
	code   string // shape name, e.g. QueueDoesNotExist
	query  string // the awsQuery code for x-amzn-query-error
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errQueueMissing() *apiError {
	return &apiError{400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."}
}

func errInvalid(format string, args ...any) *apiError {
	return &apiError{400, "InvalidParameterValue", "InvalidParameterValue", fmt.Sprintf(format, args...)}
}

func errReceipt(h string) *apiError {
	return &apiError{404, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", fmt.Sprintf("The input receipt handle %q is not a valid receipt handle.", h)}
}

func errNotInflight() *apiError {
	return &apiError{400, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "The message referred to isn't in flight."}
}

var targetRE = regexp.MustCompile(`^AmazonSQS\.([A-Za-z]+)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, &apiError{405, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "only POST is supported"})
		return
	}
	m := targetRE.FindStringSubmatch(r.Header.Get("X-Amz-Target"))
	if m == nil {
		writeErr(w, &apiError{400, "UnknownOperationException", "", "missing or unknown X-Amz-Target"})
		return
	}
	op := m[1]
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.0") {
		writeErr(w, &apiError{400, "InvalidParameterValue", "", "Content-Type must be application/x-amz-json-1.0, not " + ct})
		return
	}
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=") {
		writeErr(w, &apiError{403, "MissingAuthenticationToken", "AWS.SimpleQueueService.MissingAuthenticationToken", "request is not signed with Signature Version 4"})
		return
	}
	var in request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2<<20)).Decode(&in); err != nil {
		writeErr(w, &apiError{400, "SerializationException", "", "malformed request body: " + err.Error()})
		return
	}
	var out any
	var aerr *apiError
	switch op {
	case "CreateQueue":
		out, aerr = s.createQueue(&in)
	case "GetQueueUrl":
		out, aerr = s.getQueueURL(&in)
	case "GetQueueAttributes":
		out, aerr = s.getQueueAttributes(&in)
	case "SendMessage":
		out, aerr = s.sendMessage(&in)
	case "SendMessageBatch":
		out, aerr = s.sendMessageBatch(&in)
	case "ReceiveMessage":
		out, aerr = s.receiveMessage(r.Context(), &in)
	case "DeleteMessage":
		out, aerr = s.deleteMessage(&in)
	case "DeleteMessageBatch":
		out, aerr = s.deleteMessageBatch(&in)
	case "ChangeMessageVisibility":
		out, aerr = s.changeVisibility(&in)
	case "ChangeMessageVisibilityBatch":
		out, aerr = s.changeVisibilityBatch(&in)
	default:
		aerr = &apiError{400, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "sqsfake does not implement " + op}
	}
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-RequestId", newID())
	json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-RequestId", newID())
	if e.query != "" {
		fault := "Sender"
		if e.status >= 500 {
			fault = "Receiver"
		}
		w.Header().Set("X-Amzn-Query-Error", e.query+";"+fault)
	}
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + e.code, "message": e.msg})
}

// request is the union of the inputs of the implemented operations.
type request struct {
	QueueName                   string
	QueueUrl                    string
	Attributes                  map[string]string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageBody                 *string
	DelaySeconds                *int
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
	ReceiptHandle               string
	Entries                     []entry
}

type entry struct {
	Id                string
	MessageBody       *string
	DelaySeconds      *int
	ReceiptHandle     string
	VisibilityTimeout *int
}

type batchFailure struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

// queueOf resolves a QueueUrl: its last path segment names the queue.
func (s *Server) queueOf(u string) (*queue, *apiError) {
	if u == "" {
		return nil, &apiError{400, "MissingParameter", "MissingParameter", "The request must contain the parameter QueueUrl."}
	}
	pu, err := url.Parse(u)
	if err != nil {
		return nil, errQueueMissing()
	}
	name := pu.Path[strings.LastIndexByte(pu.Path, '/')+1:]
	q := s.queues[name]
	if q == nil {
		return nil, errQueueMissing()
	}
	return q, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func (s *Server) createQueue(in *request) (any, *apiError) {
	if !nameRE.MatchString(in.QueueName) {
		return nil, errInvalid("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	o := QueueOptions{}
	for k, v := range in.Attributes {
		switch k {
		case "VisibilityTimeout":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 43200 {
				return nil, &apiError{400, "InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout."}
			}
			o.VisibilityTimeout = time.Duration(n) * time.Second
		case "RedrivePolicy":
			var p struct {
				DeadLetterTargetArn string
				MaxReceiveCount     json.Number
			}
			d := json.NewDecoder(strings.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&p); err != nil {
				return nil, &apiError{400, "InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy."}
			}
			n, err := strconv.Atoi(p.MaxReceiveCount.String())
			if err != nil || n < 1 || n > 1000 {
				return nil, &apiError{400, "InvalidAttributeValue", "InvalidAttributeValue", "Value for parameter maxReceiveCount is invalid."}
			}
			o.DeadLetterQueue = p.DeadLetterTargetArn[strings.LastIndexByte(p.DeadLetterTargetArn, ':')+1:]
			o.MaxReceiveCount = n
		case "ReceiveMessageWaitTimeSeconds", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize":
		default:
			return nil, &apiError{400, "InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute " + k + "."}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.DeadLetterQueue != "" && s.queues[o.DeadLetterQueue] == nil {
		return nil, &apiError{400, "InvalidParameterValue", "InvalidParameterValue", "Dead letter target does not exist."}
	}
	q := s.queueLocked(in.QueueName)
	if o.VisibilityTimeout > 0 {
		q.visibility = o.VisibilityTimeout
	}
	if w, ok := in.Attributes["ReceiveMessageWaitTimeSeconds"]; ok {
		n, _ := strconv.Atoi(w)
		q.wait = time.Duration(n) * time.Second
	}
	if o.DeadLetterQueue != "" {
		q.dlq, q.maxRecv = o.DeadLetterQueue, o.MaxReceiveCount
	}
	return map[string]string{"QueueUrl": s.QueueURL(in.QueueName)}, nil
}

func (s *Server) getQueueURL(in *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queues[in.QueueName] == nil {
		return nil, errQueueMissing()
	}
	return map[string]string{"QueueUrl": s.QueueURL(in.QueueName)}, nil
}

func (s *Server) getQueueAttributes(in *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	now := time.Now()
	visible, notVisible := 0, 0
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			notVisible++
		} else {
			visible++
		}
	}
	all := map[string]string{
		"QueueArn":                              "arn:aws:sqs:" + Region + ":" + Account + ":" + q.name,
		"VisibilityTimeout":                     strconv.Itoa(int(q.visibility / time.Second)),
		"ReceiveMessageWaitTimeSeconds":         strconv.Itoa(int(q.wait / time.Second)),
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(notVisible),
	}
	if q.dlq != "" {
		b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": "arn:aws:sqs:" + Region + ":" + Account + ":" + q.dlq, "maxReceiveCount": q.maxRecv})
		all["RedrivePolicy"] = string(b)
	}
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		if n == "All" {
			out = all
			break
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return map[string]any{"Attributes": out}, nil
}

func checkBody(body *string) *apiError {
	if body == nil || *body == "" {
		return &apiError{400, "MissingParameter", "MissingParameter", "The request must contain the parameter MessageBody."}
	}
	if len(*body) > 1<<20 {
		return errInvalid("One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.")
	}
	return nil
}

func delayOf(d *int) (time.Duration, *apiError) {
	if d == nil {
		return 0, nil
	}
	if *d < 0 || *d > 900 {
		return 0, errInvalid("Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", *d)
	}
	return time.Duration(*d) * time.Second, nil
}

func (s *Server) sendMessage(in *request) (any, *apiError) {
	if aerr := checkBody(in.MessageBody); aerr != nil {
		return nil, aerr
	}
	delay, aerr := delayOf(in.DelaySeconds)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	m := q.add(*in.MessageBody, delay)
	return map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5}, nil
}

func checkEntries(es []entry) *apiError {
	if len(es) == 0 {
		return &apiError{400, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one entry in the request."}
	}
	if len(es) > 10 {
		return &apiError{400, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", len(es))}
	}
	seen := map[string]bool{}
	for _, e := range es {
		if !nameRE.MatchString(e.Id) {
			return &apiError{400, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."}
		}
		if seen[e.Id] {
			return &apiError{400, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id " + e.Id + " repeated."}
		}
		seen[e.Id] = true
	}
	return nil
}

func (s *Server) sendMessageBatch(in *request) (any, *apiError) {
	if aerr := checkEntries(in.Entries); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ok, failed := []map[string]string{}, []batchFailure{}
	for _, e := range in.Entries {
		if aerr := checkBody(e.MessageBody); aerr != nil {
			failed = append(failed, batchFailure{e.Id, true, aerr.code, aerr.msg})
			continue
		}
		delay, aerr := delayOf(e.DelaySeconds)
		if aerr != nil {
			failed = append(failed, batchFailure{e.Id, true, aerr.code, aerr.msg})
			continue
		}
		m := q.add(*e.MessageBody, delay)
		ok = append(ok, map[string]string{"Id": e.Id, "MessageId": m.id, "MD5OfMessageBody": m.md5})
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

type outMessage struct {
	MessageId     string
	ReceiptHandle string
	MD5OfBody     string
	Body          string
	Attributes    map[string]string `json:",omitempty"`
}

func (s *Server) receiveMessage(ctx context.Context, in *request) (any, *apiError) {
	max := 1
	if in.MaxNumberOfMessages != nil {
		max = *in.MaxNumberOfMessages
	}
	if max < 1 || max > 10 {
		return nil, &apiError{400, "InvalidParameterValue", "InvalidParameterValue", fmt.Sprintf("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", max)}
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > 20) {
		return nil, errInvalid("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200) {
		return nil, errInvalid("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.VisibilityTimeout)
	}
	want := map[string]bool{}
	for _, n := range append(in.AttributeNames, in.MessageSystemAttributeNames...) {
		want[n] = true
	}
	s.mu.Lock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		s.mu.Unlock()
		return nil, aerr
	}
	wait := q.wait
	if in.WaitTimeSeconds != nil {
		wait = time.Duration(*in.WaitTimeSeconds) * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		vis := q.visibility
		if in.VisibilityTimeout != nil {
			vis = time.Duration(*in.VisibilityTimeout) * time.Second
		}
		got, next := s.takeLocked(q, max, vis, want)
		now := time.Now()
		if len(got) > 0 || !now.Before(deadline) {
			s.mu.Unlock()
			if len(got) == 0 {
				return struct{}{}, nil // real SQS leaves Messages out when there are none
			}
			return map[string]any{"Messages": got}, nil
		}
		wake := deadline
		if !next.IsZero() && next.Before(wake) {
			wake = next
		}
		changed := q.changed
		s.mu.Unlock()
		t := time.NewTimer(time.Until(wake))
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, &apiError{400, "RequestCanceled", "", "request canceled"}
		case <-s.closed:
			t.Stop()
			return nil, &apiError{503, "ServiceUnavailable", "", "server closed"}
		}
		t.Stop()
		s.mu.Lock()
	}
}

// takeLocked receives up to max visible messages, moving those over the
// redrive limit to the dead-letter queue first. next is the earliest time
// an invisible message becomes visible (zero if none).
func (s *Server) takeLocked(q *queue, max int, vis time.Duration, want map[string]bool) (got []outMessage, next time.Time) {
	now := time.Now()
	for i := 0; i < len(q.msgs) && len(got) < max; i++ {
		m := q.msgs[i]
		if m.visibleAt.After(now) {
			if next.IsZero() || m.visibleAt.Before(next) {
				next = m.visibleAt
			}
			continue
		}
		if q.dlq != "" && q.maxRecv > 0 && m.recvCount >= q.maxRecv {
			if d := s.queues[q.dlq]; d != nil {
				q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				i--
				moved := &message{id: m.id, body: m.body, md5: m.md5, sent: m.sent, visibleAt: now}
				d.msgs = append(d.msgs, moved)
				d.signal()
				continue
			}
		}
		if m.receipt != "" {
			if m.oldReceipts == nil {
				m.oldReceipts = map[string]bool{}
			}
			m.oldReceipts[m.receipt] = true
		}
		m.receipt = newReceipt()
		m.recvCount++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		m.visibleAt = now.Add(vis)
		om := outMessage{MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: m.md5, Body: m.body}
		attrs := map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(m.recvCount),
			"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
			"SenderId":                         "AIDAEXAMPLE",
		}
		for k, v := range attrs {
			if want["All"] || want[k] {
				if om.Attributes == nil {
					om.Attributes = map[string]string{}
				}
				om.Attributes[k] = v
			}
		}
		got = append(got, om)
	}
	return got, next
}

// deleteLocked deletes by receipt handle: the latest handle of a message
// deletes it (also after its visibility timeout ran out, as long as nobody
// received it since); a handle superseded by a later receive is invalid;
// deleting an already deleted message's handle succeeds.
func (s *Server) deleteLocked(q *queue, h string) *apiError {
	if h == "" {
		return &apiError{400, "MissingParameter", "MissingParameter", "The request must contain the parameter ReceiptHandle."}
	}
	m, stale := q.find(h)
	if m == nil {
		if s.deleted[h] {
			return nil
		}
		return errReceipt(h)
	}
	if stale {
		return errReceipt(h)
	}
	q.remove(m)
	s.deleted[h] = true
	return nil
}

func (s *Server) deleteMessage(in *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.deleteLocked(q, in.ReceiptHandle); aerr != nil {
		return nil, aerr
	}
	return struct{}{}, nil
}

func (s *Server) deleteMessageBatch(in *request) (any, *apiError) {
	if aerr := checkEntries(in.Entries); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ok, failed := []map[string]string{}, []batchFailure{}
	for _, e := range in.Entries {
		if aerr := s.deleteLocked(q, e.ReceiptHandle); aerr != nil {
			failed = append(failed, batchFailure{e.Id, true, aerr.code, aerr.msg})
			continue
		}
		ok = append(ok, map[string]string{"Id": e.Id})
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

func (s *Server) changeLocked(q *queue, h string, secs *int) *apiError {
	if secs == nil {
		return &apiError{400, "MissingParameter", "MissingParameter", "The request must contain the parameter VisibilityTimeout."}
	}
	if *secs < 0 || *secs > 43200 {
		return errInvalid("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *secs)
	}
	m, stale := q.find(h)
	if m == nil || stale {
		return errReceipt(h)
	}
	now := time.Now()
	if !m.visibleAt.After(now) {
		return errNotInflight()
	}
	m.visibleAt = now.Add(time.Duration(*secs) * time.Second)
	q.signal()
	return nil
}

func (s *Server) changeVisibility(in *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.changeLocked(q, in.ReceiptHandle, in.VisibilityTimeout); aerr != nil {
		return nil, aerr
	}
	return struct{}{}, nil
}

func (s *Server) changeVisibilityBatch(in *request) (any, *apiError) {
	if aerr := checkEntries(in.Entries); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.queueOf(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ok, failed := []map[string]string{}, []batchFailure{}
	for _, e := range in.Entries {
		if aerr := s.changeLocked(q, e.ReceiptHandle, e.VisibilityTimeout); aerr != nil {
			failed = append(failed, batchFailure{e.Id, true, aerr.code, aerr.msg})
			continue
		}
		ok = append(ok, map[string]string{"Id": e.Id})
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

// QueueNames lists the server's queues, sorted.
func (s *Server) QueueNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.queues {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
