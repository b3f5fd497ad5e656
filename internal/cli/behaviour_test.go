package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

// hook is a loopback webhook receiver that counts what it gets.
type hook struct {
	*httptest.Server
	mu    sync.Mutex
	kinds []string
	fail  string // when set, every request is answered 400 with this body
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail != "" {
			http.Error(w, h.fail, http.StatusBadRequest)
			return
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		h.kinds = append(h.kinds, fmt.Sprint(m["kind"]))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.kinds...)
}

func writeConfig(t *testing.T, text string) (cfg, db string) {
	t.Helper()
	dir := t.TempDir()
	db = filepath.Join(dir, "tw.db")
	cfg = filepath.Join(dir, "trailwatch.yaml")
	os.WriteFile(cfg, []byte("store: {path: "+db+"}\n"+text), 0o600)
	return cfg, db
}

// notify test --channel X sends to X only: the channels after it in the
// file receive nothing (issue 7 §2).
func TestNotifyTestSendsOnlyToTheNamedChannels(t *testing.T) {
	a, b, c := newHook(t), newHook(t), newHook(t)
	cfg, _ := writeConfig(t, fmt.Sprintf(`channels:
  - {name: soar-webhook, type: webhook, url: %s/a}
  - {name: secops-slack, type: webhook, url: %s/b}
  - {name: oncall-pager, type: webhook, url: %s/c}
`, a.URL, b.URL, c.URL))
	r := run(t, "", "notify", "test", "--config", cfg, "--channel", "soar-webhook")
	if r.code != ExitOK || strings.TrimSpace(r.stdout) != "soar-webhook: sent" {
		t.Fatalf("notify test: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if len(a.got()) != 1 || a.got()[0] != "test" || len(b.got()) != 0 || len(c.got()) != 0 {
		t.Errorf("received: soar-webhook %v, secops-slack %v, oncall-pager %v", a.got(), b.got(), c.got())
	}
	r = run(t, "", "notify", "test", "--config", cfg, "--channel", "soar-webhook,oncall-pager")
	if r.code != ExitOK || len(a.got()) != 2 || len(b.got()) != 0 || len(c.got()) != 1 {
		t.Errorf("two channels: %d; received %v %v %v", r.code, a.got(), b.got(), c.got())
	}
	// An unknown name is an error listing the known names, and nothing
	// is sent, not even to the names that exist.
	r = run(t, "", "notify", "test", "--config", cfg, "--channel", "oncall-pager", "--channel", "secops-slak")
	if r.code != ExitError || !strings.Contains(r.stderr, `no channel named "secops-slak"`) || !strings.Contains(r.stderr, "(did you mean secops-slack?)") ||
		!strings.Contains(r.stderr, "its channels: soar-webhook, secops-slack, oncall-pager") {
		t.Errorf("unknown channel: %d %s", r.code, r.stderr)
	}
	if len(c.got()) != 1 {
		t.Errorf("a test went out although a name was wrong: %v", c.got())
	}
}

func TestOutboxInputChecks(t *testing.T) {
	h := newHook(t)
	h.fail = "nope\x1b[2J\r\nFORGED"
	cfg, _ := writeConfig(t, fmt.Sprintf("channels: [{name: soc, type: webhook, url: %s/x, min_risk: EXTREME}]\n", h.URL))
	if r := run(t, "", "scan", "--config", cfg, "--notify", "--quiet", examples); r.code != ExitError {
		t.Fatalf("scan --notify with a dead delivery: exit %d, want 2\n%s", r.code, r.stderr)
	}
	// JSON is snake_case.
	r := run(t, "", "outbox", "list", "--config", cfg, "--format", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("outbox list json: %v %s", err, r.stdout)
	}
	checkSnake(t, "outbox list", rows)
	for _, k := range []string{"id", "channel", "kind", "status", "finding_id", "rule_id", "risk", "summary", "attempts", "last_error", "created_at"} {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("outbox json lacks %q: %v", k, rows[0])
		}
	}
	// The receiver's hostile answer is escaped in the table.
	r = run(t, "", "outbox", "list", "--config", cfg)
	if strings.ContainsAny(r.stdout, "\x1b\r") || strings.Contains(r.stdout, "\nFORGED") || !strings.Contains(r.stdout, `\x1b[2J`) {
		t.Errorf("outbox list shows raw control characters:\n%q", r.stdout)
	}
	id := fmt.Sprint(rows[0]["id"])
	// An id that is not there, or not in a state the action applies to,
	// is an error; the others are still acted on.
	r = run(t, "", "outbox", "drop", "--config", cfg, "99", id)
	if r.code != ExitError || !strings.Contains(r.stdout, "1 delivery dropped") || !strings.Contains(r.stderr, "delivery 99: no such delivery") {
		t.Errorf("drop 99: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, "", "outbox", "drop", "--config", cfg, id)
	if r.code != ExitError || !strings.Contains(r.stdout, "0 deliveries dropped") {
		t.Errorf("drop twice: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r = run(t, "", "outbox", "list", "--config", cfg, "--status", "pending"); r.code != ExitOK || strings.TrimSpace(r.stdout) != "no deliveries match" {
		t.Errorf("empty outbox list: %d %q", r.code, r.stdout)
	}
}

// Exit statuses: errors win over --fail-on, and both are said.
func TestExitStatusPrecedence(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("not json"), 0o600)
	eb, _ := os.ReadFile(filepath.Join(examples, "eventbridge.jsonl"))
	os.WriteFile(filepath.Join(dir, "good.jsonl"), eb, 0o600)
	r := run(t, "", "scan", "--db", ":memory:", "--fail-on", "HIGH", dir)
	if r.code != ExitError || !strings.Contains(r.stderr, "a finding at or above --fail-on HIGH exists too, but errors decide the exit status: 2") {
		t.Errorf("errors and --fail-on: %d\n%s", r.code, r.stderr)
	}
	os.Remove(filepath.Join(dir, "bad.json"))
	if r = run(t, "", "scan", "--db", ":memory:", "--fail-on", "HIGH", dir); r.code != ExitFindings {
		t.Errorf("--fail-on alone: %d\n%s", r.code, r.stderr)
	}
}

// A command stopped by its context (Ctrl-C: cmd/trailwatch cancels it)
// exits 130, even while it waits on standard input.
func TestInterruptedExits130(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var out, errb strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, &Env{Stdin: pr, Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}, []string{"scan", "--db", ":memory:", "-"})
	}()
	select {
	case code := <-done:
		if code != ExitInterrupted || !strings.Contains(errb.String(), "interrupted") {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("scan of a silent stdin did not stop")
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Colour only on a terminal, and never with NO_COLOR or TERM=dumb.
func TestColourEtiquette(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	run(t, "", "scan", "--quiet", "--db", db, examples)
	for _, tc := range []struct {
		env    map[string]string
		tty    bool
		colour bool
	}{
		{nil, true, true},
		{map[string]string{"NO_COLOR": "1"}, true, false},
		{map[string]string{"TERM": "dumb"}, true, false},
		{nil, false, false},
	} {
		r := runEnv(t, func(e *Env) {
			e.StdoutTTY = tc.tty
			e.Getenv = func(k string) string { return tc.env[k] }
		}, "findings", "list", "--db", db, "--format", "table")
		if got := ansi.MatchString(r.stdout); got != tc.colour {
			t.Errorf("env %v tty %v: colour %v, want %v", tc.env, tc.tty, got, tc.colour)
		}
		// Columns line up with colour too.
		lines := strings.Split(strings.TrimSpace(ansi.ReplaceAllString(r.stdout, "")), "\n")
		col := strings.Index(lines[0], "RULE")
		for _, l := range lines[1:] {
			if l[col-1] != ' ' || l[col] == ' ' {
				t.Errorf("misaligned row with colour %v:\n%s\n%s", tc.colour, lines[0], l)
				break
			}
		}
	}
}

// Logs: text on a terminal, JSON when piped, JSON or text when log.format
// says.
func TestLogFormat(t *testing.T) {
	h := newHook(t)
	h.fail = "no"
	for _, tc := range []struct {
		tty    bool
		format string
		json   bool
	}{{true, "", false}, {false, "", true}, {true, "json", true}, {false, "text", false}} {
		extra := ""
		if tc.format != "" {
			extra = "log: {format: " + tc.format + "}\n"
		}
		cfg, _ := writeConfig(t, extra+fmt.Sprintf("channels: [{name: soc, type: webhook, url: %s/x, min_risk: EXTREME}]\n", h.URL))
		r := runEnv(t, func(e *Env) { e.StderrTTY = tc.tty }, "scan", "--config", cfg, "--notify", examples)
		var logLine string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, "delivery dead") {
				logLine = l
			}
		}
		if isJSON := strings.HasPrefix(logLine, "{"); logLine == "" || isJSON != tc.json {
			t.Errorf("tty %v, log.format %q: log line %q, want JSON %v", tc.tty, tc.format, logLine, tc.json)
		}
	}
}

func TestSummaryWordsAndCounts(t *testing.T) {
	eb := filepath.Join(examples, "eventbridge.jsonl")
	r := run(t, "", "scan", "--db", ":memory:", "--min-risk", "VERY_HIGH", eb)
	if !strings.Contains(r.stderr, "scanned 1 file (") || !strings.Contains(r.stderr, "2 records, 2 findings (2 new, 0 already stored), 1 below --min-risk VERY_HIGH not shown") ||
		!strings.Contains(r.stderr, "; 0 errors") {
		t.Errorf("summary: %s", r.stderr)
	}
	if n := len(lines(r.stdout)); n != 1 {
		t.Errorf("%d findings printed, want 1", n)
	}
	// A folder of JSON that is not CloudTrail: one line, not one per file.
	dir := t.TempDir()
	for i := range 30 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("meta-%02d.json", i)), []byte(`{"dataset":"x","license":"CC0"}`), 0o600)
	}
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o600)
	r = run(t, "", "scan", "--db", ":memory:", dir)
	if strings.Count(r.stderr, "\n") != 3 || !strings.Contains(r.stderr, `30 files held JSON but no CloudTrail records ("`) || !strings.Contains(r.stderr, "and 27 more") ||
		!strings.Contains(r.stderr, "1 error in 1 file") {
		t.Errorf("foreign files summary:\n%s", r.stderr)
	}
}

