// Command gentrail writes a deterministic synthetic CloudTrail trail in the
// S3 delivery layout, for benchmarks and tests.
//
//	gentrail -out /tmp/trail -files 40 -records 2000 -seed 1
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/trailwatch/trailwatch/bench"
)

func main() {
	out := flag.String("out", "", "output folder (required)")
	files := flag.Int("files", 40, "number of log files")
	records := flag.Int("records", 2000, "typical records per file (±10 %)")
	seed := flag.Uint64("seed", 1, "random seed; the same seed writes the same bytes")
	eks := flag.Float64("eks", 0, "share of EKS configuration changes (0: default 0.003)")
	denied := flag.Float64("denied", 0, "share of denied calls (0: default 0.02)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gentrail -out DIR [-files N] [-records N] [-seed N] [-eks F] [-denied F]")
		os.Exit(2)
	}
	start := time.Now()
	st, err := bench.Generate(*out, bench.Options{Files: *files, RecordsPerFile: *records, Seed: *seed, EKSFraction: *eks, DeniedFraction: *denied})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentrail:", err)
		os.Exit(1)
	}
	fmt.Printf("files               %d\n", st.Files)
	fmt.Printf("records             %d\n", st.Records)
	fmt.Printf("EKS changes         %d (expected findings %d)\n", st.EKSChanges, st.ExpectedFindings)
	fmt.Printf("denied / failed     %d / %d\n", st.Denied, st.Failed)
	fmt.Printf("look-alikes         %d\n", st.Lookalikes)
	fmt.Printf("uncompressed bytes  %d (%.1f MB, %.0f B/record)\n", st.UncompressedBytes, float64(st.UncompressedBytes)/1e6, float64(st.UncompressedBytes)/float64(max(st.Records, 1)))
	fmt.Printf("compressed bytes    %d (%.1f MB, ratio %.1f)\n", st.CompressedBytes, float64(st.CompressedBytes)/1e6, float64(st.UncompressedBytes)/float64(max(st.CompressedBytes, 1)))
	fmt.Printf("took                %s\n", time.Since(start).Round(time.Millisecond))
}
