package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/store"
)

type rulesPage struct {
	Rules     []ruleRow
	Enabled   int
	Truncated bool
	Max       int
}

type ruleRow struct {
	rule.Effective
	Week int
	TTL  string
	Feed string
}

// week counts findings per rule over the last 7 days (the newest MaxScan).
func (s *Server) week(r *http.Request) (map[string]int, bool, error) {
	n := map[string]int{}
	truncated, err := s.each(r, store.Filter{Since: s.opts.Now().Add(-7 * 24 * time.Hour)}, func(f finding.Finding, _ string) { n[f.RuleID]++ })
	return n, truncated, err
}

func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, http.StatusBadRequest, "the rules page takes no parameters")
		return
	}
	week, truncated, err := s.week(r)
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	p := rulesPage{Truncated: truncated, Max: s.opts.MaxScan}
	for _, x := range s.opts.Engine.Effective() {
		p.Rules = append(p.Rules, s.row(x, week))
		if x.Enabled {
			p.Enabled++
		}
	}
	sort.SliceStable(p.Rules, func(i, j int) bool { return p.Rules[i].Rule.ID < p.Rules[j].Rule.ID })
	s.render(w, r, http.StatusOK, "rules", p)
}

func (s *Server) row(x rule.Effective, week map[string]int) ruleRow {
	return ruleRow{Effective: x, Week: week[x.Rule.ID], TTL: rule.FormatDuration(rule.Duration(x.TTL)),
		Feed: s.base + "/findings?" + url.Values{"rule": {x.Rule.ID}, "since": {"7d"}}.Encode()}
}

type ruleDetailPage struct {
	ruleRow
	Description, Remediation string
	Settings                 []change
	Tests                    []string
}

func (s *Server) ruleDetail(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, http.StatusBadRequest, "a rule's page takes no parameters")
		return
	}
	id := r.PathValue("id")
	for _, x := range s.opts.Engine.Effective() {
		if x.Rule.ID != id {
			continue
		}
		week, _, err := s.week(r)
		if err != nil {
			s.storeErr(w, r, err)
			return
		}
		p := ruleDetailPage{ruleRow: s.row(x, week), Description: strings.TrimSpace(x.Rule.Description), Remediation: strings.TrimSpace(x.Rule.Remediation)}
		if len(x.Settings) > 0 {
			// Settings are plain values (lists, strings, numbers); show
			// each as JSON.
			for k, v := range x.Settings {
				b, _ := json.Marshal(v)
				p.Settings = append(p.Settings, change{k, string(b)})
			}
			sort.Slice(p.Settings, func(i, j int) bool { return p.Settings[i].Path < p.Settings[j].Path })
		}
		for _, t := range x.Rule.Tests {
			verdict := "no finding"
			if t.Expect.Match {
				verdict = "finding"
				if t.Expect.Risk != 0 {
					verdict += " at " + t.Expect.Risk.String()
				}
			}
			p.Tests = append(p.Tests, t.Name+": "+verdict)
		}
		s.render(w, r, http.StatusOK, "rule", p)
		return
	}
	s.fail(w, r, http.StatusNotFound, "no such rule")
}
