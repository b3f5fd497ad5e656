package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/dispatch"
	"github.com/trailwatch/trailwatch/internal/finding"
	"github.com/trailwatch/trailwatch/internal/scan"
	"github.com/trailwatch/trailwatch/internal/store"
)

// ScanGCPercent is the GOGC value trailwatch scan runs with.
const ScanGCPercent = 400

// saveBatch is how many findings are committed together during a scan.
const saveBatch = 256

func runScan(ctx context.Context, env *Env, args []string) int {
	fs := newFlags(env, "scan", "[flags] PATH|s3://BUCKET/PREFIX|- ...")
	cfgPath := fs.String("config", "", "configuration file (trailwatch.yaml)")
	var ruleDirs multi
	fs.Var(&ruleDirs, "rules", "folder of extra rule files (repeatable)")
	db := fs.String("db", "", "SQLite database for findings (default from config, else "+"trailwatch.db; :memory: keeps nothing)")
	format := fs.String("format", "", "output: table, json or jsonl (default table on a terminal, else jsonl)")
	minRisk := fs.String("min-risk", "", "print only findings at or above this risk")
	failOn := fs.String("fail-on", "", "exit 3 when a finding at or above this risk exists")
	workers := fs.Int("workers", 2, "files scanned at once")
	raw := fs.Bool("raw", false, "include the raw event in JSON output")
	quiet := fs.Bool("quiet", false, "no summary or progress on stderr")
	notifyFlag := fs.Bool("notify", false, "deliver new findings to the configured channels")
	attempt := fs.Duration("attempt-timeout", 30*time.Second, "with --notify, time allowed for one delivery attempt")
	notifyTimeout := fs.Duration("notify-timeout", 2*time.Minute, "with --notify, how long to keep delivering (retries included) before leaving the rest in the outbox")
	paths, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	// A scan keeps little alive (one buffer per worker) but allocates
	// steadily; collecting less often is a measured ~5% of throughput for a
	// few MB of peak memory (bench/README.md).
	defer debug.SetGCPercent(debug.SetGCPercent(ScanGCPercent))
	if len(paths) == 0 {
		fmt.Fprintln(env.Stderr, "trailwatch scan: name at least one file, folder, s3://bucket/prefix or - (stdin)")
		fs.Usage()
		return ExitError
	}
	if *format == "" {
		*format = defaultFormat(env)
	}
	if err := checkFormat(*format); err != nil {
		return fail(env, err)
	}
	var min, failAt finding.Risk
	if *minRisk != "" {
		if min, err = finding.ParseRisk(*minRisk); err != nil {
			return fail(env, fmt.Errorf("--min-risk: %w", err))
		}
	}
	if *failOn != "" {
		if failAt, err = finding.ParseRisk(*failOn); err != nil {
			return fail(env, fmt.Errorf("--fail-on: %w", err))
		}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return fail(env, err)
	}
	useDB(cfg, *db)
	_, eng, err := app.Engine(cfg, ruleDirs)
	if err != nil {
		return fail(env, err)
	}
	var (
		channels []dispatch.Channel
		router   store.Router
	)
	if *notifyFlag {
		if len(cfg.Channels) == 0 {
			return fail(env, fmt.Errorf("--notify: no channels configured (add channels: to the --config file; see docs/channels/README.md)"))
		}
		chs, r, err := app.Channels(cfg, app.ChannelOptions{Getenv: env.Getenv, Logger: newLogger(env, *quiet)})
		if err != nil {
			return fail(env, fmt.Errorf("config: %w", err))
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
		errCount int
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
	showProgress := env.StderrTTY && !*quiet
	sc := scan.New(scan.Options{
		Engine:  eng,
		Workers: *workers,
		Findings: func(fs []finding.Finding) error {
			for _, f := range fs {
				worst = max(worst, f.Risk)
				pending = append(pending, f)
				if f.Risk >= min {
					if !*raw {
						f.Raw = nil
					}
					found = append(found, f)
				}
			}
			if len(pending) >= saveBatch {
				return flush()
			}
			return nil
		},
		Errors: func(err error) {
			errCount++
			progressMu.Lock()
			clearProgress()
			progressMu.Unlock()
			fmt.Fprintln(env.Stderr, "trailwatch: error:", err)
		},
		Warnings: func(msg string) {
			if !*quiet {
				progressMu.Lock()
				clearProgress()
				progressMu.Unlock()
				fmt.Fprintln(env.Stderr, "trailwatch: warning:", msg)
			}
		},
	})
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if showProgress {
		clearProgress = func() { fmt.Fprint(env.Stderr, "\r\x1b[K") }
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
					fmt.Fprintf(env.Stderr, "\r\x1b[Kscanning: %d files, %.1f MB, %d records, %d findings", s.Files, float64(s.Bytes)/1e6, s.Records, s.Findings)
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
	if err := printFindings(env.Stdout, *format, found, env.StdoutTTY, *raw); err != nil {
		return fail(env, err)
	}
	if *notifyFlag {
		d := dispatch.New(st, channels, dispatch.Options{Logger: newLogger(env, *quiet), AttemptTimeout: *attempt})
		dctx, cancel := context.WithTimeout(ctx, *notifyTimeout)
		left, err := d.Drain(dctx)
		cancel()
		if err != nil {
			return fail(env, fmt.Errorf("deliver: %w", err))
		}
		if !*quiet {
			var sent, dead int64
			for _, s := range d.Stats() {
				sent += s.Sent
				dead += s.Dead
			}
			fmt.Fprintf(env.Stderr, "trailwatch: notifications: %d delivered, %d dead, %d still pending (see trailwatch outbox list)\n", sent, dead, left)
		}
	}
	s := sc.Stats.Snapshot()
	if !*quiet {
		fmt.Fprintf(env.Stderr, "trailwatch: scanned %d files (%.1f MB), %d records, %d findings (%d new, %d already stored) in %s; %d errors",
			s.Files, float64(s.Bytes)/1e6, s.Records, s.Findings, saved.Inserted, saved.Duplicates, time.Since(start).Round(time.Millisecond), errCount)
		if s.FilesWithErrors > 0 {
			fmt.Fprintf(env.Stderr, " in %d files", s.FilesWithErrors)
		}
		fmt.Fprintln(env.Stderr)
	}
	switch {
	case errCount > 0:
		return ExitError
	case failAt != 0 && worst >= failAt:
		return ExitFindings
	}
	return ExitOK
}
