package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Text is a message rendered for people.
type Text struct {
	// Title is one line (e-mail subject, ticket subject, incident short
	// description).
	Title string
	// Body is plain text over several lines.
	Body string
	// Short is one sentence for SMS and pagers.
	Short string
}

// Templates render Text from a Message. Each is a Go text/template whose
// data is a Message (fields .Finding, .Kind, .Repeats, .Escalated,
// .DashboardURL) with
// helper functions join, upper, lower, json, time and trunc.
type Templates struct {
	title, body, short *template.Template
}

// Default template sources.
const (
	DefaultTitle = `{{if eq .Kind "test"}}[TEST] {{end}}{{if eq .Kind "escalation"}}[ESCALATED] {{end}}[{{.Finding.Risk}}] {{.Finding.RuleTitle}}{{with .Finding.Resource.Name}}: {{.}}{{end}}{{if gt .Repeats 1}} (seen {{.Repeats}} times){{end}}`
	DefaultShort = `{{if eq .Kind "test"}}TEST: {{end}}{{if eq .Kind "escalation"}}ESCALATED {{end}}trailwatch {{.Finding.Risk}}: {{.Finding.Summary}}`
	DefaultBody  = `{{if eq .Kind "test"}}*** TEST MESSAGE from trailwatch: no action needed ***

{{end}}{{.Finding.Summary}}
{{with .Escalated}}
ESCALATED: an alert of this change is open, and this is new:
{{- range .Why}}
  - {{.}}
{{- end}}
{{end}}{{if gt .Repeats 1}}
This change was seen {{.Repeats}} times while its alert was open.
{{end}}
Risk:       {{.Finding.Risk}}
{{- range .Finding.RiskReasons}}
  - {{.}}
{{- end}}
Who:        {{.Finding.Actor.Name}}{{if not (contains .Finding.Actor.Name "(")}} ({{.Finding.Actor.Type}}){{end}}{{with .Finding.Actor.ARN}} {{.}}{{end}}
MFA:        {{if .Finding.Actor.MFA}}yes{{else}}no{{end}}{{with .Finding.Actor.InvokedBy}}
Through:    {{.}}{{end}}
How:        {{.Finding.AccessMethod}}{{with .Finding.UserAgent}} ({{trunc 200 .}}){{end}}
From:       {{.Finding.SourceIP}}
Outcome:    {{.Finding.Outcome}}{{with .Finding.ErrorCode}} ({{.}}){{end}}
Where:      account {{.Finding.AccountID}}, {{.Finding.Region}}
Resource:   {{.Finding.Resource.Type}} {{.Finding.Resource.Name}}{{with .Finding.Resource.ARN}} ({{.}}){{end}}
Event:      {{.Finding.EventSource}} {{.Finding.EventName}} at {{time .Finding.EventTime}}
Event id:   {{.Finding.EventID}}
{{- if .Finding.Changes}}
Changes:    {{trunc 1500 (json .Finding.Changes)}}
{{- end}}
{{with .Finding.Remediation}}
What to do: {{.}}
{{end}}
Rule:       {{.Finding.RuleID}}
Finding:    {{.Finding.ID}}{{with .DashboardURL}}
Details:    {{.}}{{end}}
`
)

var funcs = template.FuncMap{
	"join":     strings.Join,
	"contains": strings.Contains,
	"upper":    strings.ToUpper,
	"lower":    strings.ToLower,
	"json": func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Sprint(v)
		}
		return strings.TrimSpace(b.String())
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "unknown time"
		}
		return t.UTC().Format(time.RFC3339)
	},
	"trunc": func(n int, s string) string { return TruncateRunes(s, n) },
}

// DefaultTemplates returns the built-in templates.
func DefaultTemplates() *Templates {
	t, err := ParseTemplates("", "", "")
	if err != nil {
		panic(err)
	}
	return t
}

// ParseTemplates parses templates; an empty source keeps the default.
func ParseTemplates(title, body, short string) (*Templates, error) {
	pick := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	var t Templates
	var err error
	if t.title, err = template.New("title").Funcs(funcs).Option("missingkey=error").Parse(pick(title, DefaultTitle)); err != nil {
		return nil, fmt.Errorf("title template: %w", err)
	}
	if t.body, err = template.New("body").Funcs(funcs).Option("missingkey=error").Parse(pick(body, DefaultBody)); err != nil {
		return nil, fmt.Errorf("body template: %w", err)
	}
	if t.short, err = template.New("short").Funcs(funcs).Option("missingkey=error").Parse(pick(short, DefaultShort)); err != nil {
		return nil, fmt.Errorf("short template: %w", err)
	}
	return &t, nil
}

// Render executes the templates for a message.
func (t *Templates) Render(m Message) (Text, error) {
	var out Text
	for _, x := range []struct {
		tpl *template.Template
		dst *string
	}{{t.title, &out.Title}, {t.body, &out.Body}, {t.short, &out.Short}} {
		var b bytes.Buffer
		if err := x.tpl.Execute(&b, m); err != nil {
			return Text{}, Permanent(fmt.Errorf("render %s template: %w", x.tpl.Name(), err))
		}
		*x.dst = b.String()
	}
	out.Title = strings.Join(strings.Fields(out.Title), " ")
	out.Short = strings.Join(strings.Fields(out.Short), " ")
	return out, nil
}
