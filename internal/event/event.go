// Package event holds the CloudTrail event model and the decoding of every
// format CloudTrail records are delivered in. It imports nothing of the
// project.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Identity is the record's userIdentity.
type Identity struct {
	Type             string          `json:"type"`
	PrincipalID      string          `json:"principalId"`
	ARN              string          `json:"arn"`
	AccountID        string          `json:"accountId"`
	AccessKeyID      string          `json:"accessKeyId"`
	UserName         string          `json:"userName"`
	InvokedBy        string          `json:"invokedBy"`
	IdentityProvider string          `json:"identityProvider"`
	SessionContext   *SessionContext `json:"sessionContext"`
	OnBehalfOf       *struct {
		UserID           string `json:"userId"`
		IdentityStoreArn string `json:"identityStoreArn"`
	} `json:"onBehalfOf"`
}

// SessionContext is userIdentity.sessionContext.
type SessionContext struct {
	Attributes struct {
		CreationDate     Flex `json:"creationDate"`
		MFAAuthenticated Flex `json:"mfaAuthenticated"`
	} `json:"attributes"`
	SessionIssuer struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
		ARN         string `json:"arn"`
		AccountID   string `json:"accountId"`
		UserName    string `json:"userName"`
	} `json:"sessionIssuer"`
	SourceIdentity string `json:"sourceIdentity"`
}

// Envelope is the EventBridge envelope an event arrived in, if any.
type Envelope struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Region     string    `json:"region"`
	Time       time.Time `json:"time"`
}

// Event is one CloudTrail record, decoded.
type Event struct {
	EventVersion       string   `json:"eventVersion"`
	UserIdentity       Identity `json:"userIdentity"`
	EventTime          time.Time
	EventSource        string          `json:"eventSource"`
	EventName          string          `json:"eventName"`
	AWSRegion          string          `json:"awsRegion"`
	SourceIPAddress    string          `json:"sourceIPAddress"`
	UserAgent          string          `json:"userAgent"`
	ErrorCode          string          `json:"errorCode"`
	ErrorMessage       string          `json:"errorMessage"`
	RequestParameters  json.RawMessage `json:"requestParameters"`
	ResponseElements   json.RawMessage `json:"responseElements"`
	RequestID          string          `json:"requestID"`
	EventID            string          `json:"eventID"`
	EventType          string          `json:"eventType"`
	ReadOnly           *bool           `json:"-"`
	RecipientAccountID string          `json:"recipientAccountId"`
	SharedEventID      string          `json:"sharedEventID"`
	EventCategory      string          `json:"eventCategory"`
	// SessionCredentialFromConsole is "true" when console credentials made
	// the call.
	SessionCredentialFromConsole string          `json:"sessionCredentialFromConsole"`
	Addendum                     json.RawMessage `json:"addendum"`

	// Envelope is set when the record arrived inside an EventBridge event.
	Envelope *Envelope `json:"-"`
	// Raw is the input exactly as it came: the envelope when there was one,
	// else the record.
	Raw json.RawMessage `json:"-"`
	// Fields is the whole record as generic JSON values (objects are
	// map[string]any, numbers float64), the view rule conditions see.
	Fields map[string]any `json:"-"`
	// Origin names where the record came from (a file, "stdin", a queue)
	// and Index is its position there.
	Origin string `json:"-"`
	Index  int    `json:"-"`
}

// AccountID is the account the event belongs to.
func (e *Event) AccountID() string {
	switch {
	case e.RecipientAccountID != "":
		return e.RecipientAccountID
	case e.UserIdentity.AccountID != "":
		return e.UserIdentity.AccountID
	case e.Envelope != nil:
		return e.Envelope.Account
	}
	return ""
}

// Outcome says whether the call went through.
type Outcome string

// The outcomes of a call.
const (
	Success Outcome = "success"
	Denied  Outcome = "denied"
	Failed  Outcome = "failed"
)

// Outcome classifies the call from its error code: none is success, an
// authorization error is denied, any other error failed.
func (e *Event) Outcome() Outcome { return OutcomeOf(e.ErrorCode) }

// OutcomeOf classifies an errorCode.
func OutcomeOf(code string) Outcome {
	switch {
	case code == "":
		return Success
	case IsDenial(code):
		return Denied
	}
	return Failed
}

// IsDenial reports whether an errorCode means the caller lacked permission.
func IsDenial(code string) bool {
	c := strings.TrimPrefix(code, "Client.")
	switch c {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
		"UnauthorizedAccess", "UnauthorizedException", "Forbidden",
		"NotAuthorized", "NotAuthorizedException", "AuthorizationError",
		"AuthFailure":
		return true
	}
	return false
}

// Flex is a string field that some exporters write as a boolean or a
// number; it keeps the text either way ("true", "42"; a number as its
// value's shortest text, 1.5e3 as "1500").
type Flex string

