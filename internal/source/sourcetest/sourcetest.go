// Package sourcetest is the behaviour every source.Source must show, as one
// conformance suite that each source's tests run with a Harness over its
// own loopback fakes (a temporary folder, gofakes3, sqsfake, HTTP clients):
// acknowledgement only after commit, a failed acknowledgement making the
// data come again, Close while Read blocks, and Ack exactly once.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/source"
)

// Harness gives the suite a source and its input.
type Harness struct {
	// Open builds and starts a fresh source over fresh, empty input.
	// The suite closes it.
	Open func(t *testing.T) *Input
}

// Input is one source under test and the means to feed it.
type Input struct {
	Source source.Source
	// Put makes one unit of input available (a file, an object, a
	// message, a request) holding one CloudTrail record with this event
	// id. It may return before the source can read it.
	Put func(t *testing.T, eventID string)
	// Settled reports whether the unit holding eventID is done with at
	// its origin: deleted, checkpointed, answered with 2xx. It must be
	// false while its batch is not acknowledged.
	Settled func(t *testing.T, eventID string) bool
	// Retried, when set, reports whether a unit acknowledged with an
	// error was handed back to its sender to retry (a webhook answering
	// 5xx) instead of coming again through Read.
	Retried func(t *testing.T, eventID string) bool
	// Wait bounds how long the source may take to hand out a unit after
	// Put, or again after a failure; default 10 s.
	Wait time.Duration
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("AckAfterCommit", func(t *testing.T) {
		in := open(t, h)
		in.Put(t, "ev-ack-1")
		b := readID(t, in, "ev-ack-1")
		// Nothing is settled at the origin before the commit.
		settleWindow()
		if in.Settled(t, "ev-ack-1") {
			t.Fatal("the input was settled (deleted, checkpointed, answered) before its batch was acknowledged")
		}
		if err := b.Ack(context.Background(), source.Result{Findings: 1, New: 1}); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		eventually(t, in.wait(), "the input settled after Ack", func() bool { return in.Settled(t, "ev-ack-1") })
	})
	t.Run("NackComesAgain", func(t *testing.T) {
		in := open(t, h)
		in.Put(t, "ev-nack-1")
		b := readID(t, in, "ev-nack-1")
		if err := b.Ack(context.Background(), source.Result{Err: errors.New("store unavailable")}); err != nil {
			t.Fatalf("Ack with an error: %v", err)
		}
		if in.Settled(t, "ev-nack-1") {
			t.Fatal("the input was settled after a failed acknowledgement")
		}
		if in.Retried != nil {
			eventually(t, in.wait(), "the sender told to retry", func() bool { return in.Retried(t, "ev-nack-1") })
			return
		}
		again := readID(t, in, "ev-nack-1")
		if err := again.Ack(context.Background(), source.Result{}); err != nil {
			t.Fatalf("Ack of the redelivery: %v", err)
		}
		eventually(t, in.wait(), "the redelivered input settled", func() bool { return in.Settled(t, "ev-nack-1") })
	})
	t.Run("CloseWhileReading", func(t *testing.T) {
		in := open(t, h)
		done := make(chan error, 1)
		go func() {
			_, err := in.Source.Read(context.Background())
			done <- err
		}()
		settleWindow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Source.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, source.ErrClosed) {
				t.Fatalf("Read blocked at Close returned %v, want source.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Read still blocked 10 s after Close")
		}
		if _, err := in.Source.Read(context.Background()); !errors.Is(err, source.ErrClosed) {
			t.Fatalf("Read after Close: %v, want source.ErrClosed", err)
		}
	})
	t.Run("AckExactlyOnce", func(t *testing.T) {
		in := open(t, h)
		in.Put(t, "ev-once-1")
		b := readID(t, in, "ev-once-1")
		if err := b.Ack(context.Background(), source.Result{}); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if err := b.Ack(context.Background(), source.Result{Err: errors.New("late failure")}); err == nil {
			t.Error("a second Ack was not reported")
		}
		eventually(t, in.wait(), "the input settled", func() bool { return in.Settled(t, "ev-once-1") })
		// The second Ack (an error) did not make the data come again.
		in.Put(t, "ev-once-2")
		if b := readID(t, in, "ev-once-2"); b != nil {
			b.Ack(context.Background(), source.Result{})
		}
	})
}

func open(t *testing.T, h Harness) *Input {
	t.Helper()
	in := h.Open(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		in.Source.Close(ctx)
	})
	return in
}

func (in *Input) wait() time.Duration {
	if in.Wait > 0 {
		return in.Wait
	}
	return 10 * time.Second
}

// readID reads until a batch holding eventID comes; batches of other ids
// fail the test (every subtest has fresh input), empty ones are
// acknowledged and passed over.
func readID(t *testing.T, in *Input, eventID string) *source.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), in.wait())
	defer cancel()
	for {
		b, err := in.Source.Read(ctx)
		if err != nil {
			t.Fatalf("Read, waiting for %s: %v", eventID, err)
		}
		ids := eventIDs(b)
		if len(ids) == 0 {
			b.Ack(ctx, source.Result{})
			continue
		}
		if len(ids) != 1 || ids[0] != eventID {
			t.Fatalf("read %v from %s, want only %s", ids, b.Origin, eventID)
		}
		return b
	}
}

func eventIDs(b *source.Batch) []string {
	var out []string
	for _, e := range b.Events {
		out = append(out, e.EventID)
	}
	return out
}

// settleWindow gives a source that would settle early the chance to show
// it; the assertions after it never depend on its length.
func settleWindow() { time.Sleep(50 * time.Millisecond) }

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("after %v: not %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Record is a CloudTrail record with the given event id, for Put.
func Record(eventID string) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},`+
		`"eventTime":"2026-11-01T01:00:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7",`+
		`"userAgent":"aws-cli/2.15.0","requestParameters":{"name":"prod"},"responseElements":null,"eventID":%q,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`, eventID)
}
