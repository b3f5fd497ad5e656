package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/event"
	"github.com/trailwatch/trailwatch/internal/finding"
)

// smallOptions make a small trail that still holds every kind of EKS change
// outcome: raised fractions so a few thousand records suffice.
func smallOptions() Options {
	return Options{
		Files: 8, RecordsPerFile: 250, Seed: 7,
		EKSFraction: 0.06, LookalikeFraction: 0.03, DeniedFraction: 0.08, FailedFraction: 0.05,
		Track: true,
	}
}

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerateDeterministic(t *testing.T) {
	o1 := smallOptions()
	o1.Workers = 1
	o2 := smallOptions()
	o2.Workers = 3
	d1, d2 := t.TempDir(), t.TempDir()
	s1, err := Generate(d1, o1)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Generate(d2, o2)
	if err != nil {
		t.Fatal(err)
	}
	j1, _ := json.Marshal(s1)
	j2, _ := json.Marshal(s2)
	if !bytes.Equal(j1, j2) {
		t.Errorf("stats differ between runs:\n%s\n%s", j1, j2)
	}
	t1, t2 := readTree(t, d1), readTree(t, d2)
	if len(t1) != o1.Files || len(t2) != o1.Files {
		t.Fatalf("got %d and %d files, want %d", len(t1), len(t2), o1.Files)
	}
	for name, b := range t1 {
		if !bytes.Equal(b, t2[name]) {
			t.Errorf("%s: contents differ between runs with the same seed", name)
		}
	}

	o3 := smallOptions()
	o3.Seed = 8
	d3 := t.TempDir()
	if _, err := Generate(d3, o3); err != nil {
		t.Fatal(err)
	}
	same := 0
	for name, b := range readTree(t, d3) {
		if bytes.Equal(b, t1[name]) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d files identical under another seed", same)
	}
}

var keyRe = regexp.MustCompile(`^AWSLogs/(\d{12})/CloudTrail/([a-z]{2}(?:-[a-z]+)+-\d)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z]{2}(?:-[a-z]+)+-\d)_(\d{8}T\d{4}Z)_([A-Za-z0-9]{16})\.json\.gz$`)

func TestGenerateLayout(t *testing.T) {
	opts := smallOptions()
	dir := t.TempDir()
	st, err := Generate(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	tree := readTree(t, dir)
	if st.Files != len(tree) {
		t.Fatalf("Stats.Files = %d, found %d files", st.Files, len(tree))
	}
	var records, raw, comp int64
	seenIDs := map[string]bool{}
	bySource := map[string]int{}
	eksIDs := map[string]string{}
	for _, e := range st.EKS {
		eksIDs[e.EventID] = e.EventName
	}
	for name, gz := range tree {
		m := keyRe.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("%s: does not match the CloudTrail S3 key pattern", name)
			continue
		}
		acct, region, y, mo, d, acct2, region2, stampS := m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]
		if acct != acct2 || region != region2 {
			t.Errorf("%s: folder and file name disagree on account or region", name)
		}
		stamp, err := time.Parse("20060102T1504Z", stampS)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if stamp.Format("2006/01/02") != y+"/"+mo+"/"+d {
			t.Errorf("%s: date folder does not match the file's time %s", name, stampS)
		}
		comp += int64(len(gz))
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Errorf("%s: not gzip: %v", name, err)
			continue
		}
		js, err := io.ReadAll(zr)
		if err != nil {
			t.Errorf("%s: bad gzip stream: %v", name, err)
			continue
		}
		raw += int64(len(js))
		var doc struct {
			Records []map[string]any
		}
		if err := json.Unmarshal(js, &doc); err != nil {
			t.Errorf("%s: not JSON: %v", name, err)
			continue
		}
		if len(doc.Records) == 0 {
			t.Errorf("%s: no Records", name)
		}
		records += int64(len(doc.Records))
		for i, r := range doc.Records {
			where := fmt.Sprintf("%s record %d", name, i)
			for _, k := range []string{"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
				"sourceIPAddress", "userAgent", "requestID", "eventID", "readOnly", "eventType", "managementEvent", "recipientAccountId", "eventCategory"} {
				if _, ok := r[k]; !ok {
					t.Errorf("%s: no %s", where, k)
				}
			}
			if r["recipientAccountId"] != acct || r["awsRegion"] != region {
				t.Errorf("%s: account %v / region %v in a file of %s/%s", where, r["recipientAccountId"], r["awsRegion"], acct, region)
			}
			et, err := time.Parse(time.RFC3339, fmt.Sprint(r["eventTime"]))
			if err != nil || et.Before(stamp.Add(-5*time.Minute)) || !et.Before(stamp) {
				t.Errorf("%s: eventTime %v outside the file's window ending %s", where, r["eventTime"], stampS)
			}
			id := fmt.Sprint(r["eventID"])
			if seenIDs[id] {
				t.Errorf("%s: duplicate eventID %s", where, id)
			}
			seenIDs[id] = true
			src := fmt.Sprint(r["eventSource"])
			bySource[src]++
			if n, ok := eksIDs[id]; ok && (src != "eks.amazonaws.com" || r["eventName"] != n) {
				t.Errorf("%s: tracked EKS change %s is %s %v", where, n, src, r["eventName"])
			}
			// The project's own decoder must accept every record.
			rec, _ := json.Marshal(r)
			if _, err := event.DecodeRecord(rec); err != nil {
				t.Errorf("%s: event.DecodeRecord: %v", where, err)
			}
		}
	}
	if records != st.Records || raw != st.UncompressedBytes || comp != st.CompressedBytes {
		t.Errorf("files hold %d records, %d bytes (%d compressed); Stats say %d, %d (%d)", records, raw, comp, st.Records, st.UncompressedBytes, st.CompressedBytes)
	}
	if int64(len(st.EKS)) != st.EKSChanges {
		t.Errorf("tracked %d EKS changes, Stats.EKSChanges = %d", len(st.EKS), st.EKSChanges)
	}
	if len(bySource) < 15 {
		t.Errorf("only %d event sources: %v", len(bySource), bySource)
	}
	if avg := raw / max(records, 1); avg < 900 || avg > 2500 {
		t.Errorf("average record is %d bytes, want roughly 1-2 KB", avg)
	}
}

