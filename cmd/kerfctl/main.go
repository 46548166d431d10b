// Command kerfctl is Kerf's command line: version and instance-types today; simulate and explain
// as the scheduling package lands. Each command lives in a file of its own.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kerf-autoscaler/kerf/pkg/operator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli carries what commands write to and talk through, so tests can supply their own.
type cli struct {
	stdout, stderr io.Writer
	// httpClient for AWS calls; nil is the SDK's default.
	httpClient awssdk.HTTPClient
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&cli{stdout: stdout, stderr: stderr}).run(ctx, args)
}

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(c.stdout, operator.Version)
		return 0
	case "instance-types":
		return c.instanceTypes(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, usage)
		return 0
	default:
		fmt.Fprintf(c.stderr, "kerfctl: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

const usage = `Usage: kerfctl <command>

Commands:
  version          print Kerf's version
  instance-types   list EC2 instance types with capacity, overhead, allocatable, zones and prices
`
