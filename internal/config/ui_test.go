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

func TestUIOIDC(t *testing.T) {
	c, err := parseString(t, `ui:
  listen: "0.0.0.0:8443"
  external_url: https://tw.example.com/trailwatch
  session_ttl: 8h
  oidc:
    issuer: https://idp.example.com/realms/sec
    client_id: trailwatch
    client_secret: ${OIDC_SECRET}
    group_roles: {sec-team: admin, platform: responder}
    allowed_domains: [example.com]
`)
	if err != nil {
		t.Fatalf("valid ui.oidc: %v", err)
	}
	if !c.UI.AuthConfigured() || c.UI.OIDCRedirectURL() != "https://tw.example.com/trailwatch/auth/oidc/callback" || c.UI.SessionTTL.String() != "8h" {
		t.Errorf("ui = %+v, redirect %q", c.UI, c.UI.OIDCRedirectURL())
	}
	_, err = parseString(t, `ui:
  listen: "0.0.0.0:8443"
  session_ttl: -1h
  oidc:
    issuer: http://idp.example.com
    client_secret: inline-EXAMPLE
    client_secret_file: /run/secret
    group_roles: {sec: root}
    allowed_domains: ["@example.com"]
`)
	wantProblems(t, err,
		`ui.oidc.issuer: "http://idp.example.com" is not https`,
		"ui.oidc.client_id: missing",
		"ui.oidc.client_secret: give client_secret or client_secret_file, not both",
		"ui.oidc.redirect_url: missing: set ui.external_url",
		`ui.oidc.group_roles.sec: "root" is not viewer`,
		`ui.oidc.allowed_domains[0]: "@example.com" is not a domain`,
		`ui.session_ttl: "-1h": a duration cannot be negative`)
	if strings.Contains(err.Error(), "inline-EXAMPLE") {
		t.Error("the client secret is echoed")
	}
	_, err = parseString(t, `ui:
  oidc: {issuer: "http://127.0.0.1:5556/dex", client_id: tw, redirect_url: "http://127.0.0.1:8081/auth/oidc/callback"}
`)
	wantProblems(t, err, "ui.oidc.group_roles: missing")
	if strings.Contains(err.Error(), "not https") {
		t.Error("a loopback issuer over http is refused")
	}
}
