package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// got is an Item in comparable form: the spans copied out of the
// splitter's buffer.
type got struct {
	Index        int
	Raw          string
	Source, Name string
	Envelope     bool
	Detail       string
}

func gotOf(it Item) got {
	return got{Index: it.Index, Raw: string(it.Raw), Source: string(it.Source), Name: string(it.Name), Envelope: it.Envelope, Detail: string(it.Detail)}
}

// drain reads the splitter until io.EOF or the first error, which it
// returns (nil at EOF). A bound on the calls guards against a splitter that
// never ends.
func drain(t *testing.T, sp *Splitter) ([]got, error) {
	t.Helper()
	var out []got
	for n := 0; ; n++ {
		if n > 100000 {
			t.Fatalf("the splitter did not reach the end after %d calls", n)
		}
		it, err := sp.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, gotOf(it))
	}
}

func split(t *testing.T, in string, max int) ([]got, error) {
	t.Helper()
	return drain(t, NewSplitter(strings.NewReader(in), max))
}

// Records used throughout. r3 is pretty-printed and holds strings with
// escaped quotes, backslashes, brackets and braces, and nested objects with
// their own eventSource/eventName members.
const (
	r1 = `{"eventVersion":"1.09","eventSource":"eks.amazonaws.com","eventName":"CreateCluster","eventID":"1"}`
	r2 = `{"eventVersion":"1.09","eventSource":"ecs.amazonaws.com","eventName":"DeleteCluster","eventID":"2"}`
	r3 = `{
  "eventVersion": "1.08",
  "userIdentity": {"type": "IAMUser", "userName": "a\"b\\", "arn": "arn:aws:iam::1:user/x}"},
  "requestParameters": {
    "policy": "{\"Statement\":[{\"Effect\":\"Allow\"}]} ] } \\\" { [",
    "eventSource": "inner.amazonaws.com",
    "eventName": "Inner",
    "list": [{"a": [1, 2.5e3, -0, true, false, null]}, [], {}]
  },
  "eventSource": "s3.amazonaws.com",
  "eventName": "PutBucketPolicy",
  "note": "\\",
  "brace": "}"
}`
	// r4 has its eventName written with a \u escape.
	r4 = `{"eventVersion":"1.09","eventSource":"eks\u002eamazonaws.com","eventName":"\u0041ssociateAccessPolicy","requestParameters":{"name":"x"}}`
	// meta is TrailDiscover catalogue metadata: it names an eventSource and
	// eventName but is not an event.
	meta = `{"name":"CreateCluster","eventSource":"eks.amazonaws.com","eventName":"CreateCluster","description":"Creates a cluster","usedInWild":true,"mitreAttackTactics":["TA0040 - Impact"]}`
)

func envelope(id, rec string) string {
	return `{"version":"0","id":"` + id + `","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","account":"111122223333","time":"2024-01-02T03:04:05Z","region":"us-west-2","resources":[],"detail":` + rec + `}`
}

var (
	e1 = envelope("e1", r1)
	e2 = envelope("e2", r2)
	// eNoCT is an EventBridge event whose detail is not a CloudTrail record.
	eNoCT = `{"version":"0","id":"e3","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"111122223333","time":"2024-01-02T03:04:05Z","region":"us-west-2","resources":[],"detail":{"instance-id":"i-1","state":"running"}}`
	// Envelope variants: detail before detail-type; only an aws.* source.
	eDetailFirst = `{"detail":` + r2 + `,"detail-type":"AWS API Call via CloudTrail","source":"aws.ecs"}`
	eSourceOnly  = `{"source":"aws.eks","detail":` + r1 + `}`
	// notEnvelope has a detail object but neither detail-type nor an aws.* source.
	notEnvelope = `{"source":"custom.app","detail":` + r1 + `}`
)

func rec(i int, raw string, src, name string) got {
	return got{Index: i, Raw: raw, Source: src, Name: name}
}

func g1(i int) got { return rec(i, r1, "eks.amazonaws.com", "CreateCluster") }
func g2(i int) got { return rec(i, r2, "ecs.amazonaws.com", "DeleteCluster") }
func g3(i int) got { return rec(i, r3, "s3.amazonaws.com", "PutBucketPolicy") }
func g4(i int) got {
	return rec(i, r4, `eks\u002eamazonaws.com`, `\u0041ssociateAccessPolicy`)
}
func genv(i int, raw, detail, src, name string) got {
	return got{Index: i, Raw: raw, Source: src, Name: name, Envelope: true, Detail: detail}
}

type splitCase struct {
	name string
	in   string
	want []got
}

