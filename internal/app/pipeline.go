package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/store"
)

// PipelineOptions say which parts of the pipeline a command needs and what
// they are built with.
type PipelineOptions struct {
	// Getenv resolves ${VAR} references; nil means os.Getenv.
	Getenv func(string) string
	// Logger receives the dispatcher's and the channels' lines; nil
	// discards them.
	Logger *slog.Logger
	// RuleDirs are extra rule folders.
	RuleDirs []string
	// NoRules leaves the catalogue and engine out (outbox deliver only
	// delivers).
	NoRules bool
	// Deliver builds the configured channels: saved findings are routed
	// to them, and the dispatcher delivers. Without it findings are saved
	// unrouted (scan without --notify) and nothing is delivered.
	Deliver bool
	// DefaultConsole, with Deliver, prints alerts on the console when no
	// channel is configured (trailwatch run).
	DefaultConsole bool
	// StoreMode is how the store is opened.
	StoreMode StoreMode
	// AttemptTimeout bounds one delivery attempt; 0 means the
	// dispatcher's default.
	AttemptTimeout time.Duration
	// Clock is the dispatcher's; nil means the wall clock.
	Clock dispatch.Clock
	// Stdout and Stderr are where console channels print; nil means the
	// process's.
	Stdout, Stderr io.Writer
}

// Pipeline is the one path every finding takes: engine → store and outbox
// (in one transaction) → dispatcher → channels. It is built once from the
// configuration; run, scan and outbox deliver share it.
type Pipeline struct {
	cfg      *config.Config
	cat      *rule.Catalogue
	engine   *rule.Engine
	store    Backend
	channels []dispatch.Channel
	router   dispatch.Router
	route    store.Router
	disp     *dispatch.Dispatcher
}

// NewPipeline builds the parts o asks for. Problems of the rules and of
// the channels are reported together (each at its YAML path); the store is
// opened only when they have none, and nothing is left open on error.
func NewPipeline(cfg *config.Config, o PipelineOptions) (*Pipeline, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{cfg: cfg}
	var errs []error
	if !o.NoRules {
		cat, eng, err := Engine(cfg, o.RuleDirs)
		if err != nil {
			errs = append(errs, err)
		}
		p.cat, p.engine = cat, eng
	}
	if o.Deliver {
		chans, router, err := Channels(cfg, ChannelOptions{Getenv: o.Getenv, Logger: o.Logger, DefaultConsole: o.DefaultConsole, Stdout: o.Stdout, Stderr: o.Stderr})
		if err != nil {
			errs = append(errs, err)
		}
		p.channels, p.router = chans, router
		if len(chans) > 0 {
			// With no channel, findings stay unrouted for a later
			// pipeline that has some, rather than marked routed to
			// nobody.
			p.route = router.Route
		}
	}
	if err := cfg.Merge(errs...); err != nil {
		return nil, err
	}
	st, err := OpenStoreMode(cfg, o.Getenv, o.StoreMode)
	if err != nil {
		return nil, err
	}
	p.store = st
	p.disp = dispatch.New(st, p.channels, dispatch.Options{Logger: o.Logger, AttemptTimeout: o.AttemptTimeout, Clock: o.Clock})
	return p, nil
}

// Engine is the rule engine (nil with NoRules).
func (p *Pipeline) Engine() *rule.Engine { return p.engine }

// Catalogue is the rules the engine was built from (nil with NoRules).
func (p *Pipeline) Catalogue() *rule.Catalogue { return p.cat }

// Store is the store the findings and the outbox live in.
func (p *Pipeline) Store() Backend { return p.store }

// Channels are the channels delivered to (none without Deliver).
func (p *Pipeline) Channels() []dispatch.Channel { return p.channels }

// Dispatcher delivers the outbox to the channels.
func (p *Pipeline) Dispatcher() *dispatch.Dispatcher { return p.disp }

// Router sends each finding to the channels whose filters it passes
// (none without Deliver).
func (p *Pipeline) Router() dispatch.Router { return p.router }

// Routes reports whether saved findings are routed to channels (Deliver,
// and at least one channel).
func (p *Pipeline) Routes() bool { return p.route != nil }

// Save commits findings and the deliveries they owe in one transaction
// (findings stored unrouted before are routed now), then wakes the
// dispatcher for the channels that are owed something.
func (p *Pipeline) Save(ctx context.Context, fs []finding.Finding) (store.SaveResult, error) {
	res, err := p.store.SaveRouted(ctx, fs, p.route)
	if err != nil {
		return res, err
	}
	if len(res.Owed) > 0 {
		p.disp.Kick(owedChannels(res)...)
	}
	return res, nil
}

// routeBatch is how many unrouted findings are routed per transaction.
const routeBatch = 256

// RouteUnrouted routes the findings stored without routing (by a scan that
// did not notify) whose event is at or after since, and reports how many
// it routed.
func (p *Pipeline) RouteUnrouted(ctx context.Context, since time.Time) (int, error) {
	if p.route == nil {
		return 0, errors.New("route unrouted findings: no channels to route to")
	}
	n := 0
	for {
		fs, err := p.store.Unrouted(ctx, since, routeBatch)
		if err != nil || len(fs) == 0 {
			return n, err
		}
		res, err := p.Save(ctx, fs)
		if err != nil {
			return n, err
		}
		n += res.Routed
		if res.Routed == 0 {
			// Nothing changed: another process routes them; do not spin.
			return n, nil
		}
	}
}

// Delivered counts a Drain's outcome.
type Delivered struct {
	Sent, Dead int64
	// Left is how many deliveries are still pending or in flight.
	Left int
}

// Failed reports deliveries that ended dead or are still pending.
func (d Delivered) Failed() bool { return d.Dead > 0 || d.Left > 0 }

// Drain delivers until nothing is pending or timeout (or ctx) ends, and
// counts what was delivered, what went dead and what is left. An error
// after ctx ended is not reported: what is left is counted.
func (p *Pipeline) Drain(ctx context.Context, timeout time.Duration) (Delivered, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	left, err := p.disp.Drain(dctx)
	cancel()
	var d Delivered
	d.Left = left
	for _, s := range p.disp.Stats() {
		d.Sent += s.Sent
		d.Dead += s.Dead
	}
	if err != nil && ctx.Err() == nil {
		return d, err
	}
	return d, nil
}

// Close closes the store.
func (p *Pipeline) Close() error { return p.store.Close() }

// owedChannels names the channels a save added deliveries for.
func owedChannels(res store.SaveResult) []string {
	out := make([]string, 0, len(res.Owed))
	for ch := range res.Owed {
		out = append(out, ch)
	}
	return out
}