// --limit keeps the newest, printed oldest first like every listing.
func TestFindingsOrderAndEmpty(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	run(t, "", "scan", "--quiet", "--db", db, examples)
	all := lines(run(t, "", "findings", "list", "--db", db).stdout)
	last3 := lines(run(t, "", "findings", "list", "--db", db, "--limit", "3").stdout)
	if len(all) != 16 || len(last3) != 3 {
		t.Fatalf("%d findings, %d with --limit 3", len(all), len(last3))
	}
	for i := range 3 {
		if last3[i]["id"] != all[13+i]["id"] {
			t.Errorf("--limit 3 row %d is %v, want %v (the newest three, oldest first)", i, last3[i]["event_time"], all[13+i]["event_time"])
		}
	}
	r := run(t, "", "findings", "list", "--db", db, "--format", "table", "--rule", "S3-*")
	if r.code != ExitOK || strings.TrimSpace(r.stdout) != "no findings match" {
		t.Errorf("empty table: %d %q", r.code, r.stdout)
	}
	if r = run(t, "", "findings", "list", "--db", db, "--format", "json", "--rule", "S3-*"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty json: %q", r.stdout)
	}
	// Relative times in the one duration grammar.
	if r = run(t, "", "findings", "list", "--db", db, "--since", "5200w"); len(lines(r.stdout)) != 16 {
		t.Errorf("--since 5200w: %d findings", len(lines(r.stdout)))
	}
}

