// Package snsfake is an in-process Amazon SNS endpoint that speaks the AWS
// Query protocol well enough for Publish to a phone number: it parses the
// form body, checks Action, Version and the SigV4 credential scope, records
// the messages, and answers PublishResponse or ErrorResponse XML exactly as
// SNS lays them out. Point an SDK client at URL with its endpoint override.
// It listens on the loopback interface only and is meant for tests.
package snsfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Version is the SNS API version of the Query protocol.
const Version = "2010-03-31"

const xmlns = "http://sns.amazonaws.com/doc/2010-03-31/"

// Attribute is one message attribute of a Publish.
type Attribute struct {
	DataType, StringValue string
}

// Message is one accepted Publish.
type Message struct {
	MessageID   string
	PhoneNumber string
	Message     string
	Attributes  map[string]Attribute
	// AccessKeyID is the key that signed the request.
	AccessKeyID string
}

// Error is an error SNS answers with.
type Error struct {
	Status int
	// Type is Sender (the caller's fault) or Receiver (the service's).
	Type    string
	Code    string
	Message string
}

// Errors SNS returns on Publish. In Message, {PhoneNumber} is replaced by
// the number published to, as the real service does.
var (
	Throttling       = Error{Status: 400, Type: "Sender", Code: "Throttling", Message: "Rate exceeded"}
	Throttled        = Error{Status: 429, Type: "Sender", Code: "Throttled", Message: "Throttled request."}
	InternalError    = Error{Status: 500, Type: "Receiver", Code: "InternalError", Message: "Internal Error"}
	ServiceDown      = Error{Status: 503, Type: "Receiver", Code: "ServiceUnavailable", Message: "Service is unavailable"}
	InvalidParameter = Error{Status: 400, Type: "Sender", Code: "InvalidParameter", Message: "Invalid parameter: PhoneNumber Reason: {PhoneNumber} is not valid to publish to"}
	Authorization    = Error{Status: 403, Type: "Sender", Code: "AuthorizationError", Message: "User: arn:aws:iam::111122223333:user/trailwatch is not authorized to perform: SNS:Publish on resource: {PhoneNumber} because no identity-based policy allows the SNS:Publish action"}
	OptedOut         = Error{Status: 400, Type: "Sender", Code: "OptedOut", Message: "Phone number is opted out"}
	// Sandbox stands for what an account still in the SMS sandbox gets
	// for a destination number it has not verified. The exact code is not
	// documented; a client must treat it like any other Sender error.
	Sandbox = Error{Status: 400, Type: "Sender", Code: "InvalidParameter", Message: "Invalid parameter: PhoneNumber Reason: {PhoneNumber} is not verified in the SMS sandbox"}
)

// Server is a fake SNS endpoint.
type Server struct {
	// URL is the endpoint to give the SDK (BaseEndpoint).
	URL string

	accessKeyID, region string
	srv                 *httptest.Server

	mu       sync.Mutex
	messages []Message
	requests int
	failNext []Error
	failTo   map[string]Error
}

