// Package cli is the firedrill command line: one file per command, each
// with its own flag struct, wired into the root command here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, the same for every command so CI can rely on them.
const (
	// ExitOK: everything passed.
	ExitOK = 0
	// ExitFailed: the command ran and what it checked failed (an invalid
	// drill, a failed verdict, an unhealthy component).
	ExitFailed = 1
	// ExitError: the command could not run (bad usage, missing file, no
	// cluster).
	ExitError = 2
)

// exitError carries an exit code through cobra's RunE.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// failed marks err as "the check failed" (exit 1).
func failed(err error) error { return &exitError{code: ExitFailed, err: err} }

// NewRootCmd builds the firedrill command tree.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "firedrill",
		Short: "Prove that automated rollback works",
		Long: `firedrill runs chaos drills (network partitions, pod kills, bad image
pushes, bad config, data corruption) against Kubernetes workloads guarded by
its built-in rollback engine, checks that error rate, p99 latency and data
consistency came back within SLO, and measures time to detect (MTTD) and time
to recover (MTTR).

Exit codes: 0 everything passed, 1 a check or verdict failed, 2 the command
could not run (bad usage, unreadable input, unreachable cluster).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newValidateCmd(),
		newSchemaCmd(),
		newVersionCmd(),
	)
	addExtraCommands(root)
	return root
}

// Execute runs the CLI with args and returns the process exit code. SIGINT
// and SIGTERM cancel the command's context so that long-running commands
// clean up (remove faults, tear down what they started) before exiting.
func Execute(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "Error:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitError
}
