package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/duration"
)

// decoder fills Go values from YAML nodes strictly, reporting every
// problem (unknown keys with a suggestion, values of the wrong kind) with
// its path and line instead of stopping at the first or naming Go types.
type decoder struct {
	problems []*Problem
}

func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, &Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pair is one key and its value in a mapping.
type pair struct{ k, v *yaml.Node }

// pairs returns the keys and values of a mapping with YAML merge keys
// ("<<: *base", "<<: [*a, *b]") expanded: keys written in the mapping win
// over merged ones, and earlier merged mappings over later ones.
func pairs(n *yaml.Node) []pair {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!!merge" || k.Tag == "tag:yaml.org,2002:merge") {
			v = resolve(v)
			var srcs []*yaml.Node
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			} else {
				srcs = []*yaml.Node{v}
			}
			for _, s := range srcs {
				merged = append(merged, pairs(s)...)
			}
			continue
		}
		own = append(own, pair{k, v})
		seen[k.Value] = true
	}
	out := own
	for _, p := range merged {
		if !seen[p.k.Value] {
			seen[p.k.Value] = true
			out = append(out, p)
		}
	}
	return out
}

// recordLines remembers the line of every key and list item under n.
func recordLines(n *yaml.Node, path string, lines map[string]int, depth int) {
	n = resolve(n)
	if n == nil || depth > 64 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, p := range pairs(n) {
			sub := join(path, p.k.Value)
			if _, ok := lines[sub]; !ok {
				lines[sub] = p.k.Line
			}
			recordLines(p.v, sub, lines, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			sub := path + "[" + strconv.Itoa(i) + "]"
			if _, ok := lines[sub]; !ok {
				lines[sub] = resolve(c).Line
			}
			recordLines(c, sub, lines, depth+1)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType        = reflect.TypeFor[yaml.Node]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// nodeKeeper is a type that keeps its YAML entry for a later, stricter
// decoding by the package that knows its type-specific keys (channels and
// sources), and decodes its common keys itself.
type nodeKeeper interface {
	keepNode(d *decoder, path string, n *yaml.Node)
}

var nodeKeeperType = reflect.TypeFor[nodeKeeper]()

// value decodes n into v (addressable), reporting problems under path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // nothing written: the default stays
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(nodeKeeperType) {
		v.Addr().Interface().(nodeKeeper).keepNode(d, path, n)
		return
	}
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "want a duration (%s), not %s", duration.Examples, kindName(n))
			return
		}
		x, err := duration.Parse(n.Value)
		if err != nil {
			d.fail(path, n, "%s", err.Error())
			return
		}
		v.SetInt(int64(x))
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "want a single value, not %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(path, n, "%s", err.Error())
		}
		return
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(path, n, "%s", yamlErrText(err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path)
	case reflect.Struct:
		d.strct(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(path, n, "want a mapping of keys to values, not %s", kindName(n))
			return
		}
		if t.Key().Kind() != reflect.String {
			d.fail(path, n, "unsupported map key")
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		for _, p := range pairs(n) {
			ev := reflect.New(t.Elem()).Elem()
			d.value(p.v, ev, join(path, p.k.Value))
			v.SetMapIndex(reflect.ValueOf(p.k.Value).Convert(t.Key()), ev)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n, "want a list, not %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(path, n, "%s", yamlErrText(err))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "want a single value, not %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(path, n, "want true or false, not %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(path, n, "want a whole number, not %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var i uint64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil || v.OverflowUint(i) {
			d.fail(path, n, "want a whole number of at least 0, not %s", describe(n))
			return
		}
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			d.fail(path, n, "want a number, not %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		d.fail(path, n, "unsupported setting")
	}
}

// strct decodes a mapping into a struct: each key must be one of the
// struct's yaml keys (inline structs included).
func (d *decoder) strct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		what := "settings"
		if path != "" {
			what = "the settings of " + path
		}
		d.fail(path, n, "want a mapping (key: value lines) with %s, not %s", what, kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range pairs(n) {
		f, ok := fields[p.k.Value]
		if !ok {
			d.fail(join(path, p.k.Value), p.k, "unknown key%s", didYouMean(p.k.Value, keysOf(fields)))
			continue
		}
		d.value(p.v, v.FieldByIndex(f), join(path, p.k.Value))
	}
}

// fieldsOf maps a struct's yaml keys to field indexes, inline structs
// included.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			if strings.Contains(opts, "inline") {
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				walk(ft, idx)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = idx
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		walk(t, nil)
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return describe(n)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return kindName(n)
	}
	v := n.Value
	if len(v) > 60 {
		v = v[:60] + "…"
	}
	return strconv.Quote(v)
}

// yamlErrText strips the "yaml: " and "unmarshal errors:" decoration.
func yamlErrText(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimPrefix(s, "yaml: ")
	return strings.TrimSpace(s)
}
