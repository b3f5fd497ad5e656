package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
)

func versionCommand() *command {
	return &command{
		name:    "version",
		args:    "",
		summary: "print the version, the source revision and the Go version",
		help: `Print the module version (a tag when installed with go install …@version, "(devel)"
for a local build), the source revision it was built from (with "+modified" when the
working tree had changes) and the Go version. trailwatch --version is the same.`,
		examples: []string{"trailwatch version", "trailwatch --version"},
		run: func(_ context.Context, env *Env, c *command, args []string) int {
			fs := c.flags()
			if _, code, ok := c.parse(env, fs, args, 0, 0); !ok {
				return code
			}
			info, ok := debug.ReadBuildInfo()
			fmt.Fprintln(env.Stdout, versionLine(Version, info, ok))
			return ExitOK
		},
	}
}

// versionLine describes a build: "trailwatch v1.2.0 (rev 0123abcd4567,
// 2026-11-20T10:00:00Z) go1.26.0". set is the version set at build time,
// which wins over the module's.
func versionLine(set string, info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		if set != "" {
			return "trailwatch " + set
		}
		return "trailwatch (unknown version: built without module information)"
	}
	version := info.Main.Version
	if set != "" {
		version = set
	}
	if version == "" {
		version = "(devel)"
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	var b strings.Builder
	b.WriteString("trailwatch " + version)
	switch {
	case rev != "":
		if len(rev) > 12 {
			rev = rev[:12]
		}
		b.WriteString(" (rev " + rev + modified)
		if at != "" {
			b.WriteString(", " + at)
		}
		b.WriteString(")")
	default:
		b.WriteString(" (no source revision: built outside a git checkout, or with -buildvcs=false)")
	}
	b.WriteString(" " + info.GoVersion)
	return b.String()
}
