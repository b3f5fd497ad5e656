package actor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trailwatch/trailwatch/internal/event"
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

// peerCase is one line of peer-tests/*.jsonl.
type peerCase struct {
	Source   string          `json:"source"`
	Rule     string          `json:"rule"`
	Test     string          `json:"test"`
	Expected any             `json:"expected"`
	Event    json.RawMessage `json:"event"`
}

func readPeerCases(t *testing.T, path string) []peerCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []peerCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c peerCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rawType is userIdentity.type as written: "null" when the record has no
// userIdentity object or no type in it (who-how-stats.json's key), hasID
// whether it has a userIdentity object at all.
// untyped is the type Of gives a record without userIdentity.type: AWS
// itself when an AWS service invoked the call (AWS internal work), else
// Unknown.
func untyped(ev *event.Event) string {
	if isServiceHost(ev.UserIdentity.InvokedBy) {
		return "AWSService"
	}
	return "Unknown"
}

func rawType(rec []byte) (typ string, hasID bool) {
	var r struct {
		UserIdentity json.RawMessage `json:"userIdentity"`
	}
	if json.Unmarshal(rec, &r) != nil || len(r.UserIdentity) == 0 || string(r.UserIdentity) == "null" {
		return "null", false
	}
	var id map[string]any
	if json.Unmarshal(r.UserIdentity, &id) != nil {
		return "null", false
	}
	switch v := id["type"].(type) {
	case nil:
		return "null", true
	case string:
		return v, true
	default:
		return fmt.Sprint(v), true
	}
}

// TestCorpusPeerTests runs every peer-test event with a userIdentity through
// DecodeRecord, Of and Method.
func TestCorpusPeerTests(t *testing.T) {
	dir := corpusDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, "peer-tests", "*.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no peer tests: %v", err)
	}
	known := knownMethods()
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			methods := map[string]int{}
			decodeErrs := map[string]int{}
			withID, decoded := 0, 0
			for i, c := range readPeerCases(t, p) {
				if len(c.Event) == 0 || c.Event[0] != '{' {
					continue
				}
				typ, hasID := rawType(c.Event)
				if !hasID {
					continue
				}
				withID++
				ev, err := decodeNoPanic(c.Event)
				if err != nil {
					var de *event.DecodeError
					if !errors.As(err, &de) {
						t.Errorf("case %d (%s / %s): error %v (%T) is not a *DecodeError", i, c.Rule, c.Test, err, err)
						continue
					}
					decodeErrs[shortReason(de)]++
					continue
				}
				decoded++
				a := Of(ev)
				if typ != "null" && a.Type != typ {
					t.Errorf("case %d (%s / %s): Type = %q, want userIdentity.type %q", i, c.Rule, c.Test, a.Type, typ)
				}
				if typ == "null" && a.Type != untyped(ev) {
					t.Errorf("case %d (%s / %s): Type = %q without userIdentity.type, want %s", i, c.Rule, c.Test, a.Type, untyped(ev))
				}
				if a.Name == "" {
					t.Errorf("case %d (%s / %s): empty Name for %s identity", i, c.Rule, c.Test, a.Type)
				}
				m := Method(ev)
				if !known[m] {
					t.Errorf("case %d (%s / %s): Method = %q, not a known method", i, c.Rule, c.Test, m)
				}
				methods[m]++
			}
			t.Logf("%d events with a userIdentity, %d decoded; methods %v", withID, decoded, sorted(methods))
			if len(decodeErrs) > 0 {
				t.Logf("decode errors: %v", sorted(decodeErrs))
			}
		})
	}
}

func decodeNoPanic(rec []byte) (ev *event.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return event.DecodeRecord(rec)
}

// shortReason groups decode errors by field and kind.
func shortReason(de *event.DecodeError) string {
	msg := de.Err.Error()
	if i := strings.IndexAny(msg, "\"("); i > 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	if de.Field != "" {
		return de.Field + ": " + msg
	}
	return msg
}

func sorted(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// whoHow is who-how-stats.json: per source, userIdentity.type counts (who)
// and an access-method split (how) in the corpus author's own categories.
type whoHow map[string]struct {
	Who map[string]int `json:"who"`
	How map[string]int `json:"how"`
}

// sourceFiles lists the CloudTrail data files of a who-how source folder.
func sourceFiles(t *testing.T, dir, source string) []string {
	t.Helper()
	root := filepath.Join(dir, source)
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n := d.Name()
		switch {
		case d.IsDir():
			return nil
		case source == "traildiscover":
			// *.json there is catalogue metadata.
			if strings.HasSuffix(n, ".json.cloudtrail") {
				out = append(out, p)
			}
		case strings.HasSuffix(n, ".json"), strings.HasSuffix(n, ".jsonl"):
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// records returns a copy of every record of a file, envelopes opened.
func records(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sp := event.NewSplitter(f, 0)
	var out [][]byte
	for {
		it, err := sp.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, append([]byte(nil), it.Record()...))
	}
}

// TestCorpusWhoHow compares our actor types per source with the
// userIdentity.type counts of who-how-stats.json (exact), and logs our
// access methods next to its console/CLI/SDK split (different categories).
func TestCorpusWhoHow(t *testing.T) {
	dir := corpusDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "who-how-stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	var stats whoHow
	if err := json.Unmarshal(b, &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats) == 0 {
		t.Fatal("who-how-stats.json is empty")
	}
	names := make([]string, 0, len(stats))
	for k := range stats {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, source := range names {
		want := stats[source]
		t.Run(source, func(t *testing.T) {
			var recs [][]byte
			peer := strings.HasPrefix(source, "peer-tests/")
			if peer {
				for _, c := range readPeerCases(t, filepath.Join(dir, filepath.FromSlash(source))) {
					if len(c.Event) > 0 && c.Event[0] == '{' {
						recs = append(recs, c.Event)
					}
				}
			} else {
				paths := sourceFiles(t, dir, source)
				if len(paths) == 0 {
					t.Fatalf("no data files in %s", source)
				}
				for _, p := range paths {
					recs = append(recs, records(t, p)...)
				}
			}
			who := map[string]int{}
			how := map[string]int{}
			undecoded := map[string]int{}
			for _, rec := range recs {
				typ, _ := rawType(rec)
				ev, err := event.DecodeRecord(rec)
				if err != nil {
					var de *event.DecodeError
					if !errors.As(err, &de) {
						t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
					}
					// Not an API call (CloudTrail Insights) or a test
					// event our decoder refuses: counted as written.
					if !peer && !errors.Is(err, event.ErrNotCloudTrail) {
						t.Errorf("record of %s does not decode: %v", source, err)
					}
					undecoded[shortReason(de)]++
					who[typ]++
					continue
				}
				a := Of(ev)
				key := a.Type
				if typ == "null" {
					if a.Type != untyped(ev) {
						t.Errorf("Type = %q for a record without userIdentity.type, want %s", a.Type, untyped(ev))
					}
					key = "null"
				} else if a.Type != typ {
					t.Errorf("Type = %q, userIdentity.type = %q", a.Type, typ)
				}
				who[key]++
				how[Method(ev)]++
			}
			if diff := cmp.Diff(want.Who, who); diff != "" {
				t.Errorf("userIdentity types (-who-how-stats.json +ours):\n%s", diff)
			}
			t.Logf("%d records; types %s", len(recs), sorted(who))
			t.Logf("how: ours %s | who-how-stats.json %s", sorted(how), sorted(want.How))
			if len(undecoded) > 0 {
				t.Logf("not decoded (counted by the written type): %s", sorted(undecoded))
			}
		})
	}
}