func TestScanFindsExactlyTheEKSChanges(t *testing.T) {
	dir := t.TempDir()
	st, err := Generate(dir, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The corpus must hold every case the expectation distinguishes.
	var cases = map[string]int{}
	for _, e := range st.EKS {
		switch {
		case e.Automatic:
			cases["automatic"]++
		case e.Outcome == OutcomeFailed:
			cases["failed"]++
		case e.Outcome == OutcomeDenied:
			cases["denied"]++
		default:
			cases["success"]++
		}
	}
	for _, k := range []string{"automatic", "failed", "denied", "success"} {
		if cases[k] == 0 {
			t.Fatalf("the small corpus has no %s EKS change (%v); raise the fractions", k, cases)
		}
	}
	if st.Lookalikes == 0 {
		t.Fatal("the small corpus has no ECS/Redshift/MSK look-alike calls")
	}

	eng, err := NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []finding.Finding  // findings of the EKS pack
	others := map[string]int{} // findings of the rest of the catalogue, by service
	all := 0
	res, err := Scan(context.Background(), dir, eng, 2, func(fs []finding.Finding) error {
		mu.Lock()
		defer mu.Unlock()
		all += len(fs)
		for _, f := range fs {
			if strings.HasPrefix(f.RuleID, "EKS-") {
				got = append(got, f)
			} else {
				others[f.Service]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		t.Errorf("scan error: %v", p)
	}
	if res.Records != st.Records || res.Bytes != st.UncompressedBytes || res.Files != int64(st.Files) {
		t.Errorf("scan saw %d files, %d records, %d bytes; generated %d, %d, %d", res.Files, res.Records, res.Bytes, st.Files, st.Records, st.UncompressedBytes)
	}

	want := map[string]string{} // eventID → rule id
	for _, e := range st.EKS {
		if e.RuleID != "" {
			want[e.EventID] = e.RuleID
		}
	}
	if int64(len(want)) != st.ExpectedFindings {
		t.Errorf("Stats.ExpectedFindings = %d, tracked %d", st.ExpectedFindings, len(want))
	}
	if len(got) == 0 || int64(len(got)) > st.EKSChanges {
		t.Errorf("%d findings for %d EKS changes", len(got), st.EKSChanges)
	}
	if res.Findings != int64(all) {
		t.Errorf("Stats.Findings = %d, received %d", res.Findings, all)
	}
	// The other services' changes reach their packs.
	if st.CatalogueChanges == 0 {
		t.Error("the small corpus has no changes of the other catalogue services")
	}
	for _, svc := range []string{"iam", "vpc", "s3", "aws"} {
		if others[svc] == 0 {
			t.Errorf("no %s finding (catalogue findings %v)", svc, others)
		}
	}
	seen := map[string]bool{}
	for _, f := range got {
		if f.EventSource != "eks.amazonaws.com" {
			t.Errorf("finding %s for %s %s: only EKS changes should match", f.RuleID, f.EventSource, f.EventName)
			continue
		}
		if seen[f.EventID] {
			t.Errorf("event %s (%s) raised more than one finding", f.EventID, f.EventName)
		}
		seen[f.EventID] = true
		if r, ok := want[f.EventID]; !ok {
			t.Errorf("unexpected finding %s for %s %s (outcome %s, actor %s)", f.RuleID, f.EventName, f.EventID, f.Outcome, f.Actor.Name)
		} else if r != f.RuleID {
			t.Errorf("%s %s: rule %s, want %s", f.EventName, f.EventID, f.RuleID, r)
		}
	}
	var missing []string
	for id, r := range want {
		if !seen[id] {
			missing = append(missing, r+" "+id)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no finding for %s", m)
	}
	t.Logf("%d records, %d EKS changes (%v), %d EKS findings, %d look-alikes, %d other changes, other findings %v", st.Records, st.EKSChanges, cases, len(got), st.Lookalikes, st.CatalogueChanges, others)
}

func TestCorpusReuse(t *testing.T) {
	dir := t.TempDir()
	o := Options{Files: 2, RecordsPerFile: 20, Seed: 3}
	s1, reused, err := Corpus(dir, o)
	if err != nil || reused {
		t.Fatalf("first Corpus: reused=%v err=%v", reused, err)
	}
	s2, reused, err := Corpus(dir, o)
	if err != nil || !reused || s2.Records != s1.Records {
		t.Fatalf("second Corpus: reused=%v err=%v records %d/%d", reused, err, s2.Records, s1.Records)
	}
	o.Seed = 4
	if _, reused, err = Corpus(dir, o); err != nil || reused {
		t.Fatalf("Corpus with another seed: reused=%v err=%v", reused, err)
	}
	files, err := Files(dir)
	if err != nil || len(files) != 2 {
		t.Fatalf("after regenerating: %d files, %v", len(files), err)
	}
}
