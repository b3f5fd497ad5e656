package sigma

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// node is a parsed Sigma condition.
type node struct {
	kind  string // sel, and, or, not, all, any
	name  string // sel
	kids  []*node
	names []string // all/any: selection names
}

type lexer struct {
	toks []string
	i    int
}

var tokRE = regexp.MustCompile(`\(|\)|[^\s()]+`)

func parseCondition(src string, sel map[string]any) (*node, error) {
	if strings.Contains(src, "|") {
		return nil, errors.New("aggregations (| count() …) are not supported: trailwatch judges one event at a time")
	}
	lx := &lexer{toks: tokRE.FindAllString(src, -1)}
	n, err := lx.or(sel)
	if err != nil {
		return nil, err
	}
	if lx.i < len(lx.toks) {
		return nil, fmt.Errorf("unexpected %q", lx.toks[lx.i])
	}
	return n, nil
}

func (l *lexer) peek() string {
	if l.i < len(l.toks) {
		return l.toks[l.i]
	}
	return ""
}

func (l *lexer) next() string {
	t := l.peek()
	l.i++
	return t
}

func (l *lexer) or(sel map[string]any) (*node, error) {
	n, err := l.and(sel)
	if err != nil {
		return nil, err
	}
	kids := []*node{n}
	for strings.EqualFold(l.peek(), "or") {
		l.next()
		m, err := l.and(sel)
		if err != nil {
			return nil, err
		}
		kids = append(kids, m)
	}
	if len(kids) == 1 {
		return n, nil
	}
	return &node{kind: "or", kids: kids}, nil
}

func (l *lexer) and(sel map[string]any) (*node, error) {
	n, err := l.factor(sel)
	if err != nil {
		return nil, err
	}
	kids := []*node{n}
	for strings.EqualFold(l.peek(), "and") {
		l.next()
		m, err := l.factor(sel)
		if err != nil {
			return nil, err
		}
		kids = append(kids, m)
	}
	if len(kids) == 1 {
		return n, nil
	}
	return &node{kind: "and", kids: kids}, nil
}

