package runner

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/firedrill/firedrill/drills"
)

func fieldsWith(image string, replicas int32, paused bool, surge string) *targetFields {
	s := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	if surge != "" {
		s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		s.RollingUpdate.MaxSurge = ptr(intstr.FromString(surge))
	}
	return &targetFields{
		template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}},
		replicas: ptr(replicas), paused: paused, strategy: &s,
	}
}

func snapshotOf(f *targetFields) *targetSnapshot {
	return &targetSnapshot{template: f.template, replicas: f.replicas, paused: f.paused, strategy: *f.strategy}
}

// Each engine strategy claims only the fields it writes: a change someone
// else made to another field meanwhile is not taken for the drill's.
func TestWrittenEngineClaimsItsOwnFields(t *testing.T) {
	before := fieldsWith("web:v1", 2, false, "")
	snap := snapshotOf(before)
	tests := []struct {
		name  drills.StrategyName
		after *targetFields // the target after the action (and someone's change)
		want  fates
	}{
		{name: drills.StrategyRevert, after: fieldsWith("web:v0", 5, false, "100%"),
			want: fates{template: fieldRevert, replicas: fieldLeftAsFound, strategy: fieldRevert}},
		{name: drills.StrategyShrink, after: fieldsWith("web:v3", 1, false, ""),
			want: fates{template: fieldLeftAsFound, replicas: fieldRevert}},
		{name: drills.StrategyHuman, after: fieldsWith("web:v1", 5, true, ""),
			want: fates{replicas: fieldLeftAsFound, paused: fieldRevert}},
		{name: drills.StrategyTrafficSwitch, after: fieldsWith("web:v3", 2, true, ""),
			want: fates{template: fieldLeftAsFound, paused: fieldLeftAsFound}},
	}
	for _, tt := range tests {
		t.Run(string(tt.name), func(t *testing.T) {
			var w written
			w.addEngine(tt.name, tt.after)
			require.Equal(t, tt.want, w.fates(tt.after, snap))
		})
	}
}

// A fault's write is recorded field by field; a Rollout (no strategy here)
// never has its strategy judged.
func TestWrittenDiff(t *testing.T) {
	before := fieldsWith("web:v1", 2, false, "")
	snap := snapshotOf(before)
	var w written
	w.addDiff(before, fieldsWith("web:v2-bad", 2, false, ""))
	require.Equal(t, fates{template: fieldRevert}, w.fates(fieldsWith("web:v2-bad", 2, false, ""), snap))
	require.Equal(t, fates{template: fieldLeftAsFound}, w.fates(fieldsWith("web:v3", 2, false, ""), snap))

	ro := fieldsWith("web:v2-bad", 2, false, "")
	ro.strategy = nil
	require.Equal(t, fates{template: fieldRevert}, w.fates(ro, snap))
	w.addDiff(nil, ro) // an unreadable target adds nothing
	require.Len(t, w.templates, 1)
}
