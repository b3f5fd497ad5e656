package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestUsersHashPassword(t *testing.T) {
	r := run(t, "correct horse EXAMPLE\n", "users", "hash-password")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	h := strings.TrimSpace(r.stdout)
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse EXAMPLE")) != nil || strings.Contains(r.stdout+r.stderr, "horse") {
		t.Errorf("hash %q does not verify, or the password is echoed", h)
	}
	if r := run(t, "short\n", "users", "hash-password"); r.code != ExitError || !strings.Contains(r.stderr, "shorter than 8") {
		t.Errorf("short password: %d %s", r.code, r.stderr)
	}
}

func TestTokensCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	r := run(t, "", "tokens", "create", "--db", db, "--name", "ci EXAMPLE", "--role", "viewer", "--expires", "90d")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "twt_") || !strings.Contains(r.stderr, "created token t-") {
		t.Fatalf("create: %d %q %q", r.code, r.stdout, r.stderr)
	}
	secret := strings.TrimSpace(r.stdout)
	id := strings.Fields(strings.TrimPrefix(r.stderr, "created token "))[0]
	list := run(t, "", "tokens", "list", "--db", db)
	if list.code != ExitOK || !strings.Contains(list.stdout, id) || !strings.Contains(list.stdout, "viewer") || strings.Contains(list.stdout, secret) {
		t.Errorf("list: %d %s", list.code, list.stdout)
	}
	if r := run(t, "", "tokens", "create", "--db", db, "--name", "x", "--role", "root"); r.code != ExitError || !strings.Contains(r.stderr, "root") {
		t.Errorf("bad role: %d %s", r.code, r.stderr)
	}
	if r := run(t, "", "tokens", "revoke", "--db", db, id); r.code != ExitOK {
		t.Errorf("revoke: %d %s", r.code, r.stderr)
	}
	if r := run(t, "", "tokens", "revoke", "--db", db, "t-nope"); r.code != ExitError || !strings.Contains(r.stderr, "no token") {
		t.Errorf("revoke unknown: %d %s", r.code, r.stderr)
	}
	var toks []map[string]any
	json.Unmarshal([]byte(run(t, "", "tokens", "list", "--db", db, "--format", "json").stdout), &toks)
	if len(toks) != 1 || toks[0]["revoked_at"] == nil {
		t.Errorf("after revoke: %v", toks)
	}
}

func TestSilencesCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--duration", "2h", "--comment", "x"}, "give at least one matcher"},
		{[]string{"--rule", "EKS-*", "--duration", "2h"}, "--comment"},
		{[]string{"--rule", "EKS-*", "--comment", "x"}, "say how long"},
		{[]string{"--rule", "EKS-*", "--comment", "x", "--duration", "soon"}, "not a duration"},
		{[]string{"--rule", "EKS-*", "--comment", "x", "--end", "2020-01-01"}, "in the past"},
	} {
		r := run(t, "", append([]string{"silences", "add", "--db", db}, c.args...)...)
		if r.code != ExitError || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: %d %s", c.args, r.code, r.stderr)
		}
	}
	r := run(t, "", "silences", "add", "--db", db, "--rule", "EKS-*", "--account", "111122223333", "--max-risk", "HIGH", "--duration", "2h", "--comment", "upgrade EXAMPLE")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "s-") {
		t.Fatalf("add: %d %q %q", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	list := run(t, "", "silences", "list", "--db", db)
	if !strings.Contains(list.stdout, id) || !strings.Contains(list.stdout, "rule=EKS-* account=111122223333 max_risk=HIGH") {
		t.Errorf("list: %s", list.stdout)
	}
	// The scan's findings it matches are stored silenced.
	run(t, "", "scan", "--quiet", "--db", db, "../../examples/")
	if r := run(t, "", "silences", "expire", "--db", db, id); r.code != ExitOK {
		t.Errorf("expire: %d %s", r.code, r.stderr)
	}
	if list := run(t, "", "silences", "list", "--db", db); !strings.Contains(list.stdout, "no silences") {
		t.Errorf("list after expiry: %s", list.stdout)
	}
	if list := run(t, "", "silences", "list", "--db", db, "--all", "--format", "json"); !strings.Contains(list.stdout, id) {
		t.Errorf("list --all: %s", list.stdout)
	}
}

// startUI runs trailwatch ui and returns its address and a stop function.
func startUI(t *testing.T, args ...string) (string, func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	addrs := make(chan map[string]string, 1)
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Started: func(a map[string]string) { addrs <- a }}
	done := make(chan int, 1)
	go func() { done <- Main(ctx, env, append([]string{"ui"}, args...)) }()
	select {
	case a := <-addrs:
		return a["ui"], func() (int, string) {
			cancel()
			select {
			case code := <-done:
				return code, errb.String()
			case <-time.After(15 * time.Second):
				t.Fatal("ui did not stop")
			}
			return 0, ""
		}
	case code := <-done:
		cancel()
		t.Fatalf("ui exited %d: %s", code, errb.String())
	case <-time.After(15 * time.Second):
		t.Fatal("ui did not start")
	}
	return "", nil
}

