package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/store"
)

// Channel is what the channels page shows of one configured channel: its
// name, type and routing, in words. Secrets never reach it.
type Channel struct {
	Name, Type string
	// Routes says which findings it receives ("risk ≥ HIGH; rules EKS-*").
	Routes string
	// RefURL links a delivery's reference (incident number, ticket id) to
	// where the team works it: "{ref}" is replaced by the reference
	// (path-escaped), e.g. "https://acme.zendesk.com/agent/tickets/{ref}";
	// "" shows the reference as text.
	RefURL string
}

// refLink is the link to a delivery's incident or ticket, or "".
func (s *Server) refLink(channel, ref string) string {
	if ref == "" {
		return ""
	}
	for _, c := range s.opts.Channels {
		if c.Name == channel && c.RefURL != "" {
			if u, err := url.Parse(c.RefURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
				return ""
			}
			return strings.ReplaceAll(c.RefURL, "{ref}", url.PathEscape(ref))
		}
	}
	return ""
}

// statuses in the order the page shows them.
var statuses = []string{store.Pending, store.Sending, store.Done, store.Dead, store.Dropped}

type channelsPage struct {
	Channels []channelRow
	Statuses []string
	Recent   []deliveryRow
	Status   string
	Admin    bool // the retry and drop buttons are shown
}

type channelRow struct {
	Channel
	Depth       map[string]int
	LastSuccess time.Time
	Health      string // ok, failing, idle
}

type deliveryRow struct {
	store.Delivery
	Summary string
	// Link is the delivery's incident or ticket where the team works it;
	// Retry and Drop are the API's actions an admin may take on it ("" when
	// there is none to take, or the user may not).
	Link, Retry, Drop string
}

// deliveryRow is a delivery as the pages list it.
func (s *Server) deliveryRow(r *http.Request, d store.Delivery, admin bool) deliveryRow {
	row := deliveryRow{Delivery: d, Summary: d.Finding.Summary, Link: s.refLink(d.Channel, d.Ref)}
	if admin {
		act := s.base + s.opts.APIPath + "/outbox/" + strconv.FormatInt(d.ID, 10) + "/"
		if d.Status == store.Dead || d.Status == store.Dropped {
			row.Retry = act + "retry"
		}
		if d.Status == store.Dead || d.Status == store.Pending {
			row.Drop = act + "drop"
		}
	}
	return row
}

// mayAdmin says whether the signed-in user may work the outbox: an admin
// (everyone on a server that asks nobody to sign in), and only where the
// API takes the change.
func (s *Server) mayAdmin(r *http.Request) bool {
	if s.opts.APIPath == "" {
		return false
	}
	if s.opts.Who == nil {
		return true
	}
	_, role, ok := s.opts.Who(r)
	return ok && store.RoleAtLeast(role, store.RoleAdmin)
}

func (s *Server) channels(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "status" {
			s.fail(w, r, http.StatusBadRequest, "unknown parameter "+quote(k)+" (the channels page takes status)")
			return
		}
	}
	status := q.Get("status")
	if status == "" {
		status = store.Dead
	}
	if !slices.Contains(statuses, status) {
		s.fail(w, r, http.StatusBadRequest, "status "+quote(status)+" is not one of "+strings.Join(statuses, ", "))
		return
	}
	rows, err := s.channelRows(r.Context())
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	p := channelsPage{Statuses: statuses, Status: status, Channels: rows}
	recent, err := s.opts.Outbox.Deliveries(r.Context(), store.OutboxFilter{Status: []string{status}, Limit: 50})
	if err != nil {
		s.storeErr(w, r, err)
		return
	}
	admin := s.mayAdmin(r)
	for _, d := range recent {
		p.Recent = append(p.Recent, s.deliveryRow(r, d, admin))
	}
	p.Admin = admin
	s.render(w, r, http.StatusOK, "channels", p)
}

// channelRows is every configured channel, and every channel that still
// has deliveries, with its depth by status, last success and health.
func (s *Server) channelRows(ctx context.Context) ([]channelRow, error) {
	depth, err := s.opts.Outbox.Depth(ctx)
	if err != nil {
		return nil, err
	}
	var rows []channelRow
	known := map[string]bool{}
	for _, c := range s.opts.Channels {
		known[c.Name] = true
		rows = append(rows, channelRow{Channel: c, Depth: depth[c.Name]})
	}
	// Channels that are no longer configured but still have deliveries.
	var gone []string
	for name := range depth {
		if !known[name] {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		rows = append(rows, channelRow{Channel: Channel{Name: name, Type: "(no longer configured)"}, Depth: depth[name]})
	}
	for i := range rows {
		c := &rows[i]
		if c.Depth == nil {
			c.Depth = map[string]int{}
		}
		done, err := s.opts.Outbox.Deliveries(ctx, store.OutboxFilter{Channel: []string{c.Name}, Status: []string{store.Done}, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(done) > 0 {
			c.LastSuccess = done[0].UpdatedAt
		}
		switch {
		case c.Depth[store.Dead] > 0 && (c.LastSuccess.IsZero() || c.Depth[store.Pending] > 0):
			c.Health = "failing"
		case c.Depth[store.Dead] > 0:
			c.Health = "dead letters"
		case c.LastSuccess.IsZero() && c.Depth[store.Pending]+c.Depth[store.Sending] > 0:
			c.Health = "waiting"
		case c.LastSuccess.IsZero():
			c.Health = "idle"
		default:
			c.Health = "ok"
		}
	}
	return rows, nil
}