// Tables show short ids, and findings show takes any unique prefix.
func TestShortIDs(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	run(t, "", "scan", "--quiet", "--db", db, examples)
	r := run(t, "", "findings", "list", "--db", db, "--format", "table")
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(rows[0], "ID ") || len(rows) != 17 {
		t.Fatalf("table:\n%s", r.stdout)
	}
	short := strings.Fields(rows[1])[0]
	if len(short) != 14 || !strings.HasPrefix(short, "f-") {
		t.Fatalf("short id %q", short)
	}
	for _, prefix := range []string{short, short[:8], strings.TrimPrefix(short, "f-")} {
		r := run(t, "", "findings", "show", "--db", db, prefix)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "Finding:       "+short) {
			t.Errorf("show %s: %d %s %s", prefix, r.code, r.stdout, r.stderr)
		}
	}
	r = run(t, "", "findings", "show", "--db", db, "f-")
	if r.code != ExitError || !strings.Contains(r.stderr, `"f-" is ambiguous: several findings start with it`) || strings.Count(r.stderr, "\n  f-") != 10 {
		t.Errorf("ambiguous prefix: %d\n%s", r.code, r.stderr)
	}
}

// The heartbeat's finding is shown as a trail gone silent.
func TestShowSelfFinding(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tw.db")
	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := finding.Finding{ID: "f-0123456789abcdef01234567", Fingerprint: "x", RuleID: "TRAILWATCH-TRAIL-SILENT", RuleTitle: "Monitored trail went silent",
		Risk: finding.High, EventID: "trailwatch-heartbeat/111122223333/eu-west-1/never", EventTime: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC),
		EventSource: finding.SelfSource, EventName: "TrailSilent", AccountID: "111122223333", Region: "eu-west-1",
		Actor: actor.Actor{Type: finding.SelfSource, Name: "trailwatch heartbeat"}, Outcome: "success", Resource: finding.Resource{Type: "trail", Name: "111122223333/eu-west-1"},
		Summary: "the trail went silent", Changes: map[string]any{"silent_since": "2026-11-20T10:00:00Z", "max_silence": "2h"}}
	if _, err := st.Save(context.Background(), []finding.Finding{f}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := run(t, "", "findings", "show", "--db", db, "f-0123")
	for _, bad := range []string{"Actor:", "MFA", "Method:", "Source IP:", "Event:"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("shows %q:\n%s", bad, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "Silent since:  2026-11-20T10:00:00Z") || !strings.Contains(r.stdout, "Raised by:     trailwatch itself") {
		t.Errorf("show:\n%s", r.stdout)
	}
}

// Hostile bytes in events and file names never reach the terminal raw
// (issue 8 §6).
func TestHostileBytesAreEscaped(t *testing.T) {
	eb, _ := os.ReadFile(filepath.Join(examples, "eventbridge.jsonl"))
	var ev map[string]any
	json.Unmarshal([]byte(strings.Split(string(eb), "\n")[0]), &ev)
	d := ev["detail"].(map[string]any)
	d["eventID"] = "9e8d7c6b-0000-4000-8000-0000000000ff"
	d["requestParameters"].(map[string]any)["name"] = "prod\x1b[2J\r\nFAKE: all clear\u202eevil\u009b31m"
	d["userAgent"] = "aws-cli/2\x07\x1b]0;pwned\x07"
	line, _ := json.Marshal(ev)
	dir := t.TempDir()
	name := filepath.Join(dir, "evil\x1b[31m\nname.jsonl")
	os.WriteFile(name, append(line, '\n'), 0o600)
	os.WriteFile(filepath.Join(dir, "bad\r\nFORGED: 0 errors.json"), []byte("{nope"), 0o600)
	cfg, db := writeConfig(t, "channels: [{name: term, type: console}]\n")
	r := run(t, "", "scan", "--config", cfg, "--notify", "--format", "table", dir)
	noControl(t, "scan --format table and --notify (console)", r.stdout)
	noControl(t, "scan errors and summary", r.stderr)
	if !strings.Contains(r.stdout, `prod\x1b[2J\r\nFAKE: all clear\u202eevil\u009b31m`) {
		t.Errorf("the hostile name is not shown escaped:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, `"`+dir+`/bad\r\nFORGED: 0 errors.json": `) {
		t.Errorf("the file name is not quoted in the error:\n%s", r.stderr)
	}
	r = run(t, "", "findings", "list", "--db", db, "--format", "table")
	noControl(t, "findings list", r.stdout)
	short := strings.Fields(strings.Split(r.stdout, "\n")[1])[0]
	r = run(t, "", "findings", "show", "--db", db, short)
	noControl(t, "findings show", r.stdout)
	if !strings.Contains(r.stdout, `aws-cli/2\x07\x1b]0;pwned\x07`) {
		t.Errorf("findings show:\n%s", r.stdout)
	}
	// An error naming a file with control characters.
	r = run(t, "", "scan", "--db", ":memory:", filepath.Join(dir, "absent\x1b[2J\n.json"))
	noControl(t, "missing file error", r.stderr)
}

func noControl(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Errorf("%s: %U reached the output:\n%q", what, r, s)
			return
		}
	}
	if strings.Contains(s, "\nFAKE") || strings.Contains(s, "\nFORGED") {
		t.Errorf("%s: a forged line:\n%s", what, s)
	}
}

