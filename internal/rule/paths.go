package rule

import (
	"encoding/json"
	"sort"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// roots maps the expression variables that hold record data to where
// they are in the record.
var roots = map[string]string{"request": "requestParameters", "response": "responseElements", "event": ""}

// ReadPaths returns the record paths a CEL expression reads, found from its
// syntax tree: request.a.b is "requestParameters.a.b", event.x.y is "x.y",
// an element of a list is "[]" (request.?l.orValue([]).exists(e, e.k) reads
// "requestParameters.l[].k"), field(event, "a.b") reads "a.b". Paths are
// sorted and unique.
func ReadPaths(src string) ([]string, error) {
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	a, iss := env.Parse(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	set := map[string]bool{}
	walkPaths(a.NativeRep().Expr(), map[string]string{}, set)
	out := make([]string, 0, len(set))
	for p := range set {
		if p != "" && p != roots["request"] && p != roots["response"] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// walkPaths records the path of every path-valued subexpression of e.
func walkPaths(e ast.Expr, vars map[string]string, set map[string]bool) {
	if p, ok := pathOf(e, vars); ok {
		set[p] = true
	}
	switch e.Kind() {
	case ast.SelectKind:
		walkPaths(e.AsSelect().Operand(), vars, set)
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			walkPaths(c.Target(), vars, set)
		}
		for _, a := range c.Args() {
			walkPaths(a, vars, set)
		}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			walkPaths(el, vars, set)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			walkPaths(en.AsMapEntry().Key(), vars, set)
			walkPaths(en.AsMapEntry().Value(), vars, set)
		}
	case ast.ComprehensionKind:
		cp := e.AsComprehension()
		walkPaths(cp.IterRange(), vars, set)
		inner := make(map[string]string, len(vars)+1)
		for k, v := range vars {
			inner[k] = v
		}
		if rp, ok := pathOf(cp.IterRange(), vars); ok {
			elem := rp + "[]"
			if r := cp.IterRange(); r.Kind() == ast.CallKind && r.AsCall().FunctionName() == "field" {
				elem = rp // field() already flattens lists: its elements are the path's values
			}
			if cp.HasIterVar2() {
				inner[cp.IterVar2()] = elem
				delete(inner, cp.IterVar())
			} else {
				inner[cp.IterVar()] = elem
			}
		} else {
			delete(inner, cp.IterVar())
			delete(inner, cp.IterVar2())
		}
		delete(inner, cp.AccuVar())
		walkPaths(cp.AccuInit(), inner, set)
		walkPaths(cp.LoopCondition(), inner, set)
		walkPaths(cp.LoopStep(), inner, set)
		walkPaths(cp.Result(), inner, set)
	}
}

func join(p, seg string) string {
	if p == "" {
		return seg
	}
	return p + "." + seg
}

// pathOf returns the record path e denotes, if it denotes one.
func pathOf(e ast.Expr, vars map[string]string) (string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		n := e.AsIdent()
		if p, ok := vars[n]; ok {
			return p, true
		}
		p, ok := roots[n]
		return p, ok
	case ast.SelectKind:
		s := e.AsSelect()
		p, ok := pathOf(s.Operand(), vars)
		if !ok {
			return "", false
		}
		return join(p, s.FieldName()), true
	case ast.CallKind:
		c := e.AsCall()
		args := c.Args()
		switch c.FunctionName() {
		case operators.OptSelect, operators.Index, operators.OptIndex:
			if len(args) != 2 {
				return "", false
			}
			p, ok := pathOf(args[0], vars)
			if !ok {
				return "", false
			}
			if args[1].Kind() == ast.LiteralKind {
				if s, isStr := args[1].AsLiteral().(types.String); isStr {
					return join(p, string(s)), true
				}
			}
			return p + "[]", true
		case "orValue", "value":
			if c.IsMemberFunction() {
				return pathOf(c.Target(), vars)
			}
		case "field":
			if len(args) == 2 && args[1].Kind() == ast.LiteralKind {
				base, ok := pathOf(args[0], vars)
				if s, isStr := args[1].AsLiteral().(types.String); ok && isStr {
					return join(base, string(s)), true
				}
			}
		}
	}
	return "", false
}

// Where a needle is looked for: the whole record, or the raw value of one
// member the splitter found (event.Item's Identity, ErrorCode, Region).
const (
	inRecord = iota
	inIdentity
	inErrorCode
	inRegion
	// inIdentityType: the userIdentity's type member; the needles are the
	// quoted types.
	inIdentityType
)

// needleGroup is one thing a record must show: one of alts inside the
// member (present: the member exists, whatever its value).
type needleGroup struct {
	where   int
	present bool
	alts    [][]byte
}

func group(where int, alts ...string) needleGroup {
	g := needleGroup{where: where}
	for _, a := range alts {
		g.alts = append(g.alts, []byte(a))
	}
	return g
}

// needles returns, for a rule that can see any event, what a record must
// show (every group) for the rule to possibly match, derived from its
// outcomes and the conjuncts of its condition; nil when nothing is known.
// values resolves settings.NAME lists.
func needles(r *Rule, values map[string]any) []needleGroup {
	var groups []needleGroup
	switch {
	case len(r.Outcomes) == 1 && r.Outcomes[0] == "denied":
		// Every denial code (event.IsDenial) contains one of these.
		groups = append(groups, group(inErrorCode, "AccessDenied", "Unauthorized", "Forbidden", "NotAuthorized", "AuthorizationError", "AuthFailure"))
	case !contains(r.Outcomes, "success"):
		groups = append(groups, needleGroup{where: inErrorCode, present: true})
	}
	if r.Condition == "" {
		return groups
	}
	env, err := celEnv()
	if err != nil {
		return groups
	}
	a, iss := env.Parse(r.Condition)
	if iss.Err() != nil {
		return groups
	}
	var conj []ast.Expr
	var split func(e ast.Expr)
	split = func(e ast.Expr) {
		if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
			for _, x := range e.AsCall().Args() {
				split(x)
			}
			return
		}
		conj = append(conj, e)
	}
	split(a.NativeRep().Expr())
	for _, c := range conj {
		if where, alts := needlesOf(c, values); len(alts) > 0 {
			groups = append(groups, group(where, alts...))
		}
	}
	return groups
}

