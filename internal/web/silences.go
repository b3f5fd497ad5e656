package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

type silencesPage struct {
	Active, Pending, Expired []silenceRow
	// CanEdit shows the create form and the expire buttons (responders
	// and admins, where the API takes the change); API is its prefix.
	CanEdit bool
	API     string
	Risks   []finding.Risk
}

type silenceRow struct {
	store.Silence
	// Matchers in words, each "name: value".
	Matchers []string
	// Caught counts the findings it silenced, Feed links them.
	Caught int
	Feed   string
	Expire string
	// Ends says when it ends or ended, from now ("in 3 hours").
	Ends string
}

// silences lists the silences: active, not started yet, and ended (expired
// by themselves or early), each with how many findings it caught.
func (s *Server) silences(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, http.StatusBadRequest, "the silences page takes no parameters")
		return
	}
	sl := s.opts.Store.(store.Silences)
	list, err := sl.Silences(r.Context())
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	counts, err := sl.SilencedCounts(r.Context())
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	now := s.opts.Now()
	p := silencesPage{CanEdit: s.mayTriage(r), Risks: risks}
	if p.CanEdit {
		p.API = s.base + s.opts.APIPath
	}
	for _, x := range list {
		row := silenceRow{Silence: x, Matchers: matcherWords(x.Matchers), Caught: counts[x.ID]}
		if row.Caught > 0 {
			row.Feed = s.base + "/findings?" + url.Values{"silence": {x.ID}}.Encode()
		}
		row.Ends = untilWords(x.End, now)
		ended := !x.End.After(now)
		if p.CanEdit && !ended {
			row.Expire = p.API + "/silences/" + url.PathEscape(x.ID)
		}
		switch {
		case ended:
			p.Expired = append(p.Expired, row)
		case x.Start.After(now):
			p.Pending = append(p.Pending, row)
		default:
			p.Active = append(p.Active, row)
		}
	}
	s.render(w, r, http.StatusOK, "silences", p)
}

// matcherWords says a silence's matchers as "name: value" lines.
func matcherWords(m store.Matchers) []string {
	var out []string
	for _, x := range []struct{ k, v string }{{"rule", m.Rule}, {"account", m.Account}, {"region", m.Region}, {"actor", m.Actor},
		{"resource", m.Resource}, {"service", m.Service}} {
		if x.v != "" {
			out = append(out, x.k+": "+x.v)
		}
	}
	if m.MaxRisk != 0 {
		out = append(out, "risk at most: "+m.MaxRisk.String())
	}
	return out
}

// untilWords says how long until or since t, roughly.
func untilWords(t, now time.Time) string {
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = "less than a minute"
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	default:
		s = plural(int(d/(24*time.Hour)), "day")
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}
