package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

// fuzzSeeds are representative inputs of every delivery format and of the
// malformed inputs the splitter must survive.
func fuzzSeeds() []string {
	return []string{
		``,
		`{"Records":[` + r1 + `,` + r2 + `]}`,
		"{\n  \"Records\": [\n    " + r3 + "\n  ],\n  \"x\": 1\n}\n",
		`{"a":1,"Records":[` + r1 + `]}`,
		`{"Records":[]}`,
		`[` + r1 + `,` + r3 + `]`,
		r1 + "\n" + r2 + "\r\n\n" + r4,
		"\xef\xbb\xbf" + r1 + "\n",
		r1 + r2,
		r3,
		e1,
		`[` + e1 + `,` + e2 + `]`,
		e1 + "\n" + eNoCT + "\n",
		meta,
		r4,
		`{"Records":[` + r1 + `,{"eventVersion":"1.0`,
		`[` + r1 + `,`,
		`{"a":[}`,
		`not json`,
		r1 + "\n" + `{"broken` + "\n" + r2 + "\n",
		`{"Records":[` + r1 + `],"n":5,"o":{"p":[true,null]}}`,
		`{"x":"\\\"}{]["}`,
		`{"Records":[{"a":"` + string(bytes.Repeat([]byte("z"), 300)) + `"}]}`,
	}
}

// FuzzSplitter feeds arbitrary bytes to the splitter: it must not panic,
// must end, and every item it returns must be a span of the input with
// Source, Name and Detail inside it. When the input is a valid stream of
// JSON values the splitter supports, it must split it without error.
func FuzzSplitter(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog(data)()
		const max = 1 << 12
		sp := NewSplitter(bytes.NewReader(data), max)
		limit := 2*len(data) + 10 // each item or Resync consumes at least one byte
		items, errs := 0, 0
		prev := -1
		for n := 0; ; n++ {
			if n > limit {
				t.Fatalf("no end after %d calls on %d bytes", n, len(data))
			}
			it, err := sp.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				errs++
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
				}
				if !sp.Resync() {
					// Giving up keeps the error, except when Resync
					// reached the end of the input looking for a line.
					if _, err2 := sp.Next(); err2 != err && err2 != io.EOF {
						t.Fatalf("after Resync gave up, Next = %v, want %v or io.EOF", err2, err)
					}
					break
				}
				continue
			}
			items++
			if it.Index <= prev {
				t.Fatalf("Index %d after %d", it.Index, prev)
			}
			prev = it.Index
			if len(it.Raw) == 0 || !bytes.Contains(data, it.Raw) {
				t.Fatalf("Raw %q is not a span of the input", it.Raw)
			}
			if it.Raw[0] != '{' || it.Raw[len(it.Raw)-1] != '}' {
				t.Fatalf("Raw %q is not an object", it.Raw)
			}
			if len(it.Raw) > max {
				t.Fatalf("Raw of %d bytes is over the limit %d", len(it.Raw), max)
			}
			if !bytes.Contains(it.Raw, it.Source) || !bytes.Contains(it.Raw, it.Name) {
				t.Fatalf("Source %q or Name %q not in Raw %q", it.Source, it.Name, it.Raw)
			}
			if it.Envelope != (it.Detail != nil) || !bytes.Contains(it.Raw, it.Detail) {
				t.Fatalf("Envelope %v with Detail %q", it.Envelope, it.Detail)
			}
			if ev, err := Decode(&it); err == nil {
				if ev.EventSource == "" || ev.EventName == "" {
					t.Fatalf("decoded an event without eventSource/eventName: %q", it.Raw)
				}
			} else if de := (*DecodeError)(nil); !errors.As(err, &de) {
				t.Fatalf("Decode error %v (%T) is not a *DecodeError", err, err)
			}
		}
		if want, ok := supportedStream(data); ok && len(data) <= max {
			if errs > 0 {
				_, err := NewSplitter(bytes.NewReader(data), max).Next()
				t.Fatalf("valid input rejected (%d errors; first call: %v)", errs, err)
			}
			if want >= 0 && items != want {
				t.Fatalf("got %d items, want %d", items, want)
			}
		}
	})
}

// watchdog crashes the test binary, naming the input, when the splitter
// is stuck inside a single call; the fuzzer then keeps the input.
func watchdog(data []byte) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			panic(fmt.Sprintf("the splitter is stuck on %q", data))
		}
	}()
	return func() { close(done) }
}

