// Package storetest is the behaviour every store.Store must show, as one
// suite that each implementation's tests run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store"
)

// Sample returns a finding for event i with the given rule and risk.
func Sample(i int, ruleID string, risk finding.Risk) finding.Finding {
	eid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	return finding.Finding{
		ID: finding.ID(eid, ruleID), Fingerprint: finding.Fingerprint(ruleID, "111122223333", "eu-west-1", "cluster/prod"),
		RuleID: ruleID, RuleTitle: "title " + ruleID, Service: "eks", Risk: risk,
		RiskReasons: []string{"because"}, EventID: eid,
		EventTime:   time.Date(2026, 11, 20, 10, 0, i, 0, time.UTC),
		EventSource: "eks.amazonaws.com", EventName: "UpdateClusterConfig",
		AccountID: "111122223333", Region: "eu-west-1",
		Actor:        actor.Actor{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/alice", Name: "alice"},
		AccessMethod: "cli", Outcome: "success",
		Resource: finding.Resource{Type: "cluster", Name: "prod"},
		Summary:  "alice updated EKS cluster prod", Changes: map[string]any{"name": "prod"},
		Raw: []byte(fmt.Sprintf(`{"eventID":%q}`, eid)),
	}
}

// Run runs the suite; open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("SaveIsIdempotent", func(t *testing.T) {
		s := open(t)
		fs := []finding.Finding{Sample(1, "EKS-A", finding.High), Sample(2, "EKS-A", finding.Low)}
		r, err := s.Save(ctx, fs)
		if err != nil || r.Inserted != 2 || r.Duplicates != 0 {
			t.Fatalf("first save = %+v, %v", r, err)
		}
		r, err = s.Save(ctx, append(fs, Sample(3, "EKS-B", finding.VeryHigh)))
		if err != nil || r.Inserted != 1 || r.Duplicates != 2 {
			t.Fatalf("second save = %+v, %v; want 1 inserted, 2 duplicates", r, err)
		}
		all, err := s.Findings(ctx, store.Filter{})
		if err != nil || len(all) != 3 {
			t.Fatalf("Findings = %d, %v; want 3", len(all), err)
		}
	})
	t.Run("AddendumUpdates", func(t *testing.T) {
		s := open(t)
		f := Sample(1, "EKS-A", finding.High)
		if _, err := s.Save(ctx, []finding.Finding{f}); err != nil {
			t.Fatal(err)
		}
		// A late, corrected delivery of the same event.
		g := f
		g.Corrected, g.Summary, g.Risk = true, "corrected summary", finding.VeryHigh
		r, err := s.Save(ctx, []finding.Finding{g})
		if err != nil || r.Updated != 1 || r.Inserted != 0 {
			t.Fatalf("save corrected = %+v, %v", r, err)
		}
		got, err := s.Finding(ctx, f.ID)
		noErr(t, err)
		if got.Summary != "corrected summary" || got.Risk != finding.VeryHigh || !got.Corrected {
			t.Errorf("stored after the addendum: %+v", got)
		}
		// A plain duplicate changes nothing.
		if r, err := s.Save(ctx, []finding.Finding{f}); err != nil || r.Duplicates != 1 {
			t.Errorf("duplicate = %+v", r)
		}
		if got, err := s.Finding(ctx, f.ID); err != nil || got.Summary != "corrected summary" {
			t.Error("a plain duplicate overwrote the corrected finding")
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		want := Sample(1, "EKS-A", finding.Extreme)
		if _, err := s.Save(ctx, []finding.Finding{want}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Finding(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		want.TTL = 0 // not persisted with the finding
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
		list, err := s.Findings(ctx, store.Filter{})
		noErr(t, err)
		if len(list) != 1 || list[0].Raw != nil {
			t.Errorf("list should carry no raw event: %+v", list)
		}
		if _, err := s.Finding(ctx, "f-nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing finding: %v, want ErrNotFound", err)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		s := open(t)
		a := Sample(1, "EKS-ACCESS-POLICY", finding.VeryHigh)
		b := Sample(2, "EKS-TAGS", finding.Low)
		b.Region, b.Outcome = "us-east-1", "denied"
		b.ReferenceIDs, b.CIS = []string{"IAM-052"}, []string{"CIS v1.2 3.3", "CIS v1.4 4.3"}
		c := Sample(3, "EKS-CLUSTER-DELETE", finding.Extreme)
		c.ReferenceIDs, c.CIS = []string{"RTM-009"}, []string{"CIS v1.4 4.13", "CIS v6 5.3"}
		c.AccountID, c.Actor.ARN, c.Actor.Name = "444455556666", "arn:aws:sts::444455556666:assumed-role/ops/bob", "ops/bob"
		c.Service, c.AccessMethod = "iam", "terraform"
		b.AccessMethod = "console"
		if _, err := s.Save(ctx, []finding.Finding{a, b, c}); err != nil {
			t.Fatal(err)
		}
		ids := func(f store.Filter) []string {
			list, err := s.Findings(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, x := range list {
				out = append(out, x.RuleID)
			}
			return out
		}
		for name, tc := range map[string]struct {
			f    store.Filter
			want []string
		}{
			"min risk":    {store.Filter{MinRisk: finding.VeryHigh}, []string{"EKS-ACCESS-POLICY", "EKS-CLUSTER-DELETE"}},
			"rule glob":   {store.Filter{Rules: []string{"EKS-ACCESS-*", "EKS-TAGS"}}, []string{"EKS-ACCESS-POLICY", "EKS-TAGS"}},
			"account":     {store.Filter{Accounts: []string{"444455556666"}}, []string{"EKS-CLUSTER-DELETE"}},
			"region":      {store.Filter{Regions: []string{"us-east-1"}}, []string{"EKS-TAGS"}},
			"outcome":     {store.Filter{Outcomes: []string{"denied"}}, []string{"EKS-TAGS"}},
			"service":     {store.Filter{Services: []string{"iam"}}, []string{"EKS-CLUSTER-DELETE"}},
			"services":    {store.Filter{Services: []string{"eks", "s3"}}, []string{"EKS-ACCESS-POLICY", "EKS-TAGS"}},
			"method":      {store.Filter{Methods: []string{"console", "terraform"}}, []string{"EKS-TAGS", "EKS-CLUSTER-DELETE"}},
			"method+svc":  {store.Filter{Methods: []string{"terraform"}, Services: []string{"eks"}}, nil},
			"actor arn":   {store.Filter{Actor: "*assumed-role/ops/*"}, []string{"EKS-CLUSTER-DELETE"}},
			"actor name":  {store.Filter{Actor: "alice"}, []string{"EKS-ACCESS-POLICY", "EKS-TAGS"}},
			"since":       {store.Filter{Since: a.EventTime.Add(time.Second)}, []string{"EKS-TAGS", "EKS-CLUSTER-DELETE"}},
			"until":       {store.Filter{Until: b.EventTime}, []string{"EKS-ACCESS-POLICY"}},
			"limit":       {store.Filter{Limit: 1}, []string{"EKS-CLUSTER-DELETE"}},
			"none":        {store.Filter{Rules: []string{"S3-*"}}, nil},
			"reference":   {store.Filter{Controls: []string{"rtm-009"}}, []string{"EKS-CLUSTER-DELETE"}},
			"CIS number":  {store.Filter{Controls: []string{"CIS 4.3"}}, []string{"EKS-TAGS"}},
			"CIS any":     {store.Filter{Controls: []string{"5.3"}}, []string{"EKS-CLUSTER-DELETE"}},
			"CIS version": {store.Filter{Controls: []string{"CIS v1.2 3.3", "IAM-999"}}, []string{"EKS-TAGS"}},
			"CIS or ref":  {store.Filter{Controls: []string{"CIS v1.4 4.13", "IAM-052"}}, []string{"EKS-TAGS", "EKS-CLUSTER-DELETE"}},
		} {
			if d := cmp.Diff(tc.want, ids(tc.f)); d != "" {
				t.Errorf("%s (-want +got):\n%s", name, d)
			}
		}
	})
	t.Run("FindingIDsByPrefix", func(t *testing.T) {
		s := open(t)
		var fs []finding.Finding
		for _, id := range []string{"f-aaaa1111", "f-aaaa2222", "f-aab", "f-b", "f-%_*?[x", "g-aaaa"} {
			f := Sample(len(fs), "EKS-A", finding.High)
			f.ID = id
			fs = append(fs, f)
		}
		if _, err := s.Save(ctx, fs); err != nil {
			t.Fatal(err)
		}
		for prefix, want := range map[string][]string{
			"f-aaaa1111": {"f-aaaa1111"},
			"f-aaaa":     {"f-aaaa1111", "f-aaaa2222"},
			"f-aa":       {"f-aaaa1111", "f-aaaa2222", "f-aab"},
			"f-b":        {"f-b"},
			"f-c":        nil,
			"f-%":        {"f-%_*?[x"}, // plain text, not a pattern
			"f-_":        nil,
			"f-aaaa*":    nil,
			"F-AAAA":     nil, // ids are compared exactly
			"":           {"f-%_*?[x", "f-aaaa1111", "f-aaaa2222", "f-aab", "f-b", "g-aaaa"},
		} {
			got, err := s.FindingIDs(ctx, prefix, 0)
			if err != nil {
				t.Fatalf("FindingIDs(%q): %v", prefix, err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("FindingIDs(%q) (-want +got):\n%s", prefix, d)
			}
		}
		if got, _ := s.FindingIDs(ctx, "f-", 2); len(got) != 2 {
			t.Errorf("limit 2: %v", got)
		}
	})
	t.Run("ConcurrentSaves", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var fs []finding.Finding
				for i := range 50 {
					fs = append(fs, Sample(i, "EKS-A", finding.High)) // all workers save the same 50
				}
				_ = w
				if _, err := s.Save(ctx, fs); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		all, err := s.Findings(ctx, store.Filter{})
		noErr(t, err)
		if len(all) != 50 {
			t.Errorf("%d findings after concurrent duplicate saves, want 50", len(all))
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Save(cctx, []finding.Finding{Sample(1, "EKS-A", finding.High)}); err == nil {
			t.Error("save with a canceled context succeeded")
		}
		all, err := s.Findings(ctx, store.Filter{})
		noErr(t, err)
		if len(all) != 0 {
			t.Errorf("canceled save left %d findings", len(all))
		}
	})
}

// RunCheckpoints runs the checkpoint suite.
func RunCheckpoints(t *testing.T, s store.Checkpoints) {
	ctx := context.Background()
	if v, err := s.Checkpoint(ctx, "s3://b/AWSLogs/1/CloudTrail/eu-west-1/"); err != nil || v != "" {
		t.Fatalf("empty checkpoint = %q, %v", v, err)
	}
	for _, v := range []string{"k1", "k2"} {
		if err := s.SetCheckpoint(ctx, "s3://b/AWSLogs/1/CloudTrail/eu-west-1/", v); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Checkpoint(ctx, "s3://b/AWSLogs/1/CloudTrail/eu-west-1/"); err != nil || v != "k2" {
		t.Errorf("checkpoint = %q, want k2", v)
	}
}

// noErr fails the test at once on an error: a store call that failed must
// not let a check of its zero result pass.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// RunQuarantine is the behaviour of store.Quarantine: entries are kept
// with every field, newest first; the same chunk again replaces its entry.
func RunQuarantine(t *testing.T, s store.Quarantine) {
	ctx := context.Background()
	got, err := s.Quarantined(ctx, 0)
	noErr(t, err)
	if len(got) != 0 {
		t.Fatalf("empty quarantine lists %+v", got)
	}
	at := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	a := store.QuarantineEntry{Source: "folder", Object: "/logs/EXAMPLE.json.gz", Offset: 2000, Records: 2000, Reason: "commit: too big", At: at}
	b := store.QuarantineEntry{Source: "bucket", Object: "s3://EXAMPLE-bucket/k.json.gz", Offset: 0, Records: 17, Reason: "commit: bad", At: at.Add(time.Minute)}
	noErr(t, s.Quarantine(ctx, a))
	noErr(t, s.Quarantine(ctx, b))
	got, err = s.Quarantined(ctx, 0)
	noErr(t, err)
	if diff := cmp.Diff([]store.QuarantineEntry{b, a}, got); diff != "" {
		t.Fatalf("Quarantined (-want +got):\n%s", diff)
	}
	a2 := a
	a2.Reason, a2.At = "commit: still too big", at.Add(2*time.Minute)
	noErr(t, s.Quarantine(ctx, a2))
	got, err = s.Quarantined(ctx, 1)
	noErr(t, err)
	if diff := cmp.Diff([]store.QuarantineEntry{a2}, got); diff != "" {
		t.Fatalf("Quarantined(1) after quarantining the same chunk again (-want +got):\n%s", diff)
	}
	got, err = s.Quarantined(ctx, 0)
	noErr(t, err)
	if len(got) != 2 {
		t.Errorf("the same chunk twice gave %d entries, want 2 in all", len(got))
	}
}
