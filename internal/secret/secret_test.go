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