// New starts a fake SNS endpoint that accepts requests signed with
// accessKeyID for region.
func New(accessKeyID, region string) *Server {
	s := &Server{accessKeyID: accessKeyID, region: region, failTo: map[string]Error{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Messages returns the accepted messages in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Requests counts every request received, failed ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// FailNext makes the next n Publish calls fail with e.
func (s *Server) FailNext(e Error, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, e)
	}
}

// FailNumber makes every Publish to number fail with e.
func (s *Server) FailNumber(number string, e Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failTo[number] = e
}

// credentialRE matches the SigV4 Authorization header and captures the
// credential scope: access key, date, region and service.
var credentialRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/\s,]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request, ?SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$`)

var e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		s.fail(w, Error{Status: 405, Type: "Sender", Code: "InvalidAction", Message: "Query requests must be POSTed"}, "")
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		s.fail(w, Error{Status: 403, Type: "Sender", Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}, "")
		return
	}
	m := credentialRE.FindStringSubmatch(auth)
	switch {
	case m == nil:
		s.fail(w, Error{Status: 403, Type: "Sender", Code: "IncompleteSignature", Message: "Authorization header is not a valid AWS4-HMAC-SHA256 signature"}, "")
		return
	case m[1] != s.accessKeyID:
		s.fail(w, Error{Status: 403, Type: "Sender", Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}, "")
		return
	case m[3] != s.region:
		s.fail(w, Error{Status: 403, Type: "Sender", Code: "SignatureDoesNotMatch", Message: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", m[3])}, "")
		return
	case m[4] != "sns":
		s.fail(w, Error{Status: 403, Type: "Sender", Code: "SignatureDoesNotMatch", Message: fmt.Sprintf("Credential should be scoped to correct service: 'sns', not '%s'.", m[4])}, "")
		return
	case r.Header.Get("X-Amz-Date") == "" || !strings.HasPrefix(r.Header.Get("X-Amz-Date"), m[2]):
		s.fail(w, Error{Status: 403, Type: "Sender", Code: "IncompleteSignature", Message: "X-Amz-Date does not match the credential scope date"}, "")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "MalformedQueryString", Message: "Content-Type " + ct + " is not a form"}, "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "MalformedQueryString", Message: err.Error()}, "")
		return
	}
	f := r.PostForm
	if f.Get("Action") != "Publish" {
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version %s", f.Get("Action"), f.Get("Version"))}, "")
		return
	}
	if f.Get("Version") != Version {
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation Publish for version %s", f.Get("Version"))}, "")
		return
	}

	msg := Message{
		PhoneNumber: f.Get("PhoneNumber"),
		Message:     f.Get("Message"),
		Attributes:  map[string]Attribute{},
		AccessKeyID: m[1],
	}
	for i := 1; ; i++ {
		p := "MessageAttributes.entry." + strconv.Itoa(i) + "."
		name := f.Get(p + "Name")
		if name == "" {
			break
		}
		a := Attribute{DataType: f.Get(p + "Value.DataType"), StringValue: f.Get(p + "Value.StringValue")}
		if a.DataType == "" {
			s.fail(w, Error{Status: 400, Type: "Sender", Code: "ParameterValueInvalid", Message: "The message attribute '" + name + "' must contain non-empty message attribute type."}, "")
			return
		}
		msg.Attributes[name] = a
	}
	switch {
	case f.Get("TopicArn") != "" || f.Get("TargetArn") != "":
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "InvalidParameter", Message: "Invalid parameter: this fake only publishes to phone numbers"}, "")
		return
	case !e164.MatchString(msg.PhoneNumber):
		s.fail(w, InvalidParameter, msg.PhoneNumber)
		return
	case msg.Message == "":
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "InvalidParameter", Message: "Invalid parameter: Empty message"}, "")
		return
	case len(msg.Message) > 1600:
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "InvalidParameter", Message: "Invalid parameter: Message too long"}, "")
		return
	}
	if t, ok := msg.Attributes["AWS.SNS.SMS.SMSType"]; ok && t.StringValue != "Transactional" && t.StringValue != "Promotional" {
		s.fail(w, Error{Status: 400, Type: "Sender", Code: "ParameterValueInvalid", Message: "Value " + t.StringValue + " for AWS.SNS.SMS.SMSType is not valid"}, "")
		return
	}

	s.mu.Lock()
	if e, ok := s.failTo[msg.PhoneNumber]; ok {
		s.mu.Unlock()
		s.fail(w, e, msg.PhoneNumber)
		return
	}
	if len(s.failNext) > 0 {
		e := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		s.fail(w, e, msg.PhoneNumber)
		return
	}
	msg.MessageID = uuid()
	s.messages = append(s.messages, msg)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", uuid())
	fmt.Fprintf(w, `<PublishResponse xmlns="%s">
  <PublishResult>
    <MessageId>%s</MessageId>
  </PublishResult>
  <ResponseMetadata>
    <RequestId>%s</RequestId>
  </ResponseMetadata>
</PublishResponse>
`, xmlns, msg.MessageID, w.Header().Get("X-Amzn-Requestid"))
}

func (s *Server) fail(w http.ResponseWriter, e Error, number string) {
	id := uuid()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", id)
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s">
  <Error>
    <Type>%s</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>%s</RequestId>
</ErrorResponse>
`, xmlns, esc(e.Type), esc(e.Code), esc(strings.ReplaceAll(e.Message, "{PhoneNumber}", number)), id)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// AttributeNames lists a message's attribute names, sorted.
func (m Message) AttributeNames() []string {
	names := make([]string, 0, len(m.Attributes))
	for k := range m.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
