package runner_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/clusters/local/argorollouts"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/deploy"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/testenv"
	"github.com/firedrill/firedrill/runner"
)

var rolloutsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// argoRollout is deploy/argo's canary Rollout.
const argoRollout = "payment-argo"

// startArgo starts the real Argo Rollouts controller from the tool cache
// against the shared stack and applies deploy/argo (the canary Rollout
// payment-argo, its Service and AnalysisTemplates, whose analysis measures
// every 5 minutes, so Argo itself does not act within a drill); cleanup
// deletes them while the controller still runs, then stops it and removes
// the CRDs, as engine's TestRevertArgoRollout does.
func startArgo(t *testing.T, st *stack.Stack, cs kubernetes.Interface) dynamic.Interface {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	toolDir := argorollouts.DefaultDir()
	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ctl, err := argorollouts.Start(ctx, st.Cluster().Kubeconfig(), argorollouts.WithToolDir(toolDir),
		argorollouts.WithWorkDir(filepath.Join(t.TempDir(), "argo")), argorollouts.WithNamespace(stack.Namespace),
		argorollouts.WithLogger(stacktest.Logger()))
	require.NoError(t, err)
	b, err := deploy.Manifests("argo")
	require.NoError(t, err)
	objs, err := deploy.Decode(b)
	require.NoError(t, err)
	ap, err := deploy.NewApplier(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		require.NoError(t, ap.Delete(cctx, objs))
		require.NoError(t, wait.PollUntilContextTimeout(cctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			pods, err := cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=payment-argo"})
			return err == nil && len(pods.Items) == 0, nil
		}), "the Rollout's pods are gone")
		require.NoError(t, ctl.Stop(cctx))
		require.NoError(t, argorollouts.DeleteCRDs(cctx, st.Cluster().Kubeconfig(), toolDir))
	})
	require.NoError(t, ap.Apply(ctx, objs, deploy.Options{}))
	requireRolloutHealthy(t, dyn, "payment:v1")
	return dyn
}

// requireRolloutHealthy waits until the Rollout runs image, Healthy on
// its stable ReplicaSet.
func requireRolloutHealthy(t *testing.T, dyn dynamic.Interface, image string) *unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var o *unstructured.Unstructured
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		o, err = dyn.Resource(rolloutsGVR).Namespace(stack.Namespace).Get(ctx, argoRollout, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return rolloutImage(o) == image && rolloutStatus(o, "phase") == "Healthy" &&
			rolloutStatus(o, "stableRS") == rolloutStatus(o, "currentPodHash"), nil
	})
	require.NoError(t, err, "the Rollout is Healthy on %s (last phase %q)", image, rolloutStatus(o, "phase"))
	return o
}

func rolloutImage(o *unstructured.Unstructured) string {
	ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(ctrs) == 0 {
		return ""
	}
	img, _ := ctrs[0].(map[string]any)["image"].(string)
	return img
}

func rolloutStatus(o *unstructured.Unstructured, field string) string {
	if o == nil {
		return ""
	}
	v, _, _ := unstructured.NestedString(o.Object, "status", field)
	return v
}

// rolloutDrill is the shipped bad-image drill aimed at the canary Rollout:
// the same traffic, fault, SLOs, ledger checks and guard (the generated
// rules, the Kubernetes signals and the SPRT), with no rule of its own. A
// canary step sends a fifth of the traffic to one payment:v2-buggy pod, so
// the Rollout-wide 5xx ratio stays near 2 %, under the generated
// HighErrorRate's 5 %: what sees the canary is the sequential test, which
// tests the canary's revision (its rollouts-pod-template-hash) against the
// stable one.
func rolloutDrill(t *testing.T) *drills.Drill {
	t.Helper()
	d := loadExample(t, "bad-image.yaml")
	d.Metadata.Name = "rollout-bad-image"
	d.Metadata.Description = "A buggy image in the canary of an Argo Rollout is detected and the Rollout aborted and undone."
	d.Spec.Target = drills.Target{Kind: drills.TargetRollout, Namespace: stack.Namespace, Name: argoRollout,
		Service: argoRollout, Port: 8080, Container: "payment"}
	g := d.Spec.Guard
	require.NotNil(t, g.Statistical, "the shipped drill runs the sequential test")
	require.Empty(t, g.Rules, "the generated rules only")
	g.Strategies = []drills.Strategy{{Name: drills.StrategyRevert}, {Name: drills.StrategyHuman}}
	d.Spec.Expect.MTTD = drills.D(30 * time.Second)
	d.Spec.Expect.MTTR = drills.D(2 * time.Minute)
	return d
}