// UnmarshalJSON accepts a string, a boolean, a number or null.
func (f *Flex) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = Flex(s)
		return nil
	}
	switch string(b) {
	case "null":
		*f = ""
		return nil
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		v := "object"
		if b[0] == '[' {
			v = "array"
		}
		return &json.UnmarshalTypeError{Value: v, Type: reflect.TypeOf("")}
	}
	*f = Flex(b)
	return nil
}

// DecodeError is a record that could not be decoded.
type DecodeError struct {
	Index int
	Field string
	Err   error
}

func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("record %d: field %s: %v", e.Index, e.Field, e.Err)
	}
	return fmt.Sprintf("record %d: %v", e.Index, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ErrNotCloudTrail marks a JSON object that is not a CloudTrail record.
var ErrNotCloudTrail = errors.New("not a CloudTrail record (no eventSource and eventName, or none of userIdentity, eventID, eventTime, eventVersion, eventType, requestParameters, responseElements, awsRegion, recipientAccountId, sourceIPAddress, userAgent, errorCode, additionalEventData)")

// timeLayouts are the eventTime forms seen in the wild: CloudTrail's own,
// and the looser ones of other tools' test data.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"}

// ParseTime parses an eventTime in any of the forms seen in the wild.
func ParseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// Decode decodes the record of an Item into an Event. The event keeps a
// copy of the raw bytes.
//
// A record holding more JSON values than it.MaxValues is refused before
// anything is decoded, with an error wrapping ErrTooManyValues that says
// so, as the splitter refuses one larger than its byte limit
// (ErrRecordTooLarge): memory is bounded by both.
func Decode(it *Item) (*Event, error) {
	if err := checkValues(it.Raw, it.MaxValues, it.Index); err != nil {
		return nil, err
	}
	raw := bytes.Clone(it.Raw)
	rec := raw
	var env *Envelope
	if it.Envelope {
		if ev, ok, err := decodeEnvelope(it, raw); ok {
			return ev, err
		}
		var e struct {
			Envelope
			Time   string          `json:"time"`
			Detail json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, &DecodeError{Index: it.Index, Err: fmt.Errorf("EventBridge envelope: %w", jsonErr(err))}
		}
		env = &e.Envelope
		if e.Time != "" {
			t, err := ParseTime(e.Time)
			if err != nil {
				return nil, &DecodeError{Index: it.Index, Field: "time", Err: err}
			}
			env.Time = t
		}
		rec = e.Detail
	}
	ev, err := decodeRecord(rec, it.Index)
	if err != nil {
		return nil, err
	}
	return enveloped(ev, env, raw, it.Index), nil
}

func enveloped(ev *Event, env *Envelope, raw []byte, index int) *Event {
	ev.Envelope = env
	ev.Raw = raw
	ev.Index = index
	if ev.EventTime.IsZero() && env != nil {
		ev.EventTime = env.Time
	}
	if ev.AWSRegion == "" && env != nil {
		ev.AWSRegion = env.Region
	}
	return ev
}

// decodeEnvelope decodes an EventBridge envelope (raw, a copy of it.Raw)
// in one pass of the plain-JSON parser: the envelope's members, and its
// detail as the record's map, whose bytes the splitter already found
// (it.Detail). It reports false when that pass does not apply (JSON the
// fast parser leaves to encoding/json, an Item not made by a Splitter):
// the caller then decodes with encoding/json, as before. Decoding the
// envelope with encoding/json cost as much again as the record itself on
// the webhook path (issue 14).
func decodeEnvelope(it *Item, raw []byte) (*Event, bool, error) {
	off := cap(it.Raw) - cap(it.Detail)
	if len(it.Detail) == 0 || off < 0 || off+len(it.Detail) > len(raw) || !bytes.Equal(raw[off:off+len(it.Detail)], it.Detail) {
		return nil, false, nil
	}
	m, ok := parseObject(raw)
	if !ok {
		return nil, false, nil
	}
	detail, ok := m["detail"].(map[string]any)
	if !ok {
		return nil, false, nil
	}
	d := fieldDecoder{index: it.Index}
	env := &Envelope{ID: d.str(m, "id", ""), DetailType: d.str(m, "detail-type", ""), Source: d.str(m, "source", ""),
		Account: d.str(m, "account", ""), Region: d.str(m, "region", "")}
	at := d.str(m, "time", "")
	if d.err != nil {
		return nil, true, &DecodeError{Index: it.Index, Field: d.err.Field, Err: fmt.Errorf("EventBridge envelope: %w", d.err.Err)}
	}
	if at != "" {
		t, err := ParseTime(at)
		if err != nil {
			return nil, true, &DecodeError{Index: it.Index, Field: "time", Err: err}
		}
		env.Time = t
	}
	ev, err := recordOf(detail, raw[off:off+len(it.Detail)], it.Index)
	if err != nil {
		return nil, true, err
	}
	return enveloped(ev, env, raw, it.Index), true, nil
}

// DecodeRecord decodes one CloudTrail record (not an envelope).
func DecodeRecord(rec []byte) (*Event, error) {
	if err := checkValues(rec, 0, 0); err != nil {
		return nil, err
	}
	ev, err := decodeRecord(rec, 0)
	if err != nil {
		return nil, err
	}
	ev.Raw = bytes.Clone(rec)
	return ev, nil
}

// decodeRecord decodes a record in one pass: the record becomes the
// generic map rules read (Fields), the typed fields are taken from that
// map (with an error naming the field when a value has the wrong JSON
// type), and the raw bytes of requestParameters, responseElements and
// addendum are found by a scan of the top-level members.
func decodeRecord(rec []byte, index int) (*Event, error) {
	m, ok := parseObject(rec)
	if !ok {
		m = nil
		if err := json.Unmarshal(rec, &m); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, &DecodeError{Index: index, Err: fmt.Errorf("expected a JSON object, found JSON %s", te.Value)}
			}
			return nil, &DecodeError{Index: index, Err: jsonErr(err)}
		}
	}
	return recordOf(m, rec, index)
}

