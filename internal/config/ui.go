package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/trailwatch/trailwatch/internal/duration"
	"github.com/trailwatch/trailwatch/internal/secret"
)

// DefaultUIListen is where the API listens when ui.listen is not given
// (trailwatch ui; trailwatch run serves it only when ui.listen is set).
const DefaultUIListen = "127.0.0.1:8081"

// Roles are the roles of API users and tokens, least first.
var Roles = []string{"viewer", "responder", "admin"}

// UI configures the HTTP API (docs/api.md, docs/auth.md).
type UI struct {
	// Listen is the API's address; trailwatch run serves the API only
	// when it is set ("off" or absent: not served).
	Listen string `yaml:"listen"`
	// BasePath serves everything under a prefix ("/trailwatch"), behind
	// an ingress.
	BasePath string `yaml:"base_path"`
	// ExternalURL is where people reach the API and dashboard
	// (https://trailwatch.example.com/trailwatch); alerts link to
	// EXTERNAL_URL/findings/{id} unless dashboard_url says otherwise.
	ExternalURL string `yaml:"external_url"`
	// TLSCertFile and TLSKeyFile serve HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Users sign in with HTTP Basic authentication.
	Users []UIUser `yaml:"users"`
	// Tokens accepts API tokens (trailwatch tokens create).
	Tokens bool `yaml:"tokens"`
	// Inbound configures the webhooks incident tools send back.
	Inbound Inbound `yaml:"inbound"`
	// Proxy trusts a signing-in reverse proxy's headers.
	Proxy *UIProxy `yaml:"proxy"`
	// OIDC signs people in with an OpenID Connect provider.
	OIDC *UIOIDC `yaml:"oidc"`
	// SessionTTL is how long a browser's sign-in lasts (default 12h).
	SessionTTL duration.Duration `yaml:"session_ttl"`
}

// UIOIDC is an OpenID Connect provider people sign in with (authorization
// code flow with PKCE).
type UIOIDC struct {
	// Issuer is the provider's issuer URL.
	Issuer string `yaml:"issuer"`
	// ClientID and the client secret (inline, ${ENV} or a file) of this
	// server's registration at the provider.
	ClientID         string        `yaml:"client_id"`
	ClientSecret     secret.Secret `yaml:"client_secret"`
	ClientSecretFile string        `yaml:"client_secret_file"`
	// RedirectURL is registered at the provider; default
	// EXTERNAL_URL/auth/oidc/callback.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes; default openid, email, profile (add groups where the
	// provider needs it for the groups claim).
	Scopes []string `yaml:"scopes"`
	// Name is shown on the sign-in button; default the issuer's host.
	Name string `yaml:"name"`
	// GroupsClaim names the ID token's claim with the person's groups
	// (default groups); GroupRoles maps groups to roles; DefaultRole is
	// the role of someone in none of them (absent: refused).
	GroupsClaim string            `yaml:"groups_claim"`
	GroupRoles  map[string]string `yaml:"group_roles"`
	DefaultRole string            `yaml:"default_role"`
	// AllowedDomains admits only verified e-mail addresses in these
	// domains.
	AllowedDomains []string `yaml:"allowed_domains"`
}

// OIDCRedirectURL is where the provider sends browsers back.
func (u UI) OIDCRedirectURL() string {
	if u.OIDC == nil {
		return ""
	}
	if u.OIDC.RedirectURL != "" {
		return u.OIDC.RedirectURL
	}
	if u.ExternalURL == "" {
		return ""
	}
	return strings.TrimRight(u.ExternalURL, "/") + "/auth/oidc/callback"
}

// UIProxy is a signing-in reverse proxy (oauth2-proxy and the like): its
// headers name the user, and are honoured only from TrustedCIDRs.
type UIProxy struct {
	TrustedCIDRs []string `yaml:"trusted_cidrs"`
	// Headers; defaults X-Forwarded-User, X-Forwarded-Email,
	// X-Forwarded-Groups (comma-separated).
	UserHeader   string `yaml:"user_header"`
	EmailHeader  string `yaml:"email_header"`
	GroupsHeader string `yaml:"groups_header"`
	// GroupRoles maps groups to roles; DefaultRole is the role of a user
	// in none of them (absent: refused).
	GroupRoles  map[string]string `yaml:"group_roles"`
	DefaultRole string            `yaml:"default_role"`
	// SignOutURL is where the proxy signs people out (oauth2-proxy:
	// /oauth2/sign_out); the dashboard links to it.
	SignOutURL string `yaml:"signout_url"`
}

