package awsapi

import (
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trailwatch/trailwatch/internal/awsapi/sdkops"
)

// TestGeneratedListsMatchSDK fails when the embedded operation lists drift
// from the SDK modules in go.mod: run go generate ./internal/awsapi. It
// reads the modules' api_op_*.go file names instead of compiling the
// clients, so it costs a second, not minutes under -race.
func TestGeneratedListsMatchSDK(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH; it finds the SDK modules")
	}
	dirs, err := sdkops.ModuleDirs(".", sdkops.Modules())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sdkops.Services {
		want, err := sdkops.Render(c, dirs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile("services/" + c.Name + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, string(got)); d != "" {
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

func TestCloudTrailOnlyNames(t *testing.T) {
	for _, tc := range []struct {
		source, name string
		kind         Kind
	}{
		{"signin.amazonaws.com", "ConsoleLogin", Event},
		{"s3.amazonaws.com", "PutBucketPublicAccessBlock", Change},
		{"s3.amazonaws.com", "PutBucketPolicy", Change},
		{"s3.amazonaws.com", "GetBucketPublicAccessBlock", Read},
		{"lambda.amazonaws.com", "AddPermission20150331v2", Change},
		{"lambda.amazonaws.com", "AddPermission", Change},
		{"iam.amazonaws.com", "AttachRolePolicy", Change},
		{"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", Change},
		{"ec2.amazonaws.com", "DescribeInstances", Read},
	} {
		s, ok := Lookup(tc.source)
		if !ok {
			t.Errorf("%s not known", tc.source)
			continue
		}
		if k, ok := s.Kind(tc.name); !ok || k != tc.kind {
			t.Errorf("%s %s: kind %v, %v; want %v", tc.source, tc.name, k, ok, tc.kind)
		}
	}
	s, _ := Lookup("signin.amazonaws.com")
	if src := s.CloudTrailOnly["ConsoleLogin"]; src == "" {
		t.Error("ConsoleLogin has no source")
	}
	for _, c := range s.Changing() {
		t.Errorf("signin lists %s as a changing SDK operation", c)
	}
	if got := SourcesOf("DeleteBucket"); !cmp.Equal(got, []string{"s3.amazonaws.com"}) {
		t.Errorf("SourcesOf(DeleteBucket) = %v", got)
	}
}

// TestEveryOnlyNameHasASource keeps the maintained list honest: a name
// that an SDK client already has is an error, and so is an entry without
// its source.
func TestEveryOnlyNameHasASource(t *testing.T) {
	for _, s := range Services() {
		for op, src := range s.CloudTrailOnly {
			if src == "" {
				t.Errorf("%s %s: no source", s.EventSource, op)
			}
		}
	}
}
