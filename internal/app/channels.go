package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
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
)

// buildEnv is what building one channel needs besides its entry.
type buildEnv struct {
	getenv         func(string) string
	opts           notify.Options
	stdout, stderr io.Writer
}

// channelKind is how one channel type is configured and built, with the
// delivery defaults that suit its service.
type channelKind struct {
	build func(ch *config.Channel, env buildEnv) (notify.Notifier, error)
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
		build: func(ch *config.Channel, env buildEnv) (notify.Notifier, error) {
			var spec C
			// Report unknown keys and the channel's own problems together.
			decErr := ch.DecodeStrict(&spec)
			if err := errors.Join(decErr, PC(&spec).Check(env.getenv)); err != nil {
				return nil, err
			}
			return newFn(spec, env.opts)
		},
	}
}

// consoleKind prints to the process's (or the command's) streams.
var consoleKind = channelKind{
	build: func(ch *config.Channel, env buildEnv) (notify.Notifier, error) {
		var c console.Config
		if err := errors.Join(ch.DecodeStrict(&c), c.Check(env.getenv)); err != nil {
			return nil, err
		}
		w := env.stdout
		if c.Stream == "stderr" {
			w = env.stderr
		}
		return console.NewWriter(w, c.Format == "line", env.opts), nil
	},
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
	"console":    consoleKind,
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
	// DefaultConsole uses config.DefaultChannels when none is configured.
	DefaultConsole bool
	// Stdout and Stderr are where console channels print; nil means the
	// process's.
	Stdout, Stderr io.Writer
}

