package rule

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/trailwatch/trailwatch/internal/actor"
	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/glob"
)

// Settings are a user's choices for one rule, the knobs teams expect of a
// real-time monitor (Cloud One Conformity's real-time rules have the
// same): on or off, a risk override, per-event switches, a principal
// safelist and a TTL. The zero value keeps every default.
type Settings struct {
	// Enabled turns the rule off when false; nil keeps it on.
	Enabled *bool
	// Risk, when set, replaces the rule's default risk; adjustments still
	// apply on top of it.
	Risk finding.Risk
	// Events switches single event names off (false) or on.
	Events map[string]bool
	// Safelist holds principal ARNs whose activity the rule ignores; '*'
	// matches any run of characters. An assumed-role session also matches
	// through its role's ARN.
	Safelist []string
	// SafelistRegex holds regular expressions on the principal ARN.
	SafelistRegex []string
	// TTL replaces the rule's TTL when non-zero.
	TTL time.Duration
	// IncludeAWSService reports changes AWS makes by itself (AWSService
	// identities, service-linked roles), skipped by default.
	IncludeAWSService bool
	// Params are the rule's own settings (rules.<id>.settings), checked
	// against what the rule declares. Giving them to a rule that is off
	// until configured turns it on.
	Params map[string]any
}

type entry struct {
	r          *Rule
	risk       finding.Risk
	ttl        time.Duration
	safelist   []string
	safeRe     []*regexp.Regexp
	includeAWS bool
	outcomes   map[event.Outcome]bool
	settings   map[string]any
	// events are the names the rule watches here (some may be
	// switched off by its settings).
	events []string
	// needles: for a rule that can see any event name, what a record must
	// show before it is worth decoding.
	needles []needleGroup
}

// Engine evaluates events against a catalogue. It is immutable after
// NewEngine and safe for concurrent use.
type Engine struct {
	// idx holds rules by eventSource and eventName; the source "*" holds
	// rules of any source, the name "*" rules of any name.
	idx   map[string]map[string][]*entry
	rules int
	// anySource: some rule watches a name of any source; wide: the
	// entries of rules that watch every name (of a source or of all),
	// whose needles decide before decoding.
	anySource bool
	wide      []*entry
	// cat and on keep what Effective reports: the catalogue, and the
	// enabled rules' entries by id.
	cat *Catalogue
	on  map[string]*entry
}

// Effective is a rule as an engine runs it, its settings applied.
type Effective struct {
	Rule    *Rule
	Enabled bool
	Risk    finding.Risk
	TTL     time.Duration
	// Events are the event names the rule watches, those switched off
	// in its settings left out.
	Events        []string
	Safelist      []string
	SafelistRegex []string
	// IncludeAWSService: AWS acting by itself is judged too.
	IncludeAWSService bool
	// Settings are the rule's resolved settings (its own declared
	// settings, configured or default).
	Settings map[string]any
}

// Effective returns every rule of the catalogue, in catalogue order, as this
// engine runs it (disabled rules with Enabled false and their defaults).
func (e *Engine) Effective() []Effective {
	if e.cat == nil {
		return nil
	}
	out := make([]Effective, 0, len(e.cat.Rules))
	for _, r := range e.cat.Rules {
		x := Effective{Rule: r, Risk: r.Risk, TTL: time.Duration(r.TTL), Events: r.EventNames}
		if x.TTL == 0 {
			x.TTL = DefaultTTL
		}
		if en, ok := e.on[r.ID]; ok {
			x.Enabled, x.Risk, x.Safelist, x.Settings, x.Events = true, en.risk, en.safelist, en.settings, en.events
			x.IncludeAWSService = en.includeAWS
			if en.ttl != 0 {
				x.TTL = en.ttl
			}
			for _, re := range en.safeRe {
				x.SafelistRegex = append(x.SafelistRegex, re.String())
			}
		}
		out = append(out, x)
	}
	return out
}

