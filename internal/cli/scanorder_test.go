package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// manyEvents writes n CloudTrail records that each raise a finding (EKS
// cluster configuration changes, as CloudTrail writes them), with event
// times in random order and many equal, to a JSON lines file.
func manyEvents(t *testing.T, n int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i := range n {
		at := t0.Add(time.Duration(r.IntN(n/4+1)) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&b, `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"alice"},`+
			`"eventTime":%q,"eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.22.0",`+
			`"requestParameters":{"name":"prod-%d","resourcesVpcConfig":{"endpointPublicAccess":true,"publicAccessCidrs":["0.0.0.0/0"]}},"responseElements":null,`+
			`"requestID":"req-%d","eventID":"00000000-0000-4000-8000-%012d","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`+"\n",
			at, i%7, i, i)
	}
	p := filepath.Join(t.TempDir(), "many.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Sorting within a tiny memory budget (every few findings spill a run,
// hundreds of runs merged in rounds) prints exactly what sorting in
// memory prints, in every format, and leaves no temporary file.
func TestScanSortWithTinyBudgetSameAsInMemory(t *testing.T) {
	const n = 400
	trail := manyEvents(t, n)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, format := range []string{"jsonl", "json", "table"} {
		t.Run(format, func(t *testing.T) {
			mem := run(t, "", "scan", "--db", ":memory:", "--format", format, "--raw", trail)
			tiny := run(t, "", "scan", "--db", ":memory:", "--format", format, "--raw", "--sort-memory", "2KB", trail)
			if mem.code != ExitOK || tiny.code != ExitOK {
				t.Fatalf("exit %d and %d\n%s\n%s", mem.code, tiny.code, mem.stderr, tiny.stderr)
			}
			if !strings.Contains(mem.stderr, fmt.Sprintf("%d findings", n)) {
				t.Fatalf("the trail should raise %d findings: %s", n, mem.stderr)
			}
			if mem.stdout != tiny.stdout {
				t.Fatalf("output sorted with a 2KB budget differs from sorting in memory:\n%s\n---\n%s", head(mem.stdout), head(tiny.stdout))
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
	// The order is oldest first, then by id.
	r := run(t, "", "scan", "--db", ":memory:", "--format", "jsonl", "--sort-memory", "1KB", trail)
	fs := lines(r.stdout)
	if len(fs) != n {
		t.Fatalf("%d findings, want %d", len(fs), n)
	}
	for i := 1; i < len(fs); i++ {
		a, b := fs[i-1]["event_time"].(string), fs[i]["event_time"].(string)
		ta, _ := time.Parse(time.RFC3339, a)
		tb, _ := time.Parse(time.RFC3339, b)
		if tb.Before(ta) || tb.Equal(ta) && fs[i]["id"].(string) < fs[i-1]["id"].(string) {
			t.Fatalf("finding %d (%s %s) printed after %s %s", i, b, fs[i]["id"], a, fs[i-1]["id"])
		}
	}
}

func head(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// --order found prints the findings as the scan finds them: the same
// findings as the sorted output, in the order of the file (one worker).
func TestScanOrderFoundStreams(t *testing.T) {
	trail := manyEvents(t, 120)
	sorted := lines(run(t, "", "scan", "--db", ":memory:", "--format", "jsonl", trail).stdout)
	r := run(t, "", "scan", "--db", ":memory:", "--format", "jsonl", "--order", "found", "--workers", "1", trail)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	found := lines(r.stdout)
	if len(found) != len(sorted) || len(found) != 120 {
		t.Fatalf("%d findings as found, %d sorted; want 120 each", len(found), len(sorted))
	}
	var ids, sortedIDs, eventIDs []string
	for i := range found {
		ids = append(ids, found[i]["id"].(string))
		sortedIDs = append(sortedIDs, sorted[i]["id"].(string))
		eventIDs = append(eventIDs, found[i]["event_id"].(string))
	}
	if !slices.IsSorted(eventIDs) {
		t.Error("--order found did not print the findings in the order of the file")
	}
	if slices.Equal(ids, sortedIDs) {
		t.Error("--order found printed the sorted order; the trail's times are shuffled")
	}
	slices.Sort(ids)
	slices.Sort(sortedIDs)
	if !slices.Equal(ids, sortedIDs) {
		t.Error("--order found printed other findings than the sorted output")
	}
	// The JSON array streams too, and stays one valid array.
	r = run(t, "", "scan", "--db", ":memory:", "--format", "json", "--order", "found", trail)
	var arr []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &arr); err != nil || len(arr) != 120 {
		t.Fatalf("--format json --order found: %d findings, %v", len(arr), err)
	}
	// Nothing to print: an empty array, and a table that says so.
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	os.WriteFile(empty, nil, 0o600)
	if r := run(t, "", "scan", "--db", ":memory:", "--format", "json", "--order", "found", empty); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty scan as JSON: %q", r.stdout)
	}
	if r := run(t, "", "scan", "--db", ":memory:", "--format", "table", empty); strings.TrimSpace(r.stdout) != noFindings {
		t.Errorf("empty scan as a table: %q", r.stdout)
	}
}

// The table's columns have fixed widths: every row's cells start at the
// header's columns, whatever the row's own cells, with no row held back.
func TestScanTableFixedColumns(t *testing.T) {
	r := run(t, "", "scan", "--db", ":memory:", "--format", "table", "--order", "found", examples)
	rows := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(rows) != 17 {
		t.Fatalf("%d lines, want a header and 16 rows:\n%s", len(rows), r.stdout)
	}
	hdr := rows[0]
	cols := []int{strings.Index(hdr, "TIME (UTC)"), strings.Index(hdr, "RISK"), strings.Index(hdr, "RULE"), strings.Index(hdr, "SUMMARY")}
	for _, row := range rows[1:] {
		for _, c := range cols {
			if c <= 0 || c >= len(row) || row[c-1] != ' ' || row[c] == ' ' {
				t.Fatalf("row does not start a cell at column %d:\n%s\n%s", c, hdr, row)
			}
		}
	}
}

func TestScanOrderFlags(t *testing.T) {
	for _, args := range [][]string{{"--order", "newest"}, {"--sort-memory", "lots"}, {"--sort-memory", "0"}} {
		r := run(t, "", append(append([]string{"scan", "--db", ":memory:"}, args...), examples)...)
		if r.code != ExitError || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("%v: exit %d, %q; want a usage error naming the flag", args, r.code, r.stderr)
		}
	}
}
