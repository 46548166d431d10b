// Command kerfctl is Kerf's command line: version today; simulate, explain and instance-types as
// the scheduling and AWS packages land.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/kerf-autoscaler/kerf/pkg/operator"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, operator.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "kerfctl: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

const usage = `Usage: kerfctl <command>

Commands:
  version   print Kerf's version
`