// NewEngine indexes the enabled rules of a catalogue by (eventSource,
// eventName). settings maps rule ids to their settings; the key "*"
// gives settings for every rule without its own entry. Every problem in
// the settings (unknown rule, unknown event name, bad pattern) is reported.
func NewEngine(c *Catalogue, settings map[string]Settings) (*Engine, error) {
	var errs []error
	for id, s := range settings {
		if id == "*" {
			if len(s.Events) > 0 {
				errs = append(errs, errors.New(`rules."*".events: event switches need a rule id`))
			}
			continue
		}
		r, ok := c.Get(id)
		if !ok {
			errs = append(errs, fmt.Errorf("rules.%s: no such rule", id))
			continue
		}
		for name := range s.Events {
			if !contains(r.EventNames, name) {
				errs = append(errs, fmt.Errorf("rules.%s.events.%s: the rule does not watch this event (it watches %s)", id, name, strings.Join(r.EventNames, ", ")))
			}
		}
	}
	e := &Engine{idx: map[string]map[string][]*entry{}, cat: c, on: map[string]*entry{}}
	for _, r := range c.Rules {
		s, own := settings[r.ID]
		if !own {
			s = settings["*"]
		}
		on := r.DefaultOn()
		switch {
		case s.Enabled != nil && (own || on):
			on = *s.Enabled
		case own && len(s.Params) > 0:
			on = true
		}
		var params map[string]any
		if own || len(r.Settings) > 0 {
			var err error
			params, err = r.resolveSettings(s.Params, "rules."+r.ID+".settings")
			if err != nil && (on || len(s.Params) > 0) {
				errs = append(errs, err)
			}
		}
		if !on {
			continue
		}
		en := &entry{r: r, risk: r.Risk, ttl: time.Duration(r.TTL), safelist: s.Safelist, includeAWS: s.IncludeAWSService, outcomes: map[event.Outcome]bool{}, settings: params}
		if en.settings == nil {
			en.settings = map[string]any{}
		}
		if s.Risk != 0 {
			en.risk = s.Risk
		}
		if s.TTL != 0 {
			en.ttl = s.TTL
		}
		for _, o := range r.Outcomes {
			en.outcomes[event.Outcome(o)] = true
		}
		for i, p := range s.SafelistRegex {
			re, err := regexp.Compile(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("rules.%s.safelist_regex[%d]: %w", r.ID, i, err))
				continue
			}
			en.safeRe = append(en.safeRe, re)
		}
		byName := e.idx[r.EventSource]
		if byName == nil {
			byName = map[string][]*entry{}
			e.idx[r.EventSource] = byName
		}
		for _, n := range r.EventNames {
			if on, set := s.Events[n]; set && !on {
				continue
			}
			byName[n] = append(byName[n], en)
			en.events = append(en.events, n)
			if n == Any {
				en.needles = needles(r, en.settings)
				e.wide = append(e.wide, en)
			}
		}
		if r.EventSource == Any {
			e.anySource = true
		}
		e.on[r.ID] = en
		e.rules++
	}
	return e, errors.Join(errs...)
}

// Rules returns the number of enabled rules.
func (e *Engine) Rules() int { return e.rules }

// Wants reports whether any rule may watch the event with this raw
// (JSON-escaped) eventSource and eventName. It does not allocate for
// ordinary names, so callers use it to skip decoding most events. A rule
// that watches every event name makes it true for every record of its
// source (of every source for "*"); WantsRecord also looks into the
// record's bytes for such rules.
func (e *Engine) Wants(source, name []byte) bool {
	return e.want(source, name, nil, false)
}

// WantsRecord is Wants that also looks at the record's bytes for rules
// that watch every event name: a record lacking every literal such a
// rule's condition requires (the "Root" of root activity, the denial code
// of an unauthorized call, a configured region) is not decoded for it.
func (e *Engine) WantsRecord(source, name, record []byte) bool {
	if record == nil {
		record = []byte{}
	}
	return e.want(source, name, &spans{record, record, record, record}, true)
}

