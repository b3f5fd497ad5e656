package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

// runEnv runs the command line with an Env the test adjusts.
func runEnv(t *testing.T, adjust func(*Env), args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	if adjust != nil {
		adjust(env)
	}
	code := Main(context.Background(), env, args)
	return result{code, out.String(), errb.String()}
}

// every visits every command of the tree.
func every(c *command, f func(*command)) {
	f(c)
	for _, s := range c.subs {
		every(s, f)
	}
}

// Every command and subcommand answers -h, --help and help with a usage
// line, a description and examples on stdout, and exits 0.
func TestHelpEverywhere(t *testing.T) {
	every(commands(), func(c *command) {
		words := strings.Fields(c.path)[1:]
		forms := [][]string{
			append(append([]string(nil), words...), "-h"),
			append(append([]string(nil), words...), "--help"),
			append([]string{"help"}, words...),
		}
		if c.run == nil {
			forms = append(forms, append(append([]string(nil), words...), "help"))
		}
		for _, args := range forms {
			r := run(t, "", args...)
			name := strings.Join(args, " ")
			if r.code != ExitOK || r.stderr != "" {
				t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
				continue
			}
			for _, want := range []string{"Usage: " + c.path, "Examples:\n  trailwatch"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s: help lacks %q:\n%s", name, want, r.stdout)
				}
			}
			if lines := strings.Split(r.stdout, "\n"); len(lines) < 3 || lines[1] != "" || len(lines[2]) < 10 {
				t.Errorf("%s: no description after the usage line:\n%s", name, r.stdout)
			}
		}
	})
	if r := run(t, ""); r.code != ExitError || !strings.Contains(r.stderr, "Usage: trailwatch COMMAND") {
		t.Errorf("no arguments: %d %s", r.code, r.stderr)
	}
}

// Each subcommand shows only its own flags; flags that take a risk list
// the levels.
func TestHelpShowsOwnFlags(t *testing.T) {
	r := run(t, "", "outbox", "list", "--help")
	for _, other := range []string{"--all-dead", "--timeout", "--attempt-timeout"} {
		if strings.Contains(r.stdout, other) {
			t.Errorf("outbox list --help shows %s:\n%s", other, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "--status STATE") {
		t.Errorf("outbox list --help lacks --status:\n%s", r.stdout)
	}
	for _, args := range [][]string{{"scan", "-h"}, {"findings", "list", "-h"}} {
		r := run(t, "", args...)
		if !strings.Contains(r.stdout, "LOW, MEDIUM, HIGH, VERY_HIGH or EXTREME") {
			t.Errorf("%v: risk levels not listed:\n%s", args, r.stdout)
		}
	}
	if r := run(t, "", "rules", "show", "-h"); !strings.Contains(r.stdout, "Usage: trailwatch rules show [flags] ID") {
		t.Errorf("rules show usage omits the id:\n%s", r.stdout)
	}
	if r := run(t, "", "rules", "show"); r.code != ExitError || !strings.Contains(r.stderr, "missing ID") {
		t.Errorf("rules show without an id: %d %s", r.code, r.stderr)
	}
}

func TestUnknownCommandsAndFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scna"}, `unknown command "scna" (did you mean scan?)`},
		{[]string{"findings", "lst"}, `unknown subcommand "lst" (did you mean list?)`},
		{[]string{"findings", "list", "--min-rsk", "HIGH"}, "unknown flag --min-rsk (did you mean --min-risk?)"},
		{[]string{"findings", "list", "--min-risk", "SEVERE"}, `invalid value "SEVERE" for flag --min-risk: unknown risk level`},
		{[]string{"findings", "list", "--format", "xml"}, `--format: unknown format "xml" (want table, json, jsonl)`},
		{[]string{"findings", "list", "--outcome", "denid"}, `--outcome: "denid" is not success, denied or failed (did you mean denied?)`},
		{[]string{"findings", "list", "--since", "soon"}, `--since: "soon" is not a time`},
		{[]string{"outbox", "list", "--status", "weird"}, `--status: "weird" is not one of pending, sending, done, dead, dropped`},
		{[]string{"outbox", "retry"}, "name delivery ids"},
		{[]string{"outbox", "drop", "x"}, `"x" is not a delivery id`},
		{[]string{"rules", "test", "--format", "yaml"}, `unknown format "yaml"`},
		{[]string{"findings", "list", "extra"}, `takes no arguments, got "extra"`},
	} {
		r := run(t, "", tc.args...)
		if r.code != ExitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, "", args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "trailwatch ") {
			t.Errorf("%v: %d %q", args, r.code, r.stdout)
		}
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-11-20T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got := versionLine("", info, true); got != "trailwatch v1.2.0 (rev 0123456789ab+modified, 2026-11-20T10:00:00Z) go1.26.0" {
		t.Errorf("versionLine = %q", got)
	}
	if got := versionLine("0.3.0", info, true); !strings.HasPrefix(got, "trailwatch 0.3.0 (rev 0123456789ab") {
		t.Errorf("versionLine with a set version = %q", got)
	}
	info.Settings, info.Main.Version = nil, "(devel)"
	if got := versionLine("", info, true); !strings.Contains(got, "(devel) (no source revision") {
		t.Errorf("versionLine without vcs = %q", got)
	}
}

// rules JSON is snake_case like findings, and rules test takes --format.
func TestRulesJSON(t *testing.T) {
	for _, args := range [][]string{{"rules", "list", "--format", "json"}, {"rules", "show", "--format", "json", "EKS-ACCESS-POLICY"}, {"rules", "test", "--format", "json"}} {
		r := run(t, "", args...)
		if r.code != ExitOK {
			t.Errorf("%v: exit %d %s", args, r.code, r.stderr)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Errorf("%v: not JSON: %v", args, err)
			continue
		}
		checkSnake(t, strings.Join(args, " "), v)
	}
	r := run(t, "", "rules", "test", "--format", "json")
	var res struct {
		Passed, Failed int
		Failures       []any
	}
	json.Unmarshal([]byte(r.stdout), &res)
	if res.Passed == 0 || res.Failed != 0 || res.Failures == nil {
		t.Errorf("rules test json: %s", r.stdout)
	}
}

// checkSnake fails on any key that is not snake_case, at any depth (the
// values of changes and raw events are CloudTrail's own and not checked:
// callers pass outputs without them).
func checkSnake(t *testing.T, what string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k != strings.ToLower(k) || strings.Contains(k, "-") {
				t.Errorf("%s: key %q is not snake_case", what, k)
			}
			if k == "changes" || k == "raw" {
				continue
			}
			checkSnake(t, what, e)
		}
	case []any:
		for _, e := range x {
			checkSnake(t, what, e)
		}
	}
}
