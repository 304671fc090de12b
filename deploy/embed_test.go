package deploy

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDemoManifestsDecode(t *testing.T) {
	b, err := Manifests("demo")
	require.NoError(t, err)
	objs, err := Decode(b)
	require.NoError(t, err)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	require.Equal(t, []string{"Namespace", "Secret", "ConfigMap", "Deployment", "Service"}, kinds, "namespace first")
	// The shipped drills target it: it must have opted in to drills.
	require.Equal(t, "enabled", objs[0].GetLabels()["firedrill.dev/drills"])
}

func TestDecodeRejectsTypeless(t *testing.T) {
	_, err := Decode([]byte("---\nmetadata: {name: x}\n"))
	require.ErrorContains(t, err, "apiVersion and kind are required")
	objs, err := Decode([]byte("---\n---\n"))
	require.NoError(t, err)
	require.Empty(t, objs)
}

func TestRulesEmbedded(t *testing.T) {
	b, err := File("prometheus/rules.yaml")
	require.NoError(t, err)
	require.Contains(t, string(b), "BalanceInconsistency")
}