// WantsItem is WantsRecord for an item of the splitter, which looks only
// into the members the literals belong to (userIdentity, errorCode,
// awsRegion), found while splitting: much cheaper than searching the whole
// record, which matters because rules of every event see every record.
func (e *Engine) WantsItem(it *event.Item) bool {
	return e.want(it.Source, it.Name, &spans{it.Record(), it.Identity, it.ErrorCode, it.Region}, false)
}

// spans are the bytes needles are looked for in, by needle location.
type spans [5][]byte

func (e *Engine) want(source, name []byte, sp *spans, whole bool) bool {
	if e.exact(e.idx[string(source)], source, name) {
		return true
	}
	if hasEscape(source) {
		if e.exact(e.idx[unescape(source)], source, name) {
			return true
		}
	}
	if e.anySource && e.exact(e.idx[Any], source, name) {
		return true
	}
	if len(e.wide) == 0 {
		return false
	}
	src := string(source)
	if hasEscape(source) {
		src = unescape(source)
	}
	for _, en := range e.wide {
		if en.r.EventSource != Any && en.r.EventSource != src {
			continue
		}
		if sp == nil || en.mayMatch(sp, whole) {
			return true
		}
	}
	return false
}

// exact looks a name up among a source's rules, not counting rules of
// every name.
func (e *Engine) exact(byName map[string][]*entry, source, name []byte) bool {
	if byName == nil {
		return false
	}
	if _, ok := byName[string(name)]; ok {
		return true
	}
	if hasEscape(name) {
		_, ok := byName[unescape(name)]
		return ok
	}
	return false
}

var (
	errorCodeKey = []byte(`"errorCode"`)
	typeFirst    = []byte(`{"type":"`)
)

// identityType returns the quoted type of a raw userIdentity when
// CloudTrail wrote it first, as it does ({"type":"IAMUser",…}); otherwise
// the whole span, which the needles are then looked for in.
func identityType(id []byte, whole bool) []byte {
	if whole || !bytes.HasPrefix(id, typeFirst) {
		return id
	}
	end := bytes.IndexByte(id[len(typeFirst):], '"')
	if end < 0 {
		return id
	}
	return id[len(typeFirst)-1 : len(typeFirst)+end+1]
}

