package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Clock is a settable clock for the stores under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// RunTriage is the behaviour of statuses, their history, pages, silences
// and API tokens. open returns a fresh, empty store reading the clock now.
func RunTriage(t *testing.T, open func(t *testing.T, now func() time.Time) store.Full) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	pd := store.Route{Channel: "pd", Repeats: true}
	route := func(finding.Finding) []store.Route { return []store.Route{pd} }
	kinds := func(t *testing.T, s store.Full) map[string]string {
		t.Helper()
		ds, err := s.Deliveries(ctx, store.OutboxFilter{})
		noErr(t, err)
		out := map[string]string{}
		for _, d := range ds {
			out[d.FindingID] = d.Kind
		}
		return out
	}

	t.Run("StatusAndHistory", func(t *testing.T) {
		clock := NewClock(t0)
		s := open(t, clock.Now)
		a, b := Sample(1, "EKS-A", finding.High), Sample(2, "EKS-B", finding.Low)
		if _, err := s.Save(ctx, []finding.Finding{a, b}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Triaged(ctx, a.ID)
		noErr(t, err)
		if got.Status != store.StatusOpen || string(got.Raw) == "" {
			t.Fatalf("new finding: status %q, raw %q; want open with its raw event", got.Status, got.Raw)
		}
		ch, err := s.Transition(ctx, []string{a.ID}, store.StatusAcknowledged, "alice@example.com", "looking", t0.Add(time.Minute), nil)
		noErr(t, err)
		if len(ch) != 1 || ch[0].From != "open" || ch[0].To != "acknowledged" || ch[0].Actor != "alice@example.com" || ch[0].Note != "looking" {
			t.Fatalf("acknowledge = %+v", ch)
		}
		// The same status again changes nothing.
		ch, err = s.Transition(ctx, []string{a.ID}, store.StatusAcknowledged, "bob", "", t0.Add(2*time.Minute), nil)
		if err != nil || len(ch) != 0 {
			t.Errorf("acknowledging twice = %+v, %v; want no change", ch, err)
		}
		if _, err := s.Transition(ctx, []string{a.ID}, store.StatusResolved, "bob", "fixed", t0.Add(3*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		h, err := s.History(ctx, a.ID)
		noErr(t, err)
		if len(h) != 2 || h[0].To != "acknowledged" || h[1].From != "acknowledged" || h[1].To != "resolved" || h[1].Actor != "bob" ||
			!h[1].At.Equal(t0.Add(3*time.Minute)) {
			t.Errorf("history = %+v", h)
		}
		got, err = s.Triaged(ctx, a.ID)
		noErr(t, err)
		if got.Status != store.StatusResolved || !got.StatusAt.Equal(t0.Add(3*time.Minute)) {
			t.Errorf("after resolve: %q at %v", got.Status, got.StatusAt)
		}
		// One unknown id: nothing changes, not even the known one.
		_, err = s.Transition(ctx, []string{b.ID, "f-nope"}, store.StatusResolved, "bob", "", t0.Add(4*time.Minute), nil)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown id: %v, want ErrNotFound", err)
		}
		if got, _ := s.Triaged(ctx, b.ID); got.Status != store.StatusOpen {
			t.Errorf("a failed bulk change changed %s to %q", b.ID, got.Status)
		}
		if _, err := s.Transition(ctx, []string{b.ID}, store.StatusSilenced, "bob", "", t0, nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("setting silenced by hand: %v, want ErrInvalid", err)
		}
		if h, _ := s.History(ctx, b.ID); len(h) != 0 {
			t.Errorf("refused changes left history: %+v", h)
		}
	})

	t.Run("PagesAndSearch", func(t *testing.T) {
		s := open(t, NewClock(t0).Now)
		var fs []finding.Finding
		for i := 1; i <= 25; i++ {
			f := Sample(i, fmt.Sprintf("EKS-%d", i%3), finding.Risk(1+i%5))
			if i == 7 {
				f.Summary = "alice deleted the PROD_cluster"
			}
			if i == 8 {
				f.Summary = `mallory <EXAMPLE> & "co"` // escaped in the stored JSON
			}
			fs = append(fs, f)
		}
		// Two findings at the same instant: the id breaks the tie.
		fs[1].EventTime = fs[0].EventTime
		if _, err := s.Save(ctx, fs); err != nil {
			t.Fatal(err)
		}
		for _, oldest := range []bool{false, true} {
			var seen []string
			q := store.Query{Filter: store.Filter{Limit: 4}, Oldest: oldest}
			for pages := 0; pages < 20; pages++ {
				page, err := s.Page(ctx, q)
				noErr(t, err)
				for _, p := range page {
					seen = append(seen, p.ID)
				}
				if len(page) < 4 {
					break
				}
				last := page[len(page)-1]
				q.After = &store.Cursor{EventTime: last.EventTime, ID: last.ID}
			}
			var want []string
			all := slices.Clone(fs)
			slices.SortFunc(all, func(a, b finding.Finding) int {
				if c := a.EventTime.Compare(b.EventTime); c != 0 {
					return c
				}
				if a.ID < b.ID {
					return -1
				}
				return 1
			})
			if !oldest {
				slices.Reverse(all)
			}
			for _, f := range all {
				want = append(want, f.ID)
			}
			if !slices.Equal(seen, want) {
				t.Errorf("oldest=%v: pages gave %d findings %v, want %d %v", oldest, len(seen), seen, len(want), want)
			}
		}
		page, err := s.Page(ctx, store.Query{Text: "prod_CLUSTER", Filter: store.Filter{Limit: 10}})
		noErr(t, err)
		if len(page) != 1 || page[0].ID != fs[6].ID {
			t.Errorf("text search found %d findings", len(page))
		}
		if page, _ := s.Page(ctx, store.Query{Text: `<example> & "CO"`, Filter: store.Filter{Limit: 10}}); len(page) != 1 || page[0].ID != fs[7].ID {
			t.Errorf("text with characters JSON escapes found %d findings", len(page))
		}
		// LIKE's wildcards are plain text.
		if page, _ := s.Page(ctx, store.Query{Text: "%", Filter: store.Filter{Limit: 10}}); len(page) != 0 {
			t.Errorf("'%%' matched %d findings", len(page))
		}
		if _, err := s.Transition(ctx, []string{fs[2].ID, fs[3].ID}, store.StatusAcknowledged, "alice", "", t0, nil); err != nil {
			t.Fatal(err)
		}
		page, err = s.Page(ctx, store.Query{Statuses: []string{"acknowledged"}, Filter: store.Filter{Limit: 10, MinRisk: finding.High}})
		noErr(t, err)
		var ids []string
		for _, p := range page {
			ids = append(ids, p.ID)
			if p.Status != store.StatusAcknowledged {
				t.Errorf("status filter let %s through", p.Status)
			}
		}
		if len(ids) != 2 {
			t.Errorf("acknowledged at HIGH or above: %v", ids)
		}
		if _, err := s.Page(ctx, store.Query{Statuses: []string{"closed"}}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("unknown status: %v", err)
		}
		n := 0
		noErr(t, s.Each(ctx, store.Query{}, func(store.Triaged) error { n++; return nil }))
		if n != 25 {
			t.Errorf("Each gave %d findings, want 25", n)
		}
		// fn may use the store (an export reading history as it goes),
		// and Limit bounds Each too.
		n = 0
		noErr(t, s.Each(ctx, store.Query{Filter: store.Filter{Limit: 7}}, func(x store.Triaged) error {
			n++
			_, err := s.History(ctx, x.ID)
			return err
		}))
		if n != 7 {
			t.Errorf("Each with a limit of 7 gave %d", n)
		}
		stop := errors.New("stop")
		if err := s.Each(ctx, store.Query{}, func(store.Triaged) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("Each returned %v, want fn's error", err)
		}
	})

	t.Run("ResolvedFingerprintAlertsAgain", func(t *testing.T) {
		s := open(t, NewClock(t0).Now)
		a := Sample(1, "EKS-A", finding.High)
		a.EventTime = t0
		b := Sample(2, "EKS-A", finding.High)
		b.EventTime = t0.Add(time.Minute)
		c := Sample(3, "EKS-A", finding.High)
		c.EventTime = t0.Add(3 * time.Minute)
		d := Sample(4, "EKS-A", finding.High)
		d.EventTime = t0.Add(4 * time.Minute)
		if _, err := s.SaveRouted(ctx, []finding.Finding{a, b}, route); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, []string{a.ID}, store.StatusResolved, "alice", "", t0.Add(2*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveRouted(ctx, []finding.Finding{c}, route); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveRouted(ctx, []finding.Finding{d}, route); err != nil {
			t.Fatal(err)
		}
		k := kinds(t, s)
		want := map[string]string{a.ID: "trigger", b.ID: "update", c.ID: "trigger", d.ID: "update"}
		for id, kind := range want {
			if k[id] != kind {
				t.Errorf("%s: %q, want %q (all: %v)", id, k[id], kind, k)
			}
		}
		got, err := s.Triaged(ctx, c.ID)
		noErr(t, err)
		if got.Status != store.StatusOpen {
			t.Errorf("the repeat after resolution is %q, want open", got.Status)
		}
		other := Sample(9, "EKS-OTHER", finding.High)
		noErr(t, func() error { _, err := s.Save(ctx, []finding.Finding{other}); return err }())
		reps, err := s.Page(ctx, store.Query{Fingerprint: a.Fingerprint})
		noErr(t, err)
		if len(reps) != 4 {
			t.Errorf("findings of the fingerprint: %d, want 4", len(reps))
		}
		ds, err := s.Deliveries(ctx, store.OutboxFilter{Findings: []string{c.ID}})
		noErr(t, err)
		if len(ds) != 1 || ds[0].FindingID != c.ID {
			t.Errorf("deliveries of one finding: %+v", ds)
		}
	})

	t.Run("LifecycleDeliveries", func(t *testing.T) {
		s := open(t, NewClock(t0).Now)
		sms := store.Route{Channel: "sms"}
		both := func(finding.Finding) []store.Route { return []store.Route{pd, sms} }
		a := Sample(1, "EKS-A", finding.High)
		if _, err := s.SaveRouted(ctx, []finding.Finding{a}, both); err != nil {
			t.Fatal(err)
		}
		ds, err := s.Claim(ctx, "pd", t0, 10, time.Minute)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim trigger: %+v %v", ds, err)
		}
		noErr(t, s.Settle(ctx, []store.Outcome{{ID: ds[0].ID, Status: store.Done, Ref: "PD-REF-EXAMPLE", At: t0}}))
		notify := []string{"pd", "webhook-without-alert"}
		if _, err := s.Transition(ctx, []string{a.ID}, store.StatusAcknowledged, "alice", "on it", t0.Add(time.Minute), notify); err != nil {
			t.Fatal(err)
		}
		ds, err = s.Claim(ctx, "pd", t0.Add(time.Minute), 10, time.Minute)
		noErr(t, err)
		if len(ds) != 1 || ds[0].Kind != store.KindAcknowledge || ds[0].Ref != "PD-REF-EXAMPLE" || ds[0].Transition == nil ||
			ds[0].Transition.Actor != "alice" || ds[0].Transition.Note != "on it" || ds[0].Transition.To != store.StatusAcknowledged || ds[0].Finding.ID != a.ID {
			t.Fatalf("acknowledge delivery: %+v", ds)
		}
		noErr(t, s.Settle(ctx, []store.Outcome{{ID: ds[0].ID, Status: store.Done, At: t0}}))
		if other, _ := s.Claim(ctx, "sms", t0.Add(time.Hour), 10, time.Minute); len(other) != 1 || other[0].Kind != store.KindTrigger {
			t.Errorf("a channel not named got %+v", other)
		}
		// Resolve, reopen, resolve again: one resolve delivery.
		for _, to := range []string{store.StatusResolved, store.StatusOpen, store.StatusResolved} {
			if _, err := s.Transition(ctx, []string{a.ID}, to, "bob", "", t0.Add(2*time.Minute), notify); err != nil {
				t.Fatal(err)
			}
		}
		resolves, err := s.Deliveries(ctx, store.OutboxFilter{Findings: []string{a.ID}, Channel: []string{"pd"}})
		noErr(t, err)
		n := 0
		for _, d := range resolves {
			if d.Kind == store.KindResolve {
				n++
			}
		}
		if n != 1 || len(resolves) != 3 {
			t.Errorf("after resolve, reopen, resolve: %d resolve deliveries of %d", n, len(resolves))
		}
		// A resolve waits for its alert's undelivered trigger.
		b := Sample(2, "EKS-B", finding.High)
		if _, err := s.SaveRouted(ctx, []finding.Finding{b}, both); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, []string{b.ID}, store.StatusResolved, "bob", "", t0.Add(3*time.Minute), notify); err != nil {
			t.Fatal(err)
		}
		ds, err = s.Claim(ctx, "pd", t0.Add(time.Hour), 10, time.Minute)
		noErr(t, err)
		var kinds []string
		for _, d := range ds {
			if d.FindingID == b.ID {
				kinds = append(kinds, d.Kind)
			}
		}
		if !slices.Equal(kinds, []string{store.KindTrigger}) {
			t.Errorf("claimed for b before its trigger was delivered: %v", kinds)
		}
	})

	t.Run("Feed", func(t *testing.T) {
		clock := NewClock(t0)
		s := open(t, clock.Now)
		seq, ch, err := s.FeedHead(ctx)
		if err != nil || seq != 0 || ch != 0 {
			t.Fatalf("empty head = %d %d %v", seq, ch, err)
		}
		a, b, c := Sample(1, "EKS-A", finding.High), Sample(2, "EKS-B", finding.High), Sample(3, "EKS-C", finding.High)
		noErr(t, func() error { _, err := s.Save(ctx, []finding.Finding{b, a}); return err }())
		noErr(t, func() error { _, err := s.Save(ctx, []finding.Finding{a, c}); return err }()) // a again: no new entry
		if _, err := s.Transition(ctx, []string{c.ID}, store.StatusResolved, "alice", "", clock.Now(), nil); err != nil {
			t.Fatal(err)
		}
		clock.Add(5 * time.Second) // past any lag a store keeps
		fs, err := s.FindingsAfter(ctx, 0, 10)
		noErr(t, err)
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		if !slices.Equal(ids, []string{b.ID, a.ID, c.ID}) || fs[2].Status != store.StatusResolved {
			t.Fatalf("feed findings = %v", ids)
		}
		if more, _ := s.FindingsAfter(ctx, fs[1].Seq, 10); len(more) != 1 || more[0].ID != c.ID {
			t.Errorf("after the second: %+v", more)
		}
		if two, _ := s.FindingsAfter(ctx, 0, 2); len(two) != 2 {
			t.Errorf("limit 2 gave %d", len(two))
		}
		chs, err := s.ChangesAfter(ctx, 0, 10)
		noErr(t, err)
		if len(chs) != 1 || chs[0].FindingID != c.ID || chs[0].To != store.StatusResolved {
			t.Errorf("feed changes = %+v", chs)
		}
		if none, _ := s.ChangesAfter(ctx, chs[0].ID, 10); len(none) != 0 {
			t.Errorf("after the last change: %+v", none)
		}
		seq, ch, err = s.FeedHead(ctx)
		if err != nil || seq != fs[2].Seq || ch != chs[0].ID {
			t.Errorf("head = %d %d %v", seq, ch, err)
		}
	})

	t.Run("Retention", func(t *testing.T) {
		s := open(t, NewClock(t0).Now)
		var fs []finding.Finding
		for i := 1; i <= 7; i++ {
			f := Sample(i, "EKS-A", finding.High)
			f.EventTime = t0.Add(time.Duration(i) * time.Hour)
			fs = append(fs, f)
		}
		if _, err := s.SaveRouted(ctx, fs, route); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, []string{fs[0].ID, fs[6].ID}, store.StatusResolved, "x", "", t0, nil); err != nil {
			t.Fatal(err)
		}
		cut := t0.Add(5*time.Hour + time.Minute) // findings 1 to 5 are older
		total := 0
		for {
			n, err := s.Prune(ctx, cut, 2)
			noErr(t, err)
			total += n
			if n < 2 {
				break
			}
		}
		if total != 5 {
			t.Errorf("pruned %d, want 5", total)
		}
		left, err := s.Page(ctx, store.Query{Oldest: true})
		noErr(t, err)
		if len(left) != 2 || left[0].ID != fs[5].ID || left[1].ID != fs[6].ID {
			t.Errorf("left: %d findings", len(left))
		}
		if h, _ := s.History(ctx, fs[0].ID); len(h) != 0 {
			t.Errorf("a pruned finding's history is left: %+v", h)
		}
		if h, _ := s.History(ctx, fs[6].ID); len(h) != 1 {
			t.Errorf("a kept finding's history: %+v", h)
		}
		if ds, _ := s.Deliveries(ctx, store.OutboxFilter{}); len(ds) != 2 {
			t.Errorf("deliveries left: %d, want 2", len(ds))
		}
	})

	t.Run("Audit", func(t *testing.T) {
		s := open(t, NewClock(t0).Now)
		for i := 1; i <= 5; i++ {
			noErr(t, s.Audit(ctx, store.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Actor: "alice", Client: "192.0.2.1",
				Action: "finding.resolve", Target: fmt.Sprintf("f-%d", i), Detail: "note"}))
		}
		page, err := s.AuditLog(ctx, 0, 3)
		noErr(t, err)
		if len(page) != 3 || page[0].Target != "f-5" || !page[0].At.Equal(t0.Add(5*time.Second)) || page[0].Client != "192.0.2.1" {
			t.Fatalf("newest audit page: %+v", page)
		}
		rest, err := s.AuditLog(ctx, page[2].ID, 10)
		noErr(t, err)
		if len(rest) != 2 || rest[1].Target != "f-1" {
			t.Errorf("older audit page: %+v", rest)
		}
	})

	t.Run("Silences", func(t *testing.T) {
		clock := NewClock(t0)
		s := open(t, clock.Now)
		if _, err := s.AddSilence(ctx, store.Silence{Start: t0, End: t0.Add(time.Hour), Creator: "alice", Comment: "x"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("silence without matchers: %v", err)
		}
		if _, err := s.AddSilence(ctx, store.Silence{Matchers: store.Matchers{Rule: "EKS-*"}, Start: t0, End: t0, Creator: "alice", Comment: "x"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("silence ending at its start: %v", err)
		}
		sl, err := s.AddSilence(ctx, store.Silence{Matchers: store.Matchers{Rule: "EKS-*", Actor: "*alice", MaxRisk: finding.High},
			Start: t0, End: t0.Add(time.Hour), Creator: "alice", Comment: "maintenance EXAMPLE"})
		noErr(t, err)
		if sl.ID == "" || !sl.Created.Equal(t0) {
			t.Errorf("added silence: %+v", sl)
		}
		quiet := Sample(1, "EKS-A", finding.High)
		loud := Sample(2, "EKS-B", finding.Extreme) // above max risk
		other := Sample(3, "IAM-A", finding.Low)
		res, err := s.SaveRouted(ctx, []finding.Finding{quiet, loud, other}, route)
		noErr(t, err)
		if res.Inserted != 3 || res.Owed["pd"] != 2 {
			t.Errorf("save with a silence = %+v; want 3 inserted, 2 owed", res)
		}
		k := kinds(t, s)
		if _, ok := k[quiet.ID]; ok {
			t.Error("the silenced finding owes a delivery")
		}
		got, err := s.Triaged(ctx, quiet.ID)
		noErr(t, err)
		if got.Status != store.StatusSilenced || got.SilencedBy != sl.ID {
			t.Errorf("silenced finding: %q by %q", got.Status, got.SilencedBy)
		}
		if h, _ := s.History(ctx, quiet.ID); len(h) != 1 || h[0].To != store.StatusSilenced {
			t.Errorf("silenced finding's history: %+v", h)
		}
		// It expires by itself.
		clock.Add(time.Hour)
		late := Sample(4, "EKS-C", finding.Low)
		res, err = s.SaveRouted(ctx, []finding.Finding{late}, route)
		noErr(t, err)
		if res.Owed["pd"] != 1 {
			t.Errorf("after the silence ended: %+v", res)
		}
		// And can be expired early.
		clock.Add(time.Minute)
		sl2, err := s.AddSilence(ctx, store.Silence{Matchers: store.Matchers{Account: "111122223333"}, Start: clock.Now(), End: clock.Now().Add(24 * time.Hour),
			Creator: "bob", Comment: "noisy"})
		noErr(t, err)
		if r, _ := s.SaveRouted(ctx, []finding.Finding{Sample(5, "EKS-D", finding.Low)}, route); r.Owed["pd"] != 0 {
			t.Errorf("second silence did not silence: %+v", r)
		}
		clock.Add(time.Minute)
		exp, err := s.ExpireSilence(ctx, sl2.ID, clock.Now())
		noErr(t, err)
		if !exp.End.Equal(clock.Now()) || !exp.Expired.Equal(clock.Now()) {
			t.Errorf("expired silence: %+v", exp)
		}
		if r, _ := s.SaveRouted(ctx, []finding.Finding{Sample(6, "EKS-E", finding.Low)}, route); r.Owed["pd"] != 1 {
			t.Errorf("expired silence still silences: %+v", r)
		}
		if _, err := s.ExpireSilence(ctx, "s-nope", clock.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expire unknown: %v", err)
		}
		counts, err := s.SilencedCounts(ctx)
		noErr(t, err)
		if len(counts) != 2 || counts[sl.ID] != 1 || counts[sl2.ID] != 1 {
			t.Errorf("silenced counts = %v; want 1 each for %s and %s", counts, sl.ID, sl2.ID)
		}
		caught, err := s.Page(ctx, store.Query{SilencedBy: sl.ID})
		noErr(t, err)
		if len(caught) != 1 || caught[0].ID != quiet.ID {
			t.Errorf("findings silenced by %s: %d", sl.ID, len(caught))
		}
		list, err := s.Silences(ctx)
		noErr(t, err)
		if len(list) != 2 || list[0].ID != sl2.ID || list[1].Matchers.Actor != "*alice" || list[1].Matchers.MaxRisk != finding.High {
			t.Errorf("silences = %+v", list)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		s := open(t, NewClock(t0).Now)
		tok := store.Token{ID: "t-1", Name: "ci EXAMPLE", Role: store.RoleResponder, Created: t0, Expires: t0.Add(time.Hour), CreatedBy: "admin"}
		noErr(t, s.CreateToken(ctx, tok, "hash-1"))
		noErr(t, s.CreateToken(ctx, store.Token{ID: "t-2", Name: "forever", Role: store.RoleViewer, Created: t0.Add(time.Second)}, "hash-2"))
		got, err := s.UseToken(ctx, "hash-1", t0.Add(time.Minute))
		noErr(t, err)
		if got.ID != "t-1" || got.Role != store.RoleResponder || !got.LastUsed.Equal(t0.Add(time.Minute)) {
			t.Errorf("used token = %+v", got)
		}
		if _, err := s.UseToken(ctx, "hash-1", t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired token: %v", err)
		}
		if _, err := s.UseToken(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown token: %v", err)
		}
		noErr(t, s.RevokeToken(ctx, "t-2", t0.Add(time.Minute)))
		if _, err := s.UseToken(ctx, "hash-2", t0.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoked token: %v", err)
		}
		if err := s.RevokeToken(ctx, "t-9", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoke unknown: %v", err)
		}
		list, err := s.Tokens(ctx)
		noErr(t, err)
		if len(list) != 2 || list[0].ID != "t-2" || list[0].Revoked.IsZero() || list[1].LastUsed.IsZero() {
			t.Errorf("tokens = %+v", list)
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		s := open(t, NewClock(t0).Now)
		a := store.Session{Name: "alice", Role: store.RoleResponder, Via: "oidc", CSRF: "csrf-EXAMPLE", Created: t0, Expires: t0.Add(time.Hour)}
		noErr(t, s.CreateSession(ctx, "sess-a", a))
		got, err := s.Session(ctx, "sess-a", t0.Add(time.Minute))
		noErr(t, err)
		if got.Name != "alice" || got.Role != store.RoleResponder || got.Via != "oidc" || got.CSRF != "csrf-EXAMPLE" ||
			!got.Created.Equal(t0) || !got.Expires.Equal(t0.Add(time.Hour)) {
			t.Errorf("session = %+v", got)
		}
		if _, err := s.Session(ctx, "sess-a", t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session: %v", err)
		}
		if _, err := s.Session(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown session: %v", err)
		}
		// A new session deletes the expired ones.
		noErr(t, s.CreateSession(ctx, "sess-b", store.Session{Name: "bob", Role: store.RoleViewer, Via: "user", CSRF: "c2", Created: t0.Add(2 * time.Hour), Expires: t0.Add(3 * time.Hour)}))
		if _, err := s.Session(ctx, "sess-a", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a session expired when another was created is still there: %v", err)
		}
		noErr(t, s.EndSession(ctx, "sess-b"))
		if _, err := s.Session(ctx, "sess-b", t0.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ended session: %v", err)
		}
		noErr(t, s.EndSession(ctx, "sess-b"))
	})
}
