package rule

import (
	"fmt"
	"net/url"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// The variables a rule expression sees:
//
//	event     the CloudTrail record as it came (map)
//	request   requestParameters, {} when absent, URL-encoded ARNs decoded
//	response  responseElements, {} when absent
//	actor     {type, arn, name, session_name, role, permission_set, mfa,
//	           invoked_by, automatic, account_id, root}
//	method    the access method (console, cli, sdk, terraform, …)
//	outcome   success, denied or failed
//	account   the account the event belongs to
//
// Functions beyond standard CEL: the ext.Strings library, optional
// navigation (request.?a.?b.orValue(x)), urldecode(string) and
// arnAccount(string), the account id field of an ARN.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.DynType),
		cel.Variable("response", cel.DynType),
		cel.Variable("actor", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("method", cel.StringType),
		cel.Variable("outcome", cel.StringType),
		cel.Variable("account", cel.StringType),
		cel.OptionalTypes(),
		ext.Strings(),
		cel.Function("urldecode", cel.Overload("urldecode_string", []*cel.Type{cel.StringType}, cel.StringType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, _ := v.Value().(string)
				return types.String(URLDecode(s))
			}))),
		cel.Function("arnAccount", cel.Overload("arnaccount_string", []*cel.Type{cel.StringType}, cel.StringType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, _ := v.Value().(string)
				return types.String(ARNAccount(s))
			}))),
	)
})

func compileExpr(src string, want *cel.Type) (cel.Program, error) {
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := ast.OutputType(); !t.IsExactType(want) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("%q returns %s, want %s", src, t, want)
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// URLDecode undoes the URL encoding CloudTrail leaves in some request
// parameters (principalArn of EKS access calls); other strings are
// returned unchanged.
func URLDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

// ARNAccount returns the account field of an ARN, or "".
func ARNAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}

// decodeStrings returns a copy of a JSON value with URL-encoded ARNs
// decoded.
func decodeStrings(v any) any {
	switch t := v.(type) {
	case string:
		if strings.HasPrefix(t, "arn%3A") || strings.HasPrefix(t, "arn%3a") {
			return URLDecode(t)
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = decodeStrings(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = decodeStrings(x)
		}
		return out
	}
	return v
}