// mayMatch reports whether the record shows every needle group. Needles
// are literals CloudTrail writes as they are (a type, an error code, a
// region name): AWS does not spell ASCII letters with \u escapes. whole
// means every span is the whole record (WantsRecord).
func (en *entry) mayMatch(sp *spans, whole bool) bool {
	for _, g := range en.needles {
		var in []byte
		if g.where == inIdentityType {
			in = identityType(sp[inIdentity], whole)
		} else {
			in = sp[g.where]
		}
		if g.present {
			if whole {
				if !bytes.Contains(in, errorCodeKey) {
					return false
				}
			} else if len(in) == 0 || in[0] != '"' {
				return false // absent, or null
			}
			continue
		}
		found := false
		for _, n := range g.alts {
			if bytes.Contains(in, n) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// candidates returns the rules that watch an event, in catalogue order.
func (e *Engine) candidates(ev *event.Event) []*entry {
	var out []*entry
	add := func(byName map[string][]*entry, names ...string) {
		for _, n := range names {
			out = append(out, byName[n]...)
		}
	}
	if byName := e.idx[ev.EventSource]; byName != nil {
		add(byName, ev.EventName, Any)
	}
	if byName := e.idx[Any]; byName != nil && ev.EventSource != Any {
		add(byName, ev.EventName, Any)
	}
	return out
}

// Evaluate returns the findings the event raises, in rule id order.
// Fallback rules are judged only when no other rule raised a finding.
func (e *Engine) Evaluate(ev *event.Event) []finding.Finding {
	cands := e.candidates(ev)
	if len(cands) == 0 {
		return nil
	}
	c := newContext(ev)
	var out []finding.Finding
	var fallback []*entry
	for _, en := range cands {
		if en.r.Fallback {
			fallback = append(fallback, en)
			continue
		}
		if f, ok := en.evaluate(c); ok {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		for _, en := range fallback {
			if f, ok := en.evaluate(c); ok {
				out = append(out, f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RuleID < out[j].RuleID })
	return out
}

// evalContext is what the expressions of all candidate rules share for one
// event.
type evalContext struct {
	ev      *event.Event
	actor   actor.Actor
	method  string
	outcome event.Outcome
	account string
	request map[string]any
	vars    map[string]any
}

func newContext(ev *event.Event) *evalContext {
	a := actor.Of(ev)
	c := &evalContext{ev: ev, actor: a, method: actor.Method(ev), outcome: ev.Outcome(), account: ev.AccountID()}
	req, _ := decodeStrings(ev.Fields["requestParameters"]).(map[string]any)
	if req == nil {
		req = map[string]any{}
	}
	resp, _ := ev.Fields["responseElements"].(map[string]any)
	if resp == nil {
		resp = map[string]any{}
	}
	c.request = req
	c.vars = map[string]any{
		"event":    ev.Fields,
		"request":  req,
		"response": resp,
		"actor": map[string]any{
			"type": a.Type, "arn": a.ARN, "name": a.Name, "session_name": a.SessionName,
			"role": a.Role, "permission_set": a.PermissionSet, "mfa": a.MFA,
			"invoked_by": a.InvokedBy, "automatic": a.Automatic, "account_id": a.AccountID,
			"root": a.Root(),
		},
		"method":  c.method,
		"outcome": string(c.outcome),
		"account": c.account,
	}
	return c
}

func evalBool(p cel.Program, vars map[string]any) bool {
	if p == nil {
		return false
	}
	v, _, err := p.Eval(vars)
	if err != nil {
		return false // a missing field means the condition does not hold
	}
	return v == types.True
}

func evalString(p cel.Program, vars map[string]any) string {
	if p == nil {
		return ""
	}
	v, _, err := p.Eval(vars)
	if err != nil {
		return ""
	}
	s, _ := v.Value().(string)
	return s
}

func (en *entry) safelisted(a actor.Actor) bool {
	role := ""
	if a.Type == "AssumedRole" && a.ARN != "" {
		// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION → arn:aws:iam::ACCT:role/ROLE
		if acct := ARNAccount(a.ARN); acct != "" && a.Role != "" {
			role = "arn:aws:iam::" + acct + ":role/" + a.Role
		}
	}
	for _, p := range en.safelist {
		if glob.Match(p, a.ARN) || (role != "" && glob.Match(p, role)) {
			return true
		}
	}
	for _, re := range en.safeRe {
		if re.MatchString(a.ARN) {
			return true
		}
	}
	return false
}

func (en *entry) evaluate(c *evalContext) (finding.Finding, bool) {
	r := en.r
	if !en.outcomes[c.outcome] {
		return finding.Finding{}, false
	}
	if c.actor.Automatic && !en.includeAWS {
		return finding.Finding{}, false
	}
	if en.safelisted(c.actor) {
		return finding.Finding{}, false
	}
	c.vars["settings"] = en.settings
	if r.cond != nil && !evalBool(r.cond, c.vars) {
		return finding.Finding{}, false
	}
	risk, reasons := en.judge(c)
	ev := c.ev
	res := finding.Resource{Type: r.Resource.Type, Name: evalString(r.resName, c.vars), ARN: evalString(r.resARN, c.vars)}
	if res.ARN == "" && res.Type == "cluster" && res.Name != "" && ev.AWSRegion != "" && c.account != "" && r.Service == "eks" {
		res.ARN = fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", ev.AWSRegion, c.account, res.Name)
	}
	key := res.ARN
	if key == "" {
		key = res.Type + "/" + res.Name
	}
	changes := map[string]any{}
	for k, v := range c.request {
		if k != "clientRequestToken" {
			changes[k] = v
		}
	}
	f := finding.Finding{
		ID:           finding.ID(ev.EventID, r.ID),
		Fingerprint:  finding.Fingerprint(r.ID, c.account, ev.AWSRegion, key),
		RuleID:       r.ID,
		RuleTitle:    r.Title,
		ReferenceIDs: r.ReferenceIDs,
		CIS:          cisNames(r.CIS),
		RuleAuthor:   r.Author,
		Service:      r.Service,
		Risk:         risk,
		RiskReasons:  reasons,
		EventID:      ev.EventID,
		EventTime:    ev.EventTime,
		EventSource:  ev.EventSource,
		EventName:    ev.EventName,
		AccountID:    c.account,
		Region:       ev.AWSRegion,
		Actor:        c.actor,
		AccessMethod: c.method,
		UserAgent:    ev.UserAgent,
		SourceIP:     ev.SourceIPAddress,
		Outcome:      string(c.outcome),
		ErrorCode:    ev.ErrorCode,
		ErrorMessage: ev.ErrorMessage,
		Resource:     res,
		Changes:      changes,
		Remediation:  r.Remediation,
		References:   r.References,
		TTL:          en.ttl,
		Corrected:    len(ev.Addendum) > 0 && string(ev.Addendum) != "null",
		Origin:       ev.Origin,
		Raw:          ev.Raw,
	}
	if f.EventID == "" {
		// Test data sometimes lacks an id; derive one from the content so
		// saving stays idempotent.
		f.ID = finding.ID("sha:"+string(ev.Raw), r.ID)
	}
	if s := evalString(r.sum, c.vars); s != "" {
		f.Summary = s + attribution(&f)
	} else {
		f.Summary = summarize(&f)
	}
	return f, true
}

// judge applies the adjustments. Whether an adjustment raises or lowers is
// decided against the rule's own default risk, so a configured override
// only moves the base: matched raises lift the risk to the highest of them
// (never below the base); only when none raises do matched lowerings bring
// it down to the lowest (never above the base). Reasons list what decided,
// highest first.
func (en *entry) judge(c *evalContext) (finding.Risk, []string) {
	base, def := en.risk, en.r.Risk
	type hit struct {
		risk   finding.Risk
		reason string
	}
	var up, down []hit
	for _, a := range en.r.Adjust {
		if !evalBool(a.prog, c.vars) {
			continue
		}
		if a.Risk >= def {
			up = append(up, hit{a.Risk, a.Reason})
		} else {
			down = append(down, hit{a.Risk, a.Reason})
		}
	}
	overridden := fmt.Sprintf("risk set to %s by configuration", base)
	reasonsOf := func(hs []hit) []string {
		out := make([]string, 0, len(hs)+1)
		for _, h := range hs {
			out = append(out, h.reason)
		}
		return out
	}
	if len(up) > 0 {
		sort.SliceStable(up, func(i, j int) bool { return up[i].risk > up[j].risk })
		reasons := reasonsOf(up)
		if base > up[0].risk {
			reasons = append([]string{overridden}, reasons...)
		}
		return max(base, up[0].risk), reasons
	}
	if len(down) > 0 {
		sort.SliceStable(down, func(i, j int) bool { return down[i].risk < down[j].risk })
		return min(base, down[0].risk), reasonsOf(down)
	}
	if base != def {
		return base, []string{overridden}
	}
	return base, []string{fmt.Sprintf("%s: default risk of the rule", en.r.Title)}
}

// cisNames writes CIS controls as users filter for them: "CIS v1.4 4.3".
func cisNames(cis []string) []string {
	if len(cis) == 0 {
		return nil
	}
	out := make([]string, len(cis))
	for i, c := range cis {
		out[i] = "CIS " + c
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
