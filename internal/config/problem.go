package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration: where it is (a YAML
// path such as rules.EKS-TAGS.ttl or channels[1] (pd).min_risk, and its
// line when known) and what is wrong, in words, never Go type names.
type Problem struct {
	// Path is the YAML path; empty for the file as a whole. An entry of
	// channels or sources may carry its name in parentheses.
	Path string
	// Line is the 1-based line of the key, or 0 when unknown.
	Line int
	Msg  string
}

func (p *Problem) Error() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems are every problem of one configuration file, in line order.
type Problems struct {
	// File is the path of the configuration file.
	File string
	List []*Problem
}

func (ps *Problems) Error() string {
	file := ps.File
	if file == "" {
		file = "configuration"
	} else if q := strconv.Quote(file); q[1:len(q)-1] != file || strings.ContainsAny(file, " :") {
		file = q // a name with control characters, spaces or colons
	}
	where := func(p *Problem) string {
		s := file
		if p.Line > 0 {
			s += ":" + strconv.Itoa(p.Line)
		}
		s += ": "
		if p.Path != "" {
			s += p.Path + ": "
		}
		return s + p.Msg
	}
	if len(ps.List) == 1 {
		return where(ps.List[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems", file, len(ps.List))
	for _, p := range ps.List {
		b.WriteString("\n  " + where(p))
	}
	return b.String()
}

// Unwrap returns the problems as errors.
func (ps *Problems) Unwrap() []error {
	out := make([]error, len(ps.List))
	for i, p := range ps.List {
		out[i] = p
	}
	return out
}

// sort orders problems by line (problems without one last, in the order
// found) and drops exact repeats.
func (ps *Problems) sort() {
	sort.SliceStable(ps.List, func(i, j int) bool {
		a, b := ps.List[i].Line, ps.List[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	seen := map[string]bool{}
	out := ps.List[:0]
	for _, p := range ps.List {
		k := p.Error()
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	ps.List = out
}

// err returns ps, or nil when it holds no problem.
func (ps *Problems) err() error {
	if len(ps.List) == 0 {
		return nil
	}
	ps.sort()
	return ps
}

// Merge returns the problems of c (its own, from Load) together with
// every problem in errs, each placed at its path and line: errors that
// start with a YAML path ("channels[1] (pd).routing_key: …",
// "rules.EKS-NOPE: …") are located in the file. It returns nil when there
// is no problem at all.
func (c *Config) Merge(errs ...error) error {
	ps := &Problems{File: c.File}
	ps.List = append(ps.List, c.problems...)
	for _, e := range errs {
		ps.List = append(ps.List, c.Locate(e)...)
	}
	return ps.err()
}

// Locate turns an error (joined errors too) into problems with their line.
func (c *Config) Locate(err error) []*Problem {
	if err == nil {
		return nil
	}
	if ps, ok := err.(*Problems); ok {
		return ps.List
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Problem
		for _, e := range j.Unwrap() {
			out = append(out, c.Locate(e)...)
		}
		return out
	}
	if p, ok := err.(*Problem); ok {
		if p.Line == 0 {
			p.Line = c.Line(p.Path)
		}
		return []*Problem{p}
	}
	msg := err.Error()
	if m := leadingPath.FindStringSubmatch(msg); m != nil && c.knownRoot(m[1]) {
		p := &Problem{Path: m[1], Msg: msg[len(m[0]):]}
		p.Line = c.Line(p.Path)
		return []*Problem{p}
	}
	return []*Problem{{Msg: msg}}
}

// leadingPath matches a YAML path at the start of an error message, with
// optional "(name)" labels after list items and further keys named with
// it ("routing_key, routing_key_file: …").
var leadingPath = regexp.MustCompile(`^((?:[A-Za-z0-9_*"\-]+)(?:\[\d+\])?(?: \([^)]*\))?(?:\.[A-Za-z0-9_*"\-]+(?:\[\d+\])?(?: \([^)]*\))?)*)(?:(?:, | and | or |/)[A-Za-z0-9_]+)*: `)

func (c *Config) knownRoot(path string) bool {
	root, _, _ := strings.Cut(path, ".")
	root, _, _ = strings.Cut(root, "[")
	root, _, _ = strings.Cut(root, " ")
	return topKeys[root]
}

var label = regexp.MustCompile(` \([^)]*\)`)

// Line returns the line of the longest prefix of path that the file
// holds, or 0.
func (c *Config) Line(path string) int {
	p := label.ReplaceAllString(path, "")
	for p != "" {
		if n, ok := c.lines[p]; ok {
			return n
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// Suggest returns the candidate nearest to word, when it is near enough to
// be a likely typo ("did you mean"), or "".
func Suggest(word string, candidates []string) string {
	best, bestD := "", 0
	w := strings.ToLower(word)
	for _, c := range candidates {
		d := distance(w, strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || best == word {
		return ""
	}
	limit := 2
	if len(word) <= 4 {
		limit = 1
	}
	if len(word) >= 12 {
		limit = 3
	}
	if bestD <= limit || (len(word) >= 4 && strings.HasPrefix(strings.ToLower(best), w)) {
		return best
	}
	return ""
}

// didYouMean formats a suggestion as the end of a message.
func didYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return " (did you mean " + s + "?)"
	}
	return ""
}

// DidYouMean is didYouMean for other packages: " (did you mean X?)" or "".
func DidYouMean(word string, candidates []string) string { return didYouMean(word, candidates) }

// distance is the Damerau-Levenshtein (optimal string alignment) distance:
// a swap of two neighbours counts once.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
