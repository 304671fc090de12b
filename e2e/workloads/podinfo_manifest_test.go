package workloads

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/deploy"
	"github.com/firedrill/firedrill/scenarios"
)

// The README's walkthrough applies podinfo.yaml and drills podinfo with
// bad-release.yaml: the namespace must have opted in to drills.
func TestPodinfoNamespaceOptedIn(t *testing.T) {
	b, err := os.ReadFile("podinfo/podinfo.yaml")
	require.NoError(t, err)
	objs, err := deploy.Decode(b)
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	require.Equal(t, "Namespace", objs[0].GetKind(), "namespace first")
	require.Equal(t, scenarios.DrillsEnabled, objs[0].GetLabels()[scenarios.DrillsLabel])
}
