package sqs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// plan is what a message body asks for: records carried inline, log files
// to fetch, or nothing (a test event); errs are problems to report with
// the batch.
type plan struct {
	inline  []byte
	objects []object
	errs    []error
	// note says why a message carries no records, for the debug log.
	note string
	// warn is a note worth a warning (an SNS subscription to confirm).
	warn bool
}

type object struct{ bucket, key string }

func (o object) String() string { return "s3://" + o.bucket + "/" + o.key }

// maxSNSDepth bounds SNS envelopes inside SNS envelopes.
const maxSNSDepth = 3

// errPoison marks a body that cannot be understood at all. Its text never
// quotes the body.
var errPoison = errors.New("unparseable message")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errPoison, fmt.Sprintf(format, args...))
}

// parseBody works out what a message body holds, by its shape: an SNS
// envelope (unwrapped), an S3 event notification, CloudTrail's SNS
// notification, an s3:TestEvent, an EventBridge event, CloudTrail records
// (a record, a {"Records":[…]} document, an array, JSON lines). An error
// wraps errPoison.
func parseBody(body []byte, depth int) (plan, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return plan{}, poison("body is not JSON (%s)", jsonProblem(err))
	}
	if dec.More() { // several values: JSON lines of records
		return plan{inline: body}, nil
	}
	if first[0] == '[' {
		return plan{inline: body}, nil
	}
	if first[0] != '{' {
		return plan{}, poison("body is a JSON %s, not an object or array", kindOf(first[0]))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(first, &top); err != nil {
		return plan{}, poison("body is not a JSON object (%s)", jsonProblem(err))
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(top[k], &s)
		return s
	}
	switch t := str("Type"); t {
	case "Notification":
		var msg string
		if err := json.Unmarshal(top["Message"], &msg); err != nil || msg == "" {
			return plan{}, poison("SNS notification without a Message string")
		}
		if depth >= maxSNSDepth {
			return plan{}, poison("SNS envelopes nested more than %d deep", maxSNSDepth)
		}
		p, err := parseBody([]byte(msg), depth+1)
		if err != nil {
			return plan{}, fmt.Errorf("%w (inside an SNS notification)", err)
		}
		return p, nil
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		return plan{note: fmt.Sprintf("SNS %s for topic %s: confirm the subscription in SNS (SubscribeURL of the message)", t, str("TopicArn")), warn: true}, nil
	}
	if str("Event") == "s3:TestEvent" {
		return plan{note: "s3:TestEvent"}, nil
	}
	if _, ok := top["s3Bucket"]; ok {
		return cloudTrailNotification(first)
	}
	if recs, ok := top["Records"]; ok {
		if p, ok := s3Notification(recs); ok {
			return p, nil
		}
		return plan{inline: body}, nil
	}
	if dt, ok := top["detail-type"]; ok {
		if _, ok := top["detail"]; !ok {
			return plan{}, poison("EventBridge event without detail")
		}
		var detailType string
		json.Unmarshal(dt, &detailType)
		src := str("source")
		if src == "aws.s3" && detailType == "Object Created" {
			return eventBridgeObject(top["detail"])
		}
		if !strings.HasSuffix(detailType, "via CloudTrail") {
			return plan{errs: []error{fmt.Errorf("EventBridge event %q from %q is not a CloudTrail event (check the rule's event pattern)", detailType, src)}}, nil
		}
		return plan{inline: body}, nil
	}
	for _, k := range []string{"eventSource", "eventName", "eventVersion", "eventID", "eventTime"} {
		if _, ok := top[k]; ok {
			return plan{inline: body}, nil
		}
	}
	return plan{}, poison("a JSON object of no known shape")
}

func kindOf(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonProblem describes a JSON error without quoting the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if errors.Is(err, io.EOF) {
		return "empty"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "truncated"
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "unexpected JSON " + te.Value
	}
	return "malformed"
}

// IsTrailLog reports whether an S3 key is a CloudTrail log file: under
// …/CloudTrail/…, not a digest file (…/CloudTrail-Digest/…).
func IsTrailLog(key string) bool {
	return strings.Contains(key, "/CloudTrail/") && !strings.Contains(key, "/CloudTrail-Digest/")
}

func (p *plan) addObject(bucket, key string) {
	if !IsTrailLog(key) {
		p.note = "no CloudTrail log file in the notification"
		return
	}
	p.objects = append(p.objects, object{bucket, key})
}

// cloudTrailNotification reads CloudTrail's own SNS message,
// {"s3Bucket":"…","s3ObjectKey":["…"]}; its keys are not URL-encoded.
func cloudTrailNotification(raw []byte) (plan, error) {
	var n struct {
		S3Bucket    string   `json:"s3Bucket"`
		S3ObjectKey []string `json:"s3ObjectKey"`
	}
	if err := json.Unmarshal(raw, &n); err != nil || n.S3Bucket == "" {
		return plan{}, poison("CloudTrail notification without s3Bucket and an s3ObjectKey list")
	}
	var p plan
	for _, k := range n.S3ObjectKey {
		p.addObject(n.S3Bucket, k)
	}
	if len(p.objects) > 0 {
		p.note = ""
	} else if p.note == "" {
		p.note = "CloudTrail notification without keys"
	}
	return p, nil
}

type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	S3          struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"object"`
	} `json:"s3"`
}

// s3Notification reads an S3 event notification's Records; ok is false
// when they are not S3 event records (but CloudTrail records, say). Keys
// are URL-encoded, with '+' for a space.
func s3Notification(raw json.RawMessage) (plan, bool) {
	var recs []s3Record
	if err := json.Unmarshal(raw, &recs); err != nil || len(recs) == 0 {
		return plan{}, false
	}
	for _, r := range recs {
		if r.EventSource != "aws:s3" {
			return plan{}, false
		}
	}
	var p plan
	for _, r := range recs {
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			p.note = "S3 notification of " + r.EventName
			continue
		}
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("S3 notification: key %q is not URL-encoded: %w", r.S3.Object.Key, err))
			continue
		}
		p.addObject(r.S3.Bucket.Name, key)
	}
	if len(p.objects) > 0 {
		p.note = ""
	}
	return p, true
}

// eventBridgeObject reads the detail of an S3 "Object Created" event sent
// through EventBridge; its key is not URL-encoded.
func eventBridgeObject(raw json.RawMessage) (plan, error) {
	var d struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"object"`
	}
	if err := json.Unmarshal(raw, &d); err != nil || d.Bucket.Name == "" || d.Object.Key == "" {
		return plan{}, poison("EventBridge Object Created event without bucket name and object key")
	}
	var p plan
	p.addObject(d.Bucket.Name, d.Object.Key)
	return p, nil
}

// ErrNotFound is wrapped by S3Getter errors for an object or bucket that
// does not exist: retrying will not help, so the message is acknowledged
// with the error in Batch.Errors.
var ErrNotFound = errors.New("object not found")

// transientError is a failure worth retrying later (the message is made
// visible again after a delay).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }
