// Package awsapi knows the real operations of the AWS services trailwatch
// has rules for, and which of them change configuration. The lists are
// generated from aws-sdk-go-v2 (go generate ./internal/awsapi), so a rule
// that names an operation the service does not have is caught. CloudTrail
// also logs names that are no SDK operation (ConsoleLogin, S3's
// PutBucketPublicAccessBlock, Lambda's AddPermission20150331v2, …); those
// come from a maintained list, cloudtrail-only.txt, each with its source.
// It imports nothing of the project.
package awsapi

//go:generate go run ./gen

import (
	"bufio"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

//go:embed services/*.txt cloudtrail-only.txt
var files embed.FS

// Kind says what an event name is.
type Kind int

// The kinds of event names.
const (
	// Change is an API call that changes something.
	Change Kind = iota
	// Read is an API call that only reads.
	Read
	// Event is something CloudTrail records that is not an API call (a
	// console sign-in, an event a service writes).
	Event
)

// Service is one AWS service's API surface as CloudTrail records it.
type Service struct {
	// Name is the short name rules use (eks) and EventSource the
	// CloudTrail eventSource (eks.amazonaws.com).
	Name, EventSource string
	// Ops maps each event name to its kind.
	Ops map[string]Kind
	// CloudTrailOnly maps the names that are no SDK operation to the
	// source documenting or recording them.
	CloudTrailOnly map[string]string
}

// ReadOnly reports whether op reads without changing anything; ok is false
// when the service logs no such event name.
func (s *Service) ReadOnly(op string) (readOnly, ok bool) {
	k, ok := s.Ops[op]
	return k == Read, ok
}

// Kind returns the kind of an event name; ok is false when the service logs
// no such name.
func (s *Service) Kind(op string) (k Kind, ok bool) {
	k, ok = s.Ops[op]
	return
}

// Changing returns the SDK operations that change configuration, sorted.
// CloudTrail-only names are not included.
func (s *Service) Changing() []string {
	var out []string
	for op, k := range s.Ops {
		if _, only := s.CloudTrailOnly[op]; k == Change && !only {
			out = append(out, op)
		}
	}
	sort.Strings(out)
	return out
}

// Names returns every event name of the service, sorted.
func (s *Service) Names() []string {
	out := make([]string, 0, len(s.Ops))
	for op := range s.Ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the service whose events have the given eventSource.
func Lookup(eventSource string) (*Service, bool) {
	s, ok := services()[eventSource]
	return s, ok
}

// Services returns every known service, sorted by eventSource.
func Services() []*Service {
	m := services()
	out := make([]*Service, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EventSource < out[j].EventSource })
	return out
}

// SourcesOf returns the eventSources of the services that log an event
// name, sorted.
func SourcesOf(name string) []string {
	var out []string
	for _, s := range Services() {
		if _, ok := s.Ops[name]; ok {
			out = append(out, s.EventSource)
		}
	}
	return out
}

var services = sync.OnceValue(func() map[string]*Service {
	m, err := load(files)
	if err != nil {
		panic("awsapi: " + err.Error())
	}
	return m
})

func load(fsys fs.FS) (map[string]*Service, error) {
	m := map[string]*Service{}
	ents, err := fs.ReadDir(fsys, "services")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		s, err := parse(fsys, "services/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("embedded %s: %v", e.Name(), err)
		}
		m[s.EventSource] = s
	}
	if err := parseOnly(fsys, "cloudtrail-only.txt", m); err != nil {
		return nil, err
	}
	return m, nil
}

// parse reads "# service NAME SOURCE" then "Operation read|change" lines.
func parse(fsys fs.FS, name string) (*Service, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Service{Ops: map[string]Kind{}, CloudTrailOnly: map[string]string{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# service "); ok {
			parts := strings.Fields(rest)
			if len(parts) != 2 {
				return nil, fmt.Errorf("line %d: want '# service NAME SOURCE'", n)
			}
			s.Name, s.EventSource = parts[0], parts[1]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		op, kind, ok := strings.Cut(line, " ")
		k, known := kinds[kind]
		if !ok || !known || k == Event {
			return nil, fmt.Errorf("line %d: want 'Operation read|change'", n)
		}
		s.Ops[op] = k
	}
	if s.EventSource == "" {
		return nil, fmt.Errorf("no '# service' line")
	}
	return s, sc.Err()
}

var kinds = map[string]Kind{"read": Read, "change": Change, "event": Event}

// parseOnly reads "eventSource eventName kind source…" lines and adds them
// to the services, creating services that have no SDK client (signin).
func parseOnly(fsys fs.FS, name string, m map[string]*Service) error {
	f, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) < 4 {
			return fmt.Errorf("%s:%d: want 'eventSource eventName read|change|event source'", name, n)
		}
		k, ok := kinds[parts[2]]
		if !ok {
			return fmt.Errorf("%s:%d: kind %q: want read, change or event", name, n, parts[2])
		}
		s := m[parts[0]]
		if s == nil {
			s = &Service{Name: strings.TrimSuffix(parts[0], ".amazonaws.com"), EventSource: parts[0], Ops: map[string]Kind{}, CloudTrailOnly: map[string]string{}}
			m[parts[0]] = s
		}
		if _, dup := s.Ops[parts[1]]; dup {
			return fmt.Errorf("%s:%d: %s %s is already known (an SDK operation or listed twice)", name, n, parts[0], parts[1])
		}
		s.Ops[parts[1]] = k
		s.CloudTrailOnly[parts[1]] = strings.Join(parts[3:], " ")
	}
	return sc.Err()
}
