package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// parseObject decodes a JSON object into the generic values encoding/json
// gives (map[string]any, []any, string, float64, bool, nil), several times
// faster, because records are decoded on the hot path of a scan. It handles
// the plain case only and reports ok false for anything else (escapes that
// need care, invalid UTF-8, control characters, odd numbers, deep nesting,
// malformed input): the caller then uses encoding/json, which also gives
// the precise error. Its results equal encoding/json's (TestParseObject).
func parseObject(b []byte) (map[string]any, bool) {
	p := parser{b: b}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	v, i, ok := p.object(i, 0)
	if !ok || skipSpace(b, i) != len(b) {
		return nil, false
	}
	return v, true
}

type parser struct{ b []byte }

const maxDepth = 1000

func (p *parser) value(i, depth int) (any, int, bool) {
	b := p.b
	if i >= len(b) {
		return nil, i, false
	}
	switch c := b[i]; {
	case c == '{':
		return p.object(i, depth+1)
	case c == '[':
		return p.array(i, depth+1)
	case c == '"':
		return p.str(i)
	case c == 't':
		if bytes.HasPrefix(b[i:], []byte("true")) {
			return true, i + 4, true
		}
	case c == 'f':
		if bytes.HasPrefix(b[i:], []byte("false")) {
			return false, i + 5, true
		}
	case c == 'n':
		if bytes.HasPrefix(b[i:], []byte("null")) {
			return nil, i + 4, true
		}
	case c == '-' || c >= '0' && c <= '9':
		return p.number(i)
	}
	return nil, i, false
}

func (p *parser) object(i, depth int) (map[string]any, int, bool) {
	if depth > maxDepth {
		return nil, i, false
	}
	b := p.b
	m := map[string]any{}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, i, false
		}
		k, j, ok := p.key(i)
		if !ok {
			return nil, i, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, i, false
		}
		v, j, ok := p.value(skipSpace(b, i+1), depth)
		if !ok {
			return nil, i, false
		}
		m[k] = v
		i = skipSpace(b, j)
		if i >= len(b) {
			return nil, i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return m, i + 1, true
		default:
			return nil, i, false
		}
	}
}

func (p *parser) array(i, depth int) ([]any, int, bool) {
	if depth > maxDepth {
		return nil, i, false
	}
	b := p.b
	out := []any{}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, i + 1, true
	}
	for {
		v, j, ok := p.value(i, depth)
		if !ok {
			return nil, i, false
		}
		out = append(out, v)
		i = skipSpace(b, j)
		if i >= len(b) {
			return nil, i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return out, i + 1, true
		default:
			return nil, i, false
		}
	}
}

// keys are the member names CloudTrail records repeat in every record:
// shared, so a decoded record does not allocate them again.
var keys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"eventVersion", "userIdentity", "type", "principalId", "arn", "accountId", "accessKeyId", "userName",
		"sessionContext", "attributes", "creationDate", "mfaAuthenticated", "sessionIssuer", "webIdFederationData",
		"invokedBy", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent",
		"errorCode", "errorMessage", "requestParameters", "responseElements", "additionalEventData", "requestID",
		"eventID", "readOnly", "eventType", "managementEvent", "recipientAccountId", "eventCategory", "tlsDetails",
		"tlsVersion", "cipherSuite", "clientProvidedHostHeader", "resources", "ARN", "sessionCredentialFromConsole",
		"sharedEventID", "vpcEndpointId", "apiVersion", "items", "bucketName", "Host", "key", "value", "tags",
	} {
		m[k] = k
	}
	return m
}()

// key decodes a member name, sharing the common ones.
func (p *parser) key(i int) (string, int, bool) {
	n, st := scanString(p.b[i:])
	if st == scanDone {
		if k, ok := keys[string(p.b[i+1:i+n-1])]; ok {
			return k, i + n, true
		}
	}
	v, j, ok := p.str(i)
	if !ok {
		return "", i, false
	}
	return v.(string), j, true
}

// str decodes the string at b[i] (a quote). Escapes go through
// encoding/json, which knows every rule; plain strings are copied.
func (p *parser) str(i int) (any, int, bool) {
	b := p.b
	n, st := scanString(b[i:])
	if st != scanDone {
		return nil, i, false
	}
	raw := b[i+1 : i+n-1]
	plain := true
	for _, c := range raw {
		if c < 0x20 {
			return nil, i, false
		}
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
		}
	}
	if plain {
		return string(raw), i + n, true
	}
	var s string
	if json.Unmarshal(b[i:i+n], &s) != nil { // also turns invalid UTF-8 into U+FFFD, as for the whole record
		return nil, i, false
	}
	return s, i + n, true
}

// number decodes a number that follows JSON's grammar exactly.
func (p *parser) number(i int) (any, int, bool) {
	b := p.b
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return nil, i, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return nil, i, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return nil, i, false
		}
	}
	f, err := strconv.ParseFloat(string(b[i:j]), 64)
	if err != nil {
		return nil, i, false // out of range: encoding/json reports it
	}
	return f, j, true
}
