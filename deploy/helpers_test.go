package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// cfnValue turns a YAML node of a CloudFormation template into plain values
// (map[string]any, []any, string, bool, int, float64, nil), rewriting the
// short-form intrinsics (!Ref, !GetAtt, !Sub, …) into their long form
// ({"Ref": …}, {"Fn::GetAtt": […]}, …), as CloudFormation itself does.
func cfnValue(n *yaml.Node) (any, error) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		return cfnValue(n.Content[0])
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if isCustomTag(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	if !isCustomTag(n.Tag) {
		return v, nil
	}
	switch tag := strings.TrimPrefix(n.Tag, "!"); tag {
	case "Ref", "Condition":
		return map[string]any{tag: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	case "Base64", "Cidr", "Equals", "FindInMap", "GetAZs", "If", "ImportValue", "Join", "Not", "And", "Or", "Select", "Split", "Sub", "Transform", "Length", "ToJsonString":
		return map[string]any{"Fn::" + tag: v}, nil
	default:
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
}

func isCustomTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// template is a CloudFormation template in long form.
type template map[string]any

func loadTemplate(t *testing.T, path string) template {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	v, err := cfnValue(&n)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a mapping", path)
	}
	return m
}

func (tp template) section(name string) map[string]any {
	m, _ := tp[name].(map[string]any)
	return m
}

// noValue is what AWS::NoValue evaluates to: the enclosing key or list
// element disappears.
type noValueT struct{}

var noValue = noValueT{}

// stack evaluates a template's intrinsics for one set of parameter values,
// as CloudFormation would when creating the stack. Resources evaluate to
// tokens: Ref Queue is "{Ref Queue}", GetAtt Queue.Arn is "{GetAtt Queue.Arn}".
type stack struct {
	tp     template
	params map[string]any // string, or []any of strings for list parameters
	conds  map[string]bool
	pseudo map[string]string
}

func newStack(t *testing.T, tp template, overrides map[string]string) *stack {
	t.Helper()
	s := &stack{tp: tp, params: map[string]any{}, conds: map[string]bool{}, pseudo: map[string]string{
		"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333",
		"AWS::StackName": "trailwatch", "AWS::URLSuffix": "amazonaws.com",
	}}
	for k := range overrides {
		if _, ok := tp.section("Parameters")[k]; !ok {
			t.Fatalf("no parameter %s", k)
		}
	}
	for name, p := range tp.section("Parameters") {
		pm := p.(map[string]any)
		val, ok := overrides[name]
		if !ok {
			val = scalarString(pm["Default"])
		}
		if strings.HasPrefix(fmt.Sprint(pm["Type"]), "CommaDelimitedList") || strings.HasPrefix(fmt.Sprint(pm["Type"]), "List<") {
			var l []any
			for _, e := range strings.Split(val, ",") {
				l = append(l, e)
			}
			s.params[name] = l
		} else {
			s.params[name] = val
		}
	}
	for name := range tp.section("Conditions") {
		if _, err := s.condition(name, nil); err != nil {
			t.Fatalf("condition %s: %v", name, err)
		}
	}
	return s
}

func scalarString(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func (s *stack) condition(name string, seen []string) (bool, error) {
	if v, ok := s.conds[name]; ok {
		return v, nil
	}
	for _, n := range seen {
		if n == name {
			return false, fmt.Errorf("condition loop %v", append(seen, name))
		}
	}
	def, ok := s.tp.section("Conditions")[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	v, err := s.evalIn(def, append(seen, name))
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is %T, not a boolean", name, v)
	}
	s.conds[name] = b
	return b, nil
}

func (s *stack) eval(v any) (any, error) { return s.evalIn(v, nil) }

func (s *stack) evalIn(v any, seen []string) (any, error) {
	switch x := v.(type) {
	case []any:
		out := []any{}
		for _, e := range x {
			r, err := s.evalIn(e, seen)
			if err != nil {
				return nil, err
			}
			if r != noValue {
				out = append(out, r)
			}
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					return s.intrinsic(k, arg, seen)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := s.evalIn(e, seen)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if r != noValue {
				out[k] = r
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

func (s *stack) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := s.pseudo[name]; ok {
		return v, nil
	}
	if v, ok := s.params[name]; ok {
		return v, nil
	}
	if _, ok := s.tp.section("Resources")[name]; ok {
		return "{Ref " + name + "}", nil
	}
	return nil, fmt.Errorf("Ref to undefined %q", name)
}

func (s *stack) intrinsic(fn string, arg any, seen []string) (any, error) {
	args, _ := arg.([]any)
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d arguments, got %v", fn, n, arg)
		}
		return nil
	}
	str := func(v any) (string, error) {
		r, err := s.evalIn(v, seen)
		if err != nil {
			return "", err
		}
		switch r := r.(type) {
		case string:
			return r, nil
		case int, float64:
			return fmt.Sprint(r), nil
		}
		return "", fmt.Errorf("%s: %v is %T, not a string", fn, r, r)
	}
	list := func(v any) ([]any, error) {
		r, err := s.evalIn(v, seen)
		if err != nil {
			return nil, err
		}
		l, ok := r.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: %v is %T, not a list", fn, r, r)
		}
		return l, nil
	}
	boolean := func(v any) (bool, error) {
		r, err := s.evalIn(v, seen)
		if err != nil {
			return false, err
		}
		b, ok := r.(bool)
		if !ok {
			return false, fmt.Errorf("%s: %v is %T, not a boolean", fn, r, r)
		}
		return b, nil
	}
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("Ref %v", arg)
		}
		return s.ref(name)
	case "Condition":
		name, _ := arg.(string)
		return s.condition(name, seen)
	case "Fn::GetAtt":
		if err := need(2); err != nil {
			return nil, err
		}
		res := fmt.Sprint(args[0])
		if _, ok := s.tp.section("Resources")[res]; !ok {
			return nil, fmt.Errorf("GetAtt of undefined resource %q", res)
		}
		return fmt.Sprintf("{GetAtt %s.%s}", res, args[1]), nil
	case "Fn::If":
		if err := need(3); err != nil {
			return nil, err
		}
		c, err := s.condition(fmt.Sprint(args[0]), seen)
		if err != nil {
			return nil, err
		}
		if c {
			return s.evalIn(args[1], seen)
		}
		return s.evalIn(args[2], seen)
	case "Fn::Equals":
		if err := need(2); err != nil {
			return nil, err
		}
		a, err := s.evalIn(args[0], seen)
		if err != nil {
			return nil, err
		}
		b, err := s.evalIn(args[1], seen)
		if err != nil {
			return nil, err
		}
		return fmt.Sprint(a) == fmt.Sprint(b), nil
	case "Fn::Not":
		if err := need(1); err != nil {
			return nil, err
		}
		b, err := boolean(args[0])
		return !b, err
	case "Fn::And", "Fn::Or":
		if len(args) < 2 {
			return nil, fmt.Errorf("%s needs at least 2 conditions", fn)
		}
		out := fn == "Fn::And"
		for _, a := range args {
			b, err := boolean(a)
			if err != nil {
				return nil, err
			}
			if fn == "Fn::And" {
				out = out && b
			} else {
				out = out || b
			}
		}
		return out, nil
	case "Fn::Join":
		if err := need(2); err != nil {
			return nil, err
		}
		d, err := str(args[0])
		if err != nil {
			return nil, err
		}
		l, err := list(args[1])
		if err != nil {
			return nil, err
		}
		parts := make([]string, len(l))
		for i, e := range l {
			if parts[i], err = str(e); err != nil {
				return nil, err
			}
		}
		return strings.Join(parts, d), nil
	case "Fn::Split":
		if err := need(2); err != nil {
			return nil, err
		}
		d, err := str(args[0])
		if err != nil {
			return nil, err
		}
		src, err := str(args[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(src, d) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Select":
		if err := need(2); err != nil {
			return nil, err
		}
		is, err := str(args[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(is)
		if err != nil {
			return nil, err
		}
		l, err := list(args[1])
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= len(l) {
			return nil, fmt.Errorf("Fn::Select index %d out of %d", i, len(l))
		}
		return s.evalIn(l[i], seen)
	case "Fn::Sub":
		text, ok := arg.(string)
		vars := map[string]any{}
		if !ok {
			if err := need(2); err != nil {
				return nil, err
			}
			text, ok = args[0].(string)
			if !ok {
				return nil, fmt.Errorf("Fn::Sub text %v", args[0])
			}
			m, _ := args[1].(map[string]any)
			for k, e := range m {
				v, err := str(e)
				if err != nil {
					return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
				}
				vars[k] = v
			}
		}
		var firstErr error
		out := subRe.ReplaceAllStringFunc(text, func(m string) string {
			name := m[2 : len(m)-1]
			if strings.HasPrefix(name, "!") {
				return "${" + name[1:] + "}"
			}
			if v, ok := vars[name]; ok {
				return v.(string)
			}
			if res, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
				if _, ok := s.tp.section("Resources")[res]; ok {
					return "{GetAtt " + res + "." + attr + "}"
				}
			}
			v, err := s.ref(name)
			if err == nil {
				if sv, ok := v.(string); ok {
					return sv
				}
				err = fmt.Errorf("Fn::Sub ${%s} is a list", name)
			}
			if firstErr == nil {
				firstErr = err
			}
			return m
		})
		return out, firstErr
	default:
		return nil, fmt.Errorf("intrinsic %s not supported by this test", fn)
	}
}

var subRe = regexp.MustCompile(`\$\{[^}]+\}`)

// resources evaluates every resource whose Condition holds, by logical id.
func (s *stack) resources(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range s.tp.section("Resources") {
		rm := r.(map[string]any)
		if c, ok := rm["Condition"].(string); ok && !s.conds[c] {
			continue
		}
		v, err := s.eval(rm)
		if err != nil {
			t.Fatalf("resource %s: %v", id, err)
		}
		out[id] = v.(map[string]any)
	}
	return out
}

// outputs evaluates every output whose Condition holds.
func (s *stack) outputs(t *testing.T) map[string]any {
	t.Helper()
	out := map[string]any{}
	for id, o := range s.tp.section("Outputs") {
		om := o.(map[string]any)
		if c, ok := om["Condition"].(string); ok && !s.conds[c] {
			continue
		}
		v, err := s.eval(om["Value"])
		if err != nil {
			t.Fatalf("output %s: %v", id, err)
		}
		out[id] = v
	}
	return out
}

// get walks maps by key.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// strs normalises a string-or-list policy field to a sorted list.
func strs(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = []string{x}
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	}
	sort.Strings(out)
	return out
}

// statements returns a policy document's statements.
func statements(t *testing.T, doc any) []map[string]any {
	t.Helper()
	var out []map[string]any
	switch st := get(doc, "Statement").(type) {
	case []any:
		for _, s := range st {
			m, ok := s.(map[string]any)
			if !ok {
				t.Fatalf("statement %v is not a mapping", s)
			}
			out = append(out, m)
		}
	case map[string]any:
		out = append(out, st)
	default:
		t.Fatalf("policy document without statements: %v", doc)
	}
	return out
}

// matches reports whether an EventBridge event pattern matches an event:
// exact values (strings, numbers, booleans, null), {"prefix": …} and
// {"exists": …}, nested objects; enough for this repository's patterns.
func matches(pattern, event map[string]any) (bool, error) {
	for k, p := range pattern {
		ev, present := event[k]
		switch p := p.(type) {
		case map[string]any:
			sub, _ := ev.(map[string]any)
			if sub == nil {
				sub = map[string]any{}
			}
			ok, err := matches(p, sub)
			if err != nil || !ok {
				return false, err
			}
		case []any:
			ok, err := matchesAny(p, ev, present)
			if err != nil || !ok {
				return false, err
			}
		default:
			return false, fmt.Errorf("pattern field %s: %v is neither an object nor an array", k, p)
		}
	}
	return true, nil
}

func matchesAny(alts []any, ev any, present bool) (bool, error) {
	if len(alts) == 0 {
		return false, fmt.Errorf("empty array in pattern")
	}
	values := []any{ev}
	if l, ok := ev.([]any); ok {
		values = l
	}
	for _, a := range alts {
		if m, ok := a.(map[string]any); ok {
			if len(m) != 1 {
				return false, fmt.Errorf("match expression %v has more than one key", m)
			}
			for op, arg := range m {
				switch op {
				case "exists":
					b, ok := arg.(bool)
					if !ok {
						return false, fmt.Errorf("exists takes a boolean")
					}
					if b == present {
						return true, nil
					}
				case "prefix":
					for _, v := range values {
						if s, ok := v.(string); ok && present && strings.HasPrefix(s, fmt.Sprint(arg)) {
							return true, nil
						}
					}
				default:
					return false, fmt.Errorf("match expression %q not supported by this test", op)
				}
			}
			continue
		}
		if !present {
			continue
		}
		for _, v := range values {
			if reflect.DeepEqual(normNum(a), normNum(v)) {
				return true, nil
			}
		}
	}
	return false, nil
}

func normNum(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

// repoFile is a path from the repository root.
func repoFile(parts ...string) string { return filepath.Join(append([]string{".."}, parts...)...) }
