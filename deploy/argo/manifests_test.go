// Package argo_test checks the manifests of the Argo Rollouts peer: they
// decode, the Rollout runs the demo's pod template under labels of its own,
// and the two AnalysisTemplates differ only in their timing settings.
package argo_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/firedrill/firedrill/deploy"
)

func decode(t *testing.T, dir string) map[string]*unstructured.Unstructured {
	t.Helper()
	b, err := deploy.Manifests(dir)
	require.NoError(t, err)
	objs, err := deploy.Decode(b)
	require.NoError(t, err)
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetKind()+"/"+o.GetName()] = o
	}
	return out
}

func nested(t *testing.T, o *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldCopy(o.Object, path...)
	require.NoError(t, err)
	require.True(t, ok, "%s has %v", o.GetName(), path)
	return v
}

func selector(t *testing.T, o *unstructured.Unstructured, path ...string) labels.Selector {
	t.Helper()
	m, ok, err := unstructured.NestedStringMap(o.Object, path...)
	require.NoError(t, err)
	require.True(t, ok)
	return labels.SelectorFromSet(m)
}

func podLabels(t *testing.T, o *unstructured.Unstructured) labels.Set {
	t.Helper()
	m, ok, err := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
	require.NoError(t, err)
	require.True(t, ok)
	return m
}

func TestArgoManifests(t *testing.T) {
	objs := decode(t, "argo")
	require.Len(t, objs, 4)
	ro := objs["Rollout/payment-argo"]
	svc := objs["Service/payment-argo"]
	doc := objs["AnalysisTemplate/payment-argo-documented"]
	fast := objs["AnalysisTemplate/payment-argo-fastest"]
	for _, o := range []*unstructured.Unstructured{ro, svc, doc, fast} {
		require.NotNil(t, o)
		require.Equal(t, "firedrill-demo", o.GetNamespace())
	}
	require.Equal(t, "argoproj.io/v1alpha1", ro.GetAPIVersion())

	demo := decode(t, "demo")
	dep := demo["Deployment/payment"]
	demoSvc := demo["Service/payment"]
	require.NotNil(t, dep)

	// Same pod, other labels.
	require.Equal(t, nested(t, dep, "spec", "template", "spec"), nested(t, ro, "spec", "template", "spec"))
	require.Equal(t, nested(t, dep, "spec", "template", "metadata", "annotations"), nested(t, ro, "spec", "template", "metadata", "annotations"))
	argoPods, demoPods := podLabels(t, ro), podLabels(t, dep)
	require.True(t, selector(t, ro, "spec", "selector", "matchLabels").Matches(argoPods))
	require.True(t, selector(t, svc, "spec", "selector").Matches(argoPods))
	require.False(t, selector(t, dep, "spec", "selector", "matchLabels").Matches(argoPods), "the Deployment must not adopt the Rollout's pods")
	require.False(t, selector(t, demoSvc, "spec", "selector").Matches(argoPods), "the payment Service must not send traffic to the Rollout's pods")
	require.False(t, selector(t, ro, "spec", "selector", "matchLabels").Matches(demoPods), "the Rollout must not adopt the Deployment's pods")
	require.False(t, selector(t, svc, "spec", "selector").Matches(demoPods))

	// Background analysis from the first step on the documented template,
	// with the canary's pod-template hash as argument.
	tmpls := nested(t, ro, "spec", "strategy", "canary", "analysis", "templates").([]any)
	require.Len(t, tmpls, 1)
	require.Equal(t, "payment-argo-documented", tmpls[0].(map[string]any)["templateName"])
	_, hasStart, _ := unstructured.NestedFieldNoCopy(ro.Object, "spec", "strategy", "canary", "analysis", "startingStep")
	require.False(t, hasStart)
	args := nested(t, ro, "spec", "strategy", "canary", "analysis", "args").([]any)
	require.Equal(t, map[string]any{"name": "canary-hash", "valueFrom": map[string]any{"podTemplateHashValue": "Latest"}}, args[0])

	// The two templates: same query and condition, documented vs fastest timing.
	metric := func(o *unstructured.Unstructured) map[string]any {
		ms := nested(t, o, "spec", "metrics").([]any)
		require.Len(t, ms, 1)
		return ms[0].(map[string]any)
	}
	dm, fm := metric(doc), metric(fast)
	require.Equal(t, "5m", dm["interval"])
	require.EqualValues(t, 3, dm["failureLimit"])
	require.Equal(t, "1s", fm["interval"])
	require.EqualValues(t, 0, fm["failureLimit"])
	for _, m := range []map[string]any{dm, fm} {
		require.Equal(t, "result[0] >= 0.95", m["successCondition"])
		require.NotContains(t, m, "count")
		require.NotContains(t, m, "initialDelay")
		prom := m["provider"].(map[string]any)["prometheus"].(map[string]any)
		require.Equal(t, "http://127.0.0.1:9090", prom["address"])
		require.Contains(t, prom["query"], `pod=~"payment-argo-{{args.canary-hash}}-.*"`)
	}
	require.Equal(t, dm["provider"], fm["provider"], "only the timing differs")
}
