package rule

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Policy documents arrive in CloudTrail as JSON strings (IAM, KMS, SQS,
// SNS, ECR, Lambda, Secrets Manager), sometimes URL-encoded (IAM), or as
// objects (S3's bucketPolicy). Statement, Action, Resource and principal
// lists may each be a single value or a list. ParsePolicy reads any of
// these into one normal form: {"Statement": [{"Effect", "Action",
// "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal",
// "Condition"}]}, where Action, Resource and each principal kind are lists
// of strings and Principal is a map from kind (AWS, Service, Federated,
// CanonicalUser, "*") to a list. Anything that is not a policy gives an
// empty statement list.
func ParsePolicy(v any) map[string]any {
	doc := policyObject(v)
	var stmts []any
	switch s := doc["Statement"].(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	}
	out := make([]any, 0, len(stmts))
	for _, x := range stmts {
		st, ok := x.(map[string]any)
		if !ok {
			continue
		}
		n := map[string]any{
			"Effect":       strOf(st["Effect"]),
			"Action":       strList(st["Action"]),
			"NotAction":    strList(st["NotAction"]),
			"Resource":     strList(st["Resource"]),
			"NotResource":  strList(st["NotResource"]),
			"Principal":    principals(st["Principal"]),
			"NotPrincipal": principals(st["NotPrincipal"]),
			"Condition":    st["Condition"],
		}
		if n["Condition"] == nil {
			n["Condition"] = map[string]any{}
		}
		out = append(out, n)
	}
	return map[string]any{"Statement": out}
}

func policyObject(v any) map[string]any {
	switch t := v.(type) {
	case map[string]any:
		return t
	case string:
		s := strings.TrimSpace(t)
		if strings.HasPrefix(s, "%7B") || strings.HasPrefix(s, "%7b") {
			if d, err := url.QueryUnescape(s); err == nil {
				s = d
			}
		}
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil {
			return m
		}
	}
	return map[string]any{}
}

func strOf(v any) string {
	s, _ := v.(string)
	return s
}

func strList(v any) []any {
	switch t := v.(type) {
	case string:
		return []any{t}
	case []any:
		out := make([]any, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return []any{}
}

func principals(v any) map[string]any {
	switch t := v.(type) {
	case string: // "Principal": "*"
		return map[string]any{"*": []any{t}}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = strList(x)
		}
		return out
	}
	return map[string]any{}
}

// narrowing condition keys: a wildcard principal limited by one of them is
// not open to everyone.
var narrowing = []string{
	"aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn",
	"aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourcevpc", "aws:sourcevpce",
	"aws:sourceorgid", "aws:sourceorgpaths", "aws:userid", "aws:username", "aws:principalserviceName",
	"kms:calleraccount", "kms:viaservice", "lambda:functionurlauthtype", "aws:resourceaccount",
}

func narrowed(cond any) bool {
	m, _ := cond.(map[string]any)
	for _, inner := range m {
		keys, _ := inner.(map[string]any)
		for k := range keys {
			lk := strings.ToLower(k)
			for _, n := range narrowing {
				if lk == strings.ToLower(n) {
					return true
				}
			}
		}
	}
	return false
}

func allows(st map[string]any) bool { return strings.EqualFold(strOf(st["Effect"]), "Allow") }

// PolicyAllowsAll reports whether a policy allows every action on every
// resource ("Action": "*", "Resource": "*"), the shape of administrator
// access.
func PolicyAllowsAll(v any) bool {
	for _, x := range ParsePolicy(v)["Statement"].([]any) {
		st := x.(map[string]any)
		if !allows(st) || len(st["NotAction"].([]any)) > 0 {
			continue
		}
		if anyOf(st["Action"], "*", "*:*") && anyOf(st["Resource"], "*") {
			return true
		}
	}
	return false
}

// PolicyPublic reports whether a policy allows anyone ("Principal": "*"
// or {"AWS": "*"}) without a condition that narrows who.
func PolicyPublic(v any) bool {
	for _, x := range ParsePolicy(v)["Statement"].([]any) {
		st := x.(map[string]any)
		if !allows(st) || narrowed(st["Condition"]) {
			continue
		}
		p := st["Principal"].(map[string]any)
		if anyOf(p["*"], "*") || anyOf(p["AWS"], "*") {
			return true
		}
	}
	return false
}

// PolicyAccounts returns the account ids an Allow statement names in AWS
// principals (ARNs or bare ids), in order, without repeats; "*" is left
// out (PolicyPublic tells that).
func PolicyAccounts(v any) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range ParsePolicy(v)["Statement"].([]any) {
		st := x.(map[string]any)
		if !allows(st) {
			continue
		}
		p := st["Principal"].(map[string]any)
		aws, _ := p["AWS"].([]any)
		for _, a := range aws {
			s := a.(string)
			acct := ARNAccount(s)
			if acct == "" && len(s) == 12 && strings.Trim(s, "0123456789") == "" {
				acct = s
			}
			if acct != "" && !seen[acct] {
				seen[acct] = true
				out = append(out, acct)
			}
		}
	}
	return out
}

func anyOf(list any, want ...string) bool {
	l, _ := list.([]any)
	for _, x := range l {
		for _, w := range want {
			if x == w {
				return true
			}
		}
	}
	return false
}

// Text renders a JSON value as text: strings as they are, numbers and
// booleans as JSON writes them, null as "", objects and lists as compact
// JSON. Sigma's string matching compares against this.
func Text(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// Field returns every value at a dotted path of a record, descending into
// lists on the way (Sigma's field semantics); a missing path gives none.
func Field(v any, path string) []any {
	cur := []any{v}
	for _, seg := range strings.Split(path, ".") {
		var next []any
		for _, c := range cur {
			switch t := c.(type) {
			case map[string]any:
				if x, ok := t[seg]; ok {
					next = append(next, x)
				}
			case []any:
				for _, e := range t {
					if m, ok := e.(map[string]any); ok {
						if x, ok := m[seg]; ok {
							next = append(next, x)
						}
					}
				}
			}
		}
		cur = next
	}
	var out []any
	for _, c := range cur {
		if l, ok := c.([]any); ok {
			out = append(out, l...)
		} else {
			out = append(out, c)
		}
	}
	if out == nil {
		out = []any{}
	}
	return out
}
