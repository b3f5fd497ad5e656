package shapesrc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestShapesIndexUpToDate regenerates the key-path index from the corpus
// and the shipped samples and fails when the committed shapes.txt drifts:
// run go generate ./internal/rule.
func TestShapesIndexUpToDate(t *testing.T) {
	dir := os.Getenv("TRAILWATCH_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.json")); err != nil {
		t.Skipf("no CloudTrail corpus at %s; set TRAILWATCH_CORPUS to the shared/corpus folder to check the key-path index", dir)
	}
	want, err := Build(dir, filepath.Join("..", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "shapes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("internal/rule/shapes.txt is stale (-corpus +file); run go generate ./internal/rule:\n%s", d)
	}
}

func TestSamplesNameTheirSource(t *testing.T) {
	ents, _ := os.ReadDir(filepath.Join("..", "samples"))
	for _, e := range ents {
		if _, err := ReadSample(filepath.Join("..", "samples", e.Name())); err != nil {
			t.Error(err)
		}
	}
}
