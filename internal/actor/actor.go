// Package actor works out who made a CloudTrail call and how: the principal
// in readable form, MFA, the AWS service acting for it, and the access method
// (console, CLI, SDK, infrastructure-as-code tools, AWS itself). It imports
// only event.
package actor

import (
	"strings"

	"github.com/trailwatch/trailwatch/internal/event"
)

// Actor is the principal behind a call.
type Actor struct {
	// Type is userIdentity.type (Root, IAMUser, AssumedRole, …), or
	// "Unknown" when the record has none.
	Type string `json:"type"`
	// ARN is the principal's ARN as recorded.
	ARN string `json:"arn,omitempty"`
	// Name is a readable name: "root", the IAM user name, "role/session"
	// for an assumed role, "person (SSO PermissionSet)" for IAM Identity
	// Center, the service for AWSService.
	Name string `json:"name"`
	// SessionName is an assumed role's session name (often the person).
	SessionName string `json:"session_name,omitempty"`
	// Role is the role an assumed-role session belongs to, and
	// PermissionSet the IAM Identity Center permission set behind it.
	Role          string `json:"role,omitempty"`
	PermissionSet string `json:"permission_set,omitempty"`
	// SourceIdentity is sts:SourceIdentity, set by the person's identity
	// provider and carried through role chains.
	SourceIdentity string `json:"source_identity,omitempty"`
	AccountID      string `json:"account_id,omitempty"`
	AccessKeyID    string `json:"access_key_id,omitempty"`
	// MFA reports whether the session was MFA-authenticated.
	MFA bool `json:"mfa"`
	// InvokedBy is the AWS service that made the call on the principal's
	// behalf (cloudformation.amazonaws.com, …).
	InvokedBy string `json:"invoked_by,omitempty"`
	// Automatic reports that AWS made the call by itself (an AWSService
	// identity or a service-linked role), not a person or their tooling.
	Automatic bool `json:"automatic,omitempty"`
}

// Root reports whether the account's root user made the call.
func (a Actor) Root() bool { return a.Type == "Root" }

// Of returns the actor of an event.
func Of(ev *event.Event) Actor {
	id := ev.UserIdentity
	a := Actor{
		Type:        id.Type,
		ARN:         id.ARN,
		AccountID:   id.AccountID,
		AccessKeyID: id.AccessKeyID,
		InvokedBy:   id.InvokedBy,
	}
	if a.Type == "" {
		a.Type = "Unknown"
	}
	if sc := id.SessionContext; sc != nil {
		a.MFA = strings.EqualFold(string(sc.Attributes.MFAAuthenticated), "true")
		a.SourceIdentity = sc.SourceIdentity
	}
	switch id.Type {
	case "Root":
		a.Name = "root"
	case "IAMUser":
		a.Name = firstNonEmpty(id.UserName, lastSegment(id.ARN), id.PrincipalID)
	case "AssumedRole":
		a.SessionName = lastSegment(id.ARN)
		role := ""
		if sc := id.SessionContext; sc != nil {
			role = sc.SessionIssuer.UserName
			if role == "" {
				role = lastSegment(sc.SessionIssuer.ARN)
			}
			a.Automatic = isServiceLinked(sc.SessionIssuer.ARN)
		}
		if role == "" {
			role = assumedRoleName(id.ARN)
		}
		a.Role = role
		if ps, ok := permissionSet(role); ok {
			a.PermissionSet = ps
			a.Name = firstNonEmpty(a.SessionName, role) + " (SSO " + ps + ")"
		} else if a.SessionName != "" && a.SessionName != role {
			a.Name = role + "/" + a.SessionName
		} else {
			a.Name = role
		}
		if isServiceLinkedName(role) {
			a.Automatic = true
		}
	case "Role":
		a.Role = lastSegment(id.ARN)
		a.Name = a.Role
		a.Automatic = isServiceLinked(id.ARN)
	case "FederatedUser":
		a.Name = firstNonEmpty(lastSegment(id.ARN), id.PrincipalID)
		if sc := id.SessionContext; sc != nil && sc.SessionIssuer.UserName != "" {
			a.Name = sc.SessionIssuer.UserName + "/" + a.Name
		}
	case "IdentityCenterUser":
		name := id.UserName
		if name == "" && id.OnBehalfOf != nil {
			name = id.OnBehalfOf.UserID
		}
		a.Name = firstNonEmpty(name, id.PrincipalID) + " (Identity Center)"
	case "AWSService":
		a.Name = firstNonEmpty(id.InvokedBy, ev.SourceIPAddress, "AWS service")
		a.Automatic = true
	case "":
		// No type but an invoking AWS service: AWS internal work (such
		// records carry only invokedBy), AWS acting by itself.
		if isServiceHost(id.InvokedBy) {
			a.Type = "AWSService"
			a.Name = id.InvokedBy
			a.Automatic = true
		} else {
			a.Name = firstNonEmpty(id.UserName, lastSegment(id.ARN), id.PrincipalID, a.Type)
		}
	case "AWSAccount":
		a.Name = "account " + firstNonEmpty(id.AccountID, id.PrincipalID)
	default:
		a.Name = firstNonEmpty(id.UserName, lastSegment(id.ARN), id.PrincipalID, a.Type)
	}
	if a.Name == "" {
		a.Name = firstNonEmpty(id.PrincipalID, a.Type)
	}
	return a
}

// isServiceHost reports whether s names an AWS service
// (ec2.amazonaws.com, AWS Internal).
func isServiceHost(s string) bool {
	return s == "AWS Internal" || (strings.HasSuffix(s, ".amazonaws.com") && !strings.ContainsAny(s, " /"))
}

// isServiceLinked reports whether an IAM ARN names a service-linked role.
func isServiceLinked(arn string) bool {
	return strings.Contains(arn, ":role/aws-service-role/") || isServiceLinkedName(lastSegment(arn))
}

func isServiceLinkedName(role string) bool { return strings.HasPrefix(role, "AWSServiceRoleFor") }

// permissionSet extracts the permission set from an IAM Identity Center
// role name, AWSReservedSSO_<PermissionSet>_<16 hex>.
func permissionSet(role string) (string, bool) {
	rest, ok := strings.CutPrefix(role, "AWSReservedSSO_")
	if !ok {
		return "", false
	}
	if i := strings.LastIndexByte(rest, '_'); i > 0 {
		return rest[:i], true
	}
	return rest, true
}

// assumedRoleName takes the role from arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func assumedRoleName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":assumed-role/")
	if !ok {
		return ""
	}
	role, _, _ := strings.Cut(rest, "/")
	return role
}

func lastSegment(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
