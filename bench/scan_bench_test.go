package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trailwatch/trailwatch/internal/event"
)

// The benchmarks share one corpus, generated on first use: by default 40
// files × 2000 records (about 125 MB of JSON) in a temporary folder removed
// when the run ends. TRAILWATCH_BENCH_FILES and TRAILWATCH_BENCH_RECORDS
// change its size; TRAILWATCH_BENCH_DIR keeps it in (and reuses it from) a
// folder of your choice.
var benchCorpus struct {
	once  sync.Once
	dir   string
	tmp   bool
	stats Stats
	files []string
	err   error
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func corpus(b *testing.B) (string, Stats, []string) {
	b.Helper()
	c := &benchCorpus
	c.once.Do(func() {
		opts := Options{Files: envInt("TRAILWATCH_BENCH_FILES", 40), RecordsPerFile: envInt("TRAILWATCH_BENCH_RECORDS", 2000), Seed: 1}
		c.dir = os.Getenv("TRAILWATCH_BENCH_DIR")
		if c.dir == "" {
			if c.dir, c.err = os.MkdirTemp("", "trailwatch-bench-"); c.err != nil {
				return
			}
			c.tmp = true
		}
		if c.stats, _, c.err = Corpus(c.dir, opts); c.err != nil {
			return
		}
		c.files, c.err = Files(c.dir)
	})
	if c.err != nil {
		b.Fatal(c.err)
	}
	if c.stats.ExpectedFindings == 0 {
		b.Fatalf("the corpus in %s holds no EKS change the rules report; make it larger", c.dir)
	}
	return c.dir, c.stats, c.files
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchCorpus.tmp {
		os.RemoveAll(benchCorpus.dir)
	}
	os.Exit(code)
}

func reportEvents(b *testing.B, records int64) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(records)*float64(b.N)/s, "events/s")
	}
}

// BenchmarkGunzip is the baseline: decompressing every file and discarding
// the bytes, sequentially and with the scanner's default two workers.
func BenchmarkGunzip(b *testing.B) {
	_, st, files := corpus(b)
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.SetBytes(st.UncompressedBytes)
			for b.Loop() {
				n, err := Gunzip(files, w)
				if err != nil {
					b.Fatal(err)
				}
				if n != st.UncompressedBytes {
					b.Fatalf("decompressed %d bytes, the corpus holds %d", n, st.UncompressedBytes)
				}
			}
			reportEvents(b, st.Records)
		})
	}
}

// BenchmarkScan scans the corpus with the embedded rules as trailwatch scan
// does, and checks the scan found exactly the findings the generator
// planted, so it cannot silently skip work.
func BenchmarkScan(b *testing.B) {
	dir, st, _ := corpus(b)
	eng, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.SetBytes(st.UncompressedBytes)
			var res ScanResult
			for b.Loop() {
				var eks atomic.Int64
				res, err = Scan(context.Background(), dir, eng, w, CountEKS(&eks))
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Problems) > 0 {
					b.Fatalf("%d scan errors, first: %v", len(res.Problems), res.Problems[0])
				}
				if eks.Load() != st.ExpectedFindings || res.Records != st.Records || res.Bytes != st.UncompressedBytes {
					b.Fatalf("scan: %d EKS findings, %d records, %d bytes; want %d, %d, %d",
						eks.Load(), res.Records, res.Bytes, st.ExpectedFindings, st.Records, st.UncompressedBytes)
				}
			}
			reportEvents(b, st.Records)
			b.ReportMetric(float64(res.Decoded)/float64(max(res.Records, 1))*100, "%decoded")
		})
	}
}

// BenchmarkSplit isolates the scanner's CPU work from decompression: it
// runs the splitter (and, in "wants", the engine's routing check) over
// already-decompressed files held in memory, one goroutine.
func BenchmarkSplit(b *testing.B) {
	_, _, files := corpus(b)
	var bufs [][]byte
	var total, records int64
	for _, f := range files[:min(len(files), 8)] {
		gz, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			b.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			b.Fatal(err)
		}
		bufs = append(bufs, raw)
		total += int64(len(raw))
	}
	eng, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"split", "wants"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				records = 0
				for _, raw := range bufs {
					sp := event.NewSplitter(bytes.NewReader(raw), 0)
					for {
						it, err := sp.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						records++
						if mode == "wants" {
							eng.Wants(it.Source, it.Name)
						}
					}
				}
			}
			reportEvents(b, records)
		})
	}
}
