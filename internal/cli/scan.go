package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/rule"
	"github.com/trailwatch/trailwatch/internal/scan"
	"github.com/trailwatch/trailwatch/internal/spill"
	"github.com/trailwatch/trailwatch/internal/store"
)

// ScanGCPercent is the GOGC value trailwatch scan runs with.
const ScanGCPercent = 400

// ScanMemoryLimit is the soft limit of the Go heap (debug.SetMemoryLimit)
// trailwatch scan runs with for a --sort-memory budget: room for the
// engine, the workers' buffers and the batches being saved, plus twice
// the budget. The default budget gives 160 MiB, and a peak RSS about 25 MB
// above it (bench/README.md).
func ScanMemoryLimit(sortMemory int64) int64 { return 96<<20 + 2*sortMemory }

// saveBatch is how many findings are committed together during a scan.
const saveBatch = 256

func scanCommand() *command {
	return &command{
		name:    "scan",
		args:    "[flags] PATH|s3://BUCKET/PREFIX|- ...",
		summary: "scan CloudTrail files, folders, S3 or stdin for configuration changes",
		help: `Scan CloudTrail logs for configuration changes and print the findings, oldest first.

PATH is a file, a folder (walked recursively; CloudTrail-Digest is skipped), an
s3://bucket/prefix, or - for standard input. Every delivery format is read:
CloudTrail S3 files (gzip or not), JSON arrays, JSON lines, EventBridge events and
single records. Findings are saved in the store (idempotent: scanning the same files
again adds nothing). FIFOs and devices named as PATH are read only with
--special-files; inside folders they are skipped.

Output: a table on a terminal, JSON lines in a pipe (--format). A summary goes to
stderr (--quiet drops it). Exit status: 0 done; 2 when some input could not be read,
or with --notify when deliveries ended dead or still pending (everything else is
still scanned, saved and printed); 3 with --fail-on LEVEL when a finding at or above
LEVEL exists and nothing failed; 130 when interrupted (Ctrl-C).`,
		examples: []string{
			"trailwatch scan examples/",
			"trailwatch scan --format json --min-risk HIGH examples/ | jq '.[] | .summary'",
			"trailwatch scan --fail-on VERY_HIGH examples/cloudtrail/",
			"gunzip -c trail.json.gz | trailwatch scan -",
			"trailwatch scan --config trailwatch.yaml --notify s3://my-trail-bucket/AWSLogs/",
		},
		run: runScan,
	}
}

// scanOptions are scan's flags.
type scanOptions struct {
	cfgPath, db, format, order    string
	ruleDirs                      multi
	minRisk, failOn               finding.Risk
	workers                       int
	raw, quiet, special, notify   bool
	attemptTimeout, notifyTimeout time.Duration
	sortMemory                    int64
	paths                         []string
}

// scanTally is what a scan found, for its summary and exit status.
type scanTally struct {
	saved    store.SaveResult
	worst    finding.Risk
	hidden   int64
	errors   int64
	foreign  []string // the first names of files that held no CloudTrail
	stats    scan.Snapshot
	elapsed  time.Duration
	notified *app.Delivered
}

func runScan(ctx context.Context, env *Env, c *command, args []string) int {
	o, code, ok := scanFlags(env, c, args)
	if !ok {
		return code
	}
	// A scan keeps little alive (one buffer per worker, the sort's
	// budget) but allocates steadily; collecting less often is a measured
	// ~5% of throughput for a few MB of peak memory (bench/README.md).
	defer debug.SetGCPercent(debug.SetGCPercent(ScanGCPercent))
	// Collecting seldom must not let the heap grow with the input: a soft
	// limit makes the collector work harder near it (GOMEMLIMIT, when
	// set, decides instead).
	if env.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(ScanMemoryLimit(o.sortMemory)))
	}
	cfg, err := loadConfig(env, o.cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, o.db)
	log := newLogger(env, cfg, o.quiet)
	p, err := scanPipeline(env, cfg, o, log)
	if err != nil {
		return fail(env, err)
	}
	defer p.Close()
	out := newScanOutput(env, o, p.Catalogue())
	defer out.close()
	t, err := walk(ctx, env, o, p, out, log)
	if err == nil {
		err = out.finish(ctx)
	}
	if err != nil {
		return fail(env, err)
	}
	if o.notify {
		d, err := p.Drain(ctx, o.notifyTimeout)
		if err != nil {
			return fail(env, fmt.Errorf("deliver: %w", err))
		}
		t.notified = &d
	}
	summarize(env, o, t)
	return scanExit(env, o, t)
}