func quoted(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// fieldWhere reports whether e reads a record field or the actor's type,
// and which member holds it.
func fieldWhere(e ast.Expr) (int, bool) {
	if e.Kind() == ast.SelectKind && e.AsSelect().FieldName() == "type" {
		if op := e.AsSelect().Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "actor" {
			return inIdentityType, true
		}
	}
	p, ok := pathOf(e, nil)
	if !ok {
		return 0, false
	}
	switch {
	case p == "userIdentity.type":
		return inIdentityType, true
	case p == "awsRegion":
		return inRegion, true
	case p == "errorCode":
		return inErrorCode, true
	case strings.HasPrefix(p, "userIdentity."):
		return inIdentity, true
	}
	return inRecord, true
}

func needlesOf(e ast.Expr, values map[string]any) (int, []string) {
	if e.Kind() == ast.SelectKind && e.AsSelect().FieldName() == "root" {
		if op := e.AsSelect().Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "actor" {
			return inIdentityType, []string{`"Root"`}
		}
	}
	if e.Kind() != ast.CallKind {
		return 0, nil
	}
	c := e.AsCall()
	args := c.Args()
	if len(args) != 2 {
		return 0, nil
	}
	lit := func(x ast.Expr) (string, bool) {
		if x.Kind() != ast.LiteralKind {
			return "", false
		}
		s, ok := x.AsLiteral().(types.String)
		return string(s), ok
	}
	switch c.FunctionName() {
	case operators.Equals:
		for i := 0; i < 2; i++ {
			if s, ok := lit(args[i]); ok && s != "" {
				if where, ok := fieldWhere(args[1-i]); ok {
					return where, []string{quoted(s)}
				}
			}
		}
	case operators.In:
		where, ok := fieldWhere(args[0])
		if !ok {
			return 0, nil
		}
		var out []string
		switch x := args[1]; x.Kind() {
		case ast.ListKind:
			for _, el := range x.AsList().Elements() {
				s, ok := lit(el)
				if !ok || s == "" {
					return 0, nil
				}
				out = append(out, quoted(s))
			}
		case ast.SelectKind:
			op := x.AsSelect().Operand()
			if op.Kind() != ast.IdentKind || op.AsIdent() != "settings" {
				return 0, nil
			}
			list, _ := values[x.AsSelect().FieldName()].([]any)
			for _, v := range list {
				s, ok := v.(string)
				if !ok || s == "" {
					return 0, nil
				}
				out = append(out, quoted(s))
			}
		}
		return where, out
	}
	return 0, nil
}

// settingRefs lists the settings an expression reads (settings.x,
// settings.?x, settings["x"]), from its syntax tree.
func settingRefs(src string) []string {
	if src == "" {
		return nil
	}
	env, err := celEnv()
	if err != nil {
		return nil
	}
	a, iss := env.Parse(src)
	if iss.Err() != nil {
		return nil
	}
	set := map[string]bool{}
	walkPaths(a.NativeRep().Expr(), map[string]string{"settings": "\x00settings"}, set)
	var out []string
	for p := range set {
		if name, ok := strings.CutPrefix(p, "\x00settings."); ok {
			name, _, _ = strings.Cut(name, ".")
			name, _, _ = strings.Cut(name, "[")
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
