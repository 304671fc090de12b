package cli

import "github.com/spf13/cobra"

// addExtraCommands wires the commands of the cluster and image tooling.
func addExtraCommands(root *cobra.Command) {
	root.AddCommand(newClusterCmd(), newImageCmd(), newTrafficCmd(), newDemoCmd(), newReportCmd(), newGuardCmd())
}