func TestUIServesTheStore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tw.db")
	if r := run(t, "", "scan", "--quiet", "--db", db, "../../examples/"); r.code != ExitOK && r.code != ExitFindings {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	addr, stop := startUI(t, "--db", db, "--listen", "127.0.0.1:0")
	resp, err := http.Get("http://" + addr + "/api/v1/findings?min_risk=EXTREME&limit=500")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var page struct {
		Findings []map[string]any `json:"findings"`
	}
	json.Unmarshal(b, &page)
	if resp.StatusCode != 200 || len(page.Findings) == 0 {
		t.Errorf("findings: %d %s", resp.StatusCode, b)
	}
	for _, f := range page.Findings {
		if f["risk"] != "EXTREME" || f["status"] != "open" {
			t.Errorf("finding %v", f)
		}
	}
	resp, err = http.Get("http://" + addr + "/api/v1/rules")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("rules: %v %v", resp, err)
	}
	resp.Body.Close()
	// The dashboard is served beside the API, under its CSP; an unknown
	// API route is still a JSON error.
	for path, want := range map[string]string{"/": `id="risk-counts"`, "/findings?risk=EXTREME": `data-risk="EXTREME"`, "/rules": `id="rules"`, "/channels": "Channels and outbox"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("dashboard %s: %d, lacks %s", path, resp.StatusCode, want)
		}
	}
	resp, err = http.Get("http://" + addr + "/api/v1/nothing")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"not_found"`) {
		t.Errorf("unknown API route: %d %s", resp.StatusCode, b)
	}
	if code, stderr := stop(); code != ExitOK || !strings.Contains(stderr, "serving the API") {
		t.Errorf("ui stopped with %d: %s", code, stderr)
	}
	if r := run(t, "", "ui", "--db", filepath.Join(dir, "absent.db")); r.code != ExitError || !strings.Contains(r.stderr, "no database file there") {
		t.Errorf("absent database: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "absent.db")); err == nil {
		t.Error("trailwatch ui created a database")
	}
	// Without authentication, never beyond loopback.
	cfg := filepath.Join(dir, "open.yaml")
	os.WriteFile(cfg, []byte("store: {path: "+db+"}\n"), 0o600)
	r := run(t, "", "ui", "--config", cfg, "--listen", "0.0.0.0:0")
	if r.code != ExitError || !strings.Contains(r.stderr, "not a loopback address") {
		t.Errorf("open listener: %d %s", r.code, r.stderr)
	}
}

// README's API lines: trailwatch ui over the findings of the README's
// scan of examples/, and the curl that follows.
func TestReadmeUI(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const line = "trailwatch ui --db trailwatch.db &"
	const url = "http://127.0.0.1:8081/api/v1/findings?min_risk=EXTREME&limit=3"
	if !strings.Contains(string(readme), line) || !strings.Contains(string(readme), "curl -s '"+url+"'") {
		t.Fatalf("README's API lines changed (lacks %q or the curl of %s): update this test", line, url)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "trailwatch.db")
	run(t, "", "scan", "--quiet", "--db", db, "../../examples/")
	addr, stop := startUI(t, "--db", db, "--listen", "127.0.0.1:0")
	defer stop()
	resp, err := http.Get(strings.Replace(url, "127.0.0.1:8081", addr, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Findings []map[string]any `json:"findings"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	if resp.StatusCode != 200 || len(page.Findings) == 0 || len(page.Findings) > 3 {
		t.Errorf("README's curl: %d, %d findings", resp.StatusCode, len(page.Findings))
	}
}
