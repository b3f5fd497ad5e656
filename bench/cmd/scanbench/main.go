// Command scanbench checks trailwatch's scan speed and memory targets on a
// synthetic trail:
//
//   - scan throughput ≥ 70 % of plain gunzip throughput, for equal worker
//     counts (1 and 2);
//   - peak memory (VmHWM) of a scan < 256 MB.
//
// With -findings N it instead checks that trailwatch scan's memory does not
// grow with its output: it generates a trail where almost every record is
// a change the catalogue reports, sized for about N findings, and one a
// tenth of it, runs the whole `trailwatch scan` command over each in a
// child process (saving every finding in a SQLite file, printing them
// sorted by time to /dev/null), and reports each child's peak RSS
// (rusage maxrss) and their ratio; the target is < 256 MB at 1,000,000
// findings.
//
// It generates a corpus (or reuses the one in -dir), then measures gunzip
// only and a full scan with the embedded rules, each -reps times per worker
// count, alternating the two so that load from other processes hits both
// alike, and reports medians. Every measurement runs in a fresh child
// process (scanbench -phase gunzip|gunzipk|scan), so each phase's VmHWM is its own
// and no measurement inherits another's heap.
//
//	go run ./bench/cmd/scanbench -files 40 -records 2000
//	go run ./bench/cmd/scanbench -dir /tmp/trail -reps 5
//	scanbench -dir /tmp/trail -phase scan -workers 1 -cpuprofile cpu.out
//	go run ./bench/cmd/scanbench -findings 1000000 -dir /tmp/findings
package main

import (
	"runtime/debug"

	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/trailwatch/trailwatch/internal/cli"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trailwatch/trailwatch/bench"
)

const (
	targetRatio = 0.70
	targetPeak  = 256 << 20
)