// formatCases are valid inputs in every delivery format.
func formatCases() []splitCase {
	return []splitCase{
		// {"Records":[…]}
		{"records compact", `{"Records":[` + r1 + `,` + r2 + `]}`, []got{g1(0), g2(1)}},
		{"records pretty", "{\n  \"Records\": [\n    " + r1 + ",\n    " + r3 + "\n  ]\n}\n", []got{g1(0), g3(1)}},
		{"records with tabs and CRLF", "{\r\n\t\"Records\"\t:\t[\r\n\t" + r1 + "\r\n\t,\r\n\t" + r2 + "\r\n]\r\n}\r\n", []got{g1(0), g2(1)}},
		{"records not the first key", `{"digestS3Object":"x","Records":[` + r1 + `,` + r3 + `]}`, []got{g1(0), g3(1)}},
		{"records not first, keys after", `{"a":{"Records":[1]},"Records":[` + r2 + `],"z":[{"b":"]"}]}`, []got{g2(0)}},
		{"records with keys after the array", `{"Records":[` + r1 + `],"nextToken":"a}b","n":5,"o":{"p":[true,null]},"q":false}`, []got{g1(0)}},
		{"records with keys after the array, pretty", "{\n \"Records\": [\n " + r1 + "\n ] ,\n \"n\" : 5 ,\n \"s\" : \"x\"\n}", []got{g1(0)}},
		{"records empty", `{"Records":[]}`, nil},
		{"records empty, spaced", "{ \"Records\" : [ ] }\n", nil},
		{"records empty, not first", `{"a":1,"Records":[]}`, nil},
		{"records files concatenated", `{"Records":[` + r1 + `,` + r2 + `]}` + "\n" + `{"Records":[` + r3 + `]}` + "\n", []got{g1(0), g2(1), g3(2)}},
		{"records then buffered records", `{"Records":[` + r1 + `]}{"x":0,"Records":[` + r2 + `,` + r3 + `]}`, []got{g1(0), g2(1), g3(2)}},
		{"records holding envelopes", `{"Records":[` + e1 + `]}`, []got{genv(0, e1, r1, "eks.amazonaws.com", "CreateCluster")}},
		{"Records not an array is a plain object", `{"Records":null,"eventVersion":"1","eventSource":"a","eventName":"b"}`,
			[]got{rec(0, `{"Records":null,"eventVersion":"1","eventSource":"a","eventName":"b"}`, "a", "b")}},
		{"key RecordsX is not Records", `{"RecordsX":[` + r1 + `]}`, []got{rec(0, `{"RecordsX":[`+r1+`]}`, "", "")}},

		// bare arrays
		{"array", `[` + r1 + `,` + r2 + `,` + r3 + `]`, []got{g1(0), g2(1), g3(2)}},
		{"array pretty", "[\n  " + r1 + ",\n  " + r2 + "\n]\n", []got{g1(0), g2(1)}},
		{"array empty", `[]`, nil},
		{"array empty spaced", " [ \n ] \n", nil},
		{"arrays concatenated", `[` + r1 + `][` + r2 + `]` + "\n[]\n", []got{g1(0), g2(1)}},

		// JSON lines
		{"jsonl", r1 + "\n" + r2 + "\n", []got{g1(0), g2(1)}},
		{"jsonl no final newline", r1 + "\n" + r2, []got{g1(0), g2(1)}},
		{"jsonl blank lines", "\n\n" + r1 + "\n\n   \n" + r2 + "\n\n", []got{g1(0), g2(1)}},
		{"jsonl CRLF", r1 + "\r\n" + r2 + "\r\n", []got{g1(0), g2(1)}},
		{"jsonl BOM", "\xef\xbb\xbf" + r1 + "\n" + r2 + "\n", []got{g1(0), g2(1)}},
		{"jsonl BOM CRLF", "\xef\xbb\xbf" + r1 + "\r\n" + r2 + "\r\n", []got{g1(0), g2(1)}},
		{"jsonl mixed formats", e1 + "\n" + r2 + "\n" + `{"Records":[` + r1 + `]}` + "\n" + `[` + r2 + `]` + "\n",
			[]got{genv(0, e1, r1, "eks.amazonaws.com", "CreateCluster"), g2(1), g1(2), g2(3)}},

		// concatenated objects
		{"concatenated", r1 + r2 + r1, []got{g1(0), g2(1), g1(2)}},
		{"concatenated spaced", r1 + " \t " + r3 + "\n" + r2, []got{g1(0), g3(1), g2(2)}},

		// single records
		{"single record", r1, []got{g1(0)}},
		{"single record pretty", "\n" + r3 + "\n\n", []got{g3(0)}},
		{"single record BOM", "\xef\xbb\xbf" + r3, []got{g3(0)}},
		{"empty object", `{}`, []got{rec(0, `{}`, "", "")}},
		{"empty input", ``, nil},
		{"white space only", " \n\r\n\t ", nil},
		{"BOM only", "\xef\xbb\xbf", nil},

		// EventBridge
		{"envelope", e1, []got{genv(0, e1, r1, "eks.amazonaws.com", "CreateCluster")}},
		{"envelope array", `[` + e1 + `,` + e2 + `]`, []got{genv(0, e1, r1, "eks.amazonaws.com", "CreateCluster"), genv(1, e2, r2, "ecs.amazonaws.com", "DeleteCluster")}},
		{"envelope jsonl", e1 + "\n" + e2 + "\n", []got{genv(0, e1, r1, "eks.amazonaws.com", "CreateCluster"), genv(1, e2, r2, "ecs.amazonaws.com", "DeleteCluster")}},
		{"envelope detail first", eDetailFirst, []got{genv(0, eDetailFirst, r2, "ecs.amazonaws.com", "DeleteCluster")}},
		{"envelope with aws source only", eSourceOnly, []got{genv(0, eSourceOnly, r1, "eks.amazonaws.com", "CreateCluster")}},
		{"envelope of a non-CloudTrail event", eNoCT, []got{genv(0, eNoCT, `{"instance-id":"i-1","state":"running"}`, "", "")}},
		{"envelope of catalogue metadata", envelope("m", meta), []got{genv(0, envelope("m", meta), meta, "", "")}},
		{"detail without envelope marks", notEnvelope, []got{rec(0, notEnvelope, "", "")}},

		// objects that are not CloudTrail records
		{"catalogue metadata", meta, []got{rec(0, meta, "", "")}},
		{"catalogue metadata array", `[` + meta + `,` + r1 + `]`, []got{rec(0, meta, "", ""), g1(1)}},
		{"source and name but no record member", `{"eventSource":"a","eventName":"b","x":1}`, []got{rec(0, `{"eventSource":"a","eventName":"b","x":1}`, "", "")}},
		{"nested eventName does not count", `{"eventVersion":"1","requestParameters":{"eventSource":"inner","eventName":"Inner"}}`,
			[]got{rec(0, `{"eventVersion":"1","requestParameters":{"eventSource":"inner","eventName":"Inner"}}`, "", "")}},
		{"eventName in a string does not count", `{"eventVersion":"1","x":"\"eventSource\":\"a\",\"eventName\":\"b\""}`,
			[]got{rec(0, `{"eventVersion":"1","x":"\"eventSource\":\"a\",\"eventName\":\"b\""}`, "", "")}},
		{"non-string eventName", `{"eventVersion":"1","eventSource":"a","eventName":42}`, []got{rec(0, `{"eventVersion":"1","eventSource":"a","eventName":42}`, "a", "")}},

		// escapes
		{"escaped eventName", r4, []got{g4(0)}},
		{"escaped strings and braces", `[` + r3 + `,` + r4 + `]`, []got{g3(0), g4(1)}},
		{"escaped quote before a key", `{"eventVersion":"\"","eventSource":"a\\","eventName":"b\"c"}`, []got{rec(0, `{"eventVersion":"\"","eventSource":"a\\","eventName":"b\"c"}`, `a\\`, `b\"c`)}},
		{"many backslashes", `{"eventVersion":"\\\\\\\"\\","eventSource":"s","eventName":"n"}`, []got{rec(0, `{"eventVersion":"\\\\\\\"\\","eventSource":"s","eventName":"n"}`, "s", "n")}},
		{"unicode", `{"eventVersion":"1","eventSource":"s","eventName":"n","x":"é€😀 ]}"}`, []got{rec(0, `{"eventVersion":"1","eventSource":"s","eventName":"n","x":"é€😀 ]}"}`, "s", "n")}},
	}
}

