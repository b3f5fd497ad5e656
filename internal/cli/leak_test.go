package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/notify/notifytest"
)

// TestEchoedSecretURLsStayOutOfCLIOutput is issue 8's probe: a receiver
// that answers 500 with the request line ("Cannot POST /hooks/PATHTOKEN…")
// put the path token into outbox list and notify test output.
func TestEchoedSecretURLsStayOutOfCLIOutput(t *testing.T) {
	const pathToken = "PATHTOKEN-EXAMPLE-7d1f0c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, notifytest.EchoBody(r, body, 0, "line", "headers", "body"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
store: {path: %s}
channels:
  - {name: hook, type: webhook, url: "%s/hooks/%s/in", min_risk: VERY_HIGH, max_attempts: 1, rate_per_minute: 6000}
  - {name: slack, type: slack, webhook_url: "%s/services/T0EXAMPLE/B0EXAMPLE/%s", min_risk: VERY_HIGH, max_attempts: 1, rate_per_minute: 6000}
`, filepath.Join(dir, "tw.db"), srv.URL, pathToken, srv.URL, pathToken)), 0o600)
	var out strings.Builder
	r := run(t, "", "scan", "--config", cfg, "--notify", "--notify-timeout", "20s", examples)
	out.WriteString(r.stdout + r.stderr)
	r = run(t, "", "outbox", "list", "--config", cfg, "--status", "dead")
	out.WriteString(r.stdout + r.stderr)
	if !strings.Contains(r.stdout, "HTTP 500") {
		t.Errorf("outbox list does not show the failures:\n%s", r.stdout)
	}
	r = run(t, "", "notify", "test", "--config", cfg, "--channel", "hook")
	out.WriteString(r.stdout + r.stderr)
	if !strings.Contains(r.stdout, "hook: FAILED") {
		t.Errorf("notify test:\n%s", r.stdout)
	}
	notifytest.NoLeak(t, out.String(), notifytest.Encodings(pathToken, "/hooks/"+pathToken+"/in")...)
}
