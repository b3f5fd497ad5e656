// Package awsapi knows the real operations of the AWS services trailwatch
// has rules for, and which of them change configuration. The lists are
// generated from aws-sdk-go-v2 (go generate ./internal/awsapi), so a rule
// that names an operation the service does not have is caught. It imports
// nothing of the project.
package awsapi

//go:generate go run ./gen

import (
	"bufio"
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed services/*.txt
var files embed.FS

// Service is one AWS service's API surface as CloudTrail records it.
type Service struct {
	// Name is the short name rules use (eks) and EventSource the
	// CloudTrail eventSource (eks.amazonaws.com).
	Name, EventSource string
	// Ops maps each operation to whether it only reads.
	Ops map[string]bool
}

// ReadOnly reports whether op reads without changing anything; ok is false
// when the service has no such operation.
func (s *Service) ReadOnly(op string) (readOnly, ok bool) {
	readOnly, ok = s.Ops[op]
	return
}

// Changing returns the operations that change configuration, sorted.
func (s *Service) Changing() []string {
	var out []string
	for op, ro := range s.Ops {
		if !ro {
			out = append(out, op)
		}
	}
	sort.Strings(out)
	return out
}

// Lookup returns the service whose events have the given eventSource.
func Lookup(eventSource string) (*Service, bool) {
	s, ok := services()[eventSource]
	return s, ok
}

var loaded map[string]*Service

func services() map[string]*Service {
	if loaded != nil {
		return loaded
	}
	m := map[string]*Service{}
	ents, err := files.ReadDir("services")
	if err != nil {
		panic(err)
	}
	for _, e := range ents {
		s, err := parse(e.Name())
		if err != nil {
			panic(fmt.Sprintf("awsapi: embedded %s: %v", e.Name(), err))
		}
		m[s.EventSource] = s
	}
	loaded = m
	return m
}

// parse reads "# service NAME SOURCE" then "Operation read|change" lines.
func parse(name string) (*Service, error) {
	f, err := files.Open("services/" + name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Service{Ops: map[string]bool{}}
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
		if !ok || (kind != "read" && kind != "change") {
			return nil, fmt.Errorf("line %d: want 'Operation read|change'", n)
		}
		s.Ops[op] = kind == "read"
	}
	if s.EventSource == "" {
		return nil, fmt.Errorf("no '# service' line")
	}
	return s, sc.Err()
}