// scan refuses special files unless asked, and --config must be a small
// regular file (issue 8 §3, §6).
func TestSpecialFilesAndConfig(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "trail.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	r := run(t, "", "scan", "--db", ":memory:", fifo)
	if r.code != ExitError || !strings.Contains(r.stderr, "a named pipe (FIFO), not a regular file: not read (name it with --special-files to read it)") {
		t.Errorf("scan of a FIFO: %d %s", r.code, r.stderr)
	}
	for _, cfg := range []string{"/dev/zero", fifo} {
		r := run(t, "", "findings", "list", "--config", cfg)
		if r.code != ExitError || !strings.Contains(r.stderr, "not a regular file") {
			t.Errorf("--config %s: %d %s", cfg, r.code, r.stderr)
		}
	}
}

// Configuration errors: every problem at once, each with its line, from
// every command that reads the file.
func TestConfigProblemsEverywhere(t *testing.T) {
	cfg, _ := writeConfig(t, "rule_default: {}\nrules:\n  EKS-TAG: {enabeld: false}\nheartbeat: {max_silence: 1x}\n")
	for _, args := range [][]string{{"config", "check"}, {"scan", "--db", ":memory:", examples}, {"findings", "list"}, {"run"}} {
		r := run(t, "", append(args, "--config", cfg)...)
		for _, want := range []string{"4 problems", "trailwatch.yaml:2: rule_default: unknown key (did you mean rule_defaults?)",
			"trailwatch.yaml:4: rules.EKS-TAG.enabeld: unknown key (did you mean enabled?)", "trailwatch.yaml:4: rules.EKS-TAG: no such rule (did you mean EKS-TAGS?)",
			`trailwatch.yaml:5: heartbeat.max_silence: "1x": unknown unit "x"`} {
			if r.code != ExitError || !strings.Contains(r.stderr, want) {
				t.Errorf("%v: %d, stderr lacks %q:\n%s", args, r.code, want, r.stderr)
			}
		}
	}
}
