package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url    string
		p      URLPolicy
		errHas string // "" when accepted
	}{
		{"https://hooks.slack.example/services/T0/B0/EXAMPLE", URLPolicy{}, ""},
		{"https://events.pagerduty.com", URLPolicy{}, ""},
		{"http://127.0.0.1:8080/hook", URLPolicy{}, ""},
		{"http://localhost/hook", URLPolicy{}, ""},
		{"http://[::1]:9/hook", URLPolicy{}, ""},
		{"https://receiver.example/in?token=EXAMPLE", URLPolicy{Query: true}, ""},
		{"https://receiver.example/in?token=EXAMPLE", URLPolicy{}, "must not have a query"},
		{"http://receiver.example/hook", URLPolicy{}, "must use https"},
		{"http://169.254.169.254/latest/meta-data/", URLPolicy{}, "must use https"},
		{"https://169.254.169.254/latest/meta-data/", URLPolicy{}, "link-local or cloud metadata"},
		{"https://169.254.170.2/v2/credentials", URLPolicy{}, "link-local or cloud metadata"},
		{"https://[fd00:ec2::254]/latest/", URLPolicy{}, "link-local or cloud metadata"},
		{"https://[fe80::1%25eth0]/", URLPolicy{}, "link-local or cloud metadata"},
		{"https://[::ffff:169.254.169.254]/", URLPolicy{}, "link-local or cloud metadata"},
		{"https://[64:ff9b::a9fe:a9fe]/", URLPolicy{}, "link-local or cloud metadata"},
		{"https://100.100.100.200/latest/", URLPolicy{}, "link-local or cloud metadata"},
		{"https://0.0.0.0/", URLPolicy{}, "link-local or cloud metadata"},
		{"https://metadata.google.internal/computeMetadata/v1/", URLPolicy{}, "cloud metadata service"},
		{"https://METADATA.google.internal./computeMetadata/v1/", URLPolicy{}, "cloud metadata service"},
		{"https://2852039166/", URLPolicy{}, "not a plain IP address"},
		{"https://0xa9fea9fe/", URLPolicy{}, "not a plain IP address"},
		{"https://0251.0376.0251.0376/", URLPolicy{}, "not a plain IP address"},
		{"https://169.254.169.254./", URLPolicy{}, "not a plain IP address"},
		{"https://169.254.169.254/latest/", URLPolicy{LinkLocal: true}, ""},
		{"https://metadata.google.internal/", URLPolicy{LinkLocal: true}, ""},
		{"https://user:SECRET-EXAMPLE@receiver.example/", URLPolicy{}, "must not contain credentials"},
		{"ftp://u:SECRET-EXAMPLE@proxy.example/", URLPolicy{}, "must not contain credentials"},
		{"ftp://proxy.example/", URLPolicy{}, "must be an https URL, not ftp://"},
		{"file:///etc/passwd", URLPolicy{}, "not an absolute URL"},
		{"gopher://proxy.example:70/", URLPolicy{}, "must be an https URL"},
		{"https://receiver.example/#SECRET-EXAMPLE", URLPolicy{Query: true}, "fragment"},
		{"receiver.example/hook", URLPolicy{}, "not an absolute URL"},
		{"https:///path", URLPolicy{}, "not an absolute URL"},
		{"javascript:alert(1)", URLPolicy{}, "not an absolute URL"},
	} {
		_, err := CheckURL(tc.url, tc.p)
		switch {
		case tc.errHas == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.url, err)
		case tc.errHas != "" && err == nil:
			t.Errorf("%s: accepted, want %q", tc.url, tc.errHas)
		case err != nil && !strings.Contains(err.Error(), tc.errHas):
			t.Errorf("%s: %v, want %q", tc.url, err, tc.errHas)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), tc.url)) {
			t.Errorf("%s: the error quotes the URL: %v", tc.url, err)
		}
	}
}

func TestDialGuardRefusesLinkLocal(t *testing.T) {
	// A name can resolve to a metadata address after the check: the
	// default client refuses to connect there. The dial is attempted to a
	// link-local address without leaving the machine: the guard runs
	// before connect.
	c := Options{}.Defaults().HTTPClient
	req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://169.254.169.254:1/latest/meta-data/", nil)
	_, err := c.Do(req)
	if err == nil || !strings.Contains(err.Error(), "link-local or cloud metadata") {
		t.Errorf("dial to 169.254.169.254: %v", err)
	}
	// Loopback is fine.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
	resp.Body.Close()
}

func TestQuoteSettingDropsCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"ftp://u:SECRET-EXAMPLE@proxy.example/x": `"ftp://proxy.example/x"`,
		"smtp://u:SECRET-EXAMPLE@relay.example":  `"smtp://relay.example"`,
		"u:SECRET-EXAMPLE@relay.example":         `"…@relay.example"`,
		"relay example":                          `"relay example"`,
	} {
		got := QuoteSetting(in)
		if got != want {
			t.Errorf("QuoteSetting(%q) = %s, want %s", in, got, want)
		}
		if strings.Contains(got, "u:SECRET") {
			t.Errorf("QuoteSetting(%q) = %s keeps the credentials", in, got)
		}
	}
}