// trailMembers are the members that make an object with eventSource and
// eventName a CloudTrail record.
var trailMembers = []string{"userIdentity", "eventID", "eventTime", "eventVersion", "eventType", "requestParameters"}

func TestSplitterFormats(t *testing.T) {
	for _, tc := range formatCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in != "" && !validStream(tc.in) {
				t.Fatalf("bad test: input is not a stream of JSON values")
			}
			items, err := split(t, tc.in, 0)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if diff := cmp.Diff(tc.want, items); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			for _, it := range items {
				if !strings.Contains(tc.in, it.Raw) {
					t.Errorf("item %d: Raw is not a span of the input", it.Index)
				}
				if !json.Valid([]byte(it.Raw)) {
					t.Errorf("item %d: Raw is not valid JSON: %s", it.Index, it.Raw)
				}
			}
		})
	}
}

// validStream reports whether s is a sequence of JSON values (a UTF-8 BOM
// at the start of a line allowed).
func validStream(s string) bool {
	s = strings.ReplaceAll(s, "\xef\xbb\xbf", "")
	d := json.NewDecoder(strings.NewReader(s))
	for {
		var v json.RawMessage
		if err := d.Decode(&v); err == io.EOF {
			return true
		} else if err != nil {
			return false
		}
	}
}

// TestSplitterTrailMembers: eventSource and eventName are reported only when
// the object also has one of the members only CloudTrail records have.
func TestSplitterTrailMembers(t *testing.T) {
	for _, m := range trailMembers {
		for _, pos := range []string{"before", "after"} {
			t.Run(m+" "+pos, func(t *testing.T) {
				in := `{"eventSource":"eks.amazonaws.com","eventName":"CreateCluster","` + m + `":{"x":"}"}}`
				if pos == "before" {
					in = `{"` + m + `":"v","eventSource":"eks.amazonaws.com","eventName":"CreateCluster"}`
				}
				items, err := split(t, in, 0)
				if err != nil {
					t.Fatal(err)
				}
				want := []got{rec(0, in, "eks.amazonaws.com", "CreateCluster")}
				if diff := cmp.Diff(want, items); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestItemRecord(t *testing.T) {
	sp := NewSplitter(strings.NewReader(e1+"\n"+r1), 0)
	it, err := sp.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(it.Record()); got != r1 {
		t.Errorf("envelope Record() = %s, want the detail %s", got, r1)
	}
	it, err = sp.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(it.Record()); got != r1 {
		t.Errorf("record Record() = %s, want %s", got, r1)
	}
}

// TestSplitterIndex: Index counts records across containers, files
// concatenated and formats, from 0.
func TestSplitterIndex(t *testing.T) {
	var b strings.Builder
	n := 0
	for i := 0; i < 30; i++ {
		switch i % 5 {
		case 0:
			b.WriteString(`{"Records":[` + r1 + `,` + r2 + `]}` + "\n")
			n += 2
		case 1:
			b.WriteString(`[` + r1 + `,` + r2 + `,` + r3 + `]`)
			n += 3
		case 2:
			b.WriteString(r1 + "\n")
			n++
		case 3:
			b.WriteString(e1 + "\r\n")
			n++
		case 4:
			b.WriteString(`{"x":[],"Records":[` + r4 + `]}`)
			n++
		}
	}
	items, err := split(t, b.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != n {
		t.Fatalf("got %d items, want %d", len(items), n)
	}
	for i, it := range items {
		if it.Index != i {
			t.Fatalf("item %d has Index %d", i, it.Index)
		}
	}
}

// TestSplitterStreamsRecords: a Records file far larger than the buffer is
// streamed with a buffer that does not grow.
func TestSplitterStreamsRecords(t *testing.T) {
	pad := strings.Repeat("x", 1000)
	one := `{"eventVersion":"1.09","eventSource":"eks.amazonaws.com","eventName":"CreateCluster","pad":"` + pad + `"}`
	const n = 3000 // about 3 MB
	r := io.MultiReader(strings.NewReader(`{"Records":[`), &repeatReader{s: one + ",", n: n - 1}, strings.NewReader(one+`]}`))
	sp := NewSplitter(r, 0)
	initial := len(sp.buf)
	count := 0
	for {
		it, err := sp.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(it.Raw) != one || it.Index != count {
			t.Fatalf("item %d: bad item (Index %d, %d bytes)", count, it.Index, len(it.Raw))
		}
		count++
	}
	if count != n {
		t.Errorf("got %d records, want %d", count, n)
	}
	if len(sp.buf) != initial {
		t.Errorf("the buffer grew from %d to %d bytes while streaming a Records array", initial, len(sp.buf))
	}
}

type repeatReader struct {
	s   string
	n   int
	cur *strings.Reader
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for r.cur == nil || r.cur.Len() == 0 {
		if r.n == 0 {
			return 0, io.EOF
		}
		r.n--
		r.cur = strings.NewReader(r.s)
	}
	return r.cur.Read(p)
}

// TestSplitterLargeRecord: a record larger than the initial buffer but
// within the limit is returned whole.
func TestSplitterLargeRecord(t *testing.T) {
	big := `{"eventVersion":"1","eventSource":"s","eventName":"n","pad":"` + strings.Repeat("ab\\\"{[", 100000) + `"}`
	for _, in := range []string{big, `{"Records":[` + big + `]}`, `[` + big + `]`, r1 + "\n" + big + "\n" + r2} {
		items, err := split(t, in, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, it := range items {
			if it.Raw == big {
				found = it.Source == "s" && it.Name == "n"
			}
		}
		if !found {
			t.Errorf("the %d-byte record was not returned whole", len(big))
		}
	}
}

func TestSplitterDefaultMax(t *testing.T) {
	for _, m := range []int{0, -1} {
		if sp := NewSplitter(strings.NewReader(""), m); sp.max != DefaultMaxRecordSize {
			t.Errorf("NewSplitter(r, %d): max = %d, want DefaultMaxRecordSize", m, sp.max)
		}
	}
}

// TestSplitterDeepNesting: valid JSON nested deeper than the 64 levels the
// bracket stack of scanValue remembers must still be accepted ("deeper
// nesting than 64 is only counted", says scanValue). depth is the nesting
// of the value of one member of the record.
func TestSplitterDeepNesting(t *testing.T) {
	nest := func(depth int, obj bool) string {
		var b strings.Builder
		for i := 0; i < depth; i++ {
			if obj && i%2 == 0 || !obj && i%2 == 1 {
				b.WriteString(`{"a":`)
			} else {
				b.WriteString(`[`)
			}
		}
		b.WriteString("1")
		for i := depth - 1; i >= 0; i-- {
			if obj && i%2 == 0 || !obj && i%2 == 1 {
				b.WriteString(`}`)
			} else {
				b.WriteString(`]`)
			}
		}
		return b.String()
	}
	for _, depth := range []int{10, 63, 64, 65, 66, 100, 1000} {
		for _, obj := range []bool{true, false} {
			in := `{"eventVersion":"1","eventSource":"s","eventName":"n","deep":` + nest(depth, obj) + `}`
			if !json.Valid([]byte(in)) {
				t.Fatal("bad test input")
			}
			for _, wrap := range []string{"%s", `{"Records":[%s]}`, `[%s]`} {
				name := fmt.Sprintf("depth %d, outer object %v, in %s", depth, obj, wrap)
				t.Run(name, func(t *testing.T) {
					items, err := split(t, fmt.Sprintf(wrap, in), 0)
					if err != nil {
						t.Fatal(err)
					}
					if len(items) != 1 || items[0].Raw != in {
						t.Errorf("got %d items, want the record", len(items))
					}
				})
			}
		}
	}
}

func asSyntax(t *testing.T, err error) *SyntaxError {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
	}
	return se
}

func TestSplitterErrors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		max       int
		wantItems []got
		wantIndex int
		wantMsg   string // substring of the error
		tooLarge  bool
	}{
		{name: "truncated mid-record in Records", in: `{"Records":[` + r1 + `,{"eventVersion":"1.0`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "truncated"},
		{name: "truncated mid-record in a string", in: `{"Records":[` + r1 + `,` + r2 + `,{"eventVersion":"1.0`, wantItems: []got{g1(0), g2(1)}, wantIndex: 2, wantMsg: "truncated"},
		{name: "truncated mid-record in a nested object", in: `{"Records":[` + r1 + `,{"userIdentity":{"type":"Root"`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "truncated"},
		{name: "truncated after a comma", in: `{"Records":[` + r1 + `,`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "truncated"},
		{name: "truncated after a record", in: `{"Records":[` + r1 + "\n", wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "truncated"},
		{name: "truncated after the array", in: `{"Records":[` + r1 + `]`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "truncated"},
		{name: "truncated after the opening", in: `{"Records":[`, wantIndex: 0, wantMsg: "truncated"},
		{name: "truncated key", in: `{"Records"`, wantIndex: 0, wantMsg: "truncated"},
		{name: "truncated bare array", in: `[` + r1 + `,` + r2, wantItems: []got{g1(0), g2(1)}, wantIndex: 2, wantMsg: "truncated"},
		{name: "truncated bare array mid-record", in: `[` + r1 + `,{"a":[1,`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "truncated"},
		{name: "truncated single record", in: r3[:len(r3)-10], wantIndex: 0, wantMsg: "truncated"},
		{name: "truncated jsonl", in: r1 + "\n" + r2 + "\n" + r1[:30], wantItems: []got{g1(0), g2(1)}, wantIndex: 2, wantMsg: "truncated"},
		{name: "truncated buffered Records", in: `{"a":1,"Records":[` + r1 + `,` + r2, wantIndex: 0, wantMsg: "truncated"},
		{name: "truncated envelope", in: e1[:len(e1)-1], wantIndex: 0, wantMsg: "truncated"},

		{name: "not JSON", in: "hello world\n", wantIndex: 0, wantMsg: "expected '{' or '['"},
		{name: "XML", in: `<?xml version="1.0"?><Records/>`, wantIndex: 0},
		{name: "CSV", in: "eventTime,eventName\n2024-01-01,CreateCluster\n", wantIndex: 0},
		{name: "top-level number", in: "42", wantIndex: 0},
		{name: "top-level string", in: `"Records"`, wantIndex: 0},
		{name: "top-level closing bracket", in: `]`, wantIndex: 0},
		{name: "garbage after records", in: r1 + "\nxyz", wantItems: []got{g1(0)}, wantIndex: 1},
		{name: "unquoted key", in: `{eventName:"x"}`, wantIndex: 0, wantMsg: "malformed"},
		{name: "missing colon", in: `{"eventName" "x"}`, wantIndex: 0, wantMsg: "malformed"},
		{name: "missing comma between members", in: `{"a":1 "b":2}`, wantIndex: 0, wantMsg: "malformed"},

		{name: "mismatched brackets in a record", in: `{"Records":[` + r1 + `,{"a":[1,2}}]}`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "malformed"},
		{name: "mismatched brackets, object closed by ]", in: `[{"a":{"b":1]}]`, wantIndex: 0, wantMsg: "malformed"},
		{name: "mismatched brackets at top level", in: `{"a":1]`, wantIndex: 0, wantMsg: "malformed"},
		{name: "Records array closed by }", in: `{"Records":[` + r1 + `}`, wantItems: []got{g1(0)}, wantIndex: 1},
		{name: "buffered Records mismatched", in: `{"a":1,"Records":[` + r1 + `}}`, wantIndex: 0, wantMsg: "malformed"},
		{name: "array element not an object", in: `[` + r1 + `,42]`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "expected a record object"},
		{name: "Records element not an object", in: `{"Records":["x"]}`, wantIndex: 0, wantMsg: "expected a record object"},
		{name: "buffered Records element not an object", in: `{"a":1,"Records":[null]}`, wantIndex: 0, wantMsg: "expected a record object"},
		{name: "trailing comma in an array", in: `[` + r1 + `,]`, wantItems: []got{g1(0)}, wantIndex: 1},
		{name: "missing comma in an array", in: `[` + r1 + ` ` + r2 + `]`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "expected ',' or ']'"},
		{name: "junk after the Records array", in: `{"Records":[` + r1 + `] x}`, wantItems: []got{g1(0)}, wantIndex: 1},
		{name: "bad member after the Records array", in: `{"Records":[` + r1 + `],5:6}`, wantItems: []got{g1(0)}, wantIndex: 1, wantMsg: "malformed member"},
		{name: "member without value after the Records array", in: `{"Records":[],"a"}`, wantIndex: 0, wantMsg: "malformed member"},

		{name: "record over the limit in Records", in: `{"Records":[` + r1 + `,` + r3 + `]}`, max: 120, wantItems: []got{g1(0)}, wantIndex: 1, tooLarge: true},
		{name: "record over the limit in an array", in: `[` + r3 + `]`, max: 120, wantIndex: 0, tooLarge: true},
		{name: "record over the limit in jsonl", in: r1 + "\n" + r3 + "\n", max: 120, wantItems: []got{g1(0)}, wantIndex: 1, tooLarge: true},
		{name: "single record over the limit", in: r3, max: 120, wantIndex: 0, tooLarge: true},
		// Larger than the splitter's whole buffer: noticed while reading.
		{name: "record over the buffer", in: `{"Records":[` + r1 + `,{"a":"` + strings.Repeat("x", 400<<10) + `"}]}`, max: 1000, wantItems: []got{g1(0)}, wantIndex: 1, tooLarge: true},
		{name: "unterminated string over the buffer", in: `{"a":"` + strings.Repeat("x", 400<<10), max: 1000, wantIndex: 0, tooLarge: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, err := split(t, tc.in, tc.max)
			if diff := cmp.Diff(tc.wantItems, items); diff != "" {
				t.Errorf("items before the error (-want +got):\n%s", diff)
			}
			if err == nil {
				t.Fatalf("no error")
			}
			se := asSyntax(t, err)
			if se.Index != tc.wantIndex {
				t.Errorf("SyntaxError.Index = %d, want %d (%v)", se.Index, tc.wantIndex, err)
			}
			if se.Offset < 0 || se.Offset > int64(len(tc.in)) {
				t.Errorf("SyntaxError.Offset = %d, outside the input of %d bytes", se.Offset, len(tc.in))
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("record %d ", tc.wantIndex)) {
				t.Errorf("error %q does not name record %d", err, tc.wantIndex)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
			if tc.tooLarge {
				if !errors.Is(err, ErrRecordTooLarge) {
					t.Errorf("errors.Is(%v, ErrRecordTooLarge) = false, want true", err)
				}
				if !strings.Contains(err.Error(), "too large") {
					t.Errorf("error %q does not say the record is too large", err)
				}
				if strings.HasPrefix(err.Error(), "read:") {
					t.Errorf("a size error is reported as a read error: %q", err)
				}
			} else if errors.Is(err, ErrRecordTooLarge) {
				t.Errorf("unexpected ErrRecordTooLarge: %v", err)
			}
		})
	}
}

// TestSplitterErrorSticky: after a syntax error Next keeps returning it.
func TestSplitterErrorSticky(t *testing.T) {
	sp := NewSplitter(strings.NewReader(`[`+r1+`,x]`+"\n"+r2), 0)
	if _, err := sp.Next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := sp.Next()
	if err1 == nil {
		t.Fatal("no error")
	}
	for i := 0; i < 3; i++ {
		if _, err := sp.Next(); err != err1 {
			t.Fatalf("Next after an error = %v, want the same error %v", err, err1)
		}
	}
}

// TestSplitterEOFRepeats: Next keeps returning io.EOF at the end.
func TestSplitterEOFRepeats(t *testing.T) {
	sp := NewSplitter(strings.NewReader(r1), 0)
	if _, err := sp.Next(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := sp.Next(); err != io.EOF {
			t.Fatalf("Next at the end = %v, want io.EOF", err)
		}
	}
	if sp.Resync() {
		t.Error("Resync at EOF without an error reported true")
	}
}

// resyncAll reads everything, calling Resync after each error; it returns
// the items, the errors seen, and whether the last Resync gave up.
func resyncAll(t *testing.T, sp *Splitter) (items []got, errs []error, gaveUp bool) {
	t.Helper()
	for n := 0; n < 10000; n++ {
		it, err := sp.Next()
		if err == io.EOF {
			return items, errs, false
		}
		if err != nil {
			errs = append(errs, err)
			if !sp.Resync() {
				return items, errs, true
			}
			continue
		}
		items = append(items, gotOf(it))
	}
	t.Fatal("no end after 10000 calls")
	return
}

func TestSplitterResync(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      []got
		errIdx    []int
		gaveUp    bool
		wantAfter error // what Next returns after Resync gave up (nil: not checked)
	}{
		{
			name:   "corrupt lines in jsonl",
			in:     r1 + "\n" + `{"eventSource": "broken` + "\n" + r2 + "\n" + "garbage line\n" + r4 + "\n" + `{"a":1]` + "\n" + e1 + "\n",
			want:   []got{g1(0), g2(2), g4(4), genv(6, e1, r1, "eks.amazonaws.com", "CreateCluster")},
			errIdx: []int{1, 3, 5},
		},
		{
			name:   "corrupt line missing its closing brace",
			in:     r1 + "\n" + `{"a":{"b":1}` + "\n" + r2 + "\n",
			want:   []got{g1(0), g2(2)},
			errIdx: []int{1},
		},
		{
			name:   "corrupt lines in CRLF jsonl",
			in:     r1 + "\r\n" + `{"a":tru"e"}` + "\r\n" + r2 + "\r\n",
			want:   []got{g1(0), g2(2)},
			errIdx: []int{1},
		},
		{
			name:   "consecutive corrupt lines",
			in:     r1 + "\nx\ny\n{\"a\"\n" + r2 + "\n",
			want:   []got{g1(0), g2(4)},
			errIdx: []int{1, 2, 3},
		},
		{
			name:   "corrupt last line without newline",
			in:     r1 + "\n" + r2 + "\n" + `{"a":`,
			want:   []got{g1(0), g2(1)},
			errIdx: []int{2},
			gaveUp: true,
		},
		{
			name:   "over-long line is skipped",
			in:     r1 + "\n" + `{"eventVersion":"1","pad":"` + strings.Repeat("z", 500) + `"}` + "\n" + r2 + "\n",
			want:   []got{g1(0), g2(2)},
			errIdx: []int{1},
		},
		{
			name:      "inside a Records array",
			in:        `{"Records":[` + r1 + `,{"a":1]},` + r2 + `]}`,
			want:      []got{g1(0)},
			errIdx:    []int{1},
			gaveUp:    true,
			wantAfter: &SyntaxError{},
		},
		{
			name:      "inside a Records array, after JSON lines",
			in:        r1 + "\n" + `{"Records":[` + r2 + `,x,` + r1 + `]}` + "\n" + r2 + "\n",
			want:      []got{g1(0), g2(1)},
			errIdx:    []int{2},
			gaveUp:    true,
			wantAfter: &SyntaxError{},
		},
		{
			name:      "inside a bare array",
			in:        `[` + r1 + `,{"a":1]},` + r2 + `]`,
			want:      []got{g1(0)},
			errIdx:    []int{1},
			gaveUp:    true,
			wantAfter: &SyntaxError{},
		},
		{
			name:      "after the Records array",
			in:        `{"Records":[` + r1 + `],x}` + "\n" + r2,
			want:      []got{g1(0)},
			errIdx:    []int{1},
			gaveUp:    true,
			wantAfter: &SyntaxError{},
		},
		{
			// Nothing tells JSON lines from a single broken document yet.
			name:      "first value corrupt",
			in:        `{"a":1]` + "\n" + r1 + "\n",
			errIdx:    []int{0},
			gaveUp:    true,
			wantAfter: &SyntaxError{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range []struct {
				name string
				r    func(string) io.Reader
			}{
				{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
				{"one byte", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
			} {
				sp := NewSplitter(rd.r(tc.in), 400)
				items, errs, gaveUp := resyncAll(t, sp)
				if diff := cmp.Diff(tc.want, items); diff != "" {
					t.Errorf("%s: items (-want +got):\n%s", rd.name, diff)
				}
				var idx []int
				for _, err := range errs {
					idx = append(idx, asSyntax(t, err).Index)
				}
				if diff := cmp.Diff(tc.errIdx, idx); diff != "" {
					t.Errorf("%s: indexes of the errors (-want +got):\n%s", rd.name, diff)
				}
				if gaveUp != tc.gaveUp {
					t.Errorf("%s: Resync gave up = %v, want %v", rd.name, gaveUp, tc.gaveUp)
				}
				if tc.wantAfter != nil {
					_, err := sp.Next()
					if err == nil || err == io.EOF || err != errs[len(errs)-1] {
						t.Errorf("%s: Next after Resync gave up = %v, want the same error again", rd.name, err)
					}
				}
			}
		})
	}
}

func TestResyncWithoutError(t *testing.T) {
	sp := NewSplitter(strings.NewReader(r1+"\n"+r2), 0)
	if sp.Resync() {
		t.Error("Resync before any call reported true")
	}
	it, err := sp.Next()
	if err != nil || it.Index != 0 {
		t.Fatal(it, err)
	}
	if sp.Resync() {
		t.Error("Resync without an error reported true")
	}
	it, err = sp.Next()
	if err != nil || string(it.Raw) != r2 || it.Index != 1 {
		t.Errorf("after a needless Resync: %v %v", gotOf(it), err)
	}
}

// readers that cut the input differently; every one must give the same
// result as reading the input whole.
var readerKinds = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data with EOF", iotest.DataErrReader},
	{"7 bytes", func(r io.Reader) io.Reader { return &chunkReader{r: r, n: 7} }},
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func TestSplitterReaders(t *testing.T) {
	type result struct {
		Items []got
		Err   string
	}
	run := func(t *testing.T, r io.Reader, max int) result {
		items, err := drain(t, NewSplitter(r, max))
		res := result{Items: items}
		if err != nil {
			res.Err = err.Error()
		}
		return res
	}
	type input struct{ name, in string }
	var inputs []input
	for _, tc := range formatCases() {
		inputs = append(inputs, input{tc.name, tc.in})
	}
	inputs = append(inputs,
		input{"error: truncated", `{"Records":[` + r1 + `,{"a":`},
		input{"error: mismatched", `[` + r1 + `,{"a":[}]`},
		input{"error: not JSON", "not json"},
		input{"error: too large", r1 + "\n" + `{"a":"` + strings.Repeat("x", 2000) + `"}`},
		input{"error: after the array", `{"Records":[` + r1 + `],"x"}`},
	)
	for _, in := range inputs {
		want := run(t, strings.NewReader(in.in), 1000)
		for _, rk := range readerKinds {
			t.Run(in.name+"/"+rk.name, func(t *testing.T) {
				g := run(t, rk.wrap(strings.NewReader(in.in)), 1000)
				if diff := cmp.Diff(want, g); diff != "" {
					t.Errorf("reading with a %s reader differs from a whole read (-whole +%s):\n%s", rk.name, rk.name, diff)
				}
			})
		}
	}
}

var errBoom = errors.New("boom")

func TestSplitterReadError(t *testing.T) {
	t.Run("at once", func(t *testing.T) {
		sp := NewSplitter(iotest.ErrReader(errBoom), 0)
		_, err := sp.Next()
		if !errors.Is(err, errBoom) {
			t.Fatalf("Next = %v, want an error wrapping %v", err, errBoom)
		}
		var se *SyntaxError
		if errors.As(err, &se) {
			t.Errorf("a read error is reported as a syntax error: %v", err)
		}
		if sp.Resync() {
			t.Error("Resync after a read error reported true")
		}
		if _, err2 := sp.Next(); !errors.Is(err2, errBoom) {
			t.Errorf("Next after a read error = %v, want it again", err2)
		}
	})
	for _, tc := range []struct {
		name string
		in   string
		want []got
	}{
		{"between lines", r1 + "\n", []got{g1(0)}},
		{"mid-record", r1 + "\n" + r2[:20], []got{g1(0)}},
		{"mid-Records", `{"Records":[` + r1 + `,` + r2[:20], []got{g1(0)}},
		{"between Records elements", `{"Records":[` + r1 + `,`, []got{g1(0)}},
		{"after the Records array", `{"Records":[` + r1 + `]`, []got{g1(0)}},
		{"mid bare array", `[` + r1, []got{g1(0)}},
		{"mid key Records", `{"Rec`, nil},
	} {
		for _, one := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/one byte %v", tc.name, one), func(t *testing.T) {
				var r io.Reader = io.MultiReader(strings.NewReader(tc.in), iotest.ErrReader(errBoom))
				if one {
					r = iotest.OneByteReader(r)
				}
				sp := NewSplitter(r, 0)
				items, err := drain(t, sp)
				if diff := cmp.Diff(tc.want, items); diff != "" {
					t.Errorf("items (-want +got):\n%s", diff)
				}
				if !errors.Is(err, errBoom) {
					t.Fatalf("error = %v, want one wrapping %v", err, errBoom)
				}
				if sp.Resync() {
					t.Error("Resync after a read error reported true")
				}
			})
		}
	}
}

// TestSplitterRawAliases documents that Raw is valid until the next call:
// a copy stays intact across calls.
func TestSplitterRawCopies(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, `{"eventVersion":"1","eventSource":"s","eventName":"n%d"}`+"\n", i)
	}
	sp := NewSplitter(iotest.HalfReader(bytes.NewReader(b.Bytes())), 0)
	var kept [][]byte
	for {
		it, err := sp.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, bytes.Clone(it.Raw))
	}
	if len(kept) != 2000 {
		t.Fatalf("got %d records", len(kept))
	}
	for i, k := range kept {
		if want := fmt.Sprintf(`{"eventVersion":"1","eventSource":"s","eventName":"n%d"}`, i); string(k) != want {
			t.Fatalf("record %d = %s, want %s", i, k, want)
		}
	}
}