// result is one measurement, printed by a child as a JSON line.
type result struct {
	Phase   string  `json:"phase"`
	Workers int     `json:"workers"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the process's user+system time during the work.
	CPUSeconds float64 `json:"cpu_seconds"`
	Bytes      int64   `json:"bytes"`
	Records    int64   `json:"records"`
	Findings   int64   `json:"findings"`
	// EKSFindings are the findings of the EKS pack, which the generator
	// plants and the run checks.
	EKSFindings int64  `json:"eks_findings"`
	Decoded     int64  `json:"decoded"`
	Errors      int64  `json:"errors"`
	VmHWM       int64  `json:"vmhwm_bytes"`
	Sys         uint64 `json:"go_sys_bytes"`
	NumGC       uint32 `json:"num_gc"`
}

func (r result) mbps() float64 { return float64(r.Bytes) / 1e6 / r.Seconds }

// mbpcs is throughput per CPU-second: what a core does when it is not
// shared, the better figure on a loaded machine.
func (r result) mbpcs() float64 { return float64(r.Bytes) / 1e6 / r.CPUSeconds }

// cpuTime is the user+system time this process has used.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func main() {
	dir := flag.String("dir", "", "corpus folder, reused when its manifest matches the options (default: a temporary folder, removed afterwards)")
	files := flag.Int("files", 40, "files to generate")
	records := flag.Int("records", 2000, "records per file")
	seed := flag.Uint64("seed", 1, "generator seed")
	reps := flag.Int("reps", 3, "repetitions of each measurement (the median is reported)")
	workersFlag := flag.String("workers", "1,2", "worker counts to compare")
	phase := flag.String("phase", "", "run one measurement and print it as JSON: gunzip, gunzipk or scan (used by the parent run)")
	cpuprofile := flag.String("cpuprofile", "", "with -phase: write a CPU profile of the measured work")
	findings := flag.Int("findings", 0, "measure the peak RSS of trailwatch scan over a trail of about `N` findings, and of N/10 (instead of throughput)")
	order := flag.String("order", "", "with -findings: trailwatch scan's --order (default: scan's default, time)")
	binary := flag.String("trailwatch", "", "with -findings: the trailwatch `BINARY` to measure (default: this program's own copy of the command, built from this tree)")
	flag.Parse()
	if *phase == "trailwatch" {
		// The trailwatch command itself, in this child process.
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				fatalf("%v", err)
			}
			pprof.StartCPUProfile(f)
			code := cli.Main(context.Background(), cli.OSEnv(), flag.Args())
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
		os.Exit(cli.Main(context.Background(), cli.OSEnv(), flag.Args()))
	}
	if *findings > 0 {
		os.Exit(runFindings(*dir, *findings, *seed, *order, *binary))
	}

	var workers []int
	for _, s := range strings.Split(*workersFlag, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || w < 1 {
			fatalf("bad -workers %q", *workersFlag)
		}
		workers = append(workers, w)
	}

	if *phase != "" {
		if *dir == "" || len(workers) != 1 {
			fatalf("-phase needs -dir and a single -workers value")
		}
		r, err := measure(*phase, *dir, workers[0], *cpuprofile)
		if err != nil {
			fatalf("%v", err)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	os.Exit(run(*dir, bench.Options{Files: *files, RecordsPerFile: *records, Seed: *seed}, workers, *reps))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scanbench: "+format+"\n", args...)
	os.Exit(2)
}

// measure runs one phase in this process.
func measure(phase, dir string, workers int, cpuprofile string) (result, error) {
	r := result{Phase: phase, Workers: workers}
	m, err := bench.ReadManifest(dir)
	if err != nil {
		return r, fmt.Errorf("%s: no corpus manifest (%v); run scanbench without -phase first", dir, err)
	}
	stopProfile := func() {}
	startProfile := func() error {
		if cpuprofile == "" {
			return nil
		}
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	switch phase {
	case "gunzip", "gunzipk":
		files, err := bench.Files(dir)
		if err != nil {
			return r, err
		}
		if err := startProfile(); err != nil {
			return r, err
		}
		gunzip := bench.Gunzip
		if phase == "gunzipk" {
			gunzip = bench.GunzipFast
		}
		start, cpu := time.Now(), cpuTime()
		n, err := gunzip(files, workers)
		r.Seconds, r.CPUSeconds = time.Since(start).Seconds(), cpuTime()-cpu
		stopProfile()
		if err != nil {
			return r, err
		}
		r.Bytes, r.Records = n, m.Stats.Records
	case "scan":
		// The same collector setting as trailwatch scan.
		debug.SetGCPercent(cli.ScanGCPercent)
		eng, err := bench.NewEngine()
		if err != nil {
			return r, err
		}
		if err := startProfile(); err != nil {
			return r, err
		}
		var eks atomic.Int64
		start, cpu := time.Now(), cpuTime()
		res, err := bench.Scan(context.Background(), dir, eng, workers, bench.CountEKS(&eks))
		r.Seconds, r.CPUSeconds = time.Since(start).Seconds(), cpuTime()-cpu
		stopProfile()
		if err != nil {
			return r, err
		}
		r.Bytes, r.Records, r.Findings, r.Decoded, r.Errors = res.Bytes, res.Records, res.Findings, res.Decoded, res.Errors
		r.EKSFindings = eks.Load()
	default:
		return r, fmt.Errorf("unknown phase %q (want gunzip, gunzipk or scan)", phase)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.Sys, r.NumGC = ms.Sys, ms.NumGC
	r.VmHWM = vmHWM()
	return r, nil
}

// vmHWM is this process's peak resident set size, from /proc/self/status.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return -1
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func child(self, dir, phase string, workers int) (result, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(self, "-phase", phase, "-dir", dir, "-workers", strconv.Itoa(workers))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s workers=%d: %v: %s", phase, workers, err, strings.TrimSpace(errb.String()))
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("%s workers=%d: bad output %q: %v", phase, workers, out.String(), err)
	}
	return r, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func run(dir string, opts bench.Options, workers []int, reps int) int {
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "scanbench-"); err != nil {
			fatalf("%v", err)
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fatalf("%v", err)
	}
	t0 := time.Now()
	st, reused, err := bench.Corpus(dir, opts)
	if err != nil {
		fatalf("generating the corpus: %v", err)
	}
	how := fmt.Sprintf("generated in %s", time.Since(t0).Round(time.Millisecond))
	if reused {
		how = "reused"
	}
	fmt.Printf("corpus     %s (%s)\n", dir, how)
	fmt.Printf("           %d files, %d records, %.1f MB JSON (%.0f B/record), %.1f MB gzip; %d EKS changes (%d expected EKS findings), %d changes of other catalogue services, %d denied\n",
		st.Files, st.Records, float64(st.UncompressedBytes)/1e6, float64(st.UncompressedBytes)/float64(max(st.Records, 1)),
		float64(st.CompressedBytes)/1e6, st.EKSChanges, st.ExpectedFindings, st.CatalogueChanges, st.Denied)
	if eng, err := bench.NewEngine(); err == nil {
		fmt.Printf("catalogue  %d rules on by default (the whole embedded catalogue, default settings)\n", eng.Rules())
	}
	fmt.Printf("machine    %s/%s, %d CPUs, GOMAXPROCS %d, %s; load average %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadavg())

	// Warm the page cache so the first measurement does not read the disk.
	fs, err := bench.Files(dir)
	if err != nil {
		fatalf("%v", err)
	}
	for _, f := range fs {
		if fh, err := os.Open(f); err == nil {
			io.Copy(io.Discard, fh)
			fh.Close()
		}
	}

	type key struct {
		phase   string
		workers int
	}
	got := map[key][]result{}
	fail := false
	for rep := range reps {
		for _, w := range workers {
			order := []string{"gunzip", "scan", "gunzipk"}
			if rep%2 == 1 {
				order = []string{"gunzipk", "scan", "gunzip"}
			}
			for _, p := range order {
				r, err := child(self, dir, p, w)
				if err != nil {
					fatalf("%v", err)
				}
				got[key{p, w}] = append(got[key{p, w}], r)
				fmt.Printf("  rep %d %-6s workers=%d %7.1f MB/s %7.1f MB/cpu-s  %.3fs wall %.3fs cpu  VmHWM %.1f MB\n",
					rep+1, p, w, r.mbps(), r.mbpcs(), r.Seconds, r.CPUSeconds, float64(r.VmHWM)/(1<<20))
			}
		}
	}

	fmt.Printf("\nmedians of %d runs (MB/s of decompressed JSON)\n", reps)
	fmt.Printf("%-8s %-8s %10s %12s %10s %12s %10s %10s\n", "phase", "workers", "MB/s", "events/s", "seconds", "MB/cpu-s", "VmHWM MB", "Go Sys MB")
	meds, cpuMeds := map[key]float64{}, map[key]float64{}
	var peak int64
	for _, w := range workers {
		for _, p := range []string{"gunzip", "gunzipk", "scan"} {
			rs := got[key{p, w}]
			var mbps, mbpcs, secs, hwm, sys []float64
			for _, r := range rs {
				mbps = append(mbps, r.mbps())
				mbpcs = append(mbpcs, r.mbpcs())
				secs = append(secs, r.Seconds)
				hwm = append(hwm, float64(r.VmHWM)/(1<<20))
				sys = append(sys, float64(r.Sys)/(1<<20))
				if p == "scan" {
					peak = max(peak, r.VmHWM)
				}
			}
			meds[key{p, w}], cpuMeds[key{p, w}] = median(mbps), median(mbpcs)
			fmt.Printf("%-8s %-8d %10.1f %12.0f %10.3f %12.1f %10.1f %10.1f\n", p, w, median(mbps), float64(st.Records)/median(secs), median(secs), median(mbpcs), median(hwm), median(sys))
		}
	}

	if rs := got[key{"scan", workers[0]}]; len(rs) > 0 {
		r := rs[0]
		fmt.Printf("\ncatalogue run: %d findings (%d of the EKS pack), %d of %d records decoded (%.2f%%)\n",
			r.Findings, r.EKSFindings, r.Decoded, r.Records, 100*float64(r.Decoded)/float64(max(r.Records, 1)))
	}
	fmt.Println()
	for _, r := range got[key{"scan", workers[0]}] {
		if r.EKSFindings != st.ExpectedFindings || r.Records != st.Records || r.Errors != 0 || r.Bytes != st.UncompressedBytes {
			fmt.Printf("FAIL  scan correctness: %d EKS findings, %d records, %d errors, %d bytes; want %d, %d, 0, %d\n",
				r.EKSFindings, r.Records, r.Errors, r.Bytes, st.ExpectedFindings, st.Records, st.UncompressedBytes)
			fail = true
			break
		}
	}
	for _, w := range workers {
		ratio := meds[key{"scan", w}] / meds[key{"gunzip", w}]
		// The ratio of each adjacent pair, less sensitive to load drift.
		var paired []float64
		gs, ss := got[key{"gunzip", w}], got[key{"scan", w}]
		for i := range min(len(gs), len(ss)) {
			paired = append(paired, ss[i].mbps()/gs[i].mbps())
		}
		verdict := "PASS"
		if ratio < targetRatio {
			verdict, fail = "FAIL", true
		}
		fmt.Printf("%s  scan/gunzip throughput, workers=%d: %.2f (target >= %.2f; median of per-rep pairs %.2f)\n", verdict, w, ratio, targetRatio, median(paired))
	}
	for _, w := range workers {
		fmt.Printf("info  scan/gunzip per CPU-second, workers=%d: %.2f (insensitive to other load; compare with the target when the machine is busy)\n",
			w, cpuMeds[key{"scan", w}]/cpuMeds[key{"gunzip", w}])
	}
	for _, w := range workers {
		fmt.Printf("info  scan/gunzipk per CPU-second, workers=%d: %.2f (gunzipk: klauspost/compress, the decompressor scan uses; what the scanning itself adds)\n",
			w, cpuMeds[key{"scan", w}]/cpuMeds[key{"gunzipk", w}])
	}
	verdict := "PASS"
	if peak >= targetPeak {
		verdict, fail = "FAIL", true
	}
	fmt.Printf("%s  peak memory of a scan (VmHWM): %.1f MB (target < %d MB)\n", verdict, float64(peak)/(1<<20), targetPeak>>20)
	fmt.Printf("load average at the end: %s\n", loadavg())
	if fail {
		return 1
	}
	return 0
}

// findingsPerRecord is about how many findings a record of the findings
// trail raises (EKS changes, of which automatic actors' and failed ones
// raise none, and denials).
const findingsPerRecord = 0.86

// findingsOptions are the generator's options for a trail of about n
// findings.
func findingsOptions(n int, seed uint64) bench.Options {
	const perFile = 2000
	files := max(1, int(float64(n)/findingsPerRecord/perFile+0.5))
	// Every record is an EKS change but for the defaults' look-alikes and
	// other services' changes.
	return bench.Options{Files: files, RecordsPerFile: perFile, Seed: seed, EKSFraction: 0.993}
}

// scanRun is one trailwatch scan child.
type scanRun struct {
	findings int64
	seconds  float64
	maxRSS   int64 // bytes
	summary  string
}

var foundRe = regexp.MustCompile(`, (\d+) findings? \(`)

// scanChild runs trailwatch scan over dir in a child process, saving into
// a new SQLite file beside the trail and printing to /dev/null.
func scanChild(self, binary, dir, order string) (scanRun, error) {
	var r scanRun
	db := filepath.Join(dir, "scanbench.db")
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(db + s)
	}
	defer func() {
		for _, s := range []string{"", "-wal", "-shm"} {
			os.Remove(db + s)
		}
	}()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return r, err
	}
	defer null.Close()
	var errb bytes.Buffer
	args := []string{"scan", "--db", db, "--format", "jsonl"}
	if order != "" {
		args = append(args, "--order", order)
	}
	args = append(args, filepath.Join(dir, "AWSLogs"))
	cmd := exec.Command(self, append([]string{"-phase", "trailwatch", "--"}, args...)...)
	if binary != "" {
		cmd = exec.Command(binary, args...)
	}
	cmd.Stdout, cmd.Stderr = null, &errb
	start := time.Now()
	err = cmd.Run()
	r.seconds = time.Since(start).Seconds()
	r.summary = strings.TrimSpace(errb.String())
	if err != nil {
		return r, fmt.Errorf("trailwatch scan %s: %v: %s", dir, err, r.summary)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss << 10 // kB on Linux
	}
	if m := foundRe.FindStringSubmatch(r.summary); m != nil {
		r.findings, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r, nil
}

func runFindings(dir string, n int, seed uint64, order, binary string) int {
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "scanbench-findings-"); err != nil {
			fatalf("%v", err)
		}
		defer os.RemoveAll(dir)
	}
	fmt.Printf("machine    %s/%s, %d CPUs, %s; load average %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), loadavg())
	sizes := []int{max(n/10, 1), n}
	var runs []scanRun
	for _, size := range sizes {
		sub := filepath.Join(dir, fmt.Sprintf("findings-%d", size))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			fatalf("%v", err)
		}
		t0 := time.Now()
		st, reused, err := bench.Corpus(sub, findingsOptions(size, seed))
		if err != nil {
			fatalf("generating the trail: %v", err)
		}
		how := fmt.Sprintf("generated in %s", time.Since(t0).Round(time.Millisecond))
		if reused {
			how = "reused"
		}
		fmt.Printf("trail      %s (%s): %d files, %d records, %.1f MB JSON, %.1f MB gzip\n", sub, how, st.Files, st.Records,
			float64(st.UncompressedBytes)/1e6, float64(st.CompressedBytes)/1e6)
		r, err := scanChild(self, binary, sub, order)
		if err != nil {
			fatalf("%v", err)
		}
		runs = append(runs, r)
		shown := order
		if shown == "" {
			shown = "time"
		}
		fmt.Printf("  trailwatch scan --order %s: %d findings in %.1f s, peak RSS %.1f MB\n", shown, r.findings, r.seconds, float64(r.maxRSS)/(1<<20))
	}
	small, big := runs[0], runs[1]
	fmt.Printf("\npeak RSS ratio, %d findings against %d: %.2f (findings ratio %.1f)\n", big.findings, small.findings,
		float64(big.maxRSS)/float64(max(small.maxRSS, 1)), float64(big.findings)/float64(max(small.findings, 1)))
	verdict, code := "PASS", 0
	if big.maxRSS >= targetPeak {
		verdict, code = "FAIL", 1
	}
	fmt.Printf("%s  peak RSS of trailwatch scan yielding %d findings: %.1f MB (target < %d MB)\n", verdict, big.findings, float64(big.maxRSS)/(1<<20), targetPeak>>20)
	fmt.Printf("load average at the end: %s\n", loadavg())
	return code
}
