package cli

import "github.com/spf13/cobra"

// addExtraCommands wires the commands of the cluster and image tooling.
func addExtraCommands(root *cobra.Command) {
	root.AddCommand(newClusterCmd(), newImageCmd(), newTrafficCmd(), newDemoCmd(), newReportCmd(), newGuardCmd(), newSnapshotCmd(), newRunCmd(), newAbortCmd(), newWiredScheduleCmd(), newAuditCmd())
}

// newWiredScheduleCmd is `firedrill schedule` with the drill runner behind
// it, configured by the same cluster flags as `firedrill run`.
func newWiredScheduleCmd() *cobra.Command {
	rf := &runFlags{}
	cmd := newScheduleCmd(rf.scheduleRunner)
	rf.registerRunner(cmd)
	return cmd
}
