// Package secret holds values that must never be printed, logged or
// marshalled: tokens, passwords, webhook URLs. A Secret is configured
// inline, as ${ENV_VAR}, or read from a file, and redacts itself everywhere
// except Reveal. Setting is the one way every channel and source resolves
// a secret setting. Wherever a function here takes a getenv, nil means
// os.Getenv: the process environment. It imports nothing of the project.
package secret

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
)

// Redacted is what a secret prints as.
const Redacted = "[redacted]"

// Secret is a sensitive string. Its zero value is empty. The value sits
// behind a pointer so that even where fmt cannot call its methods (a
// Secret inside an unexported field, printed with %v) only an address
// shows.
type Secret struct{ p *string }

// New wraps a value.
func New(v string) Secret { return Secret{p: &v} }

// Reveal returns the value, for the one place that must send it.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// Empty reports whether no value is set.
func (s Secret) Empty() bool { return s.Reveal() == "" }

// String redacts.
func (s Secret) String() string {
	if s.Empty() {
		return ""
	}
	return Redacted
}

// GoString redacts (%#v).
func (s Secret) GoString() string { return "secret.Secret{" + Redacted + "}" }

// Format redacts under every verb.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// LogValue redacts in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText redacts.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML redacts.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalText keeps the configured text as it is; call Resolve to expand
// ${ENV} references.
func (s *Secret) UnmarshalText(b []byte) error {
	v := string(b)
	s.p = &v
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Resolve expands ${ENV_VAR} references with getenv (nil: os.Getenv). A
// reference to an unset or empty variable is an error naming the variable
// (not the value).
func (s *Secret) Resolve(getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	var missing []string
	v := envRef.ReplaceAllStringFunc(s.Reveal(), func(m string) string {
		name := envRef.FindStringSubmatch(m)[1]
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	})
	s.p = &v
	if len(missing) > 0 {
		return fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return nil
}

// FromFile reads a secret from a file, trimming a trailing newline.
func FromFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return Secret{}, fmt.Errorf("read secret file %s: %w", path, pe.Err)
		}
		return Secret{}, fmt.Errorf("read secret file %s: %w", path, err)
	}
	return New(strings.TrimRight(string(b), "\r\n")), nil
}

// Pick resolves a secret given inline (or as ${ENV}, read with getenv;
// nil means os.Getenv) or as a file path; giving both is an error.
// required says whether one must be given. Setting is Pick with errors
// that name the configuration key.
func Pick(inline Secret, file string, getenv func(string) string, required bool) (Secret, error) {
	switch {
	case !inline.Empty() && file != "":
		return Secret{}, errors.New("give the value or the file, not both")
	case file != "":
		s, err := FromFile(file)
		if err == nil && required && s.Empty() {
			return s, fmt.Errorf("file %s is empty", file)
		}
		return s, err
	case !inline.Empty():
		err := inline.Resolve(getenv)
		return inline, err
	case required:
		return Secret{}, errors.New("missing")
	}
	return Secret{}, nil
}

// Setting resolves the secret of one configuration key: given inline (or
// as ${ENV}) under key, or read from the file named under key+"_file".
// getenv nil means os.Getenv. required says whether one of the two must be
// given. Every error begins with the key the user wrote ("api_token:",
// "api_token_file:", or both when both were given) and never quotes the
// value; an empty file, or an inline value that resolves to nothing, is an
// error even when the setting is optional, since it is always a mistake.
func Setting(key string, inline Secret, file string, getenv func(string) string, required bool) (Secret, error) {
	fileKey := key + "_file"
	switch {
	case !inline.Empty() && file != "":
		return Secret{}, fmt.Errorf("%s, %s: give the value or the file, not both", key, fileKey)
	case file != "":
		s, err := FromFile(file)
		if err != nil {
			return Secret{}, fmt.Errorf("%s: %w", fileKey, err)
		}
		if s.Empty() {
			return Secret{}, fmt.Errorf("%s: file %s is empty", fileKey, file)
		}
		return s, nil
	case !inline.Empty():
		s := New(inline.Reveal())
		if err := s.Resolve(getenv); err != nil {
			return Secret{}, fmt.Errorf("%s: %w", key, err)
		}
		if s.Empty() {
			return Secret{}, fmt.Errorf("%s: resolves to an empty value", key)
		}
		return s, nil
	case required:
		return Secret{}, fmt.Errorf("%s: missing; give %s or %s", key, key, fileKey)
	}
	return Secret{}, nil
}

// Scrub replaces every occurrence of the secrets' values in s, for error
// messages built by libraries that quote URLs or credentials.
func Scrub(s string, secrets ...Secret) string {
	for _, x := range secrets {
		if v := x.Reveal(); len(v) >= 4 {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}
