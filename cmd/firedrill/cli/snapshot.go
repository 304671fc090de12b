package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/engine"
)

type snapshotFlags struct {
	timeout time.Duration
}

// newSnapshotCmd is `firedrill snapshot`: the restore strategies' hook
// before a risky change, for release pipelines.
func newSnapshotCmd() *cobra.Command {
	f := &snapshotFlags{}
	cmd := &cobra.Command{
		Use:   "snapshot [--timeout 1m] DRILL_OR_POLICY_FILE...",
		Short: "Take the restore strategies' data snapshots before a release",
		Long: `Snapshot runs the snapshotSQL of every restore strategy in the guard policies
(spec.guard.strategies) of the drills in the files, so that the engine's
restore has a snapshot from just before the change. firedrill run takes it
by itself just before its faults; with firedrill guard, run this as the
release pipeline's step before the rollout (for example right before
kubectl apply). DSNs may name environment variables as ${NAME}.

Exit codes: 0 every snapshot was taken, 2 a file is invalid, the files hold
no restore strategy with a snapshotSQL, or a snapshot failed (the files'
later snapshots are not attempted).`,
		Example: `  FIREDRILL_LEDGER_DSN=postgres://ledger@127.0.0.1:55432/ledger \
    firedrill snapshot drills/examples/corrupt-release.yaml && kubectl apply -f release.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshot(cmd, f, args)
		},
	}
	cmd.Flags().DurationVar(&f.timeout, "timeout", time.Minute, "time limit for all the snapshots")
	return cmd
}

func runSnapshot(cmd *cobra.Command, f *snapshotFlags, files []string) error {
	if f.timeout <= 0 {
		return fmt.Errorf("snapshot: --timeout must be positive, got %s", f.timeout)
	}
	ds, err := guardedDrills(files)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	total := 0
	for _, d := range ds {
		start := time.Now()
		n, err := engine.TakeSnapshots(ctx, *d.Spec.Guard)
		if err != nil {
			return fmt.Errorf("snapshot: drill %s: spec.guard.%w", d.Metadata.Name, err)
		}
		if n > 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "drill %s: %d snapshot(s) taken in %s\n", d.Metadata.Name, n, time.Since(start).Round(time.Millisecond))
		}
		total += n
	}
	if total == 0 {
		return errors.New("snapshot: no restore strategy with a snapshotSQL in the guard policies of the given files")
	}
	return nil
}
