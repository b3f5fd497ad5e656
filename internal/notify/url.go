package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// URLPolicy is what one URL setting of a channel may be beyond the rules
// every URL follows (see CheckURL).
type URLPolicy struct {
	// Query allows a query string: a webhook URL may carry its token
	// there. API base URLs have none.
	Query bool
	// LinkLocal allows link-local and cloud metadata addresses; a channel
	// sets it from its allow_link_local setting.
	LinkLocal bool
}

// metadataHosts are names of cloud instance metadata services.
var metadataHosts = []string{
	"metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.com",
	"instance-data", "instance-data.ec2.internal",
}

// metadataAddrs are metadata service addresses outside the link-local
// ranges: AWS's IPv6 endpoint, Alibaba Cloud's and Oracle Cloud Classic's.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("192.0.0.192"),
}

// nat64 is the well-known NAT64 prefix: an IPv4 address embedded in it
// reaches that IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// CheckURL is the one URL policy of every channel: every setting whose URL
// trailwatch sends to (slack.webhook_url, webhook.url, pagerduty.base_url,
// servicenow.base_url, zendesk.base_url, sms endpoint and base_url) goes
// through it. A URL must be absolute https, or http to a loopback host
// (tests, a local proxy); carry no credentials (they have fields of their
// own, which are kept secret); have no fragment, and a query only where p
// allows one; and not point at a link-local or cloud metadata address
// (169.254.0.0/16, fe80::/10, fd00:ec2::254, metadata.google.internal, …)
// or an address written in a non-canonical numeric form (2852039166,
// 0xa9.0xfe.0xa9.0xfe) unless p.LinkLocal. Its errors never quote the URL,
// which may hold a secret.
func CheckURL(raw string, p URLPolicy) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || u.Scheme == "" {
		return nil, errors.New("not an absolute URL (https://host/path)")
	}
	if u.User != nil {
		return nil, errors.New("must not contain credentials (user:password@); give them in their own settings")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("must not have a fragment (#…)")
	}
	if u.RawQuery != "" && !p.Query {
		return nil, errors.New("must not have a query (?…)")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("has no host")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !Loopback(host) {
			return nil, errors.New("must use https (http is only allowed to localhost)")
		}
	default:
		return nil, fmt.Errorf("must be an https URL, not %s", safeScheme(u.Scheme))
	}
	if err := checkHost(host, p.LinkLocal); err != nil {
		return nil, err
	}
	return u, nil
}

// QuoteSetting quotes a configured value for an error message with any
// credentials in it (user:password@ in a URL or a host) cut out, so that
// no configuration error prints userinfo.
func QuoteSetting(v string) string {
	if i := strings.LastIndex(v, "@"); i >= 0 {
		if u, err := url.Parse(v); err == nil && u.User != nil {
			u.User = nil
			v = u.String()
		} else {
			head := ""
			if j := strings.Index(v, "://"); j >= 0 && j < i {
				head = v[:j+3]
			}
			v = head + "…" + v[i:]
		}
	}
	return strconv.Quote(v)
}

// safeScheme quotes a scheme only when it is a plain word.
func safeScheme(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') || len(s) > 16 {
			return "another scheme"
		}
	}
	return s + "://"
}

// checkHost refuses metadata names, numeric hosts that are not a
// canonical IP address, and link-local or metadata addresses (unless
// linkLocal).
func checkHost(host string, linkLocal bool) error {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if numericForm(h) {
		if _, err := netip.ParseAddr(h); err != nil || h != host {
			return errors.New("host is a number that is not a plain IP address (such as 2852039166 or 0xa9fea9fe); write the address or a name")
		}
	}
	if linkLocal {
		return nil
	}
	for _, m := range metadataHosts {
		if h == m {
			return errors.New("host is a cloud metadata service; set allow_link_local: true if this is really meant")
		}
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && forbiddenAddr(a) {
		return errors.New("host is a link-local or cloud metadata address; set allow_link_local: true if this is really meant")
	}
	return nil
}

// numericForm reports whether every label of a host begins with a digit,
// the forms inet_aton reads as an IPv4 address (decimal, octal, 0x hex,
// fewer than four parts).
func numericForm(h string) bool {
	if h == "" || strings.Contains(h, ":") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || label[0] < '0' || label[0] > '9' {
			return false
		}
	}
	return true
}

// forbiddenAddr reports whether a is link-local, a metadata address, or
// unspecified (0.0.0.0 reaches the machine itself), also when embedded in
// IPv4-mapped or NAT64 IPv6.
func forbiddenAddr(a netip.Addr) bool {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:16]))
	}
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() {
		return true
	}
	for _, m := range metadataAddrs {
		if a == m {
			return true
		}
	}
	return false
}

// Loopback reports whether host is localhost or a loopback address.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// dialGuard refuses, at connection time, link-local and metadata
// addresses that a host name resolved to, which CheckURL cannot see: a
// name can point anywhere, and change after the check.
func dialGuard(linkLocal bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if linkLocal {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil
		}
		if a, err := netip.ParseAddr(host); err == nil && forbiddenAddr(a) {
			return errors.New("refused: a link-local or cloud metadata address (allow_link_local is not set)")
		}
		return nil
	}
}

// guardedDial is a DialContext that applies dialGuard.
func guardedDial(linkLocal bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Control: dialGuard(linkLocal)}
	return d.DialContext
}