// Channels builds every configured channel and the router that feeds them.
// Every problem is reported, each with the channel's path and name; a
// misconfigured channel stops start-up rather than being switched off.
// Each channel's templates are rendered against a sample alert, update and
// test message, so a template that would fail every delivery is a
// configuration error, not a dead letter.
func Channels(cfg *config.Config, o ChannelOptions) ([]dispatch.Channel, dispatch.Router, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	chans := cfg.Channels
	if len(chans) == 0 && o.DefaultConsole {
		chans = config.DefaultChannels()
	}
	var errs []error
	var out []dispatch.Channel
	var router dispatch.Router
	for i := range chans {
		ch := &chans[i]
		p := fmt.Sprintf("channels[%d] (%s)", i, ch.Name)
		k, ok := channelKinds[ch.Type]
		if !ok {
			if ch.Type != "" { // a missing type is the configuration's problem
				errs = append(errs, fmt.Errorf("%s.type: unknown channel type %q (want one of %s)%s", p, ch.Type,
					strings.Join(ChannelTypes(), ", "), config.DidYouMean(ch.Type, ChannelTypes())))
			}
			continue
		}
		var problems []error
		tpl, err := notify.ParseTemplates(ch.Template.Title, ch.Template.Body, ch.Template.Short)
		if err != nil {
			problems = append(problems, templateError(err))
		} else {
			problems = append(problems, renderSamples(tpl)...)
		}
		opts := notify.Options{HTTPClient: o.HTTPClient, Logger: o.Logger.With("channel", ch.Name), Templates: tpl}
		n, err := k.build(ch, buildEnv{getenv: o.Getenv, opts: opts, stdout: o.Stdout, stderr: o.Stderr})
		if err != nil {
			problems = append(problems, err)
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
		if dash == "" {
			dash = cfg.UI.ExternalFindingURL()
		}
		out = append(out, dispatch.Channel{
			Name: ch.Name, Notifier: n, Concurrency: ch.Concurrency, RatePerMinute: rate, Burst: ch.Burst,
			MaxAttempts: ch.MaxAttempts, MaxAge: ch.MaxAge.D(), AttemptTimeout: ch.AttemptTimeout.D(), DashboardURL: dash,
		})
		router = append(router, dispatch.RouteEntry{Channel: ch.Name, Filter: filterOf(ch.Common), Repeats: repeats})
	}
	return out, router, errors.Join(errs...)
}

// filterOf is the routing filter of a channel (validated by config).
func filterOf(c config.Common) dispatch.Filter {
	return dispatch.Filter{Rules: c.Rules, Services: c.Services, Accounts: c.Accounts, Regions: c.Regions,
		Outcomes: c.Outcomes, Actors: c.Actors, MinRisk: c.MinRisk}
}

var (
	tplParse = regexp.MustCompile(`^(title|body|short) template: template: \w+:(\d+):(?:\d+:)? (.*)$`)
	tplExec  = regexp.MustCompile(`render (title|body|short) template: template: \w+:(\d+):(\d+): executing "\w+" at <([^>]*)>: (.*)$`)
	goType   = regexp.MustCompile(` (?:in|for) type [\w.*\[\]]+`)
)

// templateError says which template is broken and where, in the words of
// the template language rather than of Go.
func templateError(err error) error {
	s := err.Error()
	if m := tplParse.FindStringSubmatch(s); m != nil {
		return fmt.Errorf("template.%s: line %s of the template: %s", m[1], m[2], goType.ReplaceAllString(m[3], ""))
	}
	if m := tplExec.FindStringSubmatch(s); m != nil {
		return fmt.Errorf("template.%s: {{%s}} (line %s, column %s of the template) fails on every message: %s", m[1], m[4], m[2], m[3], goType.ReplaceAllString(m[5], ""))
	}
	return fmt.Errorf("template: %s", goType.ReplaceAllString(s, ""))
}

// renderSamples renders a channel's templates for an alert, an update and
// a test message.
func renderSamples(tpl *notify.Templates) []error {
	f := TestFinding(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	var errs []error
	seen := map[string]bool{}
	for _, m := range []notify.Message{
		{Finding: f, Kind: notify.Trigger, Repeats: 1, IdempotencyKey: "check", DashboardURL: "https://trailwatch.example.com/findings/" + f.ID},
		{Finding: f, Kind: notify.Update, Repeats: 3, Ref: "EXAMPLE-REF", IdempotencyKey: "check"},
		{Finding: f, Kind: notify.Test, Repeats: 1, IdempotencyKey: "check"},
	} {
		if _, err := tpl.Render(m); err != nil {
			e := templateError(err)
			if !seen[e.Error()] {
				seen[e.Error()] = true
				errs = append(errs, e)
			}
		}
	}
	return errs
}

// TestFinding is the clearly marked finding that test messages
// (trailwatch notify test) carry, and that templates are checked against.
func TestFinding(now time.Time) finding.Finding {
	return finding.Finding{
		ID: "f-test", Fingerprint: "test", RuleID: "TRAILWATCH-TEST", RuleTitle: "trailwatch test message",
		Service: "eks", Risk: finding.Low, RiskReasons: []string{"this is a test: no change was made"},
		EventID: "test", EventTime: now.UTC(), EventSource: "eks.amazonaws.com", EventName: "UpdateClusterConfig",
		AccountID: "111122223333", Region: "us-east-1",
		Actor:        actor.Actor{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/trailwatch-test", Name: "trailwatch-test"},
		AccessMethod: "cli", UserAgent: "trailwatch notify test", SourceIP: "192.0.2.1", Outcome: "success",
		Resource: finding.Resource{Type: "cluster", Name: "example"},
		Summary:  "TEST: trailwatch can reach this channel. No AWS change happened.",
		Changes:  map[string]any{}, Remediation: "Nothing to do: this was a test.",
	}
}

// prefix puts a path in front of each joined error: problems keep their
// line and get the longer path.
func prefix(p string, err error) error {
	var out []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			out = append(out, prefix(p, e))
		}
		return errors.Join(out...)
	}
	if pr, ok := err.(*config.Problem); ok {
		q := *pr
		q.Path = p + "." + pr.Path
		if pr.Path == "" {
			q.Path = p
		}
		return &q
	}
	return fmt.Errorf("%s.%w", p, err)
}
