package email

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/notify"
)

// maxChanges bounds the JSON of the changes shown in the HTML part.
const maxChanges = 20000

// riskColours are the heading colours per risk level.
var riskColours = map[finding.Risk]string{
	finding.Low:      "#2e7d32",
	finding.Medium:   "#b26a00",
	finding.High:     "#e65100",
	finding.VeryHigh: "#c62828",
	finding.Extreme:  "#6a1b9a",
}

type row struct{ Label, Value string }

type htmlView struct {
	Title, Summary, Colour, Risk string
	Test                         bool
	Repeats                      int
	Reasons                      []string
	Escalated                    []string
	Rows                         []row
	Changes                      string
	Remediation                  string
	References                   []string
	DashboardURL                 string
}

// htmlTemplate escapes every value: finding fields come from CloudTrail
// records, which anyone able to call an AWS API can fill with markup.
var htmlTemplate = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#222;margin:0;padding:16px">
{{- if .Test}}
<p style="background:#fff3cd;border:1px solid #e0c060;padding:8px;font-weight:bold">TEST MESSAGE from trailwatch: no action needed.</p>
{{- end}}
<h2 style="margin:0 0 8px 0;padding:8px 12px;color:#fff;background:{{.Colour}}">{{.Title}}</h2>
<p>{{.Summary}}</p>
{{- if .Escalated}}
<p style="margin-bottom:4px;background:#f8d7da;border:1px solid #d08080;padding:8px"><strong>ESCALATED: an alert of this change is open, and this is new:</strong></p>
<ul style="margin-top:0">
{{- range .Escalated}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if gt .Repeats 1}}
<p><strong>This change was seen {{.Repeats}} times while its alert was open.</strong></p>
{{- end}}
{{- if .Reasons}}
<p style="margin-bottom:4px"><strong>Why it is risky</strong></p>
<ul style="margin-top:0">
{{- range .Reasons}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
<table cellpadding="4" cellspacing="0" style="border-collapse:collapse;border:1px solid #ddd">
{{- range .Rows}}
<tr><th align="left" valign="top" style="background:#f5f5f5;border:1px solid #ddd;white-space:nowrap">{{.Label}}</th><td style="border:1px solid #ddd">{{.Value}}</td></tr>
{{- end}}
{{- with .DashboardURL}}
<tr><th align="left" valign="top" style="background:#f5f5f5;border:1px solid #ddd">Details</th><td style="border:1px solid #ddd"><a href="{{.}}">{{.}}</a></td></tr>
{{- end}}
</table>
{{- with .Changes}}
<p style="margin-bottom:4px"><strong>Changes</strong></p>
<pre style="margin-top:0;background:#f5f5f5;border:1px solid #ddd;padding:8px;white-space:pre-wrap;word-break:break-all">{{.}}</pre>
{{- end}}
{{- with .Remediation}}
<p><strong>What to do:</strong> {{.}}</p>
{{- end}}
{{- if .References}}
<p style="margin-bottom:4px"><strong>References</strong></p>
<ul style="margin-top:0">
{{- range .References}}
<li><a href="{{.}}">{{.}}</a></li>
{{- end}}
</ul>
{{- end}}
<p style="color:#777;font-size:12px">Sent by trailwatch.</p>
</body></html>
`))

// renderHTML renders the HTML alternative of a message: the same facts as
// the text body, laid out as a table.
func renderHTML(m notify.Message, txt notify.Text) (string, error) {
	f := m.Finding
	colour, ok := riskColours[f.Risk]
	if !ok {
		colour = "#555555"
	}
	v := htmlView{
		Title:        txt.Title,
		Summary:      f.Summary,
		Colour:       colour,
		Risk:         f.Risk.String(),
		Test:         m.Kind == notify.Test,
		Repeats:      m.Repeats,
		Reasons:      f.RiskReasons,
		Remediation:  f.Remediation,
		References:   f.References,
		DashboardURL: m.DashboardURL,
	}
	if m.Escalated != nil {
		v.Escalated = m.Escalated.Why
	}
	add := func(label, value string) {
		if value != "" {
			v.Rows = append(v.Rows, row{label, value})
		}
	}
	add("Risk", v.Risk)
	who := f.Actor.Name
	if f.Actor.Type != "" {
		who += " (" + f.Actor.Type + ")"
	}
	add("Who", who)
	add("Principal", f.Actor.ARN)
	add("MFA", yesNo(f.Actor.MFA))
	add("Through", f.Actor.InvokedBy)
	how := f.AccessMethod
	if f.UserAgent != "" {
		how += " (" + notify.TruncateRunes(f.UserAgent, 200) + ")"
	}
	add("How", how)
	add("From", f.SourceIP)
	outcome := f.Outcome
	if f.ErrorCode != "" {
		outcome += " (" + f.ErrorCode + ")"
	}
	add("Outcome", outcome)
	add("Error", notify.TruncateRunes(f.ErrorMessage, 500))
	add("Where", fmt.Sprintf("account %s, %s", f.AccountID, f.Region))
	res := f.Resource.Type + " " + f.Resource.Name
	if f.Resource.ARN != "" {
		res += " (" + f.Resource.ARN + ")"
	}
	add("Resource", res)
	when := "unknown time"
	if !f.EventTime.IsZero() {
		when = f.EventTime.UTC().Format(time.RFC3339)
	}
	add("Event", fmt.Sprintf("%s %s at %s", f.EventSource, f.EventName, when))
	add("Event id", f.EventID)
	rule := f.RuleID
	if f.RuleTitle != "" {
		rule += ": " + f.RuleTitle
	}
	add("Rule", rule)
	add("Finding", f.ID)
	if len(f.Changes) > 0 {
		// html/template escapes the text; keep JSON's own escaping of <, >
		// and & off so the changes read as they were recorded.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		var changes string
		if err := enc.Encode(f.Changes); err != nil {
			changes = fmt.Sprint(f.Changes)
		} else {
			changes = b.String()
		}
		v.Changes = notify.Truncate(strings.TrimSpace(changes), maxChanges)
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, v); err != nil {
		return "", fmt.Errorf("render html: %w", err)
	}
	return buf.String(), nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
