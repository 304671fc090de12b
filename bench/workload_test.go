package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func demoBase() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "payment", Namespace: SoakNamespace},
		Spec: appsv1.DeploymentSpec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "payment", "track": "stable"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "payment", Image: "payment:v1"}}},
			},
		},
	}
}

func TestSeqWorkloadObjects(t *testing.T) {
	svc, dep := SeqWorkload.Objects(demoBase(), "payment:v1", 2, 0.005)
	require.Equal(t, "payment-seq", svc.Name)
	require.Equal(t, map[string]string{"app": "payment-seq"}, svc.Spec.Selector)
	require.Equal(t, "payment-seq", dep.Name)
	require.Equal(t, map[string]string{"app": "payment-seq", "track": "seq"}, dep.Spec.Selector.MatchLabels)
	require.Equal(t, dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels)
	require.Equal(t, "1", dep.Spec.Template.Annotations[soakRevisionAnnotation])
	require.Contains(t, dep.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: EnvFaultRate, Value: "0.005"})
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	_, dep := SeqWorkload.Objects(demoBase(), "payment:v1", 2, 0.005)
	dep.Spec.Paused = true
	cs := fake.NewClientset(dep)

	rate := 0.02
	require.NoError(t, SeqWorkload.Push(ctx, cs, "bad-1", &rate))
	got, err := cs.AppsV1().Deployments(SoakNamespace).Get(ctx, "payment-seq", metav1.GetOptions{})
	require.NoError(t, err)
	require.False(t, got.Spec.Paused, "a paused Deployment is resumed")
	require.Equal(t, "bad-1", got.Spec.Template.Annotations[soakRevisionAnnotation])
	env := got.Spec.Template.Spec.Containers[0].Env
	require.Contains(t, env, corev1.EnvVar{Name: EnvFaultRate, Value: "0.02"})
	n := 0
	for _, e := range env {
		if e.Name == EnvFaultRate {
			n++
		}
	}
	require.Equal(t, 1, n, "the variable is replaced, not added twice")

	require.NoError(t, SeqWorkload.Push(ctx, cs, "clean-2", nil))
	got, err = cs.AppsV1().Deployments(SoakNamespace).Get(ctx, "payment-seq", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "clean-2", got.Spec.Template.Annotations[soakRevisionAnnotation])
	require.Contains(t, got.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: EnvFaultRate, Value: "0.02"}, "nil rate keeps the env")

	require.Error(t, SoakWorkload.Push(ctx, cs, "x", nil), "no payment-soak Deployment")
}

func TestReplicaSetOfToken(t *testing.T) {
	ctx := context.Background()
	rs := func(name, hash, rev, token string, created time.Time) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: SoakNamespace, CreationTimestamp: metav1.NewTime(created),
				Labels:      map[string]string{"app": "payment-seq", appsv1.DefaultDeploymentUniqueLabelKey: hash},
				Annotations: map[string]string{"deployment.kubernetes.io/revision": rev},
			},
			Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{soakRevisionAnnotation: token}},
			}},
		}
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	other := rs("payment-soak-aaaa", "aaaa", "9", "bad-1", t0)
	other.Labels["app"] = "payment-soak"
	cs := fake.NewClientset(
		rs("payment-seq-1111", "1111", "2", "clean-1", t0),
		rs("payment-seq-2222", "2222", "3", "bad-1", t0.Add(time.Minute)),
		other,
	)
	hash, rev, err := SeqWorkload.ReplicaSet(ctx, cs, "bad-1")
	require.NoError(t, err)
	require.Equal(t, "2222", hash, "only the workload's own replica sets")
	require.Equal(t, "3", rev)

	hash, _, err = SeqWorkload.WaitReplicaSet(ctx, cs, "clean-1", time.Second)
	require.NoError(t, err)
	require.Equal(t, "1111", hash)

	_, _, err = SeqWorkload.ReplicaSet(ctx, cs, "missing")
	require.Error(t, err)
}