// Headers returns the proxy's header names, defaults filled.
func (p UIProxy) Headers() (user, email, groups string) {
	user, email, groups = p.UserHeader, p.EmailHeader, p.GroupsHeader
	if user == "" {
		user = "X-Forwarded-User"
	}
	if email == "" {
		email = "X-Forwarded-Email"
	}
	if groups == "" {
		groups = "X-Forwarded-Groups"
	}
	return
}

// Inbound are the secrets of inbound webhooks: inline, ${ENV}, or a
// *_file. Absent, the endpoint is off.
type Inbound struct {
	// PagerDutySecret verifies PagerDuty v3 webhooks
	// (X-PagerDuty-Signature) at /api/v1/inbound/pagerduty.
	PagerDutySecret     secret.Secret `yaml:"pagerduty_secret"`
	PagerDutySecretFile string        `yaml:"pagerduty_secret_file"`
	// ZendeskSecret verifies Zendesk webhooks (X-Zendesk-Webhook-
	// Signature) at /api/v1/inbound/zendesk.
	ZendeskSecret     secret.Secret `yaml:"zendesk_secret"`
	ZendeskSecretFile string        `yaml:"zendesk_secret_file"`
	// ServiceNowSecret is the shared secret ServiceNow's outbound REST
	// message sends to /api/v1/inbound/servicenow.
	ServiceNowSecret     secret.Secret `yaml:"servicenow_secret"`
	ServiceNowSecretFile string        `yaml:"servicenow_secret_file"`
}

// UIUser is a user of the API: a bcrypt hash of the password (trailwatch
// users hash-password) and a role.
type UIUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
	Role         string `yaml:"role"`
}

// AuthConfigured reports whether any authentication is on.
func (u UI) AuthConfigured() bool {
	return len(u.Users) > 0 || u.Tokens || u.Proxy != nil || u.OIDC != nil
}

// ListenAddr is the address trailwatch ui listens on.
func (u UI) ListenAddr() string {
	if u.Listen == "" || u.Listen == "off" {
		return DefaultUIListen
	}
	return u.Listen
}

