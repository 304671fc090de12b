package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSoakObjects(t *testing.T) {
	limit := int32(10)
	base := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "payment", Namespace: SoakNamespace},
		Spec: appsv1.DeploymentSpec{
			RevisionHistoryLimit: &limit,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "payment", "track": "stable"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "payment", Image: "payment:v2-buggy"}}},
			},
		},
	}
	svc, dep := SoakObjects(base, "payment:v1", 2, 0.005)
	require.Equal(t, map[string]string{"app": SoakApp}, svc.Spec.Selector)
	require.Equal(t, SoakDeployment, dep.Name)
	require.Equal(t, int32(2), *dep.Spec.Replicas)
	require.Equal(t, dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels)
	require.Equal(t, SoakApp, dep.Spec.Template.Labels["app"])
	c := dep.Spec.Template.Spec.Containers[0]
	require.Equal(t, "payment:v1", c.Image)
	require.Contains(t, c.Env, corev1.EnvVar{Name: "PAYMENT_BEHAVIOUR", Value: "buggy"})
	require.Contains(t, c.Env, corev1.EnvVar{Name: "PAYMENT_FAULT_RATE", Value: "0.005"})
	require.Equal(t, "payment", base.Spec.Template.Labels["app"], "the base is not changed")
	require.Empty(t, base.Spec.Template.Spec.Containers[0].Env)
}

func TestParseGuardOutputAndCountSoak(t *testing.T) {
	out := strings.Join([]string{
		"=== RUN   TestGuardProcess",
		`FDBENCH-EVENT {"time":"2026-11-27T00:00:01Z","kind":"detection","incident":"i1","evidence":["rule"]}`,
		`FDBENCH-EVENT {"time":"2026-11-27T00:00:02Z","kind":"decision","incident":"i1","strategy":"human","action":"require-human"}`,
		`FDBENCH-EVENT {"time":"2026-11-27T00:00:02Z","kind":"action","incident":"i1","strategy":"human"}`,
		`FDBENCH-EVENT {"time":"2026-11-27T00:01:00Z","kind":"detection","incident":"i2"}`,
		`FDBENCH-EVENT {"time":"2026-11-27T00:01:01Z","kind":"decision","incident":"i2","strategy":"revert","action":"rollback"}`,
		`FDBENCH-EVENT {"time":"2026-11-27T00:01:01Z","kind":"action","incident":"i2","strategy":"revert"}`,
		`FDBENCH-EVENT {"time":"2026-11-27T00:02:00Z","kind":"action","incident":"i3","strategy":"revert","error":"failed"}`,
		`FDBENCH-STATS {"evaluations":600}`,
		"--- PASS: TestGuardProcess (600.00s)",
	}, "\n")
	events, evals, err := ParseGuardOutput(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, events, 7)
	require.Equal(t, int64(600), evals)
	require.Equal(t, time.Date(2026, 11, 27, 0, 0, 1, 0, time.UTC), events[0].Time)
	var s Soak
	CountSoak(&s, events)
	require.Equal(t, 2, s.Detections)
	require.Equal(t, 2, s.Decisions)
	require.Equal(t, 3, s.Actions)
	require.Equal(t, 2, s.FalseRollbacks, "i2 rolled back, i3 tried to; i1 only handed over")

	_, _, err = ParseGuardOutput(strings.NewReader("FDBENCH-EVENT {"))
	require.Error(t, err)
}
