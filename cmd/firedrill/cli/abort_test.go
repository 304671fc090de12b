package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAbortUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"abort", "--clear", "--status"}, "[clear status] were all set"},
		{[]string{"abort", "--clear", "--reason", "x"}, "[clear reason] were all set"},
		{[]string{"abort", "extra"}, `unknown command "extra"`},
		{[]string{"abort", "--timeout", "0s", "--kubeconfig", "/nonexistent"}, "--timeout must be positive"},
		{[]string{"abort", "--local", "--kubeconfig", "/nonexistent"}, "--local and --kubeconfig exclude each other"},
	} {
		code, _, errOut := run(t, tc.args...)
		require.Equal(t, ExitError, code, "%v: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.want, tc.args)
	}
}

func TestAbortUnreachableClusterExitsTwo(t *testing.T) {
	code, _, errOut := run(t, "abort", "--status", "--server", "https://127.0.0.1:1", "--timeout", "5s")
	require.Equal(t, ExitError, code, errOut)
	require.Contains(t, errOut, "kill switch default/firedrill-abort")
}
