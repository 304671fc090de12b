// Command firedrill runs chaos drills that prove automated rollback works.
package main

import (
	"os"

	"github.com/firedrill/firedrill/cmd/firedrill/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdout, os.Stderr))
}
