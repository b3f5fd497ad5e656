package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
	"github.com/trailwatch/trailwatch/internal/notify/console"
	"github.com/trailwatch/trailwatch/internal/notify/email"
	"github.com/trailwatch/trailwatch/internal/notify/pagerduty"
	"github.com/trailwatch/trailwatch/internal/notify/servicenow"
	"github.com/trailwatch/trailwatch/internal/notify/slack"
	"github.com/trailwatch/trailwatch/internal/notify/sms"
	"github.com/trailwatch/trailwatch/internal/notify/webhook"
	"github.com/trailwatch/trailwatch/internal/notify/zendesk"
	"github.com/trailwatch/trailwatch/internal/rule"
)

// channelKind is how one channel type is configured and built, with the
// delivery defaults that suit its service.
type channelKind struct {
	build func(ch *config.Channel, getenv func(string) string, o notify.Options) (notify.Notifier, error)
	// ratePerMinute is the default rate limit (0: unlimited); repeats
	// whether repeats of a live alert are sent as updates by default.
	ratePerMinute float64
	repeats       bool
}

type checker interface {
	Check(getenv func(string) string) error
}

// kindOf adapts a channel package (its Config and New) to channelKind.
func kindOf[C any, PC interface {
	*C
	checker
}, N notify.Notifier](newFn func(C, notify.Options) (N, error), rate float64, repeats bool) channelKind {
	return channelKind{
		ratePerMinute: rate,
		repeats:       repeats,
		build: func(ch *config.Channel, getenv func(string) string, o notify.Options) (notify.Notifier, error) {
			var dst struct {
				config.Common `yaml:",inline"`
				Spec          C `yaml:",inline"`
			}
			// Report unknown keys and the channel's own problems together.
			decErr := ch.DecodeStrict(&dst)
			if err := errors.Join(decErr, PC(&dst.Spec).Check(getenv)); err != nil {
				return nil, err
			}
			return newFn(dst.Spec, o)
		},
	}
}

// channelKinds are the channel types, by the name used in type:.
var channelKinds = map[string]channelKind{
	"slack":      kindOf(slack.New, 60, false),
	"email":      kindOf(email.New, 60, false),
	"sms":        kindOf(sms.New, 30, false),
	"pagerduty":  kindOf(pagerduty.New, 120, true),
	"servicenow": kindOf(servicenow.New, 300, true),
	"zendesk":    kindOf(zendesk.New, 200, true),
	"webhook":    kindOf(webhook.New, 0, true),
	"console":    kindOf(console.New, 0, false),
}

// ChannelTypes lists the channel types.
func ChannelTypes() []string {
	var out []string
	for k := range channelKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ChannelOptions are the shared parts every channel is built with.
type ChannelOptions struct {
	Getenv     func(string) string
	Logger     *slog.Logger
	HTTPClient *http.Client
	// DefaultConsole adds a console channel when none is configured.
	DefaultConsole bool
}

// Channels builds every configured channel and the router that feeds them.
// Every problem is reported, each with the channel's path and name; a
// misconfigured channel stops start-up rather than being switched off.
func Channels(cfg *config.Config, o ChannelOptions) ([]dispatch.Channel, dispatch.Router, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	chans := cfg.Channels
	if len(chans) == 0 && o.DefaultConsole {
		chans = []config.Channel{{Common: config.Common{Name: "console", Type: "console"}}}
		chans[0].Node.Kind = 0
	}
	var errs []error
	var out []dispatch.Channel
	var router dispatch.Router
	for i := range chans {
		ch := &chans[i]
		p := fmt.Sprintf("channels[%d] (%s)", i, ch.Name)
		k, ok := channelKinds[ch.Type]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.type: unknown channel type %q (want one of %s)", p, ch.Type, strings.Join(ChannelTypes(), ", ")))
			continue
		}
		var problems []error
		filter, err := filterOf(ch.Common)
		if err != nil {
			problems = append(problems, err)
		}
		maxAge := time.Duration(0)
		if ch.MaxAge != "" {
			if maxAge, err = rule.ParseDuration(ch.MaxAge); err != nil {
				problems = append(problems, fmt.Errorf("max_age: %w", err))
			}
		}
		tpl, err := notify.ParseTemplates(ch.Template.Title, ch.Template.Body, ch.Template.Short)
		if err != nil {
			problems = append(problems, fmt.Errorf("template: %w", err))
		}
		if ch.RatePerMinute != nil && *ch.RatePerMinute < 0 {
			problems = append(problems, errors.New("rate_per_minute: must not be negative"))
		}
		if ch.Concurrency < 0 || ch.Burst < 0 || ch.MaxAttempts < 0 {
			problems = append(problems, errors.New("concurrency, burst and max_attempts must not be negative"))
		}
		var n notify.Notifier
		if len(problems) == 0 {
			opts := notify.Options{HTTPClient: o.HTTPClient, Logger: o.Logger.With("channel", ch.Name), Templates: tpl}
			if ch.Node.Kind == 0 { // the default console
				n, err = console.New(console.Config{}, opts)
			} else {
				n, err = k.build(ch, o.Getenv, opts)
			}
			if err != nil {
				problems = append(problems, err)
			}
		}
		if len(problems) > 0 {
			errs = append(errs, prefix(p, errors.Join(problems...)))
			continue
		}
		rate := k.ratePerMinute
		if ch.RatePerMinute != nil {
			rate = *ch.RatePerMinute
		}
		repeats := k.repeats
		if ch.SendRepeats != nil {
			repeats = *ch.SendRepeats
		}
		dash := ch.DashboardURL
		if dash == "" {
			dash = cfg.DashboardURL
		}
		out = append(out, dispatch.Channel{
			Name: ch.Name, Notifier: n, Concurrency: ch.Concurrency, RatePerMinute: rate, Burst: ch.Burst,
			MaxAttempts: ch.MaxAttempts, MaxAge: maxAge, DashboardURL: dash,
		})
		router = append(router, dispatch.RouteEntry{Channel: ch.Name, Filter: filter, Repeats: repeats})
	}
	return out, router, errors.Join(errs...)
}

func filterOf(c config.Common) (dispatch.Filter, error) {
	f := dispatch.Filter{Rules: c.Rules, Services: c.Services, Accounts: c.Accounts, Regions: c.Regions, Outcomes: c.Outcomes, Actors: c.Actors}
	var errs []error
	if c.MinRisk != "" {
		r, err := finding.ParseRisk(c.MinRisk)
		if err != nil {
			errs = append(errs, fmt.Errorf("min_risk: %w", err))
		}
		f.MinRisk = r
	}
	for i, o := range c.Outcomes {
		if o != "success" && o != "denied" && o != "failed" {
			errs = append(errs, fmt.Errorf("outcomes[%d]: %q is not success, denied or failed", i, o))
		}
	}
	return f, errors.Join(errs...)
}

// prefix puts a path in front of each joined error's lines.
func prefix(p string, err error) error {
	var out []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			out = append(out, prefix(p, e))
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s.%w", p, err)
}
