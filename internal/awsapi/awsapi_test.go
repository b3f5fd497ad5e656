package awsapi

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trailwatch/trailwatch/internal/awsapi/sdkops"
)

// TestGeneratedListsMatchSDK fails when the embedded operation lists drift
// from the SDK in go.mod: run go generate ./internal/awsapi.
func TestGeneratedListsMatchSDK(t *testing.T) {
	for _, c := range sdkops.Services {
		got, err := os.ReadFile("services/" + c.Name + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(sdkops.Render(c), string(got)); d != "" {
			t.Errorf("services/%s.txt is stale (-sdk +file); run go generate ./internal/awsapi:\n%s", c.Name, d)
		}
	}
}

func TestEKSSurface(t *testing.T) {
	s, ok := Lookup("eks.amazonaws.com")
	if !ok {
		t.Fatal("eks.amazonaws.com not known")
	}
	for op, want := range map[string]bool{
		"CreateCluster": false, "UpdateClusterConfig": false, "AssociateAccessPolicy": false,
		"DescribeCluster": true, "ListInsights": true, "DescribeIdentityProviderConfig": true,
	} {
		ro, ok := s.ReadOnly(op)
		if !ok || ro != want {
			t.Errorf("ReadOnly(%s) = %v, %v; want %v, true", op, ro, ok, want)
		}
	}
	if _, ok := s.ReadOnly("CreateBucket"); ok {
		t.Error("CreateBucket reported as an EKS operation")
	}
	if n := len(s.Changing()); n < 35 {
		t.Errorf("EKS has %d changing operations, want at least the 35 of the 2017-11-01 API", n)
	}
}
