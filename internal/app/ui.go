package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/internal/api"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/heartbeat"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/secret"
	"github.com/trailwatch/trailwatch/internal/store"
	"github.com/trailwatch/trailwatch/internal/web"
)

// UIServer serves the HTTP API (internal/api) on its own listener: for
// trailwatch run when ui.listen is set, and for trailwatch ui.
type UIServer struct {
	srv *http.Server
	ln  net.Listener
	tls bool
}

// UIOptions are what the API server needs beyond the configuration.
type UIOptions struct {
	// Listen overrides ui.listen (trailwatch ui --listen).
	Listen string
	Logger *slog.Logger
	Now    func() time.Time
	// Getenv resolves ${ENV} in secrets; nil means none.
	Getenv func(string) string
	// Trails reports the heartbeat's trails (trailwatch run).
	Trails func() []api.Trail
}

// trailsOf reports each account and region the heartbeat watches, for GET
// /trails; nil when the heartbeat is off.
func trailsOf(h *heartbeat.Monitor) func() []api.Trail {
	return func() []api.Trail {
		ts := h.Trails()
		if ts == nil {
			return nil
		}
		out := make([]api.Trail, 0, len(ts))
		for _, t := range ts {
			out = append(out, api.Trail{Account: t.Account, Region: t.Region, LastEvent: t.LastEvent, State: t.State})
		}
		return out
	}
}

// lifecycleTypes are the channel types that hold incidents or tickets and
// take acknowledge and resolve deliveries.
var lifecycleTypes = map[string]bool{"pagerduty": true, "servicenow": true, "zendesk": true, "webhook": true}

// ruleSummary is a rule in GET /rules.
type ruleSummary struct {
	ID           string   `json:"id"`
	Title        string   `json:"title"`
	Service      string   `json:"service"`
	Risk         string   `json:"risk"`
	EventSource  string   `json:"event_source"`
	EventNames   []string `json:"event_names"`
	ReferenceIDs []string `json:"reference_ids"`
	CIS          []string `json:"cis"`
	Enabled      bool     `json:"enabled"`
	Author       string   `json:"author,omitempty"`
}

// ruleDetail is a rule in GET /rules/{id}, with its effective settings.
type ruleDetail struct {
	ruleSummary
	Description string         `json:"description"`
	Remediation string         `json:"remediation"`
	References  []string       `json:"references"`
	TTL         string         `json:"ttl"`
	Effective   effectiveRules `json:"effective"`
}