// IsLoopback reports whether a listen address is on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var (
	bcryptHash = regexp.MustCompile(`^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$`)
	basePath   = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+/?$`)
)

// ExternalFindingURL is the link of a finding under the external URL, with
// "{id}" for its id; "" without an external URL.
func (u UI) ExternalFindingURL() string {
	if u.ExternalURL == "" {
		return ""
	}
	return strings.TrimRight(u.ExternalURL, "/") + "/findings/{id}"
}

func validateUI(v *validator, u UI) {
	if u.Listen != "" && u.Listen != "off" {
		if err := CheckListen(u.Listen); err != nil {
			v.add("ui.listen", "%v (or \"off\")", err)
		} else if !u.AuthConfigured() && !IsLoopback(u.Listen) {
			v.add("ui.listen", "%s is not a loopback address, and no authentication is configured: anyone reaching it would be admin; listen on 127.0.0.1 or configure authentication (ui.users, ui.tokens, ui.oidc or ui.proxy)", u.Listen)
		}
	}
	if u.BasePath != "" && !basePath.MatchString(u.BasePath) {
		v.add("ui.base_path", "%q is not a path such as /trailwatch", u.BasePath)
	}
	if u.ExternalURL != "" {
		p, err := url.Parse(u.ExternalURL)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" {
			v.add("ui.external_url", "%q is not an http(s) URL without credentials, query or fragment", u.ExternalURL)
		}
	}
	for _, x := range []struct {
		key    string
		inline secret.Secret
		file   string
	}{{"pagerduty", u.Inbound.PagerDutySecret, u.Inbound.PagerDutySecretFile}, {"zendesk", u.Inbound.ZendeskSecret, u.Inbound.ZendeskSecretFile},
		{"servicenow", u.Inbound.ServiceNowSecret, u.Inbound.ServiceNowSecretFile}} {
		if !x.inline.Empty() && x.file != "" {
			v.add("ui.inbound."+x.key+"_secret", "give %s_secret or %s_secret_file, not both", x.key, x.key)
		}
	}
	if (u.TLSCertFile == "") != (u.TLSKeyFile == "") {
		v.add("ui.tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	if p := u.Proxy; p != nil {
		if len(p.TrustedCIDRs) == 0 {
			v.add("ui.proxy.trusted_cidrs", "missing: the proxy's addresses (its headers are honoured from them only)")
		}
		for i, c := range p.TrustedCIDRs {
			if _, err := netip.ParsePrefix(c); err != nil {
				v.add(fmt.Sprintf("ui.proxy.trusted_cidrs[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", c)
			}
		}
		for _, g := range sortedKeys(p.GroupRoles) {
			if !contains(Roles, p.GroupRoles[g]) {
				v.add("ui.proxy.group_roles."+g, "%q is not viewer, responder or admin", p.GroupRoles[g])
			}
		}
		if p.DefaultRole != "" && !contains(Roles, p.DefaultRole) {
			v.add("ui.proxy.default_role", "%q is not viewer, responder or admin", p.DefaultRole)
		}
	}
	if o := u.OIDC; o != nil {
		validateOIDC(v, u, o)
	}
	if u.SessionTTL < 0 {
		v.add("ui.session_ttl", "must be positive")
	}
	seen := map[string]int{}
	for i, usr := range u.Users {
		p := fmt.Sprintf("ui.users[%d]", i)
		if usr.Name == "" {
			v.add(p+".name", "missing")
		} else if j, dup := seen[usr.Name]; dup {
			v.add(p+".name", "%q is also the name of ui.users[%d]", usr.Name, j)
		} else {
			seen[usr.Name] = i
		}
		if strings.ContainsAny(usr.Name, ":\x00\r\n") {
			v.add(p+".name", "must not contain ':' or control characters")
		}
		if !bcryptHash.MatchString(usr.PasswordHash) {
			// Never echo it: it may be a password put there by mistake.
			v.add(p+".password_hash", "not a bcrypt hash (make one with: trailwatch users hash-password)")
		}
		if !contains(Roles, usr.Role) {
			v.add(p+".role", "%q is not viewer, responder or admin%s", usr.Role, didYouMean(usr.Role, Roles))
		}
	}
}

func validateOIDC(v *validator, u UI, o *UIOIDC) {
	if o.Issuer == "" {
		v.add("ui.oidc.issuer", "missing: the provider's issuer URL (https://accounts.example.com)")
	} else if p, err := url.Parse(o.Issuer); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil {
		v.add("ui.oidc.issuer", "%q is not an http(s) URL", o.Issuer)
	} else if p.Scheme == "http" && !IsLoopback(net.JoinHostPort(p.Hostname(), "0")) {
		v.add("ui.oidc.issuer", "%q is not https: tokens would cross the network in clear", o.Issuer)
	}
	if o.ClientID == "" {
		v.add("ui.oidc.client_id", "missing")
	}
	if !o.ClientSecret.Empty() && o.ClientSecretFile != "" {
		v.add("ui.oidc.client_secret", "give client_secret or client_secret_file, not both")
	}
	if u.OIDCRedirectURL() == "" {
		v.add("ui.oidc.redirect_url", "missing: set ui.external_url (the callback is EXTERNAL_URL/auth/oidc/callback) or ui.oidc.redirect_url")
	} else if p, err := url.Parse(u.OIDCRedirectURL()); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		v.add("ui.oidc.redirect_url", "%q is not an http(s) URL", u.OIDCRedirectURL())
	}
	for _, g := range sortedKeys(o.GroupRoles) {
		if !contains(Roles, o.GroupRoles[g]) {
			v.add("ui.oidc.group_roles."+g, "%q is not viewer, responder or admin", o.GroupRoles[g])
		}
	}
	if o.DefaultRole != "" && !contains(Roles, o.DefaultRole) {
		v.add("ui.oidc.default_role", "%q is not viewer, responder or admin", o.DefaultRole)
	}
	if len(o.GroupRoles) == 0 && o.DefaultRole == "" {
		v.add("ui.oidc.group_roles", "missing: map the provider's groups to roles, or give default_role, or nobody can sign in")
	}
	for i, d := range o.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ ") {
			v.add(fmt.Sprintf("ui.oidc.allowed_domains[%d]", i), "%q is not a domain such as example.com", d)
		}
	}
}