// scanFlags parses scan's flags and checks them.
func scanFlags(env *Env, c *command, args []string) (*scanOptions, int, bool) {
	o := &scanOptions{}
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	fs.Var(&o.ruleDirs, "rules", "`FOLDER` of extra rule files, beside the built-in catalogue (repeatable)")
	db := dbFlag(fs)
	format := fs.String("format", "", "output `FORMAT`: table, json or jsonl (default table on a terminal, jsonl in a pipe)")
	order := fs.String("order", "time", "output `ORDER`: time (oldest event first; sorted within --sort-memory, spilling to temporary files past it) or found (printed as found, nothing held)")
	sortMemory := sizeFlag(fs, "sort-memory", spill.DefaultBudget, "with --order time, the `SIZE` of findings sorted in memory before sorted runs go to temporary files ($TMPDIR)")
	minRisk := riskFlag(fs, "min-risk", "print only findings at or above this risk `LEVEL` (all are saved)")
	failOn := riskFlag(fs, "fail-on", "exit 3 when a finding at or above this risk `LEVEL` exists")
	workers := fs.Int("workers", 2, "`N` files scanned at once")
	raw := fs.Bool("raw", false, "include the raw event in JSON output")
	quiet := fs.Bool("quiet", false, "no summary, progress or warnings on stderr (errors still)")
	special := fs.Bool("special-files", false, "also read FIFOs and devices named as PATH")
	notifyFlag := fs.Bool("notify", false, "deliver new findings to the channels of --config")
	attempt := durationFlag(fs, "attempt-timeout", 30*time.Second, "with --notify, the `DURATION` allowed for one delivery attempt")
	notifyTimeout := durationFlag(fs, "notify-timeout", 2*time.Minute, "with --notify, the `DURATION` of delivering (retries included) before leaving the rest in the outbox")
	paths, code, ok := c.parse(env, fs, args, 1, -1)
	if !ok {
		return nil, code, false
	}
	o.cfgPath, o.db, o.format, o.order, o.sortMemory = *cfgPath, *db, *format, *order, *sortMemory
	o.minRisk, o.failOn, o.workers = *minRisk, *failOn, *workers
	o.raw, o.quiet, o.special, o.notify = *raw, *quiet, *special, *notifyFlag
	o.attemptTimeout, o.notifyTimeout, o.paths = *attempt, *notifyTimeout, paths
	if o.format == "" {
		o.format = defaultFormat(env)
	}
	if err := checkFormat(o.format, "table", "json", "jsonl"); err != nil {
		return nil, usageErr(env, c, err.Error()), false
	}
	if o.order != "time" && o.order != "found" {
		return nil, usageErr(env, c, fmt.Sprintf("--order: unknown order %s (want time or found)", printable.Quote(o.order))), false
	}
	if o.sortMemory <= 0 {
		return nil, usageErr(env, c, "--sort-memory: must be more than 0"), false
	}
	return o, 0, true
}

// scanPipeline builds the engine, the store and, with --notify, the
// channels.
func scanPipeline(env *Env, cfg *config.Config, o *scanOptions, log *slog.Logger) (*app.Pipeline, error) {
	if o.notify && len(cfg.Channels) == 0 {
		return nil, fmt.Errorf("--notify: no channels configured (add channels: to the --config file; see docs/channels/README.md)")
	}
	return app.NewPipeline(cfg, app.PipelineOptions{Getenv: env.Getenv, Logger: log, RuleDirs: o.ruleDirs, Deliver: o.notify,
		AttemptTimeout: o.attemptTimeout, Stdout: env.Stdout, Stderr: env.Stderr})
}

// scanOutput prints findings as they come (--order found) or sorts them
// in bounded memory first (--order time).
type scanOutput struct {
	fw     *findingWriter
	sorter *spill.Sorter // nil with --order found
	guard  *progressGuard
}

