package web

import (
	"context"
	"net/http"
	"slices"
	"sort"
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
}

// statuses in the order the page shows them.
var statuses = []string{store.Pending, store.Sending, store.Done, store.Dead, store.Dropped}

type channelsPage struct {
	Channels []channelRow
	Statuses []string
	Recent   []deliveryRow
	Status   string
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
	for _, d := range recent {
		p.Recent = append(p.Recent, deliveryRow{Delivery: d, Summary: d.Finding.Summary})
	}
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
