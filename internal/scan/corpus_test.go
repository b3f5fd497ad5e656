package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
)

// corpusDir finds the shared corpus of public CloudTrail data: the
// TRAILWATCH_CORPUS variable, else ../../../shared/corpus from this package
// (/work/shared/corpus next to the /work/main checkout). Tests skip when it
// is absent.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TRAILWATCH_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	abs, _ := filepath.Abs(dir)
	if st, err := os.Stat(filepath.Join(dir, "MANIFEST.json")); err != nil || st.IsDir() {
		t.Skipf("no CloudTrail corpus at %s (MANIFEST.json missing); set TRAILWATCH_CORPUS to the shared/corpus folder to run this test", abs)
	}
	return dir
}

type manifestEntry struct {
	Files         int            `json:"files"`
	Events        int            `json:"events"`
	EKSEvents     int            `json:"eks_events"`
	EKSEventNames map[string]int `json:"eks_eventNames"`
}

func readManifest(t *testing.T, dir string) map[string]manifestEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	m := map[string]manifestEntry{}
	for k, v := range raw {
		if strings.HasPrefix(k, "_") {
			continue
		}
		var e manifestEntry
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatalf("MANIFEST.json %s: %v", k, err)
		}
		m[k] = e
	}
	return m
}

// engine is the EKS pack alone: these tests pin what the EKS rules find in
// the corpus; TestCorpusWholeCatalogue runs the whole catalogue.
func engine(t *testing.T) *rule.Engine {
	t.Helper()
	c, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	var eks []*rule.Rule
	for _, r := range c.Rules {
		if r.Service == "eks" {
			eks = append(eks, r)
		}
	}
	c, err = rule.NewCatalogue(eks)
	if err != nil {
		t.Fatal(err)
	}
	e, err := rule.NewEngine(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestCorpusWholeCatalogue scans the whole corpus with every built-in
// rule: no errors, and every family of the catalogue finds something in
// real recorded events.
func TestCorpusWholeCatalogue(t *testing.T) {
	dir := corpusDir(t)
	c, err := rule.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	e, err := rule.NewEngine(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := scanPaths(t, e, dir)
	for _, err := range res.errs {
		t.Errorf("scan error: %v", err)
	}
	if res.stats.Errors != 0 {
		t.Errorf("%d errors", res.stats.Errors)
	}
	services := map[string]int{}
	for _, f := range res.findings {
		services[f.Service]++
	}
	for _, s := range []string{"signin", "aws", "iam", "cloudtrail", "config", "kms", "s3", "vpc", "rds", "ecs", "organizations", "guardduty", "eks", "ec2", "lambda"} {
		if services[s] == 0 {
			t.Errorf("no %s finding in the whole corpus", s)
		}
	}
	t.Logf("%+v; findings per service %v", res.stats, services)
}

// result is what one scan saw.
type result struct {
	stats    Snapshot
	findings []finding.Finding
	errs     []error
	warnings []string
}

func scanPaths(t *testing.T, eng *rule.Engine, paths ...string) result {
	t.Helper()
	var res result
	// The scanner calls these from one goroutine at a time.
	s := New(Options{
		Engine:   eng,
		Workers:  2,
		Findings: func(fs []finding.Finding) error { res.findings = append(res.findings, fs...); return nil },
		Errors:   func(err error) { res.errs = append(res.errs, err) },
		Warnings: func(w string) { res.warnings = append(res.warnings, w) },
	})
	if err := s.Paths(context.Background(), paths, nil); err != nil {
		t.Fatalf("Paths: %v", err)
	}
	res.stats = s.Stats.Snapshot()
	sort.Slice(res.findings, func(i, j int) bool {
		if res.findings[i].Origin != res.findings[j].Origin {
			return res.findings[i].Origin < res.findings[j].Origin
		}
		return res.findings[i].EventName < res.findings[j].EventName
	})
	return res
}

// files lists the files under dir whose names end with one of the
// suffixes, sorted.
func files(t *testing.T, dir string, suffixes ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		for _, s := range suffixes {
			if strings.HasSuffix(d.Name(), s) {
				out = append(out, p)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

type foundFinding struct{ File, Rule, Event, Outcome string }

// TestCorpusDatasets scans every CloudTrail dataset of the corpus: no
// errors, the record counts of MANIFEST.json, and the EKS findings known to
// be in them.
func TestCorpusDatasets(t *testing.T) {
	dir := corpusDir(t)
	man := readManifest(t, dir)
	eng := engine(t)
	tests := []struct {
		name     string // MANIFEST.json key
		sub      string // folder
		suffixes []string
		// files scanned; -1 takes MANIFEST.json's count
		files int
		// warnings about files without CloudTrail records
		warnings int
		findings []foundFinding
	}{
		{name: "invictus-aws-dataset", sub: "invictus-aws-dataset/CloudTrail", suffixes: []string{".json"}, files: -1},
		{name: "stratus-red-team", sub: "stratus-red-team/detonation-logs", suffixes: []string{".json"}, files: -1},
		{name: "traildiscover", sub: "traildiscover/events", suffixes: []string{".json.cloudtrail"}, files: -1, findings: []foundFinding{
			{"traildiscover/events/EKS/AssociateAccessPolicy.json.cloudtrail", "EKS-DENIED", "AssociateAccessPolicy", "denied"},
			{"traildiscover/events/EKS/CreateAccessEntry.json.cloudtrail", "EKS-DENIED", "CreateAccessEntry", "denied"},
		}},
		// The honey-bucket CSV of this dataset is not CloudTrail JSON.
		{name: "otrf-security-datasets", sub: "otrf-security-datasets", suffixes: []string{".json"}, files: 1},
		{name: "cloud-custodian-cwe", sub: "cloud-custodian-cwe", suffixes: []string{".json"}, files: -1},
		{name: "crowdsec-hub", sub: "crowdsec-hub", suffixes: []string{".jsonl"}, files: -1},
		// Two pages hold only CloudTrail Insights events (no userIdentity,
		// eventID, …): they are not API calls, so the files are reported.
		{name: "awsdocs-cloudtrail-user-guide", sub: "awsdocs-cloudtrail-user-guide", suffixes: []string{".json"}, files: -1, warnings: 2},
		{name: "awsdocs-eks-user-guide", sub: "awsdocs-eks-user-guide", suffixes: []string{".json"}, files: -1, findings: []foundFinding{
			{"awsdocs-eks-user-guide/understanding-service-name-entries.json", "EKS-CLUSTER-CREATE", "CreateCluster", "success"},
		}},
		{name: "awsdocs-other-services", sub: "awsdocs-other-services", suffixes: []string{".json"}, files: -1},
	}
	var total int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			me, ok := man[tc.name]
			if !ok {
				t.Fatalf("MANIFEST.json has no %s", tc.name)
			}
			paths := files(t, filepath.Join(dir, tc.sub), tc.suffixes...)
			wantFiles := tc.files
			if wantFiles < 0 {
				wantFiles = me.Files
			}
			if len(paths) != wantFiles {
				t.Errorf("found %d files, want %d", len(paths), wantFiles)
			}
			res := scanPaths(t, eng, paths...)
			for _, err := range res.errs {
				t.Errorf("scan error: %v", err)
			}
			st := res.stats
			if st.Errors != 0 || st.FilesWithErrors != 0 {
				t.Errorf("Stats: %d errors in %d files, want none", st.Errors, st.FilesWithErrors)
			}
			if st.Files != int64(len(paths)) {
				t.Errorf("Stats.Files = %d, want %d", st.Files, len(paths))
			}
			if st.Records != int64(me.Events) {
				t.Errorf("Stats.Records = %d, want MANIFEST.json's %d events", st.Records, me.Events)
			}
			total += st.Records
			if len(res.warnings) != tc.warnings {
				t.Errorf("%d warnings, want %d: %q", len(res.warnings), tc.warnings, res.warnings)
			}
			var got []foundFinding
			for _, f := range res.findings {
				rel, _ := filepath.Rel(dir, f.Origin)
				got = append(got, foundFinding{filepath.ToSlash(rel), f.RuleID, f.EventName, f.Outcome})
			}
			if !equalFindings(tc.findings, got) {
				t.Errorf("findings = %+v, want %+v", got, tc.findings)
			}
			if st.Findings != int64(len(res.findings)) {
				t.Errorf("Stats.Findings = %d, but %d findings were delivered", st.Findings, len(res.findings))
			}
			t.Logf("%d files, %d records, %d decoded, %d findings, %d bytes", st.Files, st.Records, st.Decoded, st.Findings, st.Bytes)
		})
	}
	t.Logf("%d records in all datasets", total)
}

func equalFindings(a, b []foundFinding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCorpusTrailDiscoverMetadata: scanning the TrailDiscover folder whole
// also reads its catalogue metadata (*.json), which names an eventSource and
// eventName but is not an event: each such file is reported, none decoded,
// none in error.
func TestCorpusTrailDiscoverMetadata(t *testing.T) {
	dir := corpusDir(t)
	man := readManifest(t, dir)
	meta := 0
	for _, p := range files(t, filepath.Join(dir, "traildiscover", "events"), ".json") {
		if !strings.HasSuffix(p, ".json.cloudtrail") {
			meta++
		}
	}
	res := scanPaths(t, engine(t), filepath.Join(dir, "traildiscover", "events"))
	if res.stats.Errors != 0 {
		t.Errorf("%d errors: %v", res.stats.Errors, res.errs)
	}
	if want := int64(man["traildiscover"].Events + meta); res.stats.Records != want {
		t.Errorf("Records = %d, want %d events + %d metadata objects", res.stats.Records, man["traildiscover"].Events, meta)
	}
	if len(res.warnings) != meta {
		t.Errorf("%d warnings, want one per metadata file (%d)", len(res.warnings), meta)
	}
	for _, w := range res.warnings {
		if strings.HasSuffix(strings.SplitN(w, ":", 2)[0], ".cloudtrail") {
			t.Errorf("warning about an event file: %s", w)
		}
	}
	if len(res.findings) != 2 {
		t.Errorf("%d findings, want the 2 of the EKS event files", len(res.findings))
	}
}

// TestCorpusWhole scans the whole corpus folder, metadata and peer tests
// included: nothing may crash and, as of this corpus, nothing is an error
// (peer-test lines are objects without eventSource/eventName at the top
// level; CSV, Markdown and licence files are not scanned).
func TestCorpusWhole(t *testing.T) {
	dir := corpusDir(t)
	man := readManifest(t, dir)
	res := scanPaths(t, engine(t), dir)
	for _, err := range res.errs {
		t.Errorf("scan error: %v", err)
	}
	var want int64
	for _, e := range man {
		want += int64(e.Events)
	}
	if res.stats.Records < want {
		t.Errorf("Records = %d, want at least the %d events of MANIFEST.json", res.stats.Records, want)
	}
	if res.stats.Skipped == 0 {
		t.Errorf("no file skipped, but the corpus has CSV, Markdown and licence files")
	}
	var eks []string
	for _, f := range res.findings {
		rel, _ := filepath.Rel(dir, f.Origin)
		eks = append(eks, f.RuleID+" "+filepath.ToSlash(rel))
	}
	if len(res.findings) != 3 {
		t.Errorf("findings: %q, want the 3 of the EKS events in scannable files", eks)
	}
	t.Logf("%+v; %d warnings; findings %q", res.stats, len(res.warnings), eks)
}

// TestCorpusNearMiss: CreateCluster/DeleteCluster/DescribeCluster of other
// services (ECS, CloudHSM, DAX, MSK) must raise no EKS finding.
func TestCorpusNearMiss(t *testing.T) {
	dir := corpusDir(t)
	eng := engine(t)
	type nearMiss struct {
		Source      string `json:"source"`
		File        string `json:"file"`
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
	}
	f, err := os.Open(filepath.Join(dir, "near-miss-eventnames.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []nearMiss
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var nm nearMiss
		if err := json.Unmarshal(sc.Bytes(), &nm); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, nm)
	}
	if len(cases) == 0 {
		t.Fatal("no near misses listed")
	}
	for _, nm := range cases {
		t.Run(nm.EventSource+" "+nm.EventName, func(t *testing.T) {
			if nm.EventSource == "eks.amazonaws.com" {
				t.Fatalf("a near miss from EKS itself: %+v", nm)
			}
			if eng.Wants([]byte(nm.EventSource), []byte(nm.EventName)) {
				t.Errorf("the engine watches %s %s", nm.EventSource, nm.EventName)
			}
			path := filepath.Join(dir, filepath.FromSlash(nm.File))
			// The listed call must really be in the file, or the test
			// proves nothing.
			if n := countRecords(t, path, nm.EventSource, nm.EventName); n == 0 {
				t.Errorf("%s holds no %s %s record", nm.File, nm.EventSource, nm.EventName)
			}
			res := scanPaths(t, eng, path)
			if res.stats.Errors != 0 {
				t.Errorf("errors: %v", res.errs)
			}
			for _, f := range res.findings {
				if strings.HasPrefix(f.RuleID, "EKS-") {
					t.Errorf("EKS finding %s for %s %s in %s", f.RuleID, f.EventSource, f.EventName, nm.File)
				}
			}
		})
	}
}

// countRecords counts the CloudTrail records of a file with this
// eventSource and eventName.
func countRecords(t *testing.T, path, source, name string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sp := event.NewSplitter(f, 0)
	n := 0
	for {
		it, err := sp.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(it.Source) == 0 {
			continue
		}
		ev, err := event.Decode(&it)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if ev.EventSource == source && ev.EventName == name {
			n++
		}
	}
}

// TestCorpusEKSEvents evaluates every EKS event found in public data: a
// changing call raises a finding with the outcome of its errorCode (denied
// for AccessDenied), a read-only call none.
func TestCorpusEKSEvents(t *testing.T) {
	dir := corpusDir(t)
	eng := engine(t)
	f, err := os.Open(filepath.Join(dir, "eks-events-all.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var line struct {
			Source string          `json:"source"`
			File   string          `json:"file"`
			Event  json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
		var probe struct {
			EventSource, EventName, ErrorCode string
			ReadOnly                          any
		}
		_ = json.Unmarshal(line.Event, &probe)
		t.Run(strings.TrimSuffix(filepath.Base(line.File), ".jsonl")+"/"+probe.EventName, func(t *testing.T) {
			if probe.EventSource != "eks.amazonaws.com" {
				t.Fatalf("eventSource %q", probe.EventSource)
			}
			ev, err := event.DecodeRecord(line.Event)
			if err != nil {
				t.Fatal(err)
			}
			ev.Origin = line.File
			fs := eng.Evaluate(ev)
			readOnly := strings.HasPrefix(ev.EventName, "Describe") || strings.HasPrefix(ev.EventName, "List") || strings.HasPrefix(ev.EventName, "Get")
			if ev.ReadOnly != nil && *ev.ReadOnly != readOnly {
				t.Errorf("readOnly = %v, but the name says %v", *ev.ReadOnly, readOnly)
			}
			if readOnly {
				if len(fs) != 0 {
					t.Errorf("read-only %s raised %d findings: %s", ev.EventName, len(fs), fs[0].RuleID)
				}
				return
			}
			if len(fs) == 0 {
				t.Fatalf("changing call %s (errorCode %q) raised no finding", ev.EventName, ev.ErrorCode)
			}
			want := string(event.OutcomeOf(ev.ErrorCode))
			for _, f := range fs {
				if !strings.HasPrefix(f.RuleID, "EKS-") {
					t.Errorf("rule %s is not an EKS rule", f.RuleID)
				}
				if f.Outcome != want {
					t.Errorf("%s: outcome %q, want %q", f.RuleID, f.Outcome, want)
				}
				if (want == "denied") != (f.RuleID == "EKS-DENIED") {
					t.Errorf("outcome %s reported by %s", want, f.RuleID)
				}
				if f.EventName != ev.EventName || f.Risk == 0 || f.Summary == "" {
					t.Errorf("incomplete finding: %+v", f)
				}
			}
			if ev.ErrorCode == "AccessDenied" && want != "denied" {
				t.Errorf("AccessDenied is %q", want)
			}
			t.Logf("%s %s → %s %s %s", line.Source, ev.EventName, fs[0].RuleID, fs[0].Outcome, fs[0].Risk)
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no EKS events")
	}
	want := 0
	for _, e := range readManifest(t, dir) {
		want += e.EKSEvents
	}
	if n != want {
		t.Errorf("eks-events-all.jsonl has %d events, MANIFEST.json counts %d", n, want)
	}
}

// TestCorpusReaderErrorsNamed: a path that cannot be opened is an error
// naming it, not a crash.
func TestCorpusReaderErrorsNamed(t *testing.T) {
	res := scanPaths(t, nil, filepath.Join(t.TempDir(), "missing.json"))
	var fe *FileError
	if len(res.errs) != 1 || !errors.As(res.errs[0], &fe) || !strings.HasSuffix(fe.Path, "missing.json") {
		t.Errorf("errors = %v, want one *FileError naming missing.json", res.errs)
	}
}