func newScanOutput(env *Env, o *scanOptions, cat *rule.Catalogue) *scanOutput {
	width := 0
	if cat != nil {
		for _, r := range cat.Rules {
			width = max(width, len(r.ID))
		}
	}
	g := &progressGuard{w: env.Stdout}
	out := &scanOutput{fw: newFindingWriter(g, o.format, env.colour(env.StdoutTTY), o.raw, width), guard: g}
	if o.order == "time" {
		out.sorter = spill.New(spill.Options{Budget: o.sortMemory})
	}
	return out
}

// add prints a finding, or holds it for sorting.
func (s *scanOutput) add(f *finding.Finding) error {
	b, err := s.fw.Render(f)
	if err != nil {
		return err
	}
	if s.sorter != nil {
		return s.sorter.Add(spill.KeyOf(f), b)
	}
	return s.fw.WriteRendered(b)
}

// finish prints what was held, in order, and ends the output. Ctrl-C
// stops it.
func (s *scanOutput) finish(ctx context.Context) error {
	if s.sorter != nil {
		err := s.sorter.Each(func(_ spill.Key, b []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return s.fw.WriteRendered(b)
		})
		if err != nil {
			return fmt.Errorf("printing the sorted findings: %w", err)
		}
	}
	return s.fw.Close()
}

func (s *scanOutput) close() {
	if s.sorter != nil {
		s.sorter.Close()
	}
}

// progressGuard is scan's stdout: a progress line on the same terminal is
// cleared before anything is printed.
type progressGuard struct {
	mu    sync.Mutex
	w     io.Writer
	clear func() // set while a progress line may be shown
}

func (g *progressGuard) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.clear != nil {
		g.clear()
	}
	return g.w.Write(b)
}

// walk scans the paths: findings are saved in batches through the
// pipeline and handed to the output; problems are counted and reported.
func walk(ctx context.Context, env *Env, o *scanOptions, p *app.Pipeline, out *scanOutput, log *slog.Logger) (*scanTally, error) {
	t := &scanTally{}
	var pending []finding.Finding
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		r, err := p.Save(ctx, pending)
		if err != nil {
			return err
		}
		t.saved.Inserted += r.Inserted
		t.saved.Duplicates += r.Duplicates
		pending = pending[:0]
		return nil
	}
	g := out.guard
	say := func(prefix, msg string) {
		g.mu.Lock()
		if g.clear != nil {
			g.clear()
		}
		g.mu.Unlock()
		fmt.Fprintln(env.Stderr, "trailwatch: "+prefix+printable.Line(msg))
	}
	sc := scan.New(scan.Options{
		Engine:  p.Engine(),
		Workers: o.workers,
		Special: o.special,
		Logger:  log,
		Findings: func(fs []finding.Finding) error {
			for i := range fs {
				f := &fs[i]
				t.worst = max(t.worst, f.Risk)
				pending = append(pending, *f)
				if f.Risk < o.minRisk {
					t.hidden++
					continue
				}
				if err := out.add(f); err != nil {
					return err
				}
			}
			if len(pending) >= saveBatch {
				return flush()
			}
			return nil
		},
		Errors: func(err error) {
			t.errors++
			say("error: ", err.Error())
		},
		Warnings: func(msg string) {
			if !o.quiet {
				say("warning: ", msg)
			}
		},
		Foreign: func(name string, _ int64) {
			if len(t.foreign) < 3 {
				t.foreign = append(t.foreign, printable.Quote(name))
			}
		},
	})
	start := time.Now()
	stopProgress := showProgress(env, o, sc, g)
	err := sc.Paths(ctx, o.paths, env.Stdin)
	stopProgress()
	if err == nil {
		err = flush()
	}
	t.stats, t.elapsed = sc.Stats.Snapshot(), time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("scan stopped: %w", err)
	}
	return t, nil
}