type effectiveRules struct {
	Risk              string          `json:"risk"`
	TTL               string          `json:"ttl"`
	Safelist          []string        `json:"safelist"`
	SafelistRegex     []string        `json:"safelist_regex"`
	Events            map[string]bool `json:"events,omitempty"`
	IncludeAWSService bool            `json:"include_aws_service"`
	// Settings are the rule's own settings as configured (values such as
	// CIDRs and countries; no secrets are rule settings).
	Settings map[string]any `json:"settings,omitempty"`
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// APIRules describes the catalogue's rules as the engine runs them (the
// engine decides what is on and every effective setting).
func APIRules(eng *rule.Engine) []api.Rule {
	var out []api.Rule
	for _, x := range eng.Effective() {
		r := x.Rule
		sum := ruleSummary{ID: r.ID, Title: r.Title, Service: r.Service, Risk: r.Risk.String(), EventSource: r.EventSource,
			EventNames: nonNil(r.EventNames), ReferenceIDs: nonNil(r.ReferenceIDs), CIS: nonNil(r.CIS), Enabled: x.Enabled, Author: r.Author}
		eff := effectiveRules{Risk: x.Risk.String(), TTL: rule.FormatDuration(rule.Duration(x.TTL)), Safelist: nonNil(x.Safelist),
			SafelistRegex: nonNil(x.SafelistRegex), IncludeAWSService: x.IncludeAWSService, Settings: x.Settings}
		if x.Enabled {
			// The event names switched off in the rule's settings.
			for _, n := range r.EventNames {
				if !slices.Contains(x.Events, n) {
					if eff.Events == nil {
						eff.Events = map[string]bool{}
					}
					eff.Events[n] = false
				}
			}
		}
		det := ruleDetail{ruleSummary: sum, Description: strings.TrimSpace(r.Description), Remediation: strings.TrimSpace(r.Remediation),
			References: nonNil(r.References), TTL: rule.FormatDuration(r.TTL), Effective: eff}
		out = append(out, api.Rule{ID: r.ID, Summary: sum, Detail: det})
	}
	return out
}

// uiSecrets resolves the inbound webhooks' secrets (ui.inbound), as
// config check and NewUI do; the error names each key that fails.
func uiSecrets(cfg *config.Config, getenv func(string) string) error {
	_, err := inboundSecrets(cfg, getenv)
	_, oerr := oidcConfig(cfg, getenv)
	return errors.Join(err, oerr)
}

// inboundSecrets resolves ui.inbound's secrets: PagerDuty, Zendesk,
// ServiceNow, in that order.
func inboundSecrets(cfg *config.Config, getenv func(string) string) ([3]secret.Secret, error) {
	var out [3]secret.Secret
	in := cfg.UI.Inbound
	var errs []error
	for i, x := range []struct {
		key    string
		inline secret.Secret
		file   string
	}{{"pagerduty", in.PagerDutySecret, in.PagerDutySecretFile}, {"zendesk", in.ZendeskSecret, in.ZendeskSecretFile},
		{"servicenow", in.ServiceNowSecret, in.ServiceNowSecretFile}} {
		v, err := secret.Setting("ui.inbound."+x.key+"_secret", x.inline, x.file, getenv, false)
		if err != nil {
			errs = append(errs, err)
		}
		out[i] = v
	}
	return out, errors.Join(errs...)
}

// NewUI builds the API server over an open store and listens. With no
// authentication configured it listens on loopback only.
func NewUI(cfg *config.Config, st Backend, eng *rule.Engine, o UIOptions) (*UIServer, error) {
	full, ok := st.(store.Full)
	if !ok {
		return nil, errors.New("ui: this store cannot keep triage state")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ac := api.Config{Store: full, Rules: APIRules(eng), Tokens: cfg.UI.Tokens, BasePath: cfg.UI.BasePath, Now: o.Now, Log: o.Logger, Trails: o.Trails}
	for _, u := range cfg.UI.Users {
		ac.Users = append(ac.Users, api.User{Name: u.Name, PasswordHash: u.PasswordHash, Role: u.Role})
	}
	for _, ch := range cfg.Channels {
		ac.Channels = append(ac.Channels, api.Channel{Name: ch.Name, Type: ch.Type})
		if lifecycleTypes[ch.Type] {
			ac.Lifecycle = append(ac.Lifecycle, ch.Name)
		}
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if p := cfg.UI.Proxy; p != nil {
		px := &api.Proxy{GroupRoles: p.GroupRoles, DefaultRole: p.DefaultRole, SignOutURL: p.SignOutURL}
		px.UserHeader, px.EmailHeader, px.GroupsHeader = p.Headers()
		for _, c := range p.TrustedCIDRs {
			pr, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("ui.proxy.trusted_cidrs: %q is not a CIDR", c)
			}
			px.Trusted = append(px.Trusted, pr.Masked())
		}
		ac.Proxy = px
	}
	sec, err := inboundSecrets(cfg, getenv)
	if err != nil {
		return nil, err
	}
	ac.PagerDutySecret, ac.ZendeskSecret, ac.ServiceNowSecret = sec[0], sec[1], sec[2]
	if ac.OIDC, err = oidcConfig(cfg, getenv); err != nil {
		return nil, err
	}
	ac.SessionTTL = time.Duration(cfg.UI.SessionTTL)
	ac.SecureCookies = cfg.UI.TLSCertFile != "" || strings.HasPrefix(cfg.UI.ExternalURL, "https://")
	dash, err := dashboard(cfg, st, eng, o)
	if err != nil {
		return nil, err
	}
	ac.Pages = dash
	ac.SignInPage = func(w http.ResponseWriter, r *http.Request, v api.SignInView) {
		dash.SignInPage(w, r, web.SignIn{Status: v.Status, Password: v.Password, Action: v.Action, CSRF: v.CSRF, Next: v.Next,
			OIDC: v.OIDC, OIDCURL: v.OIDCURL, Error: v.Error})
	}
	h, err := api.New(ac)
	if err != nil {
		return nil, err
	}
	addr := o.Listen
	if addr == "" {
		addr = cfg.UI.ListenAddr()
	}
	if err := config.CheckListen(addr); err != nil {
		return nil, fmt.Errorf("ui.listen: %w", err)
	}
	if !ac.AuthConfigured() && !config.IsLoopback(addr) {
		return nil, fmt.Errorf("ui.listen: %s is not a loopback address, and no authentication is configured (ui.users, ui.tokens, ui.oidc or ui.proxy)", addr)
	}
	u := &UIServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}}
	if cfg.UI.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.UI.TLSCertFile, cfg.UI.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("ui.tls_cert_file: %w", err)
		}
		u.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		u.tls = true
	}
	if u.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("ui.listen: %w", err)
	}
	return u, nil
}

// Addr is the address the API listens on.
func (u *UIServer) Addr() string { return u.ln.Addr().String() }

// URL is the API's base URL on its listener.
func (u *UIServer) URL() string {
	scheme := "http"
	if u.tls {
		scheme = "https"
	}
	return scheme + "://" + u.Addr()
}