// TestRunRolloutBadImageDrill runs a bad-image drill against the canary
// Rollout under the real Argo Rollouts controller: the fault pushes
// payment:v2-buggy into the Rollout's template (the canary's first step
// runs one bad pod), the engine's sequential test detects the canary
// revision's errors, aborts
// and undoes the Rollout, the SLOs and the ledger hold again, every
// expectation passes, and teardown leaves the Rollout as it was.
func TestRunRolloutBadImageDrill(t *testing.T) {
	testenv.Integration(t, argorollouts.Binary(argorollouts.DefaultDir()))
	st, cs := stackClient(t)
	dyn := startArgo(t, st, cs)
	before := requireRolloutHealthy(t, dyn, "payment:v1")
	stable := rolloutStatus(before, "stableRS")

	res, err := runner.New(cs, runner.WithDynamic(dyn), runner.WithLogger(stacktest.Logger())).Run(context.Background(), rolloutDrill(t))
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.NotNil(t, res.MTTD)
	require.NotNil(t, res.MTTR)
	k := kinds(res)
	for _, want := range []drills.EventKind{drills.EventFault, drills.EventProof, drills.EventDetection, drills.EventDecision, drills.EventAction} {
		require.Positive(t, k[want], "event %s in the timeline", want)
	}
	require.Equal(t, drills.VerdictPassed, check(t, res, "expect rollback").Verdict)
	require.Equal(t, "revert", check(t, res, "expect strategy").Observed)
	var aborted bool
	for _, e := range res.Events {
		if e.Kind == drills.EventAction && strings.Contains(e.Message, "engine acted: revert") {
			aborted = true
		}
	}
	require.True(t, aborted, "the engine's revert acted on the Rollout")
	// The sequential test saw the canary's revision, not the stable one.
	var sprt bool
	for _, e := range res.Events {
		if e.Kind == drills.EventDetection && strings.Contains(e.Message, "sprt(revision ") {
			sprt = true
			require.NotContains(t, e.Message, "sprt(revision "+stable+")", "the canary's hash, not the stable one")
		}
	}
	require.True(t, sprt, "the sequential test detected the canary")
	// The proof names the canary's pod of the bad ReplicaSet and what it answered.
	proof := proofChecks(res)
	require.Len(t, proof, 1)
	require.Equal(t, drills.VerdictPassed, proof[0].Verdict)
	require.Regexp(t, `pod payment-argo-\S+ of ReplicaSet payment-argo-\S+ \(\d+\.\d+\.\d+\.\d+\): answered`, proof[0].Observed)
	for _, p := range res.Phases {
		require.Equal(t, drills.VerdictPassed, p.Verdict, "phase %s: %s", p.Name, p.Message)
	}

	// Teardown left the Rollout as it was: payment:v1 on the same stable
	// ReplicaSet, not paused, no fault or rollback record.
	after := requireRolloutHealthy(t, dyn, "payment:v1")
	require.Equal(t, stable, rolloutStatus(after, "stableRS"))
	paused, _, _ := unstructured.NestedBool(after.Object, "spec", "paused")
	require.False(t, paused)
	for k := range after.GetAnnotations() {
		require.False(t, strings.HasPrefix(k, "firedrill.dev/"), "annotation %s left on the Rollout", k)
	}
	requireRestored(t, cs)
}