// recordOf makes the Event of a record's bytes and their decoded map.
func recordOf(m map[string]any, rec []byte, index int) (*Event, error) {
	var out Event
	d := fieldDecoder{index: index}
	out.EventVersion = d.str(m, "eventVersion", "")
	out.EventSource = d.str(m, "eventSource", "")
	out.EventName = d.str(m, "eventName", "")
	out.AWSRegion = d.str(m, "awsRegion", "")
	out.SourceIPAddress = d.str(m, "sourceIPAddress", "")
	out.UserAgent = d.str(m, "userAgent", "")
	out.ErrorCode = d.str(m, "errorCode", "")
	out.ErrorMessage = d.str(m, "errorMessage", "")
	out.RequestID = d.str(m, "requestID", "")
	out.EventID = d.str(m, "eventID", "")
	out.EventType = d.str(m, "eventType", "")
	out.RecipientAccountID = d.str(m, "recipientAccountId", "")
	out.SharedEventID = d.str(m, "sharedEventID", "")
	out.EventCategory = d.str(m, "eventCategory", "")
	out.SessionCredentialFromConsole = d.flex(m, "sessionCredentialFromConsole", "")
	if id := d.obj(m, "userIdentity", ""); id != nil {
		out.UserIdentity = d.identity(id)
	}
	if d.err != nil {
		return nil, d.err
	}
	out.RequestParameters, out.ResponseElements, out.Addendum = rawMembers(rec)
	_, hasTime := m["eventTime"]
	if t, ok := m["eventTime"]; ok && t == nil {
		hasTime = false
	}
	if out.EventSource == "" || out.EventName == "" || !hasTrailField(&out, hasTime, m["additionalEventData"] != nil) {
		return nil, &DecodeError{Index: index, Err: ErrNotCloudTrail}
	}
	switch t := m["eventTime"].(type) {
	case nil:
	case string:
		pt, err := ParseTime(t)
		if err != nil {
			return nil, &DecodeError{Index: index, Field: "eventTime", Err: err}
		}
		out.EventTime = pt
	default:
		return nil, &DecodeError{Index: index, Field: "eventTime", Err: fmt.Errorf("expected a string, found %T", t)}
	}
	switch v := m["readOnly"].(type) {
	case bool:
		out.ReadOnly = &v
	case string: // some exporters stringify booleans
		b := strings.EqualFold(v, "true")
		out.ReadOnly = &b
	}
	out.Fields = m
	return &out, nil
}

