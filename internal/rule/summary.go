package rule

import (
	"fmt"
	"strings"

	"github.com/trailwatch/trailwatch/internal/finding"
)

var verbs = []struct{ prefix, verb string }{
	{"ConsoleLogin", "signed in to"},
	{"Create", "created"}, {"Delete", "deleted"}, {"Update", "updated"},
	{"Disassociate", "disassociated"}, {"Associate", "associated"},
	{"Deregister", "deregistered"}, {"Register", "registered"},
	{"Untag", "removed tags from"}, {"Tag", "tagged"}, {"Activate", "activated"},
	{"Cancel", "cancelled an update of"}, {"Start", "started"}, {"Put", "set"},
	{"Attach", "attached"}, {"Detach", "detached"}, {"Modify", "modified"},
	{"Enable", "enabled"}, {"Disable", "disabled"}, {"Stop", "stopped"},
}

// verbOf turns an operation name into a past-tense phrase.
func verbOf(op string) string {
	for _, v := range verbs {
		if strings.HasPrefix(op, v.prefix) {
			return v.verb
		}
	}
	return "called " + op + " on"
}

// summarize writes the one-sentence summary: who did what to which
// resource, where, how, and the main reason for the risk.
func summarize(f *finding.Finding) string {
	svc := strings.ToUpper(f.Service)
	res := strings.TrimSpace(svc + " " + f.Resource.Type)
	if f.Resource.Name != "" {
		res += " " + f.Resource.Name
	}
	who := f.Actor.Name
	if f.Actor.Type != "" && f.Actor.Type != "Root" && !strings.Contains(who, "(") {
		who += " (" + f.Actor.Type + ")"
	}
	where := strings.Trim(f.AccountID+"/"+f.Region, "/")
	var s string
	switch f.Outcome {
	case "denied":
		s = fmt.Sprintf("%s was denied %s on %s", who, f.EventName, res)
	case "failed":
		s = fmt.Sprintf("%s failed to %s %s (%s)", who, f.EventName, res, f.ErrorCode)
	default:
		s = fmt.Sprintf("%s %s %s (%s)", who, verbOf(f.EventName), res, f.EventName)
	}
	if where != "" {
		s += " in " + where
	}
	s += " via " + f.AccessMethod
	if f.Actor.InvokedBy != "" && f.AccessMethod != "aws-service" && !strings.Contains(f.AccessMethod, strings.TrimSuffix(f.Actor.InvokedBy, ".amazonaws.com")) {
		s += " (through " + f.Actor.InvokedBy + ")"
	}
	if len(f.RiskReasons) > 0 && f.Risk != 0 && !strings.HasSuffix(f.RiskReasons[0], "default risk of the rule") {
		s += ": " + f.RiskReasons[0]
	}
	return s + attribution(f)
}

// attribution credits a rule's author in every alert it raises, as the
// Detection Rule License of Sigma rules asks.
func attribution(f *finding.Finding) string {
	if f.RuleAuthor == "" {
		return ""
	}
	return " (rule by " + f.RuleAuthor + ")"
}
