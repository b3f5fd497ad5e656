// Package sigma converts Sigma rules for CloudTrail (logsource product aws,
// service cloudtrail) into trailwatch rules: the detection becomes a CEL
// condition over the record (Sigma's field names are CloudTrail's own
// dotted paths, so no mapping is needed), the eventSource and eventName
// the detection requires become the rule's index keys, and the author is
// carried into every finding (Sigma rules are under the Detection Rule
// License, which asks for attribution). A rule that cannot be converted
// says exactly why: an unsupported modifier, keyword search, or a field
// CloudTrail does not write. It imports rule and awsapi.
package sigma

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/awsapi"
	"github.com/trailwatch/trailwatch/internal/rule"
)

// Rule is a Sigma rule as read from YAML (or from the JSON lines of the
// shared corpus, which name the title "rule").
type Rule struct {
	Title          string         `yaml:"title" json:"title"`
	RuleName       string         `yaml:"-" json:"rule"`
	ID             string         `yaml:"id" json:"id"`
	Status         string         `yaml:"status" json:"status"`
	Description    string         `yaml:"description" json:"description"`
	References     []string       `yaml:"references" json:"references"`
	Author         string         `yaml:"author" json:"author"`
	Level          string         `yaml:"level" json:"level"`
	FalsePositives []string       `yaml:"falsepositives" json:"falsepositives"`
	Logsource      map[string]any `yaml:"logsource" json:"logsource"`
	Detection      map[string]any `yaml:"detection" json:"detection"`
	Source         string         `yaml:"-" json:"source"`
}

// Name is the rule's title.
//
// (The id of a converted rule is SIGMA- and the first 16 hex digits of the
// Sigma id.)
func (r *Rule) Name() string {
	if r.Title != "" {
		return r.Title
	}
	return r.RuleName
}

// Result is one Sigma rule's conversion: the trailwatch rule as YAML, or
// the reason it cannot be converted, plus notes worth reading either way.
type Result struct {
	Sigma *Rule
	// Where names the input (file, line or document).
	Where string
	// ID is the trailwatch rule id (SIGMA-<first 8 of the Sigma id>).
	ID string
	// YAML is one rules: entry (without the "rules:" line); empty when
	// Err is set.
	YAML string
	Err  error
	// Notes are warnings: event names dropped, paths no recorded event
	// has, values that look like field names.
	Notes []string
}

// Read parses Sigma rules from a YAML file (one or several documents) or
// from JSON lines (one rule object per line).
func Read(name string, data []byte) ([]*Rule, []error) {
	var out []*Rule
	var errs []error
	if strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".ndjson") {
		for i, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			var r Rule
			if err := json.Unmarshal(line, &r); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", name, i+1, err))
				continue
			}
			if r.Source == "" {
				r.Source = fmt.Sprintf("%s:%d", name, i+1)
			}
			out = append(out, &r)
		}
		return out, errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 1; ; doc++ {
		var r Rule
		err := dec.Decode(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", name, doc, err))
			break
		}
		if r.Detection == nil && r.Title == "" {
			continue
		}
		r.Source = fmt.Sprintf("%s#%d", name, doc)
		out = append(out, &r)
	}
	return out, errs
}

// cloudTrailFields are the top-level members of a CloudTrail record.
var cloudTrailFields = map[string]bool{
	"eventVersion": true, "userIdentity": true, "eventTime": true, "eventSource": true, "eventName": true,
	"awsRegion": true, "sourceIPAddress": true, "userAgent": true, "errorCode": true, "errorMessage": true,
	"requestParameters": true, "responseElements": true, "additionalEventData": true, "requestID": true,
	"eventID": true, "eventType": true, "apiVersion": true, "readOnly": true, "resources": true,
	"recipientAccountId": true, "serviceEventDetails": true, "sharedEventID": true, "vpcEndpointId": true,
	"vpcEndpointAccountId": true, "eventCategory": true, "managementEvent": true, "tlsDetails": true,
	"sessionCredentialFromConsole": true, "addendum": true, "edgeDeviceDetails": true, "insightDetails": true,
}

