// Package engine_test checks the engine's in-cluster manifests: they
// decode, the RBAC is the least privilege the engine needs, and the policy
// is a valid drill.
package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/firedrill/firedrill/deploy"
	"github.com/firedrill/firedrill/drills"
)

func TestEngineManifests(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.Len(t, files, 5)
	var kinds []string
	verbs := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := deploy.Decode(b)
		require.NoError(t, err, f)
		for _, o := range objs {
			kinds = append(kinds, o.GetKind())
			switch o.GetKind() {
			case "Role":
				var r rbacv1.Role
				require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r))
				for _, rule := range r.Rules {
					for _, res := range rule.Resources {
						verbs[res] = append(verbs[res], rule.Verbs...)
					}
				}
			case "ConfigMap":
				data, _, err := unstructured.NestedStringMap(o.Object, "data")
				require.NoError(t, err)
				for name, doc := range data {
					ds, err := drills.Load(name, []byte(doc))
					require.NoError(t, err, name)
					require.True(t, ds[0].GuardEnabled())
				}
			}
		}
	}
	require.Equal(t, []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "Role", "RoleBinding", "ConfigMap", "Deployment"}, kinds)
	want := map[string][]string{
		"deployments":     {"get", "list", "watch", "patch", "update"},
		"replicasets":     {"get", "list", "watch", "patch", "update"},
		"pods":            {"get", "list", "watch", "patch"},
		"services":        {"get", "patch"},
		"events":          {"get", "create", "create"},
		"rollouts":        {"get", "list", "watch", "patch"},
		"rollouts/status": {"get", "patch"},
		"leases":          {"get", "create", "update"},
	}
	require.Equal(t, want, verbs)
	for _, v := range verbs {
		require.NotContains(t, strings.Join(v, ","), "*")
		require.NotContains(t, v, "delete")
	}
}
