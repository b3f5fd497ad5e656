package config

import (
	"strings"
	"testing"
)

const exampleHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

func TestUI(t *testing.T) {
	c, err := parseString(t, `ui:
  listen: "0.0.0.0:8443"
  base_path: /trailwatch
  external_url: https://tw.example.com/trailwatch/
  tokens: true
  users:
    - {name: alice, password_hash: "`+exampleHash+`", role: admin}
`)
	if err != nil {
		t.Fatalf("valid ui: %v", err)
	}
	if c.UI.ExternalFindingURL() != "https://tw.example.com/trailwatch/findings/{id}" || !c.UI.AuthConfigured() {
		t.Errorf("ui = %+v", c.UI)
	}
	_, err = parseString(t, `ui:
  listen: "0.0.0.0:8081"
  base_path: "no-slash"
  external_url: "ftp://x"
  tls_cert_file: cert.pem
`)
	wantProblems(t, err,
		"line 2: ui.listen: 0.0.0.0:8081 is not a loopback address, and no authentication is configured",
		`line 3: ui.base_path: "no-slash" is not a path`,
		`line 4: ui.external_url: "ftp://x" is not an http(s) URL`,
		"ui.tls_cert_file: tls_cert_file and tls_key_file go together")
	_, err = parseString(t, `ui:
  listen: "127.0.0.1:8081"
  users:
    - {name: bob, password_hash: "hunter2EXAMPLE", role: boss}
    - {name: bob, password_hash: "`+exampleHash+`", role: viewer}
`)
	wantProblems(t, err,
		"ui.users[0].password_hash: not a bcrypt hash",
		`ui.users[0].role: "boss" is not viewer, responder or admin`,
		`ui.users[1].name: "bob" is also the name of ui.users[0]`)
	if strings.Contains(err.Error(), "hunter2EXAMPLE") {
		t.Error("a password hash (or a password put there by mistake) is echoed")
	}
	_, err = parseString(t, `ui:
  listen: "0.0.0.0:8081"
  proxy:
    trusted_cidrs: ["10.0.0.0/8", "not-a-cidr"]
    group_roles: {sec: root}
`)
	wantProblems(t, err, `ui.proxy.trusted_cidrs[1]: "not-a-cidr" is not a CIDR`, `ui.proxy.group_roles.sec: "root" is not viewer`)
	if strings.Contains(err.Error(), "not a loopback address") {
		t.Error("a proxy is authentication: the listener may be non-loopback")
	}
	if _, err := parseString(t, "ui: {listen: \"127.0.0.1:8081\"}\n"); err != nil {
		t.Errorf("loopback without auth: %v", err)
	}
	_, err = parseString(t, "ui: {listen: \"127.0.0.1:9090\"}\n")
	wantProblems(t, err, "ui.listen: 127.0.0.1:9090 is also where admin.listen listens")
}