// Convert turns one Sigma rule into a trailwatch rule.
func Convert(s *Rule) Result {
	res := Result{Sigma: s, Where: s.Source}
	res.ID = idOf(s)
	if s.Detection == nil {
		res.Err = errors.New("no detection")
		return res
	}
	if s.Logsource != nil {
		if p, _ := s.Logsource["product"].(string); p != "aws" {
			res.Err = fmt.Errorf("logsource product %q: only aws CloudTrail rules can be imported", p)
			return res
		}
		if sv, _ := s.Logsource["service"].(string); sv != "cloudtrail" {
			res.Err = fmt.Errorf("logsource service %q: only cloudtrail rules can be imported", sv)
			return res
		}
	}
	c := &converter{notes: &res.Notes, settings: map[string]string{}}
	condSrc, _ := s.Detection["condition"].(string)
	if condSrc == "" {
		if l, ok := s.Detection["condition"].([]any); ok && len(l) == 1 {
			condSrc, _ = l[0].(string)
		}
	}
	if condSrc == "" {
		res.Err = errors.New("detection has no condition (or several, which Sigma deprecated)")
		return res
	}
	sel := map[string]any{}
	for k, v := range s.Detection {
		if k != "condition" && k != "timeframe" {
			sel[k] = v
		}
	}
	if _, ok := s.Detection["timeframe"]; ok {
		res.Err = errors.New("timeframe: correlation over time is not supported (trailwatch judges one event at a time)")
		return res
	}
	node, err := parseCondition(condSrc, sel)
	if err != nil {
		res.Err = fmt.Errorf("condition %q: %w", condSrc, err)
		return res
	}
	cel, err := c.expr(node, sel)
	if err != nil {
		res.Err = err
		return res
	}
	sources, names := c.keys(node, sel)
	source, eventNames, err := c.index(sources, names)
	if err != nil {
		res.Err = err
		return res
	}
	res.YAML = c.render(s, res.ID, source, eventNames, cel)
	// Check the rule as trailwatch loads it, and note the paths no real
	// event of its operations has.
	r, err := rule.ParseOne(res.ID+".yaml", []byte("rules:\n"+res.YAML))
	if err != nil {
		res.Err = fmt.Errorf("converted rule does not load: %w", err)
		res.YAML = ""
		return res
	}
	if unseen := r.UnseenPaths(); len(unseen) > 0 {
		res.Notes = append(res.Notes, "reads paths no recorded event of its operations has: "+strings.Join(unseen, ", "))
		res.YAML = strings.Replace(res.YAML, "    tests: []\n", "    paths_unseen:\n"+unseenYAML(unseen)+"    tests: []\n", 1)
	}
	return res
}

func unseenYAML(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "      %s: read by the Sigma rule as written; no recorded CloudTrail event of its operations has this path\n", yamlKey(p))
	}
	return b.String()
}

