// Package bench generates realistic synthetic CloudTrail trails and measures
// how fast trailwatch scans them compared with plain decompression.
//
// Generate writes a trail in the layout CloudTrail delivers to S3:
//
//	dir/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
//	    <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz
//
// each file a gzip of {"Records":[…]} holding five minutes of one account's
// activity in one region. The records imitate a busy production account:
// mostly read-only calls from people, CI pipelines, Kubernetes nodes,
// Lambda functions, monitoring integrations and AWS services, with a small
// share of EKS configuration changes (which the embedded rules report),
// look-alike CreateCluster/DeleteCluster/TagResource calls of other
// services (which they must not report), denials and failures.
//
// The output depends only on Options: the same options write byte-identical
// files, whatever Options.Workers is.
package bench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Options shape a generated trail. The zero value of a field means its
// default.
type Options struct {
	// Files is the number of log files; 0 means 40.
	Files int
	// RecordsPerFile is the typical number of records in a file; each file
	// holds RecordsPerFile ± 10 %. 0 means 2000.
	RecordsPerFile int
	// Seed selects the pseudo-random stream; every seed (0 included) gives
	// a different but reproducible trail.
	Seed uint64
	// Accounts are the 12-digit account ids; empty means two accounts.
	Accounts []string
	// Regions are the regions files are delivered for; empty means
	// us-east-1, eu-west-1 and ap-southeast-2. Files go round-robin over
	// every account × region pair, one five-minute window after another.
	Regions []string
	// EKSFraction is the share of records that are EKS configuration
	// changes; 0 means 0.003, a negative value none.
	EKSFraction float64
	// DeniedFraction is the share of records denied with AccessDenied (or
	// the service's own denial code); 0 means 0.02, negative none.
	DeniedFraction float64
	// FailedFraction is the share of records failed with an error that is
	// not a denial (throttling, not found, in use); 0 means 0.01, negative
	// none.
	FailedFraction float64
	// LookalikeFraction is the share of records that are
	// CreateCluster/DeleteCluster/TagResource calls of ECS, Redshift, MSK,
	// MemoryDB and DAX, which share event names with EKS rules; 0 means
	// 0.002, negative none.
	LookalikeFraction float64
	// CatalogueFraction is the share of records that are configuration
	// changes of the other services the catalogue watches (IAM, VPC, S3,
	// KMS, …); 0 means 0.005, a negative value none.
	CatalogueFraction float64
	// Start is the beginning of the first five-minute window; zero means
	// 2026-03-02T00:00:00Z.
	Start time.Time
	// Track lists every EKS change in Stats.EKS.
	Track bool
	// Workers is how many files are generated at once; 0 means GOMAXPROCS.
	// It does not change the output.
	Workers int
}

// Outcomes of a generated call, as event.OutcomeOf classifies its
// errorCode.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
)

// EKSEvent is the generator's record of one EKS configuration change.
type EKSEvent struct {
	File      string // path relative to the output folder
	EventID   string
	EventName string
	Outcome   string // OutcomeSuccess, OutcomeDenied or OutcomeFailed
	// Automatic reports an AWS service identity or a service-linked role,
	// which the rules skip by default.
	Automatic bool
	// RuleID is the embedded rule that reports the event, empty when none
	// should: automatic actors and failures are not reported, denials are
	// reported by EKS-DENIED.
	RuleID string
}

// Stats describe a generated trail.
type Stats struct {
	Files   int
	Records int64
	// EKSChanges counts EKS configuration-changing calls, whatever their
	// outcome and actor.
	EKSChanges int64
	// ExpectedFindings counts the EKS changes the embedded rules report
	// with default settings: made by a person or their tooling (not an
	// AWSService identity or a service-linked role) and successful or
	// denied. Each raises exactly one finding.
	ExpectedFindings int64
	// Denied and Failed count records with a denial or another error.
	Denied, Failed int64
	// Lookalikes counts calls of other services named like EKS changes.
	Lookalikes int64
	// CatalogueChanges counts configuration changes of the other services
	// the catalogue watches.
	CatalogueChanges int64
	// UncompressedBytes and CompressedBytes total the JSON and the .gz
	// files.
	UncompressedBytes, CompressedBytes int64
	// EKS lists the EKS changes in file order, when Options.Track is set.
	EKS []EKSEvent `json:",omitempty"`
}

