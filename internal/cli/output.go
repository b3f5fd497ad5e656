package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/trailwatch/trailwatch/internal/finding"
)

// formats a finding list can be printed in.
var formats = []string{"table", "json", "jsonl"}

func checkFormat(f string) error {
	for _, x := range formats {
		if f == x {
			return nil
		}
	}
	return fmt.Errorf("unknown format %q (want %s)", f, strings.Join(formats, ", "))
}

// defaultFormat is table on a terminal and JSON lines in a pipe.
func defaultFormat(env *Env) string {
	if env.StdoutTTY {
		return "table"
	}
	return "jsonl"
}

const (
	ansiReset = "\x1b[0m"
)

var riskColour = map[finding.Risk]string{
	finding.Low:      "\x1b[32m",   // green
	finding.Medium:   "\x1b[33m",   // yellow
	finding.High:     "\x1b[31m",   // red
	finding.VeryHigh: "\x1b[1;31m", // bold red
	finding.Extreme:  "\x1b[1;35m", // bold magenta
}

// printFindings writes findings in a format. With raw false the raw event
// is left out of JSON output.
func printFindings(w io.Writer, format string, fs []finding.Finding, colour, raw bool) error {
	strip := func(f finding.Finding) finding.Finding {
		if !raw {
			f.Raw = nil
		}
		return f
	}
	switch format {
	case "json":
		out := make([]finding.Finding, 0, len(fs))
		for _, f := range fs {
			out = append(out, strip(f))
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	case "jsonl":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, f := range fs {
			if err := enc.Encode(strip(f)); err != nil {
				return err
			}
		}
		return nil
	default:
		for _, f := range fs {
			risk := fmt.Sprintf("%-9s", f.Risk)
			if colour {
				risk = riskColour[f.Risk] + risk + ansiReset
			}
			t := "                   "
			if !f.EventTime.IsZero() {
				t = f.EventTime.UTC().Format("2006-01-02 15:04:05")
			}
			if _, err := fmt.Fprintf(w, "%s  %s  %-26s %s\n", t, risk, f.RuleID, f.Summary); err != nil {
				return err
			}
		}
		return nil
	}
}

// printDetail writes one finding in full, for people.
func printDetail(w io.Writer, f finding.Finding) {
	p := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-14s %s\n", k+":", v)
		}
	}
	p("Finding", f.ID)
	p("Summary", f.Summary)
	p("Rule", f.RuleID+" — "+f.RuleTitle)
	p("  reference", strings.Join(f.ReferenceIDs, ", "))
	p("  CIS", strings.Join(f.CIS, ", "))
	p("  author", f.RuleAuthor)
	p("Risk", f.Risk.String())
	for _, r := range f.RiskReasons {
		p("  because", r)
	}
	p("Time", f.EventTime.UTC().Format("2006-01-02 15:04:05 MST"))
	p("Event", f.EventSource+" "+f.EventName+" ("+f.EventID+")")
	p("Outcome", f.Outcome)
	if f.ErrorCode != "" {
		p("Error", f.ErrorCode+": "+f.ErrorMessage)
	}
	p("Account", f.AccountID)
	p("Region", f.Region)
	a := f.Actor
	p("Actor", a.Name+" ("+a.Type+")")
	p("  ARN", a.ARN)
	p("  session", a.SessionName)
	p("  role", a.Role)
	p("  perm. set", a.PermissionSet)
	p("  source id", a.SourceIdentity)
	p("  MFA", fmt.Sprint(a.MFA))
	p("  invoked by", a.InvokedBy)
	p("Method", f.AccessMethod)
	p("User agent", f.UserAgent)
	p("Source IP", f.SourceIP)
	p("Resource", strings.TrimSpace(f.Resource.Type+" "+f.Resource.Name))
	p("  ARN", f.Resource.ARN)
	if len(f.Changes) > 0 {
		b, _ := json.MarshalIndent(f.Changes, "               ", "  ")
		p("Changes", string(b))
	}
	p("Remediation", f.Remediation)
	p("Fingerprint", f.Fingerprint)
	p("Origin", f.Origin)
	if len(f.Raw) > 0 {
		fmt.Fprintln(w, "Raw event:")
		fmt.Fprintln(w, string(f.Raw))
	}
}
