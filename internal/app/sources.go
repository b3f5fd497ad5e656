package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/source"
	"github.com/trailwatch/trailwatch/internal/source/file"
	s3source "github.com/trailwatch/trailwatch/internal/source/s3"
	"github.com/trailwatch/trailwatch/internal/source/sqs"
	"github.com/trailwatch/trailwatch/internal/source/webhook"
	"github.com/trailwatch/trailwatch/internal/store"
)

// SourceEnv is what every source is built with.
type SourceEnv struct {
	Getenv      func(string) string
	Logger      *slog.Logger
	Wants       source.Wants
	Checkpoints store.Checkpoints
	// Claim, when set, says whether this instance may read an S3 source's
	// account and region now (it holds the lease named by its checkpoint
	// key), so instances sharing a store read each prefix once.
	Claim func(ctx context.Context, key string) bool
}

// sourceKind checks one source type's configuration and builds it (without
// I/O: the source's Start connects or listens).
type sourceKind func(name string, s *config.Source, env SourceEnv) (source.Source, error)

// sourceOf adapts a source package (its Config with Check, and a
// constructor) to sourceKind.
func sourceOf[C any, PC interface {
	*C
	checker
}](build func(name string, c C, env SourceEnv) (source.Source, error)) sourceKind {
	return func(name string, s *config.Source, env SourceEnv) (source.Source, error) {
		var spec C
		decErr := s.DecodeStrict(&spec)
		if err := errors.Join(decErr, PC(&spec).Check(env.Getenv)); err != nil {
			return nil, err
		}
		return build(name, spec, env)
	}
}

var sourceKinds = map[string]sourceKind{
	"webhook": sourceOf(func(name string, c webhook.Config, env SourceEnv) (source.Source, error) {
		return webhook.New(name, c, webhook.Options{Wants: env.Wants, Logger: env.Logger.With("source", name)})
	}),
	"s3": sourceOf(func(name string, c s3source.Config, env SourceEnv) (source.Source, error) {
		return s3source.New(name, c, s3source.Options{Wants: env.Wants, Logger: env.Logger.With("source", name), Checkpoints: env.Checkpoints, Claim: env.Claim})
	}),
	"file": sourceOf(func(name string, c file.Config, env SourceEnv) (source.Source, error) {
		return file.New(name, c, file.Options{Wants: env.Wants, Logger: env.Logger.With("source", name), Checkpoints: env.Checkpoints})
	}),
	"sqs": sourceOf(func(name string, c sqs.Config, env SourceEnv) (source.Source, error) {
		return sqs.New(name, c, sqs.Options{Wants: env.Wants, Logger: env.Logger.With("source", name)})
	}),
}

// SourceTypes lists the source types.
func SourceTypes() []string {
	var out []string
	for k := range sourceKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Sources checks and builds every configured source, without starting
// any (StartSources does). On error the ones already built are closed.
func Sources(cfg *config.Config, env SourceEnv) ([]source.Source, error) {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	list := cfg.Sources
	if len(list) == 0 {
		list = config.DefaultSources()
	}
	var out []source.Source
	var errs []error
	for i := range list {
		s := &list[i]
		p := fmt.Sprintf("sources[%d] (%s)", i, s.Name)
		k, ok := sourceKinds[s.Type]
		if !ok {
			if s.Type != "" { // a missing type is the configuration's problem
				errs = append(errs, fmt.Errorf("%s.type: unknown source type %q (want one of %s)%s", p, s.Type,
					strings.Join(SourceTypes(), ", "), config.DidYouMean(s.Type, SourceTypes())))
			}
			continue
		}
		src, err := k(s.Name, s, env)
		if err != nil {
			errs = append(errs, prefix(p, err))
			continue
		}
		if src != nil {
			out = append(out, src)
		}
	}
	if err := errors.Join(errs...); err != nil {
		for _, s := range out {
			s.Close(context.Background())
		}
		return nil, err
	}
	return out, nil
}

// StartSources starts every source. A permanent error (a missing bucket or
// queue, denied access, a port in use) stops start-up: every source is
// closed and the errors are returned together. A source whose start
// failed otherwise (the network, a store hiccup) is returned in retry: its
// reader starts it again with a backoff before reading.
func StartSources(ctx context.Context, srcs []source.Source, log *slog.Logger) (retry map[string]error, err error) {
	retry = map[string]error{}
	var errs []error
	for _, src := range srcs {
		serr := src.Start(ctx)
		switch {
		case serr == nil:
		case source.IsPermanent(serr) || ctx.Err() != nil:
			errs = append(errs, serr)
		default:
			log.Warn("source not started; retrying", "source", src.Name(), "err", serr)
			retry[src.Name()] = serr
		}
	}
	if err := errors.Join(errs...); err != nil {
		for _, s := range srcs {
			s.Close(context.Background())
		}
		return nil, err
	}
	return retry, nil
}