func (o Options) withDefaults() Options {
	if o.Files == 0 {
		o.Files = 40
	}
	if o.RecordsPerFile == 0 {
		o.RecordsPerFile = 2000
	}
	if len(o.Accounts) == 0 {
		o.Accounts = []string{"123456789012", "210987654321"}
	}
	if len(o.Regions) == 0 {
		o.Regions = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	}
	frac := func(f *float64, def float64) {
		switch {
		case *f == 0:
			*f = def
		case *f < 0:
			*f = 0
		}
	}
	frac(&o.EKSFraction, 0.003)
	frac(&o.DeniedFraction, 0.02)
	frac(&o.FailedFraction, 0.01)
	frac(&o.LookalikeFraction, 0.002)
	frac(&o.CatalogueFraction, 0.005)
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	o.Start = o.Start.UTC().Truncate(5 * time.Minute)
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Files < 0 {
		errs = append(errs, errors.New("Files must not be negative"))
	}
	if o.RecordsPerFile < 0 {
		errs = append(errs, errors.New("RecordsPerFile must not be negative"))
	}
	for _, a := range o.Accounts {
		if len(a) != 12 || !allDigits(a) {
			errs = append(errs, fmt.Errorf("account %q is not 12 digits", a))
		}
	}
	for _, r := range o.Regions {
		if r == "" || !allRegionChars(r) {
			errs = append(errs, fmt.Errorf("region %q is not a region name", r))
		}
	}
	if o.EKSFraction+o.LookalikeFraction+o.CatalogueFraction > 1 {
		errs = append(errs, errors.New("EKSFraction + LookalikeFraction + CatalogueFraction exceed 1"))
	}
	if o.DeniedFraction+o.FailedFraction > 1 {
		errs = append(errs, errors.New("DeniedFraction + FailedFraction exceed 1"))
	}
	return errors.Join(errs...)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allRegionChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// fileResult is what generating one file produced.
type fileResult struct {
	rel                                                        string
	records, eks, expected, denied, failed, lookali, catalogue int64
	raw, comp                                                  int64
	events                                                     []EKSEvent
	err                                                        error
}

// Generate writes a synthetic trail under dir (created if needed) and
// returns what it wrote.
func Generate(dir string, opts Options) (Stats, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return Stats{}, err
	}
	w := newWorld(opts)
	results := make([]fileResult, opts.Files)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Workers, max(opts.Files, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw, comp bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&comp, gzip.DefaultCompression)
			for k := range jobs {
				results[k] = w.writeFile(dir, k, &raw, &comp, zw)
			}
		}()
	}
	for k := range opts.Files {
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	var st Stats
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		st.Files++
		st.Records += r.records
		st.EKSChanges += r.eks
		st.ExpectedFindings += r.expected
		st.Denied += r.denied
		st.Failed += r.failed
		st.Lookalikes += r.lookali
		st.CatalogueChanges += r.catalogue
		st.UncompressedBytes += r.raw
		st.CompressedBytes += r.comp
		st.EKS = append(st.EKS, r.events...)
	}
	return st, errors.Join(errs...)
}

// fileGen generates the records of one file.
type fileGen struct {
	w        *world
	r        *rand.Rand
	acct     *account
	region   string
	stamp    time.Time // file name time: the end of its window
	rel      string
	sessions map[*principal]*session
	res      *fileResult
	buf      []byte
}

