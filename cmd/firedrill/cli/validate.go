package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/drills"
)

type validateFlags struct {
	quiet bool
}

func newValidateCmd() *cobra.Command {
	f := &validateFlags{}
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check drill files without running them",
		Long: `Validate loads each drill file strictly, applies defaults and checks every
field: unknown fields, wrong types, bad durations, bad cron schedules, bad
PromQL and missing required fields are reported as file:line: field: message.

Exit codes: 0 all files are valid, 1 at least one is invalid or unreadable,
2 usage error.`,
		Example: `  firedrill validate drills/examples/*.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(cmd, f, args)
		},
	}
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print only errors")
	return cmd
}

func runValidate(cmd *cobra.Command, f *validateFlags, files []string) error {
	bad := 0
	for _, file := range files {
		ds, err := drills.LoadFile(file)
		if err != nil {
			bad++
			var list drills.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
				}
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
			}
			continue
		}
		if !f.quiet {
			for _, d := range ds {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: drill %q is valid (%d fault(s), guard %s)\n", file, d.Metadata.Name, len(d.Spec.Faults), onOff(d.GuardEnabled()))
			}
		}
	}
	if bad > 0 {
		return failed(fmt.Errorf("%d of %d file(s) invalid", bad, len(files)))
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
