// Command trailwatch monitors AWS configuration changes recorded by
// CloudTrail. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trailwatch/trailwatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.OSEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
