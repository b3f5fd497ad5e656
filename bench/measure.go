package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/scan"
)

// ManifestName is the file Corpus writes next to AWSLogs to remember how a
// trail was generated. The scanner skips it (it has no JSON extension).
const ManifestName = "gentrail-manifest"

// Manifest records how a trail was generated and what it holds.
type Manifest struct {
	Options Options
	Stats   Stats
}

func normalized(o Options) Options {
	o = o.withDefaults()
	o.Workers = 0
	return o
}

// Corpus returns the trail in dir generated with opts. When dir already
// holds a trail generated with the same options (per its manifest) it is
// reused; otherwise dir's AWSLogs folder is replaced by a new trail.
func Corpus(dir string, opts Options) (st Stats, reused bool, err error) {
	want, err := json.Marshal(normalized(opts))
	if err != nil {
		return Stats{}, false, err
	}
	if m, err := ReadManifest(dir); err == nil {
		have, _ := json.Marshal(normalized(m.Options))
		if bytes.Equal(have, want) {
			return m.Stats, true, nil
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "AWSLogs")); err != nil {
		return Stats{}, false, err
	}
	st, err = Generate(dir, opts)
	if err != nil {
		return st, false, err
	}
	b, err := json.MarshalIndent(Manifest{Options: normalized(opts), Stats: st}, "", "  ")
	if err != nil {
		return st, false, err
	}
	return st, false, os.WriteFile(filepath.Join(dir, ManifestName), b, 0o644)
}

// ReadManifest reads the manifest Corpus wrote in dir.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(b, &m)
	return m, err
}

// Files lists the .json.gz files under dir, sorted.
func Files(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(p, ".json.gz") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// Gunzip decompresses every file into io.Discard, workers files at a time,
// reading them the way the scanner does (a 64 KiB bufio.Reader under
// gzip, 256 KiB reads) so the two differ only in what is done with the
// bytes. It returns the number of decompressed bytes.
func Gunzip(files []string, workers int) (int64, error) {
	return gunzipAll(files, workers, func(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) })
}

// GunzipFast is Gunzip with the decompressor trailwatch scan itself uses
// (github.com/klauspost/compress/gzip), so scan/GunzipFast is what the
// scanning adds on top of its own decompression. Gunzip (Go's
// compress/gzip) stays the baseline the targets are written against.
func GunzipFast(files []string, workers int) (int64, error) {
	return gunzipAll(files, workers, func(r io.Reader) (io.ReadCloser, error) { return kgzip.NewReader(r) })
}

func gunzipAll(files []string, workers int, open func(io.Reader) (io.ReadCloser, error)) (int64, error) {
	if workers <= 0 {
		workers = 2
	}
	jobs := make(chan string)
	var (
		mu    sync.Mutex
		total int64
		errs  []error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			var n int64
			for p := range jobs {
				m, err := gunzipFile(p, buf, open)
				n += m
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	for _, f := range files {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	return total, errors.Join(errs...)
}

func gunzipFile(path string, buf []byte, open func(io.Reader) (io.ReadCloser, error)) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := open(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	var n int64
	for {
		m, err := zr.Read(buf)
		io.Discard.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// NewEngine returns an engine for the embedded rules with default settings,
// as trailwatch scan uses without a configuration file.
func NewEngine() (*rule.Engine, error) {
	c, err := rule.Embedded()
	if err != nil {
		return nil, err
	}
	return rule.NewEngine(c, nil)
}

// CountEKS returns a findings callback that counts the findings of the EKS
// pack, the ones the generator plants and can check (Stats.ExpectedFindings).
func CountEKS(n *atomic.Int64) func([]finding.Finding) error {
	return func(fs []finding.Finding) error {
		for _, f := range fs {
			if strings.HasPrefix(f.RuleID, "EKS-") {
				n.Add(1)
			}
		}
		return nil
	}
}

// ScanResult is what one scan saw.
type ScanResult struct {
	scan.Snapshot
	// Problems holds the errors the scanner reported about the input.
	Problems []error
}

// Scan scans dir with the given engine and worker count, as trailwatch scan
// does. onFindings, when not nil, receives the findings.
func Scan(ctx context.Context, dir string, eng *rule.Engine, workers int, onFindings func([]finding.Finding) error) (ScanResult, error) {
	var res ScanResult
	sc := scan.New(scan.Options{
		Engine:   eng,
		Workers:  workers,
		Findings: onFindings,
		Errors:   func(err error) { res.Problems = append(res.Problems, err) },
	})
	err := sc.Paths(ctx, []string{dir}, nil)
	res.Snapshot = sc.Stats.Snapshot()
	return res, err
}