func (l *lexer) factor(sel map[string]any) (*node, error) {
	t := l.next()
	switch {
	case t == "":
		return nil, errors.New("ends too early")
	case strings.EqualFold(t, "not"):
		n, err := l.factor(sel)
		if err != nil {
			return nil, err
		}
		return &node{kind: "not", kids: []*node{n}}, nil
	case t == "(":
		n, err := l.or(sel)
		if err != nil {
			return nil, err
		}
		if l.next() != ")" {
			return nil, errors.New("missing )")
		}
		return n, nil
	case t == "1" || strings.EqualFold(t, "all") || strings.EqualFold(t, "any"):
		if !strings.EqualFold(l.next(), "of") {
			return nil, fmt.Errorf("%q must be followed by \"of\"", t)
		}
		pat := l.next()
		var names []string
		for _, k := range sortedKeys(sel) {
			if strings.EqualFold(pat, "them") || matchName(pat, k) {
				names = append(names, k)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%q matches no selection", pat)
		}
		kind := "any"
		if strings.EqualFold(t, "all") {
			kind = "all"
		}
		return &node{kind: kind, names: names}, nil
	}
	if _, ok := sel[t]; !ok {
		return nil, fmt.Errorf("no selection named %q", t)
	}
	return &node{kind: "sel", name: t}, nil
}

func matchName(pat, name string) bool {
	ok, _ := path.Match(pat, name)
	return ok
}

// converter accumulates what a rule needs besides its condition.
type converter struct {
	notes    *[]string
	settings map[string]string // setting name → Sigma placeholder
}

func (c *converter) expr(n *node, sel map[string]any) (string, error) {
	switch n.kind {
	case "sel":
		return c.selection(n.name, sel[n.name])
	case "not":
		x, err := c.expr(n.kids[0], sel)
		if err != nil {
			return "", err
		}
		return "!(" + x + ")", nil
	case "and", "or":
		op := " && "
		if n.kind == "or" {
			op = " || "
		}
		var parts []string
		for _, k := range n.kids {
			x, err := c.expr(k, sel)
			if err != nil {
				return "", err
			}
			parts = append(parts, "("+x+")")
		}
		return strings.Join(parts, op), nil
	case "all", "any":
		op := " && "
		if n.kind == "any" {
			op = " || "
		}
		var parts []string
		for _, name := range n.names {
			x, err := c.selection(name, sel[name])
			if err != nil {
				return "", err
			}
			parts = append(parts, "("+x+")")
		}
		return strings.Join(parts, op), nil
	}
	return "", fmt.Errorf("unknown condition part %q", n.kind)
}

func (c *converter) selection(name string, v any) (string, error) {
	switch t := v.(type) {
	case map[string]any:
		return c.fields(name, t)
	case []any:
		var parts []string
		for _, x := range t {
			m, ok := x.(map[string]any)
			if !ok {
				return "", fmt.Errorf("selection %s: keyword search (values without a field name) is not supported; CloudTrail fields must be named", name)
			}
			p, err := c.fields(name, m)
			if err != nil {
				return "", err
			}
			parts = append(parts, "("+p+")")
		}
		if len(parts) == 0 {
			return "false", nil
		}
		return strings.Join(parts, " || "), nil
	case string:
		return "", fmt.Errorf("selection %s: keyword search (values without a field name) is not supported; CloudTrail fields must be named", name)
	}
	return "", fmt.Errorf("selection %s: unsupported form %T", name, v)
}

var supported = map[string]bool{"contains": true, "startswith": true, "endswith": true, "all": true, "re": true, "i": true, "m": true, "s": true,
	"cidr": true, "exists": true, "fieldref": true, "expand": true, "cased": true, "gt": true, "gte": true, "lt": true, "lte": true}

var fieldLike = regexp.MustCompile(`^(requestParameters|responseElements|userIdentity|additionalEventData)\.[A-Za-z.]+$`)

func (c *converter) fields(selName string, m map[string]any) (string, error) {
	var parts []string
	for _, key := range sortedKeys(m) {
		segs := strings.Split(key, "|")
		field, mods := segs[0], segs[1:]
		top, _, _ := strings.Cut(field, ".")
		if !cloudTrailFields[top] {
			return "", fmt.Errorf("selection %s: field %s is not a CloudTrail field (records have no %q member; Sigma's AWS rules must use CloudTrail's own names)", selName, field, top)
		}
		mod := map[string]bool{}
		for _, md := range mods {
			if !supported[md] {
				return "", fmt.Errorf("selection %s: field %s: modifier %q is not supported (supported: contains, startswith, endswith, all, re (with i, m, s), cidr, exists, fieldref, expand, cased, gt, gte, lt, lte)", selName, field, md)
			}
			mod[md] = true
		}
		vals, isList := m[key].([]any)
		if !isList {
			vals = []any{m[key]}
		}
		p, err := c.field(selName, field, mod, vals)
		if err != nil {
			return "", err
		}
		parts = append(parts, "("+p+")")
	}
	if len(parts) == 0 {
		return "true", nil
	}
	return strings.Join(parts, " && "), nil
}

func lit(s string) string { return strconv.Quote(s) }

func (c *converter) field(selName, field string, mod map[string]bool, vals []any) (string, error) {
	f := "field(event, " + lit(field) + ")"
	if mod["exists"] {
		want := len(vals) == 1 && (vals[0] == true || vals[0] == "true")
		if want {
			return f + ".exists(v, v != null)", nil
		}
		return "!" + f + ".exists(v, v != null)", nil
	}
	if mod["expand"] {
		if len(vals) != 1 {
			return "", fmt.Errorf("selection %s: field %s: expand takes one placeholder", selName, field)
		}
		ph, _ := vals[0].(string)
		ph = strings.Trim(ph, "%")
		name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(ph, "_"))
		c.settings[name] = ph
		return f + ".exists(v, settings." + name + ".exists(s, text(v).lowerAscii() == s.lowerAscii()))", nil
	}
	if mod["fieldref"] {
		var parts []string
		for _, x := range vals {
			other, _ := x.(string)
			top, _, _ := strings.Cut(other, ".")
			if !cloudTrailFields[top] {
				return "", fmt.Errorf("selection %s: fieldref %s is not a CloudTrail field", selName, other)
			}
			parts = append(parts, f+".exists(v, field(event, "+lit(other)+").exists(w, text(v).lowerAscii() == text(w).lowerAscii()))")
		}
		return strings.Join(parts, " || "), nil
	}
	var preds []string
	for _, x := range vals {
		if x == nil {
			preds = append(preds, "NULL")
			continue
		}
		p, err := c.pred(selName, field, mod, x)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	var parts []string
	for _, p := range preds {
		if p == "NULL" {
			parts = append(parts, "!"+f+".exists(v, v != null)")
		} else {
			parts = append(parts, f+".exists(v, "+p+")")
		}
	}
	if len(parts) == 0 {
		return "false", nil
	}
	op := " || "
	if mod["all"] {
		op = " && "
	}
	return strings.Join(parts, op), nil
}

func (c *converter) pred(selName, field string, mod map[string]bool, x any) (string, error) {
	var s string
	switch t := x.(type) {
	case string:
		s = t
	case bool:
		return "text(v) == " + lit(strconv.FormatBool(t)), nil
	case int:
		s = strconv.Itoa(t)
	case float64:
		s = strconv.FormatFloat(t, 'f', -1, 64)
	default:
		return "", fmt.Errorf("selection %s: field %s: value %v of type %T is not supported", selName, field, x, x)
	}
	for _, cmp := range []string{"gt", "gte", "lt", "lte"} {
		if mod[cmp] {
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return "", fmt.Errorf("selection %s: field %s|%s: %q is not a number", selName, field, cmp, s)
			}
			op := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[cmp]
			return "text(v).matches(\"^-?[0-9.]+$\") && double(text(v)) " + op + " " + strconv.FormatFloat(n, 'f', -1, 64), nil
		}
	}
	if mod["re"] {
		if _, err := regexp.Compile(s); err != nil {
			return "", fmt.Errorf("selection %s: field %s|re: %q is not a regular expression trailwatch (RE2) understands: %v", selName, field, s, err)
		}
		flags := ""
		for _, fl := range []string{"i", "m", "s"} {
			if mod[fl] {
				flags += fl
			}
		}
		if flags != "" {
			s = "(?" + flags + ")" + s
		}
		return "text(v).matches(" + lit(s) + ")", nil
	}
	if mod["cidr"] {
		if _, err := parseCIDRLoose(s); err != nil {
			return "", fmt.Errorf("selection %s: field %s|cidr: %q is not a CIDR block", selName, field, s)
		}
		return "inCIDRs(text(v), [" + lit(s) + "])", nil
	}
	if fieldLike.MatchString(s) {
		*c.notes = append(*c.notes, fmt.Sprintf("selection %s: the value %q of %s looks like a field name; Sigma compares it as text (a fieldref modifier compares fields)", selName, s, field))
	}
	cased := mod["cased"]
	glob := hasWildcard(s)
	switch {
	case glob:
		re := globRE(s, mod["contains"] || mod["endswith"], mod["contains"] || mod["startswith"])
		if !cased {
			re = "(?i)" + re
		}
		return "text(v).matches(" + lit(re) + ")", nil
	case mod["contains"], mod["startswith"], mod["endswith"]:
		fn := "contains"
		if mod["startswith"] {
			fn = "startsWith"
		}
		if mod["endswith"] {
			fn = "endsWith"
		}
		if cased {
			return "text(v)." + fn + "(" + lit(unescape(s)) + ")", nil
		}
		return "text(v).lowerAscii()." + fn + "(" + lit(strings.ToLower(unescape(s))) + ")", nil
	}
	if cased {
		return "text(v) == " + lit(unescape(s)), nil
	}
	return "text(v).lowerAscii() == " + lit(strings.ToLower(unescape(s))), nil
}

