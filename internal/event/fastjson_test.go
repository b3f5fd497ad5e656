package event

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sameAsJSON checks parseObject against encoding/json: equal values when
// it accepts, and it must accept every plain record.
func sameAsJSON(t *testing.T, in string, mustAccept bool) {
	t.Helper()
	got, ok := parseObject([]byte(in))
	var want map[string]any
	err := json.Unmarshal([]byte(in), &want)
	if ok && (err != nil || !reflect.DeepEqual(got, want)) {
		t.Errorf("parseObject(%.80q) = %v; encoding/json %v, %v", in, got, want, err)
	}
	if !ok && mustAccept {
		t.Errorf("parseObject(%.80q) refused a plain record", in)
	}
}

func TestParseObject(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { "a" : 1 } `, `{"a":[1,2,{"b":null}],"c":true,"d":false,"e":-0.5e-3,"f":"x"}`,
		`{"a":"caf\u00e9","b":"line\nbreak","c":"tab\"quote\\"}`, `{"a":"café"}`, "{\"a\":\"\xff\xfe\"}",
		`{"a":1,"a":2}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":+1}`, `{"a":0x10}`, `{"a":NaN}`,
		`{"a":1e999}`, "{\"a\":\"\x01\"}", `{"a":[1,]}`, `{"a":1,}`, `{"a" 1}`, `{"a":tru}`, `{"a":1} x`, `[1]`, `"x"`,
		`{"a":"\ud800"}`, `{"a":"\u0000"}`, strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000),
	} {
		sameAsJSON(t, in, false)
	}
	dir := os.Getenv("TRAILWATCH_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		b, _ := os.ReadFile(p)
		var top map[string]json.RawMessage
		if json.Unmarshal(b, &top) != nil {
			return nil
		}
		var recs []json.RawMessage
		json.Unmarshal(top["Records"], &recs)
		for _, r := range recs {
			sameAsJSON(t, string(r), true)
			n++
		}
		return nil
	})
	t.Logf("%d corpus records compared", n)
}

func FuzzParseObject(f *testing.F) {
	f.Add(`{"a":[1,{"b":"c\u0041"}],"d":-1.5e3}`)
	f.Fuzz(func(t *testing.T, in string) { sameAsJSON(t, in, false) })
}
