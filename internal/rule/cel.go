package rule

import (
	"fmt"
	"net/url"
	"reflect"
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
//	settings  the rule's checked settings (see SettingSpec)
//
// Functions beyond standard CEL: the ext.Strings library, optional
// navigation (request.?a.?b.orValue(x)), urldecode(string),
// arnAccount(string), the account id field of an ARN, and:
//
//	policy(x)             a policy document (JSON string, URL-encoded or
//	                      not, or object) in normal form (ParsePolicy)
//	allowsAll(x)          the policy allows "*" on "*"
//	publicPolicy(x)       the policy allows anyone, without a narrowing
//	                      condition
//	policyAccounts(x)     account ids named in its AWS principals
//	inCIDRs(ip, list)     ip is inside one of the IPs/CIDR blocks
//	country(ip, db)       ISO country code of ip in a GeoIP database
//	text(x)               any JSON value as text (Text)
//	field(x, "a.b.c")     every value at a dotted path (Field)
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	dyn1 := func(name string, out *cel.Type, f func(any) ref.Val) cel.EnvOption {
		return cel.Function(name, cel.Overload(name+"_dyn", []*cel.Type{cel.DynType}, out,
			cel.UnaryBinding(func(v ref.Val) ref.Val { return f(native(v)) })))
	}
	return cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.DynType),
		cel.Variable("response", cel.DynType),
		cel.Variable("actor", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("method", cel.StringType),
		cel.Variable("outcome", cel.StringType),
		cel.Variable("account", cel.StringType),
		cel.Variable("settings", cel.MapType(cel.StringType, cel.DynType)),
		cel.OptionalTypes(),
		ext.Strings(),
		dyn1("policy", cel.MapType(cel.StringType, cel.DynType), func(v any) ref.Val {
			return types.DefaultTypeAdapter.NativeToValue(ParsePolicy(v))
		}),
		dyn1("allowsAll", cel.BoolType, func(v any) ref.Val { return types.Bool(PolicyAllowsAll(v)) }),
		dyn1("publicPolicy", cel.BoolType, func(v any) ref.Val { return types.Bool(PolicyPublic(v)) }),
		dyn1("policyAccounts", cel.ListType(cel.StringType), func(v any) ref.Val {
			return types.DefaultTypeAdapter.NativeToValue(PolicyAccounts(v))
		}),
		dyn1("text", cel.StringType, func(v any) ref.Val { return types.String(Text(v)) }),
		cel.Function("field", cel.Overload("field_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, cel.ListType(cel.DynType),
			cel.BinaryBinding(func(v, p ref.Val) ref.Val {
				path, _ := p.Value().(string)
				return types.DefaultTypeAdapter.NativeToValue(Field(native(v), path))
			}))),
		cel.Function("inCIDRs", cel.Overload("incidrs_string_list", []*cel.Type{cel.StringType, cel.ListType(cel.DynType)}, cel.BoolType,
			cel.BinaryBinding(func(ip, list ref.Val) ref.Val {
				s, _ := ip.Value().(string)
				var blocks []string
				if l, ok := native(list).([]any); ok {
					for _, x := range l {
						if b, ok := x.(string); ok {
							blocks = append(blocks, b)
						}
					}
				}
				return types.Bool(InCIDRs(s, blocks))
			}))),
		cel.Function("country", cel.Overload("country_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(ip, db ref.Val) ref.Val {
				s, _ := ip.Value().(string)
				p, _ := db.Value().(string)
				return types.String(Country(s, p))
			}))),
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

var (
	mapType  = reflect.TypeOf(map[string]any{})
	listType = reflect.TypeOf([]any{})
)

// native turns a CEL value back into plain JSON-like Go values.
func native(v ref.Val) any {
	switch x := v.Value().(type) {
	case string, bool, float64, int64, nil, map[string]any, []any:
		return x
	}
	if m, err := v.ConvertToNative(mapType); err == nil {
		return m
	}
	if l, err := v.ConvertToNative(listType); err == nil {
		return l
	}
	return v.Value()
}

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

// decodeStrings returns a JSON value with URL-encoded ARNs decoded. Parts
// without such strings are shared with the input, not copied: most
// requests have none, and the engine never changes what it is given.
func decodeStrings(v any) any {
	out, _ := decoded(v)
	return out
}

// decoded returns v with URL-encoded ARNs decoded and whether anything
// changed; unchanged values are returned as they are.
func decoded(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		if strings.HasPrefix(t, "arn%3A") || strings.HasPrefix(t, "arn%3a") {
			d := URLDecode(t)
			return d, d != t
		}
		return t, false
	case map[string]any:
		var out map[string]any
		for k, x := range t {
			d, changed := decoded(x)
			if !changed {
				continue
			}
			if out == nil {
				out = make(map[string]any, len(t))
				for k2, x2 := range t {
					out[k2] = x2
				}
			}
			out[k] = d
		}
		if out == nil {
			return t, false
		}
		return out, true
	case []any:
		var out []any
		for i, x := range t {
			d, changed := decoded(x)
			if !changed {
				continue
			}
			if out == nil {
				out = append([]any(nil), t...)
			}
			out[i] = d
		}
		if out == nil {
			return t, false
		}
		return out, true
	}
	return v, false
}
