package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
)

type abortFlags struct {
	cluster runFlags
	reason  string
	clear   bool
	status  bool
	timeout time.Duration
}

// newAbortCmd is `firedrill abort`: the cluster-wide kill switch.
func newAbortCmd() *cobra.Command {
	f := &abortFlags{}
	cmd := &cobra.Command{
		Use:   "abort [--reason TEXT] [--clear | --status]",
		Short: "Stop every running drill on the cluster and keep new ones from starting",
		Long: fmt.Sprintf(`Abort sets the cluster's kill switch, the ConfigMap %s/%s. Every
running drill (firedrill run, firedrill schedule, go test suites through
the runner) reads it every %s: it stops, removes its faults (its teardown
runs as after Ctrl-C) and ends inconclusive ("aborted"). While the switch
is set, no drill starts: each ends inconclusive in preflight, before it
touches anything.

The switch stays set until firedrill abort --clear lifts it; --status says
whether it is set, by whom and why. The engine's own guards (firedrill
guard) keep guarding: aborting drills never switches off the rollback that
protects the service.

Exit codes: 0 done (for --status: the switch is not set), 1 (--status only)
the switch is set, 2 the cluster could not be reached.`, scenarios.KillSwitchNamespace, scenarios.KillSwitchName, runner.KillSwitchPoll),
		Example: `  firedrill abort --reason "incident INC-1234: stop all chaos"
  firedrill abort --status
  firedrill abort --clear`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAbort(cmd, f) },
	}
	f.cluster.registerCluster(cmd, "unused: the kill switch is cluster-wide", "use the embedded local cluster (make demo-up)")
	fl := cmd.Flags()
	fl.StringVar(&f.reason, "reason", "", "why, shown in every aborted drill's verdict")
	fl.BoolVar(&f.clear, "clear", false, "lift the kill switch: drills may start again")
	fl.BoolVar(&f.status, "status", false, "only say whether the kill switch is set (exit 1 when it is)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for talking to the cluster")
	cmd.MarkFlagsMutuallyExclusive("clear", "status")
	cmd.MarkFlagsMutuallyExclusive("clear", "reason")
	return cmd
}

func runAbort(cmd *cobra.Command, f *abortFlags) error {
	if f.timeout <= 0 {
		return fmt.Errorf("abort: --timeout must be positive, got %s", f.timeout)
	}
	_, cs, err := f.cluster.client()
	if err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	ks := scenarios.NewKillSwitch(cs)
	out := cmd.OutOrStdout()
	switch {
	case f.status:
		a, err := ks.Check(ctx)
		if err != nil {
			return fmt.Errorf("abort: %w", err)
		}
		if a == nil {
			fmt.Fprintf(out, "kill switch %s/%s not set: drills may run\n", scenarios.KillSwitchNamespace, scenarios.KillSwitchName)
			return nil
		}
		return failed(a)
	case f.clear:
		was, err := ks.Clear(ctx)
		if err != nil {
			return fmt.Errorf("abort: %w", err)
		}
		if !was {
			fmt.Fprintf(out, "kill switch %s/%s was not set\n", scenarios.KillSwitchNamespace, scenarios.KillSwitchName)
			return nil
		}
		fmt.Fprintf(out, "kill switch %s/%s lifted: drills may run again\n", scenarios.KillSwitchNamespace, scenarios.KillSwitchName)
		return nil
	}
	a := scenarios.Abort{Reason: f.reason, By: whoAmI(), At: time.Now()}
	if err := ks.Set(ctx, a); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	fmt.Fprintf(out, "kill switch %s/%s set: running drills stop and remove their faults within %s plus their teardown; no drill starts until `firedrill abort --clear`\n",
		scenarios.KillSwitchNamespace, scenarios.KillSwitchName, runner.KillSwitchPoll)
	return nil
}

// whoAmI is user@host for the kill switch's record.
func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		return name
	}
	return name + "@" + host
}