// fieldDecoder takes typed values out of a decoded record, keeping the
// first type error, which names its field.
type fieldDecoder struct {
	index int
	err   *DecodeError
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func (d *fieldDecoder) fail(path, want string, v any) {
	if d.err == nil {
		d.err = &DecodeError{Index: d.index, Field: path, Err: fmt.Errorf("expected %s, found JSON %s", want, jsonKind(v))}
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (d *fieldDecoder) str(m map[string]any, key, prefix string) string {
	switch v := m[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		d.fail(join(prefix, key), "string", v)
		return ""
	}
}

// flex reads a Flex field: a string, or a boolean or number kept as text.
func (d *fieldDecoder) flex(m map[string]any, key, prefix string) string {
	switch v := m[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		d.fail(join(prefix, key), "string", v)
		return ""
	}
}

func (d *fieldDecoder) obj(m map[string]any, key, prefix string) map[string]any {
	switch v := m[key].(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	default:
		d.fail(join(prefix, key), "an object", v)
		return nil
	}
}

func (d *fieldDecoder) identity(m map[string]any) Identity {
	const p = "userIdentity"
	id := Identity{
		Type: d.str(m, "type", p), PrincipalID: d.str(m, "principalId", p), ARN: d.str(m, "arn", p),
		AccountID: d.str(m, "accountId", p), AccessKeyID: d.str(m, "accessKeyId", p), UserName: d.str(m, "userName", p),
		InvokedBy: d.str(m, "invokedBy", p), IdentityProvider: d.str(m, "identityProvider", p),
	}
	if sc := d.obj(m, "sessionContext", p); sc != nil {
		const q = p + ".sessionContext"
		c := &SessionContext{SourceIdentity: d.str(sc, "sourceIdentity", q)}
		if a := d.obj(sc, "attributes", q); a != nil {
			c.Attributes.CreationDate = Flex(d.flex(a, "creationDate", q+".attributes"))
			c.Attributes.MFAAuthenticated = Flex(d.flex(a, "mfaAuthenticated", q+".attributes"))
		}
		if is := d.obj(sc, "sessionIssuer", q); is != nil {
			const r = q + ".sessionIssuer"
			c.SessionIssuer.Type = d.str(is, "type", r)
			c.SessionIssuer.PrincipalID = d.str(is, "principalId", r)
			c.SessionIssuer.ARN = d.str(is, "arn", r)
			c.SessionIssuer.AccountID = d.str(is, "accountId", r)
			c.SessionIssuer.UserName = d.str(is, "userName", r)
		}
		id.SessionContext = c
	}
	if ob := d.obj(m, "onBehalfOf", p); ob != nil {
		id.OnBehalfOf = &struct {
			UserID           string `json:"userId"`
			IdentityStoreArn string `json:"identityStoreArn"`
		}{d.str(ob, "userId", p+".onBehalfOf"), d.str(ob, "identityStoreArn", p+".onBehalfOf")}
	}
	return id
}

// rawMembers returns the bytes of the top-level requestParameters,
// responseElements and addendum members (nil when absent). rec is valid
// JSON (it was just decoded).
func rawMembers(rec []byte) (req, resp, add json.RawMessage) {
	b := rec
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		kn, st := scanString(b[i:])
		if st != scanDone {
			return
		}
		key := b[i+1 : i+kn-1]
		i = skipSpace(b, i+kn)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		vn, st := scanValue(b[i:])
		if st != scanDone {
			return
		}
		val := json.RawMessage(b[i : i+vn])
		switch string(key) {
		case "requestParameters":
			req = val
		case "responseElements":
			resp = val
		case "addendum":
			add = val
		}
		i = skipSpace(b, i+vn)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i = skipSpace(b, i+1)
	}
	return
}

// hasTrailField reports whether a record has a member besides eventSource
// and eventName that only CloudTrail records have; the splitter's list in
// scanRecord is the same.
func hasTrailField(e *Event, hasTime, hasAdditional bool) bool {
	return e.UserIdentity != (Identity{}) || e.EventID != "" || hasTime || e.EventVersion != "" || e.EventType != "" ||
		e.RequestParameters != nil || e.ResponseElements != nil || e.AWSRegion != "" || e.RecipientAccountID != "" ||
		e.SourceIPAddress != "" || e.UserAgent != "" || e.ErrorCode != "" || hasAdditional
}

func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, se)
	}
	return err
}

// checkValues refuses a record holding more than limit JSON values (zero:
// DefaultMaxValues).
func checkValues(raw []byte, limit, index int) error {
	if limit <= 0 {
		limit = DefaultMaxValues
	}
	if n := countValues(raw, limit); n > limit {
		return &DecodeError{Index: index, Err: fmt.Errorf("holds more than %d JSON values (a limit on values, besides the one on bytes; this record is %d bytes): %w", limit, len(raw), ErrTooManyValues)}
	}
	return nil
}

// countValues counts the JSON values in b (objects, arrays, strings that
// are not member names, numbers, true, false, null), stopping once the
// count passes limit. b need not be valid JSON: the count is then a bound
// of what a decoder would build before it failed.
func countValues(b []byte, limit int) int {
	n := 0
	for i := 0; i < len(b) && n <= limit; {
		switch c := b[i]; {
		case c == '"':
			end, st := scanString(b[i:])
			if st != scanDone {
				return n + 1
			}
			i += end
			if j := skipSpace(b, i); j >= len(b) || b[j] != ':' {
				n++ // a value, not a member name
			}
		case c == '{' || c == '[':
			n++
			i++
		case c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n':
			n++
			for i < len(b) && !strings.ContainsRune(",]}: \t\r\n", rune(b[i])) {
				i++
			}
		default:
			i++
		}
	}
	return n
}
