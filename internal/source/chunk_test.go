package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func chunkRecord(i int) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"},`+
		`"eventTime":"2026-11-01T01:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"us-east-1",`+
		`"requestParameters":{"name":"prod"},"eventID":"00000000-0000-4000-8000-%012d","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`, i)
}

func chunkLog(n int) []byte {
	var recs []string
	for i := 0; i < n; i++ {
		recs = append(recs, chunkRecord(i))
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`))
	zw.Close()
	return b.Bytes()
}

func eventIDs(evs []Chunk) []string {
	var out []string
	for _, c := range evs {
		for _, e := range c.Events {
			out = append(out, e.EventID)
		}
	}
	return out
}

func TestChunkerBoundsChunks(t *testing.T) {
	data := chunkLog(25)
	c := NewChunker(bytes.NewReader(data), "f.json.gz", nil, 0, Limits{Records: 10}, 0)
	var got []Chunk
	for {
		ch, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ch)
	}
	if len(got) != 3 {
		t.Fatalf("%d chunks, want 3 (10, 10, 5)", len(got))
	}
	for i, want := range []struct{ off, n int }{{0, 10}, {10, 10}, {20, 5}} {
		if got[i].Offset != want.off || got[i].Records != want.n || len(got[i].Events) != want.n || got[i].Last != (i == 2) {
			t.Errorf("chunk %d: offset %d records %d events %d last %v; want offset %d records %d", i, got[i].Offset, got[i].Records, len(got[i].Events), got[i].Last, want.off, want.n)
		}
	}
	if ids := eventIDs(got); len(ids) != 25 || ids[0] != "00000000-0000-4000-8000-000000000000" || ids[24] != "00000000-0000-4000-8000-000000000024" {
		t.Errorf("events %v", ids)
	}

	// The byte limit ends a chunk too: one record is about 400 bytes.
	c = NewChunker(bytes.NewReader(data), "f.json.gz", nil, 0, Limits{Records: 1000, Bytes: 1000}, 0)
	ch, err := c.Next()
	if err != nil || ch.Records != 3 || ch.Last {
		t.Errorf("with 1000 bytes: %d records, last %v, %v; want 3 records (the third passes the limit)", ch.Records, ch.Last, err)
	}
}

func TestChunkerSkipsCommitted(t *testing.T) {
	c := NewChunker(bytes.NewReader(chunkLog(25)), "f.json.gz", nil, 0, Limits{Records: 10}, 20)
	ch, err := c.Next()
	if err != nil || ch.Offset != 20 || ch.Records != 5 || !ch.Last || len(ch.Events) != 5 || ch.Events[0].EventID != "00000000-0000-4000-8000-000000000020" {
		t.Fatalf("after skipping 20: %+v, %v", ch, err)
	}
	// A skip to the very end leaves one empty last chunk.
	c = NewChunker(bytes.NewReader(chunkLog(20)), "f.json.gz", nil, 0, Limits{Records: 10}, 20)
	if ch, err := c.Next(); err != nil || ch.Records != 0 || !ch.Last || ch.Offset != 20 {
		t.Fatalf("skipping everything: %+v, %v", ch, err)
	}
}

func TestChunkerNotGzip(t *testing.T) {
	c := NewChunker(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0}), "bad.json.gz", nil, 0, Limits{}, 0)
	ch, err := c.Next()
	if err != nil || !ch.Last || len(ch.Errs) != 1 || !strings.Contains(ch.Errs[0].Error(), "bad.json.gz: gzip") {
		t.Fatalf("broken gzip: %+v, %v", ch, err)
	}
	if _, err := c.Next(); err != io.EOF {
		t.Fatalf("after the last chunk: %v, want EOF", err)
	}
}

type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestChunkerReadErrorIsAnError(t *testing.T) {
	data := chunkLog(2000)
	c := NewChunker(&failAfter{r: bytes.NewReader(data), n: len(data) / 2}, "f.json.gz", nil, 0, Limits{Records: 100}, 0)
	for {
		_, err := c.Next()
		if err == io.EOF {
			t.Fatal("a broken read ended as a complete object")
		}
		if err != nil {
			if !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("error %v does not say why", err)
			}
			return
		}
	}
}

func TestProgress(t *testing.T) {
	for _, p := range []Progress{{Version: "12:34", Records: 2000}, {Version: "12:34", Done: true}, {Version: `"etag"`, Records: 0}} {
		if got := ParseProgress(p.String()); got != p {
			t.Errorf("ParseProgress(%q) = %+v, want %+v", p.String(), got, p)
		}
	}
	if got := ParseProgress(""); got != (Progress{}) {
		t.Errorf("empty checkpoint = %+v", got)
	}
}

func TestFeedWaitsForAck(t *testing.T) {
	ctx := context.Background()
	var commits []string
	f := NewFeed(NewChunker(bytes.NewReader(chunkLog(25)), "f.json.gz", nil, 0, Limits{Records: 10}, 0), FeedOptions{
		Origin: "f.json.gz",
		Commit: func(_ context.Context, n int, done bool) error {
			commits = append(commits, fmt.Sprint(n, done))
			return nil
		},
	})
	b, err := f.Next(ctx, nil)
	if err != nil || b.Records != 10 || b.Object != "f.json.gz" || b.Offset != 0 || b.Origin != "f.json.gz records 0-10" {
		t.Fatalf("first chunk %+v, %v", b, err)
	}
	// The next chunk waits for the first one's acknowledgement.
	closed := make(chan struct{})
	close(closed)
	if _, err := f.Next(ctx, closed); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next before the ack, source closed: %v, want ErrClosed", err)
	}
	if err := b.Ack(ctx, Result{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(ctx, Result{}); err == nil {
		t.Error("a second Ack was not reported")
	}
	for i := 0; i < 2; i++ {
		b, err = f.Next(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		b.Ack(ctx, Result{})
	}
	if _, err := f.Next(ctx, nil); err != io.EOF {
		t.Fatalf("after the last ack: %v, want EOF", err)
	}
	if got := strings.Join(commits, " "); got != "10 false 20 false 25 true" {
		t.Errorf("commits %q", got)
	}
}

func TestFeedAbandonsOnNack(t *testing.T) {
	ctx := context.Background()
	commits := 0
	f := NewFeed(NewChunker(bytes.NewReader(chunkLog(25)), "f.json.gz", nil, 0, Limits{Records: 10}, 0), FeedOptions{
		Origin: "f.json.gz",
		Commit: func(context.Context, int, bool) error { commits++; return nil },
	})
	b, _ := f.Next(ctx, nil)
	b.Ack(ctx, Result{Err: errors.New("store down")})
	if _, err := f.Next(ctx, nil); !errors.Is(err, ErrAbandoned) || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("after a nack: %v, want ErrAbandoned with the reason", err)
	}
	if commits != 0 {
		t.Errorf("a failed chunk moved the checkpoint")
	}
}

// Records ending on a chunk's limit: no empty batch, the object's end is
// recorded once the last chunk holding records is committed.
func TestFeedEndsOnTheLimit(t *testing.T) {
	ctx := context.Background()
	var commits []string
	f := NewFeed(NewChunker(bytes.NewReader(chunkLog(20)), "f.json.gz", nil, 0, Limits{Records: 10}, 0), FeedOptions{
		Origin: "f.json.gz",
		Commit: func(_ context.Context, n int, done bool) error {
			commits = append(commits, fmt.Sprint(n, done))
			return nil
		},
	})
	for i := 0; i < 2; i++ {
		b, err := f.Next(ctx, nil)
		if err != nil || b.Records != 10 {
			t.Fatalf("chunk %d: %+v, %v", i, b, err)
		}
		b.Ack(ctx, Result{})
	}
	if b, err := f.Next(ctx, nil); err != io.EOF {
		t.Fatalf("after the records: %+v, %v; want EOF, no empty batch", b, err)
	}
	if got := strings.Join(commits, " "); got != "10 false 20 false 20 true" {
		t.Errorf("commits %q", got)
	}
}
