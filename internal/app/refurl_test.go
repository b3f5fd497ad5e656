package app

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/config"
)

// A ticket channel's references link to where people open them, built from
// its account or instance, never with credentials from its base_url.
func TestRefURL(t *testing.T) {
	for doc, want := range map[string]string{
		"type: zendesk\nsubdomain: acme":                                         "https://acme.zendesk.com/agent/tickets/{ref}",
		"type: zendesk\nbase_url: https://user:EXAMPLE@desk.example.com/api?x=1": "https://desk.example.com/agent/tickets/{ref}",
		"type: servicenow\ninstance: acme":                                       "https://acme.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3D{ref}",
		"type: servicenow\ninstance: acme\ntable: sn_si_incident":                "https://acme.service-now.com/nav_to.do?uri=sn_si_incident.do%3Fsys_id%3D{ref}",
		"type: pagerduty\nrouting_key: EXAMPLE":                                  "",
		"type: zendesk\nbase_url: javascript:alert(1)":                           "",
	} {
		var c config.Channel
		if err := yaml.Unmarshal([]byte(doc), &c.Node); err != nil {
			t.Fatal(err)
		}
		if err := c.Node.Decode(&c.Common); err != nil {
			t.Fatal(err)
		}
		if c.Node.Kind == yaml.DocumentNode {
			c.Node = *c.Node.Content[0]
		}
		if got := refURL(&c); got != want {
			t.Errorf("%q: %q, want %q", doc, got, want)
		}
	}
}
