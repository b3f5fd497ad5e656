package notify

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// CheckBaseURL accepts an absolute https URL, or http for a loopback host
// (tests, a local proxy), without credentials, query or fragment. Its
// errors never quote the URL, which may carry secrets.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("not an absolute URL (https://host[/path])")
	}
	if u.User != nil {
		return errors.New("must not contain credentials; give them in their own fields")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !Loopback(u.Hostname()) {
			return errors.New("must use https (http is only allowed for localhost)")
		}
	default:
		return errors.New("must be an https URL")
	}
	return nil
}

// Loopback reports whether host is localhost or a loopback address.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
