package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const value = "hooks-EXAMPLE-token-123"

func TestNeverPrints(t *testing.T) {
	s := New(value)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s)
	j, _ := json.Marshal(struct{ S Secret }{s})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%+v": fmt.Sprintf("%+v", struct{ S Secret }{s}),
		"%#v": fmt.Sprintf("%#v", s), "%q": fmt.Sprintf("%q", s), "json": string(j), "slog": logs.String(),
	} {
		if strings.Contains(out, value) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s does not say redacted: %s", name, out)
		}
	}
	type holder struct{ s Secret } // unexported: fmt cannot call its methods
	if out := fmt.Sprintf("%v %+v", holder{s}, holder{s}); strings.Contains(out, value) {
		t.Errorf("nested unexported secret leaks: %s", out)
	}
	if s.Reveal() != value {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestPick(t *testing.T) {
	env := map[string]string{"TOKEN": value}
	getenv := func(k string) string { return env[k] }
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	os.WriteFile(file, []byte(value+"\n"), 0o600)

	s, err := Pick(New("Bearer ${TOKEN}"), "", getenv, true)
	if err != nil || s.Reveal() != "Bearer "+value {
		t.Errorf("env: %q, %v", s.Reveal(), err)
	}
	s, err = Pick(Secret{}, file, getenv, true)
	if err != nil || s.Reveal() != value {
		t.Errorf("file: %q, %v", s.Reveal(), err)
	}
	if _, err = Pick(New("${NOPE}"), "", getenv, true); err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("unset variable: %v", err)
	}
	if _, err = Pick(New("x"), file, getenv, true); err == nil {
		t.Error("both inline and file accepted")
	}
	if _, err = Pick(Secret{}, "", getenv, true); err == nil {
		t.Error("missing required secret accepted")
	}
	if _, err = Pick(Secret{}, filepath.Join(dir, "absent"), getenv, true); err == nil || strings.Contains(err.Error(), value) {
		t.Errorf("absent file: %v", err)
	}
}

func TestScrub(t *testing.T) {
	got := Scrub(`Post "https://hooks.example/`+value+`": dial tcp: refused`, New(value))
	if strings.Contains(got, value) || !strings.Contains(got, Redacted) {
		t.Errorf("Scrub = %q", got)
	}
}

func TestSetting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	os.WriteFile(file, []byte(value+"\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	getenv := func(k string) string { return map[string]string{"TOKEN": value}[k] }
	for _, tc := range []struct {
		name     string
		inline   Secret
		file     string
		required bool
		want     string // the value, or the error's text
		err      bool
	}{
		{"inline", New(value), "", true, value, false},
		{"env", New("${TOKEN}"), "", true, value, false},
		{"file", Secret{}, file, true, value, false},
		{"optional and absent", Secret{}, "", false, "", false},
		{"required and absent", Secret{}, "", true, "api_token: missing; give api_token or api_token_file", true},
		{"both", New(value), file, false, "api_token, api_token_file: give the value or the file, not both", true},
		{"unset env", New("${NOPE}"), "", false, "api_token: environment variable NOPE is not set", true},
		{"empty file", Secret{}, empty, false, "api_token_file: file " + empty + " is empty", true},
		{"absent file", Secret{}, filepath.Join(dir, "absent"), false, "api_token_file: read secret file", true},
	} {
		s, err := Setting("api_token", tc.inline, tc.file, getenv, tc.required)
		switch {
		case tc.err && err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.err && !strings.HasPrefix(err.Error(), tc.want):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		case !tc.err && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.err && s.Reveal() != tc.want:
			t.Errorf("%s: %q, want %q", tc.name, s.Reveal(), tc.want)
		}
		if err != nil && strings.Contains(err.Error(), value) {
			t.Errorf("%s: the error quotes the value: %v", tc.name, err)
		}
	}
}

func TestNilGetenvIsTheProcessEnvironment(t *testing.T) {
	t.Setenv("TRAILWATCH_SECRET_EXAMPLE", value)
	s, err := Setting("token", New("${TRAILWATCH_SECRET_EXAMPLE}"), "", nil, true)
	if err != nil || s.Reveal() != value {
		t.Errorf("Setting with nil getenv: %q, %v", s.Reveal(), err)
	}
	p := New("x-${TRAILWATCH_SECRET_EXAMPLE}")
	if err := p.Resolve(nil); err != nil || p.Reveal() != "x-"+value {
		t.Errorf("Resolve(nil): %q, %v", p.Reveal(), err)
	}
}
