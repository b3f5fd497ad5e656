package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/printable"
	"github.com/trailwatch/trailwatch/internal/scan"
	"github.com/trailwatch/trailwatch/internal/store"
)

// ScanGCPercent is the GOGC value trailwatch scan runs with.
const ScanGCPercent = 400

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

func runScan(ctx context.Context, env *Env, c *command, args []string) int {
	fs := c.flags()
	cfgPath := configFlag(fs, "")
	var ruleDirs multi
	fs.Var(&ruleDirs, "rules", "`FOLDER` of extra rule files, beside the built-in catalogue (repeatable)")
	db := dbFlag(fs)
	format := fs.String("format", "", "output `FORMAT`: table, json or jsonl (default table on a terminal, jsonl in a pipe)")
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
		return code
	}
	// A scan keeps little alive (one buffer per worker) but allocates
	// steadily; collecting less often is a measured ~5% of throughput for a
	// few MB of peak memory (bench/README.md).
	defer debug.SetGCPercent(debug.SetGCPercent(ScanGCPercent))
	if *format == "" {
		*format = defaultFormat(env)
	}
	if err := checkFormat(*format, "table", "json", "jsonl"); err != nil {
		return usageErr(env, c, err.Error())
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	log := newLogger(env, cfg, *quiet)
	_, eng, err := app.Engine(cfg, ruleDirs)
	if err != nil {
		return fail(env, cfg.Merge(err))
	}
	var (
		channels []dispatch.Channel
		router   store.Router
	)
	if *notifyFlag {
		if len(cfg.Channels) == 0 {
			return fail(env, fmt.Errorf("--notify: no channels configured (add channels: to the --config file; see docs/channels/README.md)"))
		}
		chs, r, err := app.Channels(cfg, app.ChannelOptions{Getenv: env.Getenv, Logger: log, Stdout: env.Stdout, Stderr: env.Stderr})
		if err != nil {
			return fail(env, cfg.Merge(err))
		}
		channels, router = chs, r.Route
	}
	st, err := app.OpenStore(cfg, env.Getenv)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()

	var (
		pending  []finding.Finding
		found    []finding.Finding
		saved    store.SaveResult
		worst    finding.Risk
		hidden   int64
		errCount int64
		foreign  []string
	)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		r, err := st.SaveRouted(ctx, pending, router)
		if err != nil {
			return err
		}
		saved.Inserted += r.Inserted
		saved.Duplicates += r.Duplicates
		pending = pending[:0]
		return nil
	}
	var progressMu sync.Mutex
	clearProgress := func() {}
	shown := false // a progress line is on the screen
	showProgress := env.StderrTTY && !*quiet && env.Getenv("TERM") != "dumb"
	say := func(prefix, msg string) {
		progressMu.Lock()
		clearProgress()
		progressMu.Unlock()
		fmt.Fprintln(env.Stderr, "trailwatch: "+prefix+printable.Line(msg))
	}
	sc := scan.New(scan.Options{
		Engine:  eng,
		Workers: *workers,
		Special: *special,
		Logger:  log,
		Findings: func(fs []finding.Finding) error {
			for _, f := range fs {
				worst = max(worst, f.Risk)
				pending = append(pending, f)
				if f.Risk < *minRisk {
					hidden++
					continue
				}
				if !*raw {
					f.Raw = nil
				}
				found = append(found, f)
			}
			if len(pending) >= saveBatch {
				return flush()
			}
			return nil
		},
		Errors: func(err error) {
			errCount++
			say("error: ", err.Error())
		},
		Warnings: func(msg string) {
			if !*quiet {
				say("warning: ", msg)
			}
		},
		Foreign: func(name string, _ int64) {
			if len(foreign) < 3 {
				foreign = append(foreign, printable.Quote(name))
			}
		},
	})
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if showProgress {
		clearProgress = func() {
			if shown {
				fmt.Fprint(env.Stderr, "\r\x1b[K")
				shown = false
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					progressMu.Lock()
					clearProgress()
					progressMu.Unlock()
					return
				case <-t.C:
					s := sc.Stats.Snapshot()
					progressMu.Lock()
					fmt.Fprintf(env.Stderr, "\r\x1b[Kscanning: %s, %.1f MB, %s, %s", plural(s.Files, "file", "files"), float64(s.Bytes)/1e6,
						plural(s.Records, "record", "records"), plural(s.Findings, "finding", "findings"))
					shown = true
					progressMu.Unlock()
				}
			}
		}()
	}
	scanErr := sc.Paths(ctx, paths, env.Stdin)
	close(stop)
	wg.Wait()
	if scanErr == nil {
		scanErr = flush()
	}
	if scanErr != nil {
		return fail(env, fmt.Errorf("scan stopped: %w", scanErr))
	}
	sort.SliceStable(found, func(i, j int) bool {
		if !found[i].EventTime.Equal(found[j].EventTime) {
			return found[i].EventTime.Before(found[j].EventTime)
		}
		return found[i].ID < found[j].ID
	})
	if err := printFindings(env.Stdout, *format, found, env.colour(env.StdoutTTY), *raw); err != nil {
		return fail(env, err)
	}
	deliveryFailed := false
	if *notifyFlag {
		d := dispatch.New(st, channels, dispatch.Options{Logger: log, AttemptTimeout: *attempt})
		dctx, cancel := context.WithTimeout(ctx, *notifyTimeout)
		left, err := d.Drain(dctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return fail(env, fmt.Errorf("deliver: %w", err))
		}
		var sent, dead int64
		for _, s := range d.Stats() {
			sent += s.Sent
			dead += s.Dead
		}
		deliveryFailed = dead > 0 || left > 0
		if !*quiet || deliveryFailed {
			fmt.Fprintf(env.Stderr, "trailwatch: notifications: %d delivered, %d dead, %d still pending%s\n", sent, dead, left, seeOutbox(dead, int64(left)))
		}
	}
	s := sc.Stats.Snapshot()
	if !*quiet {
		if s.Foreign > 0 {
			fmt.Fprintf(env.Stderr, "trailwatch: %s held JSON but no CloudTrail records (%s%s): nothing to scan in them\n",
				plural(s.Foreign, "file", "files"), strings.Join(foreign, ", "), more(s.Foreign, len(foreign)))
		}
		var b strings.Builder
		fmt.Fprintf(&b, "trailwatch: scanned %s (%.1f MB), %s, %s (%d new, %d already stored)",
			plural(s.Files, "file", "files"), float64(s.Bytes)/1e6, plural(s.Records, "record", "records"),
			plural(s.Findings, "finding", "findings"), saved.Inserted, saved.Duplicates)
		if hidden > 0 {
			fmt.Fprintf(&b, ", %d below --min-risk %s not shown", hidden, *minRisk)
		}
		fmt.Fprintf(&b, " in %s; %s", time.Since(start).Round(time.Millisecond), plural(errCount, "error", "errors"))
		if s.FilesWithErrors > 0 {
			fmt.Fprintf(&b, " in %s", plural(s.FilesWithErrors, "file", "files"))
		}
		fmt.Fprintln(env.Stderr, b.String())
	}
	switch {
	case errCount > 0 || deliveryFailed:
		if *failOn != 0 && worst >= *failOn {
			fmt.Fprintf(env.Stderr, "trailwatch: a finding at or above --fail-on %s exists too, but errors decide the exit status: %d\n", *failOn, ExitError)
		}
		return ExitError
	case *failOn != 0 && worst >= *failOn:
		if !*quiet {
			fmt.Fprintf(env.Stderr, "trailwatch: a finding at or above --fail-on %s (%s): exit %d\n", *failOn, worst, ExitFindings)
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
