package drills

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDefaultRolloutGuard: a guard left without detectors gets the
// Kubernetes signals and the statistical test besides the generated rules,
// a Rollout target's as a Deployment's.
func TestDefaultRolloutGuard(t *testing.T) {
	for kind, want := range map[TargetKind]bool{TargetRollout: true, TargetDeployment: true} {
		d := &Drill{APIVersion: APIVersion, Kind: KindDrill, Metadata: Metadata{Name: "d"},
			Spec: Spec{
				Target:     Target{Kind: kind, Namespace: "shop", Name: "web", Container: "web"},
				Prometheus: &Prometheus{URL: "http://127.0.0.1:9090"},
				Traffic:    &Traffic{Rate: 1, Requests: []RequestTemplate{{Path: "/"}}},
				Faults:     []Fault{{Type: FaultBadImage, BadImage: &BadImageSettings{Image: "web:v2"}}},
			}}
		d.Default()
		require.NoError(t, d.Validate(), kind)
		require.Equal(t, want, d.Spec.Guard.Kubernetes != nil, kind)
		require.Equal(t, want, d.Spec.Guard.Statistical != nil, kind)
		require.True(t, *d.Spec.Guard.DefaultRules, kind)
	}
}
