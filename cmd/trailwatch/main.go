// Command trailwatch monitors AWS configuration changes recorded by
// CloudTrail. See README.md and docs/cli.md.
//
// It owns the process: signals and the exit status. The first SIGINT or
// SIGTERM cancels the command's context (trailwatch run stops gracefully
// and exits 0; other commands stop and exit 130 for SIGINT, 143 for
// SIGTERM); a second one exits at once.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/trailwatch/trailwatch/internal/cli"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// signalCode is the conventional exit status of a process stopped by a
// signal: 128 + its number.
func signalCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return cli.ExitInterrupted
}

func run(args []string) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Value
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		got.Store(s)
		cancel()
		// A second signal: the user does not want to wait.
		if s, ok := <-sigs; ok {
			os.Stderr.WriteString("trailwatch: stopping at once\n")
			os.Exit(signalCode(s))
		}
	}()
	code := cli.Main(ctx, cli.OSEnv(), args)
	if code == cli.ExitInterrupted {
		if s, ok := got.Load().(os.Signal); ok {
			code = signalCode(s)
		}
	}
	return code
}
