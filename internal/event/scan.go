package event

import "bytes"

type scanStatus int

const (
	scanDone       scanStatus = iota // a complete value was found
	scanIncomplete                   // the buffer ends inside the value
	scanBad                          // the bytes are not JSON
)

// fields are the top-level members of a record that matter before
// decoding: raw spans into the record's bytes.
type fields struct {
	source, name []byte // string contents, still escaped
	detail       []byte // the "detail" object of an EventBridge envelope
	records      []byte // the "Records" array of a CloudTrail file
	// Spans of members rules of every event look into before decoding
	// (raw JSON values, quotes included).
	errorCode, identity, region []byte
	detailType                  bool // has "detail-type"
	envSource                   bool // has a "source" string beginning "aws."
	// trail reports a member only CloudTrail records have (userIdentity,
	// eventID, eventTime, eventVersion, eventType, requestParameters,
	// responseElements, awsRegion, recipientAccountId, sourceIPAddress,
	// userAgent, errorCode, additionalEventData): catalogue metadata that
	// merely names an eventSource and eventName is not an event, while a
	// peer tool's test fixture with only a few CloudTrail fields is.
	trail bool
}

// scanString returns the index just past the closing quote of the string
// whose opening quote is b[0].
func scanString(b []byte) (int, scanStatus) {
	// Most strings of a record (its keys, most values) are short: a plain
	// loop over their first bytes costs less than a call to IndexByte.
	return scanEscaped(b, 1)
}

// shortString is how many bytes scanString looks at one by one.
const shortString = 24

// scanEscaped is scanString from b[i] on, where every byte before i is
// inside the string.
func scanEscaped(b []byte, i int) (int, scanStatus) {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b), scanIncomplete
		}
		i += j
		// An odd run of backslashes before the quote escapes it.
		k := i - 1
		for k > 0 && b[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i + 1, scanDone
		}
		i++
	}
}

// scanValue returns the length of the JSON value at the start of b, which
// must not begin with white space. Strings, objects and arrays are checked
// for balance (brackets must match); scalars are taken up to the next
// delimiter.
func scanValue(b []byte) (int, scanStatus) {
	if len(b) == 0 {
		return 0, scanIncomplete
	}
	switch b[0] {
	case '"':
		return scanString(b)
	case '{', '[':
	case '}', ']', ',', ':':
		return 0, scanBad
	default:
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\n', '\r', '\t', ':':
				if i == 0 {
					return 0, scanBad
				}
				return i, scanDone
			case '"', '{', '[':
				return i, scanBad
			}
		}
		return len(b), scanIncomplete
	}
	// stack of open brackets as bits (1 = object, 0 = array) for the first
	// 64 levels; deeper levels are counted but their kinds not checked.
	var stack uint64
	depth := 0
	for i := 0; i < len(b); i++ {
		// Between strings only brackets matter: skip the rest by table.
		for !structural[b[i]] {
			if i++; i == len(b) {
				return len(b), scanIncomplete
			}
		}
		switch b[i] {
		case '"':
			n, st := scanString(b[i:])
			if st != scanDone {
				return len(b), st
			}
			i += n - 1
		case '{':
			if depth < 64 {
				stack = stack<<1 | 1
			}
			depth++
		case '[':
			if depth < 64 {
				stack <<= 1
			}
			depth++
		case '}', ']':
			depth--
			if depth < 64 {
				if (stack&1 == 1) != (b[i] == '}') {
					return i, scanBad
				}
				stack >>= 1
			}
			if depth == 0 {
				return i + 1, scanDone
			}
		}
	}
	return len(b), scanIncomplete
}

// structural marks the bytes scanValue stops at inside an object or array.
var structural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanRecord is scanValue for a value that may be a record: when b holds an
// object, its top-level members are walked in the same pass and the ones
// that route the record are returned.
func scanRecord(b []byte) (int, scanStatus, fields) {
	var f fields
	if len(b) == 0 {
		return 0, scanIncomplete, f
	}
	if b[0] != '{' {
		n, st := scanValue(b)
		return n, st, f
	}
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, scanDone, f
	}
	for {
		if i >= len(b) {
			return len(b), scanIncomplete, f
		}
		if b[i] != '"' {
			return i, scanBad, f
		}
		kn, st := scanString(b[i:])
		if st != scanDone {
			return len(b), st, f
		}
		key := b[i+1 : i+kn-1]
		i = skipSpace(b, i+kn)
		if i >= len(b) {
			return len(b), scanIncomplete, f
		}
		if b[i] != ':' {
			return i, scanBad, f
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return len(b), scanIncomplete, f
		}
		vn, st := scanValue(b[i:])
		if st != scanDone {
			return i + vn, st, f
		}
		val := b[i : i+vn]
		switch string(key) {
		case "eventSource":
			if val[0] == '"' {
				f.source = val[1 : len(val)-1]
			}
		case "eventName":
			if val[0] == '"' {
				f.name = val[1 : len(val)-1]
			}
		case "detail":
			if val[0] == '{' {
				f.detail = val
			}
		case "detail-type":
			f.detailType = true
		case "source":
			f.envSource = val[0] == '"' && bytes.HasPrefix(val, []byte(`"aws.`))
		case "userIdentity", "eventID", "eventTime", "eventVersion", "eventType", "requestParameters",
			"responseElements", "awsRegion", "recipientAccountId", "sourceIPAddress", "userAgent", "errorCode", "additionalEventData":
			f.trail = true
			switch string(key) {
			case "userIdentity":
				f.identity = val
			case "errorCode":
				f.errorCode = val
			case "awsRegion":
				f.region = val
			}
		case "Records":
			if val[0] == '[' {
				f.records = val
			}
		}
		i = skipSpace(b, i+vn)
		if i >= len(b) {
			return len(b), scanIncomplete, f
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, scanDone, f
		default:
			return i, scanBad, f
		}
	}
}
