// Command shapesgen writes internal/rule/shapes.txt, the key-path index of
// real CloudTrail events, from the shared corpus ($TRAILWATCH_CORPUS, else
// ../../shared/corpus beside the repository) and the documented samples in
// internal/rule/samples. Run it with go generate ./internal/rule.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/trailwatch/trailwatch/internal/rule/shapesrc"
)

func main() {
	corpus := os.Getenv("TRAILWATCH_CORPUS")
	if corpus == "" {
		corpus = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	s, err := shapesrc.Build(corpus, "samples")
	if err != nil {
		fmt.Fprintln(os.Stderr, "shapesgen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("shapes.txt", []byte(s), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "shapesgen:", err)
		os.Exit(1)
	}
}