// supportedStream reports whether data is a stream of JSON values the
// splitter must accept: objects (whose Records member, if an array, holds
// only objects) and arrays of objects. count is the number of items
// expected, or -1 when escapes in keys make it uncertain.
func supportedStream(data []byte) (count int, ok bool) {
	if bytes.Count(data, []byte(`"Records"`)) > 1 {
		return 0, false // duplicate keys: which one wins is not specified
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	for {
		var v any
		err := d.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, false
		}
		switch v := v.(type) {
		case map[string]any:
			if recs, has := v["Records"]; has {
				if arr, isArr := recs.([]any); isArr {
					for _, e := range arr {
						if _, isObj := e.(map[string]any); !isObj {
							return 0, false
						}
					}
					count += len(arr)
					continue
				}
			}
			count++
		case []any:
			for _, e := range v {
				if _, isObj := e.(map[string]any); !isObj {
					return 0, false
				}
			}
			count += len(v)
		default:
			return 0, false
		}
	}
	if bytes.IndexByte(data, '\\') >= 0 {
		count = -1
	}
	return count, true
}

// FuzzSplitterReaders: a reader returning one byte at a time must give the
// same items and error as reading the input whole.
func FuzzSplitterReaders(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		run := func(r io.Reader) ([]got, string) {
			sp := NewSplitter(r, 1<<12)
			var out []got
			for n := 0; n <= 2*len(data)+10; n++ {
				it, err := sp.Next()
				if err == io.EOF {
					return out, ""
				}
				if err != nil {
					return out, err.Error()
				}
				out = append(out, gotOf(it))
			}
			t.Fatalf("no end")
			return nil, ""
		}
		wantItems, wantErr := run(bytes.NewReader(data))
		gotItems, gotErr := run(iotest.OneByteReader(bytes.NewReader(data)))
		if gotErr != wantErr || len(gotItems) != len(wantItems) {
			t.Fatalf("one-byte reads: %d items, error %q; whole: %d items, error %q", len(gotItems), gotErr, len(wantItems), wantErr)
		}
		for i := range wantItems {
			if gotItems[i] != wantItems[i] {
				t.Fatalf("item %d differs: %+v vs %+v", i, gotItems[i], wantItems[i])
			}
		}
	})
}

// FuzzDecode: DecodeRecord on arbitrary bytes must not panic, must fail only
// with a *DecodeError, and a decoded event keeps the bytes and has its
// eventSource and eventName.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{full, r1, r3, r4, meta, `{}`, `null`, `[]`, `{"eventSource":"s","eventName":"n","eventTime":5}`,
		minimal(`,"readOnly":"true","eventTime":"2022-09-29 22:25:17"`),
		minimal(`,"userIdentity":{"sessionContext":{"attributes":{"mfaAuthenticated":true}}}`),
		minimal(`,"userIdentity":"x"`)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeRecord(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			_ = err.Error()
		} else {
			if !bytes.Equal(ev.Raw, data) {
				t.Fatalf("Raw differs from the input")
			}
			if ev.EventSource == "" || ev.EventName == "" || ev.Fields == nil {
				t.Fatalf("decoded %q without eventSource, eventName or Fields", data)
			}
			if !ev.EventTime.IsZero() && ev.EventTime.Location().String() != "UTC" {
				t.Fatalf("EventTime not in UTC: %v", ev.EventTime)
			}
			_ = ev.Outcome()
			_ = ev.AccountID()
		}
		// The same bytes as the detail of an envelope.
		env := append(append([]byte(`{"detail-type":"x","source":"aws.x","time":"2024-01-02T03:04:05Z","region":"r","detail":`), data...), '}')
		if ev2, err := Decode(&Item{Raw: env, Envelope: true, Detail: data}); err == nil && ev != nil && ev2.EventName != ev.EventName {
			t.Fatalf("envelope decode differs: %q vs %q", ev2.EventName, ev.EventName)
		}
		// Split from a stream, the envelope is decoded in one pass; it must
		// give what encoding/json gives.
		sp := NewSplitter(bytes.NewReader(env), 0)
		if it, err := sp.Next(); err == nil && it.Envelope {
			fast, ferr := Decode(&it)
			slow, serr := Decode(&Item{Raw: env, Envelope: true, Detail: bytes.Clone(it.Detail)})
			if (ferr == nil) != (serr == nil) {
				t.Fatalf("one pass: %v; encoding/json: %v", ferr, serr)
			}
			if ferr == nil && (fast.EventName != slow.EventName || fast.EventSource != slow.EventSource || !fast.EventTime.Equal(slow.EventTime) ||
				fast.AWSRegion != slow.AWSRegion || *fast.Envelope != *slow.Envelope || !bytes.Equal(fast.RequestParameters, slow.RequestParameters)) {
				t.Fatalf("one pass %+v; encoding/json %+v", fast, slow)
			}
		}
	})
}
