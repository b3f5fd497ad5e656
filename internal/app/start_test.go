package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/source"
)

// flaky is a source whose Start fails until told otherwise, and that
// hands out nothing.
type flaky struct {
	name      string
	fails     atomic.Int64 // Start calls left to fail
	permanent bool
	starts    atomic.Int64
	closed    chan struct{}
	once      sync.Once
}

func (f *flaky) Name() string { return f.name }
func (f *flaky) Start(context.Context) error {
	f.starts.Add(1)
	if f.fails.Add(-1) >= 0 {
		if f.permanent {
			return source.Permanent(errors.New("access denied to EXAMPLE-bucket"))
		}
		return errors.New("connection refused")
	}
	return nil
}
func (f *flaky) Read(ctx context.Context) (*source.Batch, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.closed:
		return nil, source.ErrClosed
	}
}
func (f *flaky) Close(context.Context) error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// withFlakyKind registers a source type "flaky" for the test.
func withFlakyKind(t *testing.T, f *flaky) {
	sourceKinds["flaky"] = func(name string, s *config.Source, env SourceEnv) (source.Source, error) {
		f.name = name
		return f, nil
	}
	t.Cleanup(func() { delete(sourceKinds, "flaky") })
}

func flakyConfig(t *testing.T) *config.Config {
	cfg, err := config.Parse(strings.NewReader(fmt.Sprintf(`
store: {path: %s}
admin: {listen: "off"}
sources:
  - {name: odd, type: flaky}
`, filepath.Join(t.TempDir(), "tw.db"))))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A source that cannot start for a reason worth retrying does not stop
// start-up: its reader starts it again.
func TestSourceStartIsRetried(t *testing.T) {
	f := &flaky{closed: make(chan struct{})}
	f.fails.Store(1)
	withFlakyKind(t, f)
	_, _, stop := startWith(t, flakyConfig(t), nil)
	defer stop()
	waitFor(t, "a second start", func() bool { return f.starts.Load() >= 2 })
}

// A permanent start error stops start-up, and every source is closed.
func TestPermanentStartErrorStopsStartup(t *testing.T) {
	f := &flaky{closed: make(chan struct{}), permanent: true}
	f.fails.Store(1)
	withFlakyKind(t, f)
	_, err := NewService(context.Background(), flakyConfig(t), RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("NewService: %v, want the permanent start error", err)
	}
	select {
	case <-f.closed:
	default:
		t.Error("the source was not closed after start-up failed")
	}
}

// config check builds sources without starting them.
func TestCheckDoesNotStartSources(t *testing.T) {
	f := &flaky{closed: make(chan struct{})}
	withFlakyKind(t, f)
	if err := Check(flakyConfig(t), CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.starts.Load() != 0 {
		t.Error("config check started a source")
	}
}
