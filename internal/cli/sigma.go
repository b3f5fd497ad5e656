package cli

import (
	"context"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/rule/sigma"
)

// rulesImportSigma converts Sigma rules for CloudTrail into a trailwatch
// rule file: trailwatch rules import-sigma [--out FILE] FILE|DIR ...
func rulesImportSigma(_ context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	out := fs.String("out", "", "write the converted rules to `FILE` (default: standard output); put it in a rules folder (rule_paths or --rules) to run them")
	paths, code, ok := c.parse(env, fs, args, 1, -1)
	if !ok {
		return code
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return fail(env, err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			n := strings.ToLower(d.Name())
			if !d.IsDir() && (strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".jsonl")) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return fail(env, err)
		}
	}
	sort.Strings(files)
	var body strings.Builder
	imported, failed := 0, 0
	seen := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fail(env, err)
		}
		rules, errs := sigma.Read(f, data)
		for _, e := range errs {
			failed++
			fmt.Fprintf(env.Stderr, "skipped %s\n", printable.Line(e.Error()))
		}
		for _, s := range rules {
			res := sigma.Convert(s)
			if prev, dup := seen[res.ID]; dup && res.Err == nil {
				res.Err = fmt.Errorf("rule id %s is also the id of %s", res.ID, prev)
			}
			if res.Err != nil {
				failed++
				fmt.Fprintf(env.Stderr, "skipped %s (%s): %s\n", printable.Quote(s.Name()), printable.Line(res.Where), printable.Line(res.Err.Error()))
				continue
			}
			seen[res.ID] = res.Where
			imported++
			for _, n := range res.Notes {
				fmt.Fprintf(env.Stderr, "note: %s %s: %s\n", printable.Line(res.ID), printable.Quote(s.Name()), printable.Line(n))
			}
			body.WriteString(res.YAML)
		}
	}
	text := "# Converted by trailwatch rules import-sigma from Sigma rules (Detection Rule\n" +
		"# License 1.1: every alert of these rules names the rule's author).\n" +
		"rules:\n" + body.String()
	if imported == 0 {
		text = "rules: []\n"
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if *out == "" {
		fmt.Fprint(env.Stdout, text)
	} else if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		return fail(env, err)
	}
	summary := env.Stderr // stdout carries the rules
	if *out != "" {
		summary = env.Stdout
		fmt.Fprintf(summary, "%s: ", printable.Quote(*out))
	}
	fmt.Fprintf(summary, "%d %s imported, %d skipped\n", imported, pluralWord(imported, "rule", "rules"), failed)
	if failed > 0 {
		return ExitError
	}
	return ExitOK
}
