// Command gen writes internal/awsapi/services/*.txt from the operations of
// the aws-sdk-go-v2 service modules in go.mod, so rule event names are
// checked against the real API. Run it with go generate ./internal/awsapi
// after upgrading the SDK.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/trailwatch/trailwatch/internal/awsapi/sdkops"
)

func main() {
	dir := "services"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := run(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	dirs, err := sdkops.ModuleDirs(".", sdkops.Modules())
	if err != nil {
		return err
	}
	for _, svc := range sdkops.Services {
		text, err := sdkops.Render(svc, dirs)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, svc.Name+".txt"), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