// showProgress draws a progress line on a terminal's stderr until the
// function it returns is called.
func showProgress(env *Env, o *scanOptions, sc *scan.Scanner, g *progressGuard) (stop func()) {
	if !env.StderrTTY || o.quiet || env.Getenv("TERM") == "dumb" {
		return func() {}
	}
	shown := false // a progress line is on the screen
	g.mu.Lock()
	g.clear = func() {
		if shown {
			fmt.Fprint(env.Stderr, "\r\x1b[K")
			shown = false
		}
	}
	g.mu.Unlock()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				g.mu.Lock()
				g.clear()
				g.clear = nil
				g.mu.Unlock()
				return
			case <-tick.C:
				s := sc.Stats.Snapshot()
				g.mu.Lock()
				fmt.Fprintf(env.Stderr, "\r\x1b[Kscanning: %s, %.1f MB, %s, %s", plural(s.Files, "file", "files"), float64(s.Bytes)/1e6,
					plural(s.Records, "record", "records"), plural(s.Findings, "finding", "findings"))
				shown = true
				g.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// summarize writes the notifications line and the summary to stderr.
func summarize(env *Env, o *scanOptions, t *scanTally) {
	if d := t.notified; d != nil && (!o.quiet || d.Failed()) {
		fmt.Fprintf(env.Stderr, "trailwatch: notifications: %d delivered, %d dead, %d still pending%s\n", d.Sent, d.Dead, d.Left, seeOutbox(d.Dead, int64(d.Left)))
	}
	if o.quiet {
		return
	}
	s := t.stats
	if s.Foreign > 0 {
		fmt.Fprintf(env.Stderr, "trailwatch: %s held JSON but no CloudTrail records (%s%s): nothing to scan in them\n",
			plural(s.Foreign, "file", "files"), strings.Join(t.foreign, ", "), more(s.Foreign, len(t.foreign)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "trailwatch: scanned %s (%.1f MB), %s, %s (%d new, %d already stored)",
		plural(s.Files, "file", "files"), float64(s.Bytes)/1e6, plural(s.Records, "record", "records"),
		plural(s.Findings, "finding", "findings"), t.saved.Inserted, t.saved.Duplicates)
	if t.hidden > 0 {
		fmt.Fprintf(&b, ", %d below --min-risk %s not shown", t.hidden, o.minRisk)
	}
	fmt.Fprintf(&b, " in %s; %s", t.elapsed.Round(time.Millisecond), plural(t.errors, "error", "errors"))
	if s.FilesWithErrors > 0 {
		fmt.Fprintf(&b, " in %s", plural(s.FilesWithErrors, "file", "files"))
	}
	fmt.Fprintln(env.Stderr, b.String())
	if n := t.saved.Inserted; !o.notify && n > 0 && o.db != ":memory:" {
		// Stored without deliveries: say how they will still alert.
		fmt.Fprintf(env.Stderr, "trailwatch: %s stored without notifying: trailwatch run alerts %s when it sees %s events again; trailwatch outbox route queues %s now\n",
			plural(int64(n), "new finding was", "new findings were"), pluralWord(n, "it", "them"), pluralWord(n, "its", "their"), pluralWord(n, "it", "them"))
	}
}

// scanExit decides the exit status: errors (of input or delivery) first,
// then --fail-on.
func scanExit(env *Env, o *scanOptions, t *scanTally) int {
	deliveryFailed := t.notified != nil && t.notified.Failed()
	switch {
	case t.errors > 0 || deliveryFailed:
		if o.failOn != 0 && t.worst >= o.failOn {
			fmt.Fprintf(env.Stderr, "trailwatch: a finding at or above --fail-on %s exists too, but errors decide the exit status: %d\n", o.failOn, ExitError)
		}
		return ExitError
	case o.failOn != 0 && t.worst >= o.failOn:
		if !o.quiet {
			fmt.Fprintf(env.Stderr, "trailwatch: a finding at or above --fail-on %s (%s): exit %d\n", o.failOn, t.worst, ExitFindings)
		}
		return ExitFindings
	}
	return ExitOK
}

func more(total int64, shown int) string {
	if total > int64(shown) {
		return fmt.Sprintf(" and %d more", total-int64(shown))
	}
	return ""
}

func seeOutbox(dead, left int64) string {
	if dead > 0 || left > 0 {
		return " (see trailwatch outbox list)"
	}
	return ""
}
