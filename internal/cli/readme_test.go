package cli

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readmeCommand is one trailwatch command of README.md.
type readmeCommand struct {
	line    string   // as written
	args    []string // after "trailwatch"
	stdin   string   // a "< file" redirect
	comment string
}

// readmeCommands returns the trailwatch commands of README.md's sh blocks,
// in order: the first command of each pipeline, each side of &&, without
// the trailing comment; lines ending in & (run in the background) are left
// to TestReadmeRunSequence.
func readmeCommands(t *testing.T, readme string) []readmeCommand {
	t.Helper()
	var out []readmeCommand
	in := false
	for _, l := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
			continue
		case strings.HasPrefix(l, "```"):
			in = false
			continue
		}
		if !in {
			continue
		}
		cmd, comment := splitComment(l)
		cmd = strings.TrimSpace(cmd)
		if strings.HasSuffix(cmd, "&") && !strings.HasSuffix(cmd, "&&") {
			continue
		}
		for _, part := range strings.Split(cmd, " && ") {
			part, _, _ = strings.Cut(part, " | ")
			words := shellWords(t, part)
			if len(words) == 0 || words[0] != "trailwatch" {
				continue
			}
			c := readmeCommand{line: strings.TrimSpace(l), comment: comment}
			for i := 1; i < len(words); i++ {
				if words[i] == "<" && i+1 < len(words) {
					c.stdin = words[i+1]
					i++
					continue
				}
				c.args = append(c.args, words[i])
			}
			out = append(out, c)
		}
	}
	return out
}

// splitComment cuts a trailing "# comment" outside quotes.
func splitComment(l string) (string, string) {
	var q rune
	for i, r := range l {
		switch {
		case q != 0 && r == q:
			q = 0
		case q == 0 && (r == '\'' || r == '"'):
			q = r
		case q == 0 && r == '#' && (i == 0 || l[i-1] == ' '):
			return l[:i], strings.TrimSpace(l[i+1:])
		}
	}
	return l, ""
}

// shellWords splits a command line as sh would, for the quoting README
// uses (single and double quotes, no escapes or expansions).
func shellWords(t *testing.T, s string) []string {
	var words []string
	var cur strings.Builder
	var q rune
	have := false
	for _, r := range s {
		switch {
		case q != 0 && r == q:
			q = 0
		case q != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			q, have = r, true
		case r == ' ' || r == '\t':
			if have || cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			if strings.ContainsRune("$`\\", r) {
				t.Fatalf("README command uses shell features the test does not run: %s", s)
			}
			cur.WriteRune(r)
		}
	}
	if have || cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

// inCopy runs the test in a temporary folder holding a copy of examples/,
// as README's commands run from the repository root.
func inCopy(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs(examples)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(dir, "examples", rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return dir
}

var exitWanted = regexp.MustCompile(`\bexit (\d+)\b`)

// Every trailwatch command of README.md, run in order on the shipped
// examples as a user on a terminal would, succeeds (or exits with the
// status its comment names) and prints something; the sample output of
// the first scan is what the scan prints.
func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t, string(readme))
	if len(cmds) < 15 {
		t.Fatalf("only %d trailwatch commands found in README.md", len(cmds))
	}
	inCopy(t)
	for _, c := range cmds {
		t.Logf("README: trailwatch %s", strings.Join(c.args, " "))
	}
	var firstScan string
	for _, c := range cmds {
		want := ExitOK
		if m := exitWanted.FindStringSubmatch(c.comment); m != nil && !strings.Contains(c.comment, "exit 2 if") {
			want, _ = strconv.Atoi(m[1])
		}
		var stdin io.Reader = strings.NewReader("")
		if c.stdin != "" {
			b, err := os.ReadFile(c.stdin)
			if err != nil {
				t.Fatalf("%s: %v", c.line, err)
			}
			stdin = bytes.NewReader(b)
		}
		var out, errb bytes.Buffer
		env := &Env{Stdin: stdin, Stdout: &out, Stderr: &errb, StdoutTTY: true, StderrTTY: true,
			Getenv: func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }}
		code := Main(context.Background(), env, c.args)
		if code != want || strings.TrimSpace(out.String()) == "" {
			t.Errorf("README: %s\nexit %d (want %d), stdout %d bytes; stderr:\n%s", c.line, code, want, out.Len(), errb.String())
		}
		if firstScan == "" && len(c.args) == 2 && c.args[0] == "scan" && c.args[1] == "examples/" {
			firstScan = out.String()
		}
	}
	// The sample output shown after the first command.
	block := regexp.MustCompile("(?s)On a terminal, the scan prints.*?```\n(.*?)```").FindStringSubmatch(string(readme))
	if block == nil || firstScan == "" {
		t.Fatal("README's sample output or its scan command not found")
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	got := map[string]bool{}
	for _, l := range strings.Split(firstScan, "\n") {
		got[norm(l)] = true
	}
	for _, l := range strings.Split(strings.TrimSpace(block[1]), "\n") {
		if l != "..." && !got[norm(l)] {
			t.Errorf("README shows a line the scan does not print:\n%s\nscan printed:\n%s", l, firstScan)
		}
	}
}

// README's trailwatch run sequence: with a database of its own, the
// example events posted to the default webhook raise console alerts, and
// /metrics has trailwatch_findings_total. The listen addresses are the
// defaults' with port 0, so the test never collides with another program.
func TestReadmeRunSequence(t *testing.T) {
	readme, _ := os.ReadFile("../../README.md")
	for _, want := range []string{"trailwatch run --db run.db &", "--data-binary @examples/eventbridge.jsonl http://127.0.0.1:8080/events",
		"http://127.0.0.1:9090/metrics | grep trailwatch_findings_total"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Fatalf("README's run sequence changed (lacks %q): update this test", want)
		}
	}
	dir := inCopy(t)
	// A scan first, as README does: run's own database still alerts.
	run(t, "", "scan", "--quiet", "examples/")
	os.WriteFile("ports.yaml", []byte(`sources: [{name: local-webhook, type: webhook, listen: "127.0.0.1:0", allow_no_auth: true}]
admin: {listen: "127.0.0.1:0"}
`), 0o600)
	var out, errb syncBuffer
	addrs := make(chan map[string]string, 1)
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Started: func(a map[string]string) { addrs <- a }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, env, []string{"run", "--config", "ports.yaml", "--db", "run.db"}) }()
	var a map[string]string
	select {
	case a = <-addrs:
	case code := <-done:
		t.Fatalf("run exited %d:\n%s", code, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("run did not start")
	}
	body, _ := os.ReadFile(filepath.Join(dir, "examples", "eventbridge.jsonl"))
	resp, err := http.Post("http://"+a["local-webhook"]+"/events", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), "=== [") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no console alerts after the POST:\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"=== [HIGH] EKS cluster configuration changed: prod", "=== [VERY_HIGH] EKS Pod Identity association changed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, out.String())
		}
	}
	resp, err = http.Get("http://" + a["admin"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(m, []byte(`trailwatch_findings_total{risk="HIGH",rule="EKS-CLUSTER-CONFIG"} 1`)) {
		t.Errorf("/metrics:\n%s", m)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("run stopped with %d, want 0:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
