package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/printable"
)

// checkFormat checks a --format value against the ones a command takes.
func checkFormat(f string, allowed ...string) error {
	if slices.Contains(allowed, f) {
		return nil
	}
	return fmt.Errorf("--format: unknown format %s (want %s)", printable.Quote(f), strings.Join(allowed, ", "))
}

// defaultFormat is table on a terminal and JSON lines in a pipe.
func defaultFormat(env *Env) string {
	if env.StdoutTTY {
		return "table"
	}
	return "jsonl"
}

const ansiReset = "\x1b[0m"

var riskColour = map[finding.Risk]string{
	finding.Low:      "\x1b[32m",   // green
	finding.Medium:   "\x1b[33m",   // yellow
	finding.High:     "\x1b[31m",   // red
	finding.VeryHigh: "\x1b[1;31m", // bold red
	finding.Extreme:  "\x1b[1;35m", // bold magenta
}

// shortLen is how many characters of a finding id tables show ("f-" and
// 12 hex digits, 48 bits): like git's short hashes, any unique prefix is
// accepted back by findings show.
const shortLen = 14

func shortID(id string) string {
	if strings.HasPrefix(id, "f-") && len(id) > shortLen {
		return id[:shortLen]
	}
	return id
}

// noFindings is what an empty table says.
const noFindings = "no findings match"

// printFindings writes findings in a format. With raw false the raw event
// is left out of JSON output. A table escapes every field and says so when
// it is empty; JSON is an empty array, JSON lines nothing.
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
	}
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, noFindings)
		return err
	}
	// Colour codes would upset the column widths: mark the risk cells,
	// align, then colour (every row's mark is as wide, so columns stay
	// aligned).
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	head := "RISK"
	if colour {
		head = "\x00RISK\x01"
	}
	fmt.Fprintln(tw, "ID\tTIME (UTC)\t"+head+"\tRULE\tSUMMARY")
	for _, f := range fs {
		t := "-"
		if !f.EventTime.IsZero() {
			t = f.EventTime.UTC().Format("2006-01-02 15:04:05")
		}
		risk := f.Risk.String()
		if colour {
			risk = "\x00" + risk + "\x01"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable.Line(shortID(f.ID)), t, risk, printable.Line(f.RuleID), printable.Line(f.Summary))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	out := b.String()
	if colour {
		out = strings.Replace(out, head, "RISK", 1)
		for r := finding.Low; r <= finding.Extreme; r++ {
			out = strings.ReplaceAll(out, "\x00"+r.String()+"\x01", riskColour[r]+r.String()+ansiReset)
		}
	}
	_, err := io.WriteString(w, out)
	return err
}

// printDetail writes one finding in full, for people, every field escaped.
func printDetail(w io.Writer, f finding.Finding) {
	raw := f.Raw
	f = printable.Finding(f)
	p := func(k, v string) {
		if strings.TrimSpace(v) != "" {
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
	p("Account", f.AccountID)
	p("Region", f.Region)
	if f.EventSource == finding.SelfSource {
		// A finding trailwatch raised itself (a trail gone silent): no
		// AWS call, so no actor, method, address or event.
		p("Raised by", "trailwatch itself: no AWS call was made")
		if since, ok := f.Changes["silent_since"].(string); ok {
			p("Silent since", since)
		}
		if ms, ok := f.Changes["max_silence"].(string); ok {
			p("Max silence", ms)
		}
	} else {
		p("Event", f.EventSource+" "+f.EventName+" ("+f.EventID+")")
		p("Outcome", f.Outcome)
		if f.ErrorCode != "" {
			p("Error", f.ErrorCode+": "+f.ErrorMessage)
		}
		a := f.Actor
		p("Actor", a.Name+" ("+a.Type+")")
		p("  ARN", a.ARN)
		p("  session", a.SessionName)
		p("  role", a.Role)
		p("  perm. set", a.PermissionSet)
		p("  source id", a.SourceIdentity)
		if a.ARN != "" {
			p("  MFA", yesNo(a.MFA))
		}
		p("  invoked by", a.InvokedBy)
		p("Method", f.AccessMethod)
		p("User agent", f.UserAgent)
		p("Source IP", f.SourceIP)
	}
	p("Resource", strings.TrimSpace(f.Resource.Type+" "+f.Resource.Name))
	p("  ARN", f.Resource.ARN)
	if len(f.Changes) > 0 && f.EventSource != finding.SelfSource {
		b, _ := json.MarshalIndent(f.Changes, "               ", "  ")
		p("Changes", string(b))
	}
	p("Remediation", f.Remediation)
	p("Fingerprint", f.Fingerprint)
	p("Origin", f.Origin)
	if len(raw) > 0 {
		fmt.Fprintln(w, "Raw event:")
		fmt.Fprintln(w, printable.Text(string(raw)))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeJSON writes v as indented JSON.
func writeJSON(env *Env, v any) int {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fail(env, err)
	}
	return ExitOK
}

// durationValue is a flag read in the one duration grammar.
type durationValue time.Duration

func (d *durationValue) String() string { return duration.Format(time.Duration(*d)) }
func (d *durationValue) Set(s string) error {
	v, err := duration.Parse(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func durationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := def
	fs.Var((*durationValue)(&d), name, usage)
	return &d
}

// riskFlag is a flag holding a risk level.
type riskValue struct{ r *finding.Risk }

func (v riskValue) String() string {
	if v.r == nil || *v.r == 0 {
		return ""
	}
	return v.r.String()
}
func (v riskValue) Set(s string) error {
	r, err := finding.ParseRisk(s)
	if err != nil {
		return err
	}
	*v.r = r
	return nil
}

func riskFlag(fs *flag.FlagSet, name, usage string) *finding.Risk {
	var r finding.Risk
	fs.Var(riskValue{&r}, name, usage+" ("+riskLevels+")")
	return &r
}