// TestItemSpans: the splitter hands out the raw errorCode, userIdentity and
// awsRegion of a record (or of an envelope's detail) without decoding.
func TestItemSpans(t *testing.T) {
	rec := `{"eventVersion":"1.09","userIdentity":{"type":"Root"},"eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","errorCode":"AccessDenied","userAgent":"x"}`
	for _, in := range []string{rec, `{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":` + rec + `}`} {
		it, err := NewSplitter(strings.NewReader(in), 0).Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(it.Identity) != `{"type":"Root"}` || string(it.ErrorCode) != `"AccessDenied"` || string(it.Region) != `"eu-west-1"` {
			t.Errorf("spans %q %q %q", it.Identity, it.ErrorCode, it.Region)
		}
	}
	it, _ := NewSplitter(strings.NewReader(`{"eventVersion":"1.09","eventSource":"s","eventName":"n"}`), 0).Next()
	if it.Identity != nil || it.ErrorCode != nil || it.Region != nil {
		t.Errorf("spans of absent members: %q %q %q", it.Identity, it.ErrorCode, it.Region)
	}
}

func TestBufferGrowsOnlyForLargeInput(t *testing.T) {
	rec := `{"eventVersion":"1.09","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","eventID":"e"}`
	small := NewSplitter(strings.NewReader(`{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.eks","detail":`+rec+`}`), 0)
	if _, err := small.Next(); err != nil {
		t.Fatal(err)
	}
	if len(small.buf) != startBuf {
		t.Errorf("one event grew the buffer to %d bytes, want %d", len(small.buf), startBuf)
	}
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i := 0; b.Len() < 4*fullBuf; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(rec)
	}
	b.WriteString(`]}`)
	big := NewSplitter(strings.NewReader(b.String()), 0)
	n := 0
	for {
		_, err := big.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if len(big.buf) != fullBuf {
		t.Errorf("a streamed file of %d records left the buffer at %d bytes, want %d", n, len(big.buf), fullBuf)
	}
}
