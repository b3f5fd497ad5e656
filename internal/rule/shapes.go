package rule

import (
	"bufio"
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:generate go run ./shapesgen

// shapesText is the key-path index of real CloudTrail events: for each
// (eventSource, eventName), every path under requestParameters,
// responseElements and additionalEventData seen in a real recorded event of
// the shared corpus or in a documented sample shipped in samples/. It holds
// paths only, no event data. go generate ./internal/rule rebuilds it;
// TestShapesIndexUpToDate fails when it drifts from the corpus.
//
//go:embed shapes.txt
var shapesText string

// ShapePrefixes are the parts of a record whose paths the index holds and
// the real-shape check checks.
var ShapePrefixes = []string{"requestParameters", "responseElements", "additionalEventData"}

// Shapes is the key-path index: eventSource → eventName → sorted paths.
type Shapes map[string]map[string][]string

var shapes = sync.OnceValue(func() Shapes {
	s, err := ParseShapes(shapesText)
	if err != nil {
		panic("rule: embedded shapes.txt: " + err.Error())
	}
	return s
})

// ParseShapes reads the index format: "@ eventSource eventName" lines,
// each followed by its paths, one a line.
func ParseShapes(text string) (Shapes, error) {
	out := Shapes{}
	var src, name string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "@ "); ok {
			var found bool
			src, name, found = strings.Cut(rest, " ")
			if !found {
				return nil, fmt.Errorf("line %d: want '@ eventSource eventName'", n)
			}
			if out[src] == nil {
				out[src] = map[string][]string{}
			}
			out[src][name] = []string{}
			continue
		}
		if src == "" {
			return nil, fmt.Errorf("line %d: a path before any '@' line", n)
		}
		out[src][name] = append(out[src][name], line)
	}
	return out, sc.Err()
}

// Render writes the index in its text format.
func (s Shapes) Render(header string) string {
	var b strings.Builder
	b.WriteString(header)
	for _, src := range sortedKeys(s) {
		for _, name := range sortedKeys(s[src]) {
			fmt.Fprintf(&b, "@ %s %s\n", src, name)
			for _, p := range s[src][name] {
				b.WriteString(p)
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

// Add records every key path of a record's checked parts.
func (s Shapes) Add(source, name string, rec map[string]any) {
	set := map[string]bool{}
	for _, p := range s[source][name] {
		set[p] = true
	}
	for _, pre := range ShapePrefixes {
		collectPaths(rec[pre], pre, set)
	}
	if s[source] == nil {
		s[source] = map[string][]string{}
	}
	s[source][name] = sortedKeys(set)
}

func collectPaths(v any, path string, set map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		set[path] = true
		for k, x := range t {
			collectPaths(x, path+"."+k, set)
		}
	case []any:
		set[path] = true
		for _, x := range t {
			collectPaths(x, path+"[]", set)
		}
	case nil:
	default:
		set[path] = true
	}
}

// checked reports whether a path is one the index covers.
func checked(path string) bool {
	for _, pre := range ShapePrefixes {
		if path == pre || strings.HasPrefix(path, pre+".") || strings.HasPrefix(path, pre+"[") {
			return true
		}
	}
	return false
}

// wholeObject reports reading a checked part as a whole (request, or
// request.all(k, …) over its keys), which every event allows.
func wholeObject(path string) bool {
	for _, pre := range ShapePrefixes {
		if path == pre || path == pre+"[]" {
			return true
		}
	}
	return false
}

// seen reports whether a path, or a longer path it leads to, appears in
// a real event of one of the operations.
func (s Shapes) seen(path string, ops [][2]string) bool {
	for _, op := range ops {
		paths := s[op[0]][op[1]]
		i := sort.SearchStrings(paths, path)
		if i < len(paths) {
			p := paths[i]
			if p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
				return true
			}
		}
	}
	return false
}

// ops lists the (eventSource, eventName) pairs of a rule found in the
// index; for "*" every indexed pair that fits.
func (s Shapes) ops(r *Rule) [][2]string {
	var out [][2]string
	for _, src := range sortedKeys(s) {
		if r.EventSource != Any && src != r.EventSource {
			continue
		}
		for _, name := range sortedKeys(s[src]) {
			if contains(r.EventNames, Any) || contains(r.EventNames, name) {
				out = append(out, [2]string{src, name})
			}
		}
	}
	return out
}

// UnseenPaths returns the paths a rule reads under requestParameters,
// responseElements or additionalEventData that no real event of its
// operations has and that the rule does not explain in paths_unseen.
func (r *Rule) UnseenPaths() []string {
	idx := shapes()
	ops := idx.ops(r)
	var out []string
	for _, p := range r.Paths() {
		if !checked(p) || wholeObject(p) {
			continue
		}
		if _, why := r.PathsUnseen[p]; why {
			continue
		}
		if !idx.seen(p, ops) {
			out = append(out, p)
		}
	}
	return out
}

// StaleExplanations returns the paths_unseen entries that explain nothing:
// paths the rule does not read, or that real events of its operations now
// have.
func (r *Rule) StaleExplanations() []string {
	if len(r.PathsUnseen) == 0 {
		return nil
	}
	idx := shapes()
	ops := idx.ops(r)
	reads := map[string]bool{}
	for _, p := range r.Paths() {
		reads[p] = true
	}
	var out []string
	for _, p := range sortedKeys(r.PathsUnseen) {
		switch {
		case !reads[p]:
			out = append(out, fmt.Sprintf("paths_unseen.%s: the rule does not read this path", p))
		case idx.seen(p, ops):
			out = append(out, fmt.Sprintf("paths_unseen.%s: real recorded events of the rule's operations have this path now; remove the entry", p))
		}
	}
	return out
}
