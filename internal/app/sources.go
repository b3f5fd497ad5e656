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
	// CheckOnly validates the configuration without starting anything.
	CheckOnly bool
}

// sourceKind builds one source type (or, with env.CheckOnly, only checks
// its configuration). ctx lives as long as the source: sources that poll
// stop when it ends.
type sourceKind func(ctx context.Context, name string, s *config.Source, env SourceEnv) (source.Source, error)

// sourceOf adapts a source package (its Config with Check, and a
// constructor) to sourceKind.
func sourceOf[C any, PC interface {
	*C
	checker
}](build func(ctx context.Context, name string, c C, env SourceEnv) (source.Source, error)) sourceKind {
	return func(ctx context.Context, name string, s *config.Source, env SourceEnv) (source.Source, error) {
		var spec C
		decErr := s.DecodeStrict(&spec)
		if err := errors.Join(decErr, PC(&spec).Check(env.Getenv)); err != nil {
			return nil, err
		}
		if env.CheckOnly {
			return nil, nil
		}
		return build(ctx, name, spec, env)
	}
}

var sourceKinds = map[string]sourceKind{
	"webhook": sourceOf(func(_ context.Context, name string, c webhook.Config, env SourceEnv) (source.Source, error) {
		return webhook.New(name, c, webhook.Options{Wants: env.Wants, Logger: env.Logger.With("source", name)})
	}),
	"s3": sourceOf(func(ctx context.Context, name string, c s3source.Config, env SourceEnv) (source.Source, error) {
		return s3source.New(ctx, name, c, s3source.Options{Wants: env.Wants, Logger: env.Logger.With("source", name), Checkpoints: env.Checkpoints, Claim: env.Claim})
	}),
	"file": sourceOf(func(ctx context.Context, name string, c file.Config, env SourceEnv) (source.Source, error) {
		return file.New(ctx, name, c, file.Options{Wants: env.Wants, Logger: env.Logger.With("source", name), Checkpoints: env.Checkpoints})
	}),
	"sqs": sourceOf(func(ctx context.Context, name string, c sqs.Config, env SourceEnv) (source.Source, error) {
		return sqs.New(ctx, name, c, sqs.Options{Wants: env.Wants, Logger: env.Logger.With("source", name)})
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

// Sources builds every configured source (they start listening or
// polling when built). On error the ones already built are closed.
func Sources(ctx context.Context, cfg *config.Config, env SourceEnv) ([]source.Source, error) {
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
		src, err := k(ctx, s.Name, s, env)
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
