// Command gen writes internal/awsapi/services/*.txt from the operations of
// the aws-sdk-go-v2 service clients, so rule event names are checked against
// the real API. Run it with go generate ./internal/awsapi after upgrading
// the SDK.
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
	for _, svc := range sdkops.Services {
		path := filepath.Join(dir, svc.Name+".txt")
		if err := os.WriteFile(path, []byte(sdkops.Render(svc)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