// writeFile generates file number k. Its content depends only on the world
// and k, so files can be generated in any order.
func (w *world) writeFile(dir string, k int, raw, comp *bytes.Buffer, zw *gzip.Writer) fileResult {
	o := &w.opts
	pairs := len(o.Accounts) * len(o.Regions)
	pair, window := k%pairs, k/pairs
	acct := w.accounts[pair%len(o.Accounts)]
	region := o.Regions[pair/len(o.Accounts)]
	stamp := o.Start.Add(time.Duration(window+1) * 5 * time.Minute)
	r := rand.New(rand.NewPCG(o.Seed^0x9e3779b97f4a7c15, uint64(k)*2+1))
	name := fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", acct.id, region, stamp.Format("20060102T1504Z"), randString(r, alnum, 16))
	rel := filepath.Join("AWSLogs", acct.id, "CloudTrail", region, stamp.Format("2006"), stamp.Format("01"), stamp.Format("02"), name)
	res := fileResult{rel: rel}
	g := &fileGen{w: w, r: r, acct: acct, region: region, stamp: stamp, rel: rel, sessions: map[*principal]*session{}, res: &res}

	n := o.RecordsPerFile
	if spread := n / 5; spread > 0 {
		n += r.IntN(spread+1) - spread/2
	}
	raw.Reset()
	raw.WriteString(`{"Records":[`)
	for i := range n {
		if i > 0 {
			raw.WriteByte(',')
		}
		g.buf = g.record(g.buf[:0])
		raw.Write(g.buf)
	}
	raw.WriteString("]}")
	res.records = int64(n)
	res.raw = int64(raw.Len())

	comp.Reset()
	zw.Reset(comp)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		res.err = err
		return res
	}
	if err := zw.Close(); err != nil {
		res.err = err
		return res
	}
	res.comp = int64(comp.Len())
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		res.err = err
		return res
	}
	if err := os.WriteFile(path, comp.Bytes(), 0o644); err != nil {
		res.err = err
	}
	return res
}

// record appends one record.
func (g *fileGen) record(b []byte) []byte {
	o := &g.w.opts
	x := g.r.Float64()
	var c *call
	switch {
	case x < o.EKSFraction:
		c = g.eksChange()
	case x < o.EKSFraction+o.LookalikeFraction:
		c = g.lookalike()
		g.res.lookali++
	case x < o.EKSFraction+o.LookalikeFraction+o.CatalogueFraction:
		c = g.catalogueChange()
		g.res.catalogue++
	default:
		c = g.ordinary()
	}
	if c.outcome == "" {
		y := g.r.Float64()
		switch {
		case y < o.DeniedFraction:
			c.outcome = OutcomeDenied
		case y < o.DeniedFraction+o.FailedFraction:
			c.outcome = OutcomeFailed
		default:
			c.outcome = OutcomeSuccess
		}
	}
	switch c.outcome {
	case OutcomeDenied:
		g.res.denied++
		g.deny(c)
	case OutcomeFailed:
		g.res.failed++
		g.fail(c)
	}
	rec := g.assemble(c)
	if c.eks != nil {
		g.res.eks++
		ev := EKSEvent{File: g.rel, EventID: c.eventID, EventName: c.t.name, Outcome: c.outcome, Automatic: c.p.automatic}
		if !c.p.automatic {
			switch c.outcome {
			case OutcomeSuccess:
				ev.RuleID = c.eks.rule
			case OutcomeDenied:
				ev.RuleID = "EKS-DENIED"
			}
		}
		if ev.RuleID != "" {
			g.res.expected++
		}
		if g.w.opts.Track {
			g.res.events = append(g.res.events, ev)
		}
	}
	return appendJSON(b, rec)
}

// Random helpers.

const (
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	upperHex   = "0123456789ABCDEF"
	b64chars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func randString(r *rand.Rand, chars string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

func uuid(r *rand.Rand) string {
	var u [16]byte
	a, b := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	j := 0
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexDigits[x>>4], hexDigits[x&0xf]
		j += 2
	}
	return string(s[:])
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// weighted is a choice with a relative weight.
type weighted[T any] struct {
	w int
	v T
}

func pickW[T any](r *rand.Rand, xs []weighted[T]) T {
	total := 0
	for _, x := range xs {
		total += x.w
	}
	n := r.IntN(total)
	for _, x := range xs {
		if n < x.w {
			return x.v
		}
		n -= x.w
	}
	return xs[len(xs)-1].v
}

func (g *fileGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *fileGen) hex(n int) string { return randString(g.r, hexDigits, n) }

func (g *fileGen) publicIP() string {
	return fmt.Sprintf("%d.%d.%d.%d", pick(g.r, []int{3, 18, 34, 52, 54, 35, 44, 203, 198, 81, 91, 185}), g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
}

func (g *fileGen) privateIP() string {
	return fmt.Sprintf("10.%d.%d.%d", g.r.IntN(4)*16, g.r.IntN(256), 1+g.r.IntN(254))
}

func (g *fileGen) b64(n int) string { return randString(g.r, b64chars, n) }

// at returns a time within the file's window.
func (g *fileGen) at() time.Time {
	return g.stamp.Add(-time.Duration(1+g.r.IntN(300_000)) * time.Millisecond).Truncate(time.Second)
}

func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
