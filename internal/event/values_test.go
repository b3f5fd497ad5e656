package event

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// recordWithItems is an EKS record whose requestParameters.tags is an
// array of n copies of item.
func recordWithItems(n int, item string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"eventVersion":"1.08","eventSource":"eks.amazonaws.com","eventName":"CreateCluster","eventID":"e-1","eventTime":"2026-11-20T10:00:00Z","requestParameters":{"name":"prod","tags":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

func TestCountValues(t *testing.T) {
	for _, tc := range []struct {
		json string
		want int
	}{
		{`{}`, 1},
		{`[]`, 1},
		{`{"a":1}`, 2},
		{`{"a":"b","c":[1,true,null,{"d":"e\"f"}]}`, 8},
		{`[{},{},{}]`, 4},
		{`{"k" : "v"}`, 2},
		{`"key-like":`, 0},
	} {
		if got := countValues([]byte(tc.json), 1<<20); got != tc.want {
			t.Errorf("countValues(%s) = %d, want %d", tc.json, got, tc.want)
		}
	}
	// The count stops soon after the limit.
	if got := countValues(recordWithItems(1000, "{}"), 10); got != 11 {
		t.Errorf("count past a limit of 10 = %d, want 11", got)
	}
}

func TestValueLimit(t *testing.T) {
	// The values of the record without items.
	base := countValues(recordWithItems(0, "{}"), 1<<20)
	sp := NewSplitter(bytes.NewReader(recordWithItems(100-base, "0")), 0)
	sp.SetMaxValues(100)
	it, err := sp.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(&it); err != nil {
		t.Errorf("a record with exactly the limit of values: %v", err)
	}
	sp = NewSplitter(bytes.NewReader(recordWithItems(101-base, "0")), 0)
	sp.SetMaxValues(100)
	if it, err = sp.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = Decode(&it)
	if !errors.Is(err, ErrTooManyValues) || !strings.Contains(err.Error(), "more than 100 JSON values") {
		t.Errorf("one value over the limit: %v", err)
	}
	// The byte limit says it is about bytes.
	_, err = NewSplitter(bytes.NewReader(recordWithItems(2000, `"xxxxxxxxxxxxxxxx"`)), 1<<10).Next()
	if !errors.Is(err, ErrRecordTooLarge) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("over the byte limit: %v", err)
	}
}

// TestAmplificationBomb is the probe: one 16.5 MB record of {} items (under
// the 16 MiB byte limit) used 1.1 GB to decode. It is now refused, saying
// which limit it exceeded, before anything is decoded.
func TestAmplificationBomb(t *testing.T) {
	rec := recordWithItems(5_500_000, "{}")
	if len(rec) < 16_500_000 || len(rec) > DefaultMaxRecordSize {
		t.Fatalf("record of %d bytes, want 16.5 MB and under the byte limit", len(rec))
	}
	sp := NewSplitter(bytes.NewReader(rec), 0)
	it, err := sp.Next()
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ev, err := Decode(&it)
	runtime.ReadMemStats(&after)
	if ev != nil || !errors.Is(err, ErrTooManyValues) {
		t.Fatalf("decode: %v, %v; want ErrTooManyValues", ev, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("more than %d JSON values", DefaultMaxValues)) {
		t.Errorf("the error does not say which limit: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("refusing the record allocated %d bytes, want under 1 MiB", alloc)
	}
	if _, err := sp.Next(); err != io.EOF {
		t.Errorf("after the record: %v, want EOF", err)
	}
}
