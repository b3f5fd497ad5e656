// Package dispatch routes findings to channels and delivers the outbox: the
// routing filters each channel has, and the Dispatcher that owns retries,
// backoff, Retry-After, rate limits, leases and the dead letter. Channels
// (notify/<type>) implement notify.Notifier and never see the store; the
// dispatcher sees the store only through the narrow Outbox interface. It
// imports notify, store, finding and glob.
package dispatch

import (
	"strings"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/glob"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Filter decides which findings a channel receives. Empty lists match
// everything; Rules and Actors take globs ('*'), Actors match the actor's
// ARN or its readable name.
type Filter struct {
	MinRisk  finding.Risk
	Rules    []string
	Services []string
	Accounts []string
	Regions  []string
	Outcomes []string
	Actors   []string
}

// Match reports whether a finding passes the filter.
func (f Filter) Match(fd finding.Finding) bool {
	if fd.Risk < f.MinRisk {
		return false
	}
	return anyGlob(f.Rules, fd.RuleID) && anyEqual(f.Services, fd.Service) && anyEqual(f.Accounts, fd.AccountID) &&
		anyEqual(f.Regions, fd.Region) && anyEqual(f.Outcomes, fd.Outcome) &&
		(anyGlob(f.Actors, fd.Actor.ARN) || (len(f.Actors) > 0 && anyGlob(f.Actors, fd.Actor.Name)))
}

func anyGlob(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if glob.Match(p, s) {
			return true
		}
	}
	return false
}

func anyEqual(vals []string, s string) bool {
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// RouteEntry is one channel's routing.
type RouteEntry struct {
	Channel string
	Filter  Filter
	// Repeats delivers repeats of a live alert as updates.
	Repeats bool
}

// Router sends each finding to every channel whose filter it passes.
type Router []RouteEntry

// Route implements store.Router.
func (r Router) Route(f finding.Finding) []store.Route {
	var out []store.Route
	for _, e := range r {
		if e.Filter.Match(f) {
			out = append(out, store.Route{Channel: e.Channel, Repeats: e.Repeats})
		}
	}
	return out
}
