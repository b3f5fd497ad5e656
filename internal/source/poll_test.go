package source

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPollerOnePass(t *testing.T) {
	ctx := context.Background()
	p := &Poller{}
	queue := []string{}
	passes := 0
	next := func(context.Context) (*Batch, error) {
		if len(queue) == 0 {
			return nil, nil
		}
		b := &Batch{Origin: queue[0]}
		queue = queue[1:]
		return b, nil
	}
	pass := func(context.Context) error {
		passes++
		queue = append(queue, "a", "b")
		return nil
	}
	var got []string
	for {
		b, err := p.Read(ctx, next, pass)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Origin)
	}
	if len(got) != 2 || passes != 1 {
		t.Errorf("one pass handed out %v in %d passes", got, passes)
	}
}

func TestPollerWaitsAndCloses(t *testing.T) {
	closed := make(chan struct{})
	ticks := make(chan time.Time)
	waiting := make(chan time.Duration, 1)
	p := &Poller{Interval: time.Minute, Closed: closed, After: func(d time.Duration) <-chan time.Time {
		waiting <- d
		return ticks
	}}
	passes := 0
	next := func(context.Context) (*Batch, error) { return nil, nil }
	pass := func(context.Context) error { passes++; return nil }
	done := make(chan error, 1)
	go func() { _, err := p.Read(context.Background(), next, pass); done <- err }()
	if d := <-waiting; d != time.Minute {
		t.Errorf("waited %v, want the interval", d)
	}
	ticks <- time.Now() // the second pass
	<-waiting
	close(closed)
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read when closed while waiting: %v, want ErrClosed", err)
	}
	if passes != 2 || p.Passes() != 2 {
		t.Errorf("%d passes, want 2", passes)
	}
}
