package event

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkDecodeEnvelope decodes the EventBridge events of
// examples/eventbridge.jsonl as the webhook source does (split, then
// Decode), and, for comparison in the same run, through encoding/json
// (an Item whose Detail is not part of its Raw takes that path).
func BenchmarkDecodeEnvelope(b *testing.B) {
	ex, err := os.ReadFile("../../examples/eventbridge.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	// The items as the splitter makes them: Detail a part of Raw.
	var items []Item
	sp := NewSplitter(bytes.NewReader(ex), 0)
	for {
		it, err := sp.Next()
		if err != nil {
			break
		}
		if !it.Envelope {
			b.Fatalf("item %d is not an envelope", it.Index)
		}
		raw := bytes.Clone(it.Raw)
		off := len(it.Raw) - len(it.Detail) - len(bytes.SplitN(it.Raw, it.Detail, 2)[1])
		items = append(items, Item{Index: it.Index, Raw: raw, Envelope: true, Detail: raw[off : off+len(it.Detail)]})
	}
	if len(items) == 0 {
		b.Fatal("no event in the example")
	}
	for _, path := range []string{"one-pass", "encoding-json"} {
		b.Run(path, func(b *testing.B) {
			var n int
			for b.Loop() {
				for _, it := range items {
					if path == "encoding-json" {
						it.Detail = bytes.Clone(it.Detail)
					}
					if _, err := Decode(&it); err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		})
	}
}