func yamlKey(s string) string {
	if regexp.MustCompile(`^[A-Za-z0-9_.\[\]-]+$`).MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

var nonID = regexp.MustCompile(`[^A-Z0-9]+`)

func idOf(s *Rule) string {
	id := strings.ToUpper(s.ID)
	id = nonID.ReplaceAllString(id, "")
	if len(id) > 16 {
		id = id[:16]
	}
	if id == "" {
		id = strings.Trim(nonID.ReplaceAllString(strings.ToUpper(s.Name()), "-"), "-")
		if len(id) > 40 {
			id = id[:40]
		}
	}
	return "SIGMA-" + id
}

var levels = map[string]string{"informational": "LOW", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "critical": "VERY_HIGH"}

func (c *converter) render(s *Rule, id, source string, names []string, cond string) string {
	var b strings.Builder
	q := strconv.Quote
	risk := levels[strings.ToLower(s.Level)]
	if risk == "" {
		risk = "MEDIUM"
	}
	fmt.Fprintf(&b, "  - id: %s\n", id)
	fmt.Fprintf(&b, "    title: %s\n", q(s.Name()))
	fmt.Fprintf(&b, "    service: sigma\n")
	fmt.Fprintf(&b, "    event_source: %s\n", q(source))
	fmt.Fprintf(&b, "    event_names: [")
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(n))
	}
	b.WriteString("]\n")
	fmt.Fprintf(&b, "    outcomes: [success, denied, failed]\n")
	fmt.Fprintf(&b, "    watch_reads: true\n")
	fmt.Fprintf(&b, "    risk: %s\n", risk)
	fmt.Fprintf(&b, "    author: %s\n", q(firstNonEmpty(s.Author, "unknown (Sigma rule without author)")))
	fmt.Fprintf(&b, "    origin: %s\n", q(strings.TrimSpace("Sigma rule "+s.ID+" ("+s.Source+"), Detection Rule License 1.1")))
	desc := firstNonEmpty(strings.TrimSpace(s.Description), s.Name())
	if len(s.FalsePositives) > 0 {
		desc += " False positives: " + strings.Join(s.FalsePositives, "; ") + "."
	}
	fmt.Fprintf(&b, "    description: %s\n", q(desc))
	fmt.Fprintf(&b, "    remediation: %s\n", q("Investigate the call as the Sigma rule describes; see its references."))
	if len(s.References) > 0 {
		b.WriteString("    references:\n")
		for _, r := range s.References {
			fmt.Fprintf(&b, "      - %s\n", q(r))
		}
	}
	if len(c.settings) > 0 {
		b.WriteString("    enabled: false\n    settings:\n")
		for _, k := range sortedKeys(c.settings) {
			fmt.Fprintf(&b, "      %s: {type: strings, required: true, description: %s}\n", k, q("values of the Sigma placeholder %"+c.settings[k]+"%"))
		}
	}
	fmt.Fprintf(&b, "    condition: %s\n", q(cond))
	b.WriteString("    resource: {type: event, name: 'event.eventSource + \" \" + event.eventName'}\n")
	b.WriteString("    tests: []\n")
	return b.String()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// index decides the rule's event_source and event_names from what the
// detection requires.
func (c *converter) index(sources, names []string) (string, []string, error) {
	source := rule.Any
	if len(sources) == 1 {
		source = sources[0]
		if _, ok := awsapi.Lookup(source); !ok {
			return "", nil, fmt.Errorf("eventSource %s: not a service with a known operation list (internal/awsapi), so its event names cannot be checked", source)
		}
	}
	for _, s := range sources {
		if _, ok := awsapi.Lookup(s); !ok {
			*c.notes = append(*c.notes, "eventSource "+s+" is not a service with a known operation list; its names are not checked")
		}
	}
	if len(names) == 0 {
		return source, []string{rule.Any}, nil
	}
	var keep []string
	for _, n := range names {
		ok := false
		if source != rule.Any {
			svc, _ := awsapi.Lookup(source)
			_, ok = svc.Kind(n)
			if !ok {
				hint := ""
				if others := awsapi.SourcesOf(n); len(others) > 0 {
					hint = " (CloudTrail logs it as " + strings.Join(others, ", ") + ")"
				}
				*c.notes = append(*c.notes, fmt.Sprintf("eventName %s is not an event %s logs%s; dropped", n, source, hint))
			}
		} else {
			ok = len(awsapi.SourcesOf(n)) > 0 || anyUnknownSource(sources)
			if !ok {
				*c.notes = append(*c.notes, fmt.Sprintf("eventName %s is not an event name CloudTrail logs for any known service; dropped", n))
			}
		}
		if ok {
			keep = append(keep, n)
		}
	}
	if len(keep) == 0 {
		return "", nil, fmt.Errorf("none of the event names it watches is an event CloudTrail logs for %s: %s", firstNonEmpty(strings.Join(sources, ", "), "any known service"), strings.Join(*c.notes, "; "))
	}
	if source == rule.Any && anyUnknownSource(sources) {
		return "", nil, fmt.Errorf("eventSource %s: not a service with a known operation list (internal/awsapi)", strings.Join(sources, ", "))
	}
	return source, keep, nil
}

func anyUnknownSource(sources []string) bool {
	for _, s := range sources {
		if _, ok := awsapi.Lookup(s); !ok {
			return true
		}
	}
	return false
}
