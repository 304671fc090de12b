package cli

import (
	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/drills"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the drill JSON Schema",
		Long: `Schema prints the JSON Schema (draft 2020-12) of a Drill document, generated
from the Go types. Point your editor's YAML language server at it to get
completion and checks while writing drills, e.g. with a first line of

  # yaml-language-server: $schema=./drill.schema.json`,
		Example: `  firedrill schema > drill.schema.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := drills.Schema()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}
