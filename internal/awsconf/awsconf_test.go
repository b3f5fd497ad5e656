package awsconf_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trailwatch/trailwatch/internal/awsconf"
)

// isolate keeps the SDK away from the machine's profiles, environment
// credentials and the instance metadata service.
func isolate(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
}

func TestStaticCredentialsRegionEndpoint(t *testing.T) {
	isolate(t)
	cfg, err := awsconf.Load(context.Background(), awsconf.Config{Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret-EXAMPLE", Endpoint: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:9" {
		t.Errorf("region %q, endpoint %v", cfg.Region, cfg.BaseEndpoint)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIAEXAMPLE" {
		t.Errorf("credentials %q, %v", creds.AccessKeyID, err)
	}
}

func TestDefaultRegion(t *testing.T) {
	isolate(t)
	cfg, err := awsconf.Load(context.Background(), awsconf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != awsconf.DefaultRegion {
		t.Errorf("region %q, want %s", cfg.Region, awsconf.DefaultRegion)
	}
	t.Setenv("AWS_REGION", "ap-southeast-2")
	if cfg, _ := awsconf.Load(context.Background(), awsconf.Config{}); cfg.Region != "ap-southeast-2" {
		t.Errorf("region %q, want the environment's", cfg.Region)
	}
}

func TestProfile(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	writeFile(t, creds, "[audit]\naws_access_key_id = AKIAPROFILEEXAMPLE\naws_secret_access_key = profile-secret-EXAMPLE\n")
	conf := filepath.Join(dir, "config")
	writeFile(t, conf, "[profile audit]\nregion = ca-central-1\n")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", conf)
	cfg, err := awsconf.Load(context.Background(), awsconf.Config{Profile: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || got.AccessKeyID != "AKIAPROFILEEXAMPLE" || cfg.Region != "ca-central-1" {
		t.Errorf("profile: key %q region %q, %v", got.AccessKeyID, cfg.Region, err)
	}
	if _, err := awsconf.Load(context.Background(), awsconf.Config{Profile: "missing"}); err == nil {
		t.Error("a missing profile was accepted")
	}
}

// A role is assumed through STS (a loopback fake answering AssumeRole)
// with the base credentials, and its temporary credentials are used.
func TestAssumeRole(t *testing.T) {
	isolate(t)
	var mu sync.Mutex
	var form url.Values
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		form, _ = url.ParseQuery(string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLEEXAMPLE</AccessKeyId><SecretAccessKey>role-secret-EXAMPLE</SecretAccessKey><SessionToken>token-EXAMPLE</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/reader/trailwatch</Arn><AssumedRoleId>AROAEXAMPLE:trailwatch</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
	}))
	defer sts.Close()
	cfg, err := awsconf.Load(context.Background(), awsconf.Config{Region: "us-east-1", AccessKeyID: "AKIABASEEXAMPLE", SecretAccessKey: "base-secret-EXAMPLE",
		RoleARN: "arn:aws:iam::111122223333:role/reader", ExternalID: "ext-EXAMPLE", Endpoint: sts.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || got.AccessKeyID != "ASIAROLEEXAMPLE" || got.SessionToken != "token-EXAMPLE" {
		t.Fatalf("assumed credentials %q, %v", got.AccessKeyID, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if form.Get("Action") != "AssumeRole" || form.Get("RoleArn") != "arn:aws:iam::111122223333:role/reader" ||
		form.Get("RoleSessionName") != awsconf.SessionName || form.Get("ExternalId") != "ext-EXAMPLE" {
		t.Errorf("AssumeRole request %v", form)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
