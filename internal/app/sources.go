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
	"github.com/trailwatch/trailwatch/internal/source/webhook"
	"github.com/trailwatch/trailwatch/internal/store"
)

// SourceEnv is what every source is built with.
type SourceEnv struct {
	Getenv      func(string) string
	Logger      *slog.Logger
	Wants       source.Wants
	Checkpoints store.Checkpoints
}

type sourceKind func(name string, s *config.Source, env SourceEnv) (source.Source, error)

var sourceKinds = map[string]sourceKind{
	"webhook": func(name string, s *config.Source, env SourceEnv) (source.Source, error) {
		var dst struct {
			Name string         `yaml:"name"`
			Type string         `yaml:"type"`
			Spec webhook.Config `yaml:",inline"`
		}
		if err := s.DecodeStrict(&dst); err != nil {
			return nil, err
		}
		if err := dst.Spec.Check(env.Getenv); err != nil {
			return nil, err
		}
		return webhook.New(name, dst.Spec, webhook.Options{Wants: env.Wants, Logger: env.Logger.With("source", name)})
	},
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

// DefaultSources is what trailwatch run starts with when none is
// configured: a webhook on loopback that needs no authentication.
func DefaultSources() []config.Source {
	var s config.Source
	s.Name, s.Type = "local-webhook", "webhook"
	s.Node.Kind = 0
	return []config.Source{s}
}

// Sources builds every configured source (they start listening or
// polling when built). On error the ones already built are closed.
func Sources(cfg *config.Config, env SourceEnv) ([]source.Source, error) {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	list := cfg.Sources
	if len(list) == 0 {
		list = DefaultSources()
	}
	var out []source.Source
	var errs []error
	for i := range list {
		s := &list[i]
		p := fmt.Sprintf("sources[%d] (%s)", i, s.Name)
		k, ok := sourceKinds[s.Type]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.type: unknown source type %q (want one of %s)", p, s.Type, strings.Join(SourceTypes(), ", ")))
			continue
		}
		var src source.Source
		var err error
		if s.Node.Kind == 0 { // the built-in default
			c := webhook.Config{AllowNoAuth: true}
			if err = c.Check(env.Getenv); err == nil {
				src, err = webhook.New(s.Name, c, webhook.Options{Wants: env.Wants, Logger: env.Logger.With("source", s.Name)})
			}
		} else {
			src, err = k(s.Name, s, env)
		}
		if err != nil {
			errs = append(errs, prefix(p, err))
			continue
		}
		out = append(out, src)
	}
	if err := errors.Join(errs...); err != nil {
		for _, s := range out {
			s.Close(context.Background())
		}
		return nil, err
	}
	return out, nil
}
