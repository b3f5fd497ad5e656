package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// defaultStreamPoll is how often a stream looks for new findings and
	// status changes.
	defaultStreamPoll = time.Second
	// streamBatch bounds what one poll reads.
	streamBatch = 200
	// keepAlive is how often an idle stream sends a comment, so proxies
	// keep it open.
	keepAlive = 15 * time.Second
	// defaultMaxStreams bounds the streams open at once.
	defaultMaxStreams = 100
)

// position is a place in the feed: the last finding seq and change id
// sent. As an event id it is "SEQ.ID".
type position struct{ seq, change int64 }

func (p position) String() string {
	return strconv.FormatInt(p.seq, 10) + "." + strconv.FormatInt(p.change, 10)
}

func parsePosition(s string) (position, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ".")
	seq, err1 := strconv.ParseInt(a, 10, 64)
	ch, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || seq < 0 || ch < 0 {
		return position{}, false
	}
	return position{seq, ch}, true
}

// stream is GET /stream: Server-Sent Events of new findings (event
// "finding") and status changes (event "status"), each with an id. A
// client that reconnects with Last-Event-ID (the header EventSource sends,
// or the last_event_id parameter) gets every event after it; without one
// it starts at the current end.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, _ principal) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "streaming is not supported here"}
	}
	ctx := r.Context()
	last := r.Header.Get("Last-Event-ID")
	if q := r.URL.Query().Get("last_event_id"); q != "" {
		last = q
	}
	var pos position
	if last != "" {
		p, ok := parsePosition(last)
		if !ok {
			return badParam("last_event_id", "Last-Event-ID: %q is not an event id this server sent", clip(last))
		}
		pos = p
	} else {
		seq, ch, err := s.cfg.Store.FeedHead(ctx)
		if err != nil {
			return err
		}
		pos = position{seq, ch}
	}
	max := s.cfg.MaxStreams
	if max <= 0 {
		max = defaultMaxStreams
	}
	if n := s.streams.Add(1); n > int64(max) {
		s.streams.Add(-1)
		return &apiError{Status: http.StatusServiceUnavailable, Code: "too_many_streams", Message: fmt.Sprintf("%d streams are open, the most this server allows", max)}
	}
	defer s.streams.Add(-1)
	poll := s.cfg.StreamPoll
	if poll <= 0 {
		poll = defaultStreamPoll
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", poll.Milliseconds()*2)
	flusher.Flush()
	idle := time.Now()
	for {
		sent, err := s.streamOnce(w, r, &pos)
		if err != nil {
			s.cfg.Log.Warn("api: stream stopped", "err", err)
			return nil // the status line is sent: end the stream, the client reconnects
		}
		if sent > 0 {
			flusher.Flush()
			idle = time.Now()
		} else if time.Since(idle) >= keepAlive {
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
			idle = time.Now()
		}
		if sent == 2*streamBatch {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// streamOnce sends the findings and changes after pos, advancing it.
func (s *Server) streamOnce(w http.ResponseWriter, r *http.Request, pos *position) (int, error) {
	ctx := r.Context()
	fs, err := s.cfg.Store.FindingsAfter(ctx, pos.seq, streamBatch)
	if err != nil {
		return 0, err
	}
	for _, f := range fs {
		pos.seq = f.Seq
		if err := event(w, "finding", *pos, f.Triaged); err != nil {
			return 0, err
		}
	}
	cs, err := s.cfg.Store.ChangesAfter(ctx, pos.change, streamBatch)
	if err != nil {
		return 0, err
	}
	for _, c := range cs {
		pos.change = c.ID
		if err := event(w, "status", *pos, c); err != nil {
			return 0, err
		}
	}
	if len(fs) == streamBatch || len(cs) == streamBatch {
		return 2 * streamBatch, nil
	}
	return len(fs) + len(cs), nil
}

func event(w http.ResponseWriter, name string, pos position, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// JSON has no raw newlines, so the data is one line.
	_, err = fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", pos, name, b)
	return err
}
