package s3source_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	s3source "github.com/trailwatch/trailwatch/internal/source/s3"
)

// claims hands each checkpoint key to one holder, as leases would.
type claims struct {
	mu    sync.Mutex
	owner map[string]string
	asked map[string]int
}

func (c *claims) set(key, holder string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owner[key] = holder
}

func (c *claims) of(holder string) func(context.Context, string) bool {
	return func(_ context.Context, key string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.asked[key]++
		return c.owner[key] == holder
	}
}

// Two instances on one checkpoint store, each claiming some accounts and
// regions: every object is read by exactly one of them, the one holding
// its prefix's claim.
func TestClaimSharesPrefixesBetweenInstances(t *testing.T) {
	f := newFakeS3(t)
	want := f.layout()
	ck := openCheckpoints(t)
	cl := &claims{owner: map[string]string{}, asked: map[string]int{}}
	for _, k := range []string{ckKey(acctA, "us-east-1"), ckKey(acctA, "eu-west-1"), ckKey(org, acctC, "us-east-1")} {
		cl.set(k, "a")
	}
	for _, k := range []string{ckKey(acctB, "us-east-1"), ckKey(acctB, "eu-west-1"), ckKey(org, acctC, "eu-west-1")} {
		cl.set(k, "b")
	}
	c := f.config()
	c.StartAfter, c.PollInterval = "2026-11-01", "0"
	a := newSource(t, c, s3source.Options{Checkpoints: ck, PageSize: 1, Claim: cl.of("a")})
	b := newSource(t, c, s3source.Options{Checkpoints: ck, PageSize: 1, Claim: cl.of("b")})
	ga, gb := origins(drain(t, a)), origins(drain(t, b))
	holder := func(k string) string {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for key, h := range cl.owner {
			p := strings.TrimPrefix(key, "s3://"+bucket+"/")
			i := strings.LastIndex(p, "/")
			if strings.HasPrefix(k, p[:i]+"/CloudTrail/"+p[i+1:]+"/") {
				return h
			}
		}
		return ""
	}
	for _, k := range ga {
		if h := holder(k); h != "a" {
			t.Errorf("instance a read %s, whose prefix %q holds", k, h)
		}
	}
	for _, k := range gb {
		if h := holder(k); h != "b" {
			t.Errorf("instance b read %s, whose prefix %q holds", k, h)
		}
	}
	if len(ga) == 0 || len(gb) == 0 {
		t.Errorf("a read %d objects, b %d; both hold prefixes with objects", len(ga), len(gb))
	}
	all := append(slices.Clone(ga), gb...)
	sort.Strings(all)
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("objects read by both (-want +got), each must be read once:\n%s", diff)
	}
	if cl.asked[ckKey(acctA, "us-east-1")] == 0 {
		t.Error("the claim was never asked")
	}
}

// A stream whose claim moves away stops at once: the object it handed out
// and acknowledges late does not move the checkpoint, the new holder reads
// on from the checkpoint, and when the claim comes back the first instance
// resumes from where the other left it, reading nothing twice.
func TestLostClaimStopsAndResumesFromTheStoredCheckpoint(t *testing.T) {
	f := newFakeS3(t)
	first := f.putLog("", acctA, "us-east-1", "20261101T0100Z")
	second := f.putLog("", acctA, "us-east-1", "20261101T0200Z")
	ck := openCheckpoints(t)
	key := ckKey(acctA, "us-east-1")
	cl := &claims{owner: map[string]string{key: "a"}, asked: map[string]int{}}
	c := f.config()
	c.StartAfter, c.PollInterval = "2026-11-01", "1s"
	c.Accounts, c.Regions = []string{acctA}, []string{"us-east-1"}
	a := newSource(t, c, s3source.Options{Checkpoints: ck, PageSize: 1, Claim: cl.of("a"), After: immediately})

	b1 := read(t, a)
	if b1.Origin != "s3://"+bucket+"/"+first {
		t.Fatalf("first object %s, want %s", b1.Origin, first)
	}
	ack(t, b1, nil)
	b2 := read(t, a)
	if b2.Origin != "s3://"+bucket+"/"+second {
		t.Fatalf("second object %s, want %s", b2.Origin, second)
	}
	cl.set(key, "b") // the lease moved before b2 was committed
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if got, err := a.Read(ctx); err == nil {
		t.Errorf("instance a read %s after losing the claim", got.Origin)
	}
	cancel()
	ack(t, b2, nil) // late: must not move the checkpoint past what b reads
	if got := checkpoint(t, ck, key); got != first {
		t.Fatalf("checkpoint after the late ack = %q, want %q (where a's claim ended)", got, first)
	}

	c2 := c
	c2.PollInterval = "0"
	b := newSource(t, c2, s3source.Options{Checkpoints: ck, PageSize: 1, Claim: cl.of("b")})
	gb := drain(t, b)
	if diff := cmp.Diff([]string{second}, origins(gb)); diff != "" {
		t.Fatalf("new holder read (-want +got):\n%s", diff)
	}
	ack(t, gb[0], nil)

	third := f.putLog("", acctA, "us-east-1", "20261101T0300Z")
	cl.set(key, "a") // back to a, which must not read second again
	b3 := read(t, a)
	if b3.Origin != "s3://"+bucket+"/"+third {
		t.Fatalf("after the claim came back a read %s, want %s (resuming from b's checkpoint)", b3.Origin, third)
	}
}