// hasWildcard reports an unescaped * or ? (Sigma's wildcards).
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}

func unescape(s string) string {
	return strings.NewReplacer(`\*`, `*`, `\?`, `?`, `\\`, `\`).Replace(s)
}

// globRE turns a Sigma wildcard value into an anchored regular
// expression; open ends for contains/startswith/endswith.
func globRE(s string, openStart, openEnd bool) string {
	var b strings.Builder
	if !openStart {
		b.WriteString("^")
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteString(regexp.QuoteMeta(string(s[i])))
			}
		case '*':
			b.WriteString("(?s:.*)")
		case '?':
			b.WriteString("(?s:.)")
		default:
			b.WriteString(regexp.QuoteMeta(string(s[i])))
		}
	}
	if !openEnd {
		b.WriteString("$")
	}
	return b.String()
}

func parseCIDRLoose(s string) (string, error) {
	if !strings.Contains(s, "/") {
		return "", errors.New("no prefix length")
	}
	return s, nil
}

// keys returns the eventSources and eventNames the condition requires (nil
// when it allows any).
func (c *converter) keys(n *node, sel map[string]any) (sources, names []string) {
	s, nm := keySets(n, sel)
	return sortedKeys(s), sortedKeys(nm)
}

type set = map[string]bool

func keySets(n *node, sel map[string]any) (set, set) {
	switch n.kind {
	case "sel":
		return selKeys(sel[n.name])
	case "not":
		return nil, nil
	case "and", "all":
		var kids [][2]set
		if n.kind == "and" {
			for _, k := range n.kids {
				a, b := keySets(k, sel)
				kids = append(kids, [2]set{a, b})
			}
		} else {
			for _, name := range n.names {
				a, b := selKeys(sel[name])
				kids = append(kids, [2]set{a, b})
			}
		}
		var s, nm set
		for _, k := range kids {
			s = intersect(s, k[0])
			nm = intersect(nm, k[1])
		}
		return s, nm
	case "or", "any":
		var kids [][2]set
		if n.kind == "or" {
			for _, k := range n.kids {
				a, b := keySets(k, sel)
				kids = append(kids, [2]set{a, b})
			}
		} else {
			for _, name := range n.names {
				a, b := selKeys(sel[name])
				kids = append(kids, [2]set{a, b})
			}
		}
		s, nm := set{}, set{}
		for _, k := range kids {
			if k[0] == nil {
				s = nil
			} else if s != nil {
				for x := range k[0] {
					s[x] = true
				}
			}
			if k[1] == nil {
				nm = nil
			} else if nm != nil {
				for x := range k[1] {
					nm[x] = true
				}
			}
		}
		return s, nm
	}
	return nil, nil
}

// intersect of "any" (nil) and a set is the set.
func intersect(a, b set) set {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := set{}
	for x := range a {
		if b[x] {
			out[x] = true
		}
	}
	return out
}

func selKeys(v any) (set, set) {
	switch t := v.(type) {
	case map[string]any:
		return plainValues(t["eventSource"]), plainValues(t["eventName"])
	case []any:
		s, nm := set{}, set{}
		for _, x := range t {
			m, ok := x.(map[string]any)
			if !ok {
				return nil, nil
			}
			a, b := plainValues(m["eventSource"]), plainValues(m["eventName"])
			if a == nil {
				s = nil
			} else if s != nil {
				for k := range a {
					s[k] = true
				}
			}
			if b == nil {
				nm = nil
			} else if nm != nil {
				for k := range b {
					nm[k] = true
				}
			}
		}
		return s, nm
	}
	return nil, nil
}

// plainValues returns the values of a field without modifiers or
// wildcards; nil when the field is absent or not plain.
func plainValues(v any) set {
	if v == nil {
		return nil
	}
	var list []any
	switch t := v.(type) {
	case string:
		list = []any{t}
	case []any:
		list = t
	default:
		return nil
	}
	out := set{}
	for _, x := range list {
		s, ok := x.(string)
		if !ok || hasWildcard(s) {
			return nil
		}
		out[s] = true
	}
	return out
}
