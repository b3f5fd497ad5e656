package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

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
	if format == "json" || format == "jsonl" {
		fw := newFindingWriter(w, format, colour, raw, 0)
		for i := range fs {
			if err := fw.Write(&fs[i]); err != nil {
				return err
			}
		}
		return fw.Close()
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

// findingWriter prints findings one at a time and holds none: JSON as a
// streaming array (the same bytes encoding the whole slice gives), JSON
// lines, or a table whose columns have fixed widths (the rule column as
// wide as the longest rule id of the catalogue), so no row waits for the
// others. Render and WriteRendered split Write for callers that sort the
// rendered findings before printing them (scan's spill).
type findingWriter struct {
	w         io.Writer
	format    string
	colour    bool
	raw       bool
	ruleWidth int
	n         int
	buf       bytes.Buffer
	enc       *json.Encoder
}

// Widths of the fixed table columns: the short id, the time, the longest
// risk level.
const (
	idWidth   = shortLen
	timeWidth = len("2006-01-02 15:04:05")
	riskWidth = len("VERY_HIGH")
	colGap    = "  "
)

func newFindingWriter(w io.Writer, format string, colour, raw bool, ruleWidth int) *findingWriter {
	fw := &findingWriter{w: w, format: format, colour: colour, raw: raw, ruleWidth: max(ruleWidth, len("RULE"))}
	fw.enc = json.NewEncoder(&fw.buf)
	fw.enc.SetEscapeHTML(false)
	if format == "json" {
		// An element of the array, as encoding the array indents it.
		fw.enc.SetIndent("  ", "  ")
	}
	return fw
}

// Render returns the bytes that stand for f in the format, whatever its
// place in the output. The slice is valid until the next call.
func (fw *findingWriter) Render(f *finding.Finding) ([]byte, error) {
	fw.buf.Reset()
	switch fw.format {
	case "json", "jsonl":
		c := *f
		if !fw.raw {
			c.Raw = nil
		}
		if err := fw.enc.Encode(&c); err != nil {
			return nil, err
		}
		b := fw.buf.Bytes()
		if fw.format == "json" {
			b = b[:len(b)-1] // the separator decides what follows
		}
		return b, nil
	}
	t := "-"
	if !f.EventTime.IsZero() {
		t = f.EventTime.UTC().Format("2006-01-02 15:04:05")
	}
	b := &fw.buf
	pad(b, printable.Line(shortID(f.ID)), idWidth)
	pad(b, t, timeWidth)
	risk := f.Risk.String()
	if c, ok := riskColour[f.Risk]; ok && fw.colour {
		b.WriteString(c + risk + ansiReset)
		b.WriteString(strings.Repeat(" ", max(riskWidth-len(risk), 0)) + colGap)
	} else {
		pad(b, risk, riskWidth)
	}
	pad(b, printable.Line(f.RuleID), fw.ruleWidth)
	b.WriteString(printable.Line(f.Summary))
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// pad writes s and the spaces that fill its column and the gap.
func pad(b *bytes.Buffer, s string, width int) {
	b.WriteString(s)
	b.WriteString(strings.Repeat(" ", max(width-utf8.RuneCountInString(s), 0)))
	b.WriteString(colGap)
}

// WriteRendered prints one finding Render gave, with what goes before it.
func (fw *findingWriter) WriteRendered(b []byte) error {
	var head string
	switch {
	case fw.format == "json" && fw.n == 0:
		head = "[\n  "
	case fw.format == "json":
		head = ",\n  "
	case fw.format == "table" && fw.n == 0:
		var h bytes.Buffer
		pad(&h, "ID", idWidth)
		pad(&h, "TIME (UTC)", timeWidth)
		pad(&h, "RISK", riskWidth)
		pad(&h, "RULE", fw.ruleWidth)
		h.WriteString("SUMMARY\n")
		head = h.String()
	}
	fw.n++
	if head != "" {
		if _, err := io.WriteString(fw.w, head); err != nil {
			return err
		}
	}
	_, err := fw.w.Write(b)
	return err
}

// Write prints one finding.
func (fw *findingWriter) Write(f *finding.Finding) error {
	b, err := fw.Render(f)
	if err != nil {
		return err
	}
	return fw.WriteRendered(b)
}

// Close ends the output: the JSON array's end, or what an empty table
// says.
func (fw *findingWriter) Close() error {
	var tail string
	switch {
	case fw.format == "json" && fw.n == 0:
		tail = "[]\n"
	case fw.format == "json":
		tail = "\n]\n"
	case fw.format == "table" && fw.n == 0:
		tail = noFindings + "\n"
	}
	_, err := io.WriteString(fw.w, tail)
	return err
}

// sizeValue is a flag holding a number of bytes: 1048576, 512KB, 64MB, 1GB
// (KB, MB and GB are binary multiples; KiB, MiB and GiB are accepted too).
type sizeValue int64

func (v *sizeValue) String() string {
	n := int64(*v)
	switch {
	case n > 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGB", n>>30)
	case n > 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMB", n>>20)
	case n > 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

func (v *sizeValue) Set(s string) error {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return fmt.Errorf("%s is not a size (such as 64MB, 512KB or a number of bytes)", printable.Quote(s))
	}
	*v = sizeValue(n * mult)
	return nil
}

func sizeFlag(fs *flag.FlagSet, name string, def int64, usage string) *int64 {
	n := def
	fs.Var((*sizeValue)(&n), name, usage)
	return &n
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
