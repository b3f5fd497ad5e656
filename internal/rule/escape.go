package rule

import (
	"bytes"
	"encoding/json"
)

func hasEscape(b []byte) bool { return bytes.IndexByte(b, '\\') >= 0 }

// unescape decodes the contents of a JSON string (without its quotes).
func unescape(b []byte) string {
	var s string
	q := make([]byte, 0, len(b)+2)
	q = append(append(append(q, '"'), b...), '"')
	if err := json.Unmarshal(q, &s); err != nil {
		return string(b)
	}
	return s
}
