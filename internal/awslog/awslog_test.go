package awslog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// An instance metadata service that refuses IMDSv2 tokens makes the SDK
// warn "falling back to IMDSv1": the line goes through our logger, and
// nothing reaches stderr raw.
func TestIMDSFallbackWarningGoesThroughTheLogger(t *testing.T) {
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			http.Error(w, "forbidden", http.StatusForbidden)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "example-role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/example-role":
			io.WriteString(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"AKIAEXAMPLEEXAMPLE01","SecretAccessKey":"EXAMPLEsecretEXAMPLEsecretEXAMPLE","Token":"EXAMPLEtoken","Expiration":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer imds.Close()
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_EC2_METADATA_DISABLED": "",
	} {
		t.Setenv(k, v)
	}
	// Watch the process's stderr for raw SDK lines.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	var logs bytes.Buffer
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("eu-west-1"), awsconfig.WithEC2IMDSEndpoint(imds.URL),
		Option(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err == nil {
		_, err = cfg.Credentials.Retrieve(context.Background())
	}
	os.Stderr = saved
	w.Close()
	raw, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"falling back to IMDSv1`) || !strings.Contains(logs.String(), `"component":"aws-sdk"`) {
		t.Errorf("the warning did not go through the logger: %q", logs.String())
	}
	if len(raw) > 0 {
		t.Errorf("raw lines on stderr: %q", raw)
	}
}

func TestNilLoggerDropsLines(t *testing.T) {
	Logger{}.Logf("WARN", "x") // must not panic
}