// Serve serves until Shutdown.
func (u *UIServer) Serve() error {
	var err error
	if u.tls {
		err = u.srv.ServeTLS(u.ln, "", "")
	} else {
		err = u.srv.Serve(u.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, letting requests in flight finish until ctx
// ends.
func (u *UIServer) Shutdown(ctx context.Context) error { return u.srv.Shutdown(ctx) }

// Close stops listening without serving (a server never started).
func (u *UIServer) Close() error { return u.ln.Close() }

// dashboard builds the web pages over the same store, under the same base
// path, with the catalogue as configured and the channels' routing in
// words (never their secrets).
// oidcConfig is ui.oidc for the API, its client secret resolved.
func oidcConfig(cfg *config.Config, getenv func(string) string) (*api.OIDC, error) {
	o := cfg.UI.OIDC
	if o == nil {
		return nil, nil
	}
	sec, err := secret.Setting("ui.oidc.client_secret", o.ClientSecret, o.ClientSecretFile, getenv, false)
	if err != nil {
		return nil, err
	}
	return &api.OIDC{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: sec, RedirectURL: cfg.UI.OIDCRedirectURL(), Scopes: o.Scopes,
		Name: o.Name, GroupsClaim: o.GroupsClaim, GroupRoles: o.GroupRoles, DefaultRole: o.DefaultRole, AllowedDomains: o.AllowedDomains}, nil
}

// account is api.AccountOf for the dashboard's header.
func account(r *http.Request) (web.Account, bool) {
	a, ok := api.AccountOf(r)
	if !ok || a.Via == "none" {
		return web.Account{}, false
	}
	return web.Account{Name: a.Name, Role: a.Role, CSRF: a.CSRF, SignOut: a.SignOut}, true
}

func dashboard(cfg *config.Config, st Backend, eng *rule.Engine, o UIOptions) (*web.Server, error) {
	var chans []web.Channel
	for i := range cfg.Channels {
		c := &cfg.Channels[i]
		chans = append(chans, web.Channel{Name: c.Name, Type: c.Type, Routes: routesInWords(c.Common), RefURL: refURL(c)})
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	wo := web.Options{Store: st, Engine: eng, Outbox: st, Channels: chans, BasePath: cfg.UI.BasePath, Now: now, Logger: o.Logger,
		Who: api.Who, Account: account, APIPath: api.Prefix}
	if o.Trails != nil {
		wo.Trails = func() []web.Trail {
			var out []web.Trail
			for _, t := range o.Trails() {
				out = append(out, web.Trail{Account: t.Account, Region: t.Region, LastEvent: t.LastEvent, State: t.State})
			}
			return out
		}
	}
	return web.New(wo)
}

// refURL is where a ticket or incident channel's references open for
// people (the dashboard links a delivery's reference there): a Zendesk
// ticket or a ServiceNow record; "" for other channels. Only the scheme
// and host of a configured base_url are kept, never credentials.
func refURL(c *config.Channel) string {
	var loc struct {
		Subdomain string `yaml:"subdomain"`
		Instance  string `yaml:"instance"`
		BaseURL   string `yaml:"base_url"`
		Table     string `yaml:"table"`
	}
	if c.Node.Decode(&loc) != nil {
		return ""
	}
	host := ""
	switch {
	case loc.BaseURL != "":
		u, err := url.Parse(loc.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return ""
		}
		host = u.Scheme + "://" + u.Host
	case c.Type == "zendesk" && loc.Subdomain != "":
		host = "https://" + url.PathEscape(loc.Subdomain) + ".zendesk.com"
	case c.Type == "servicenow" && loc.Instance != "":
		host = "https://" + url.PathEscape(loc.Instance) + ".service-now.com"
	}
	switch {
	case host == "":
		return ""
	case c.Type == "zendesk":
		return host + "/agent/tickets/{ref}"
	case c.Type == "servicenow":
		table := loc.Table
		if table == "" {
			table = "incident"
		}
		return host + "/nav_to.do?uri=" + url.QueryEscape(table+".do?sys_id=") + "{ref}"
	}
	return ""
}

// routesInWords says which findings a channel receives.
func routesInWords(c config.Common) string {
	var parts []string
	if c.MinRisk != 0 {
		parts = append(parts, "risk ≥ "+c.MinRisk.String())
	}
	for _, x := range []struct {
		name string
		v    []string
	}{{"rules", c.Rules}, {"services", c.Services}, {"accounts", c.Accounts}, {"regions", c.Regions}, {"outcomes", c.Outcomes}, {"actors", c.Actors}} {
		if len(x.v) > 0 {
			parts = append(parts, x.name+" "+strings.Join(x.v, ", "))
		}
	}
	if len(parts) == 0 {
		return "every finding"
	}
	return strings.Join(parts, "; ")
}
