package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// demoDir holds the demo workload's manifests.
var demoDir = filepath.Join("..", "..", "deploy", "demo")

// readManifest strictly decodes one manifest of deploy/demo into obj.
func readManifest(t *testing.T, name string, obj any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(demoDir, name))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, obj), name)
}

func TestDemoManifestsMatchTheService(t *testing.T) {
	var ns corev1.Namespace
	readManifest(t, "00-namespace.yaml", &ns)
	require.Equal(t, "firedrill-demo", ns.Name)

	var secret corev1.Secret
	readManifest(t, "10-secret.yaml", &secret)
	require.Equal(t, "payment-db", secret.Name)
	require.Contains(t, secret.StringData, EnvDSN)
	require.Len(t, secret.StringData, 1)

	var cm corev1.ConfigMap
	readManifest(t, "20-configmap.yaml", &cm)
	require.Equal(t, "payment-config", cm.Name)
	require.Equal(t, map[string]string{EnvLedgerMode: LedgerModeNormal}, cm.Data)
	env := map[string]string{}
	for k, v := range cm.Data {
		env[k] = v
	}
	for k, v := range secret.StringData {
		env[k] = v
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	require.NoError(t, err, "the ConfigMap and Secret make a valid configuration")
	require.False(t, cfg.LedgerBroken())

	var d appsv1.Deployment
	readManifest(t, "30-deployment.yaml", &d)
	require.Equal(t, "payment", d.Name)
	require.Equal(t, int32(3), *d.Spec.Replicas)
	require.Equal(t, int32(10), *d.Spec.RevisionHistoryLimit)
	require.Equal(t, map[string]string{"app": "payment", "track": "stable"}, d.Spec.Selector.MatchLabels)
	require.Equal(t, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	ru := d.Spec.Strategy.RollingUpdate
	require.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, d.Spec.Strategy.Type)
	require.Equal(t, intstr.FromInt32(1), *ru.MaxSurge)
	require.Equal(t, intstr.FromInt32(0), *ru.MaxUnavailable)
	require.Equal(t, "true", d.Spec.Template.Annotations["prometheus.io/scrape"])
	require.Equal(t, "8080", d.Spec.Template.Annotations["prometheus.io/port"])
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	c := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, "payment:v1", c.Image)
	require.Equal(t, corev1.PullNever, c.ImagePullPolicy)
	require.Empty(t, c.Env, "env in the pod would override the per-tag image env")
	require.Len(t, c.EnvFrom, 2)
	require.Equal(t, "payment-config", c.EnvFrom[0].ConfigMapRef.Name)
	require.Equal(t, "payment-db", c.EnvFrom[1].SecretRef.Name)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, intstr.FromInt32(8080), c.ReadinessProbe.HTTPGet.Port)
	require.Equal(t, int32(1), c.ReadinessProbe.PeriodSeconds)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "20m", c.Resources.Requests.Cpu().String())
	require.Equal(t, "32Mi", c.Resources.Requests.Memory().String())
	require.Equal(t, DefaultListen, ":8080", "probes and the Service assume the default listen port")

	var svc corev1.Service
	readManifest(t, "40-service.yaml", &svc)
	require.Equal(t, "payment", svc.Name)
	require.Equal(t, map[string]string{"app": "payment"}, svc.Spec.Selector)
	require.Equal(t, int32(8080), svc.Spec.Ports[0].Port)
	for _, o := range []string{ns.Namespace, secret.Namespace, cm.Namespace, d.Namespace, svc.Namespace} {
		if o != "" {
			require.Equal(t, "firedrill-demo", o)
		}
	}
	require.Equal(t, "firedrill-demo", d.Namespace)
}
