package chaosmesh

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var (
	goldenMeta   = Meta{Owner: "golden-drill", Expires: time.Date(2026, 11, 30, 4, 5, 0, 0, time.UTC)}
	goldenTarget = drills.Target{Namespace: "firedrill-demo", Name: "payment", Container: "payment"}
	goldenSel    = Selection{Namespace: "firedrill-demo", Labels: map[string]string{"app": "payment", "track": "stable"}, Mode: drills.ModeOne}
)

func i64(v int64) *int64 { return &v }

// goldenCases are the objects of every fault type the backend builds.
func goldenCases() map[string]struct {
	spec drills.Fault
	sel  Selection
} {
	fixed := goldenSel
	fixed.Mode, fixed.Value = drills.ModeFixed, 2
	pct := goldenSel
	pct.Mode, pct.Value = drills.ModeFixedPercent, 34
	all := goldenSel
	all.Mode = drills.ModeAll
	return map[string]struct {
		spec drills.Fault
		sel  Selection
	}{
		"podchaos-pod-kill":       {drills.Fault{Name: "kill-one", Type: drills.FaultPodKill, PodKill: &drills.PodKillSettings{GracePeriodSeconds: i64(0)}}, goldenSel},
		"podchaos-pod-failure":    {drills.Fault{Name: "fail-some", Type: drills.FaultPodFailure, Duration: drills.D(30 * time.Second)}, pct},
		"podchaos-container-kill": {drills.Fault{Name: "kill-container", Type: drills.FaultContainerKill}, fixed},
		"networkchaos-partition": {drills.Fault{Name: "cut-off", Type: drills.FaultNetworkPartition, Duration: drills.D(5 * time.Minute),
			Network: &drills.NetworkSettings{Direction: drills.DirectionBoth}}, goldenSel},
		"networkchaos-loss": {drills.Fault{Name: "lossy", Type: drills.FaultNetworkLoss, Duration: drills.D(time.Minute),
			Network: &drills.NetworkSettings{LossPercent: 37.5}}, all},
		"networkchaos-delay": {drills.Fault{Name: "slow", Type: drills.FaultNetworkDelay, Duration: drills.D(2 * time.Minute),
			Network: &drills.NetworkSettings{Latency: drills.D(200 * time.Millisecond), Jitter: drills.D(20 * time.Millisecond)}}, goldenSel},
		"networkchaos-bandwidth": {drills.Fault{Name: "narrow", Type: drills.FaultBandwidth,
			Network: &drills.NetworkSettings{Rate: "1mbps"}}, goldenSel},
		"stresschaos-generic": {drills.Fault{Name: "cpu-burn", Type: drills.FaultChaosMesh, Duration: drills.D(time.Minute),
			ChaosMesh: &drills.ChaosMeshSettings{Kind: "StressChaos", Spec: map[string]any{
				"stressors": map[string]any{"cpu": map[string]any{"workers": 1, "load": 50}},
			}}}, goldenSel},
	}
}

func checkGolden(t *testing.T, name string, obj any) {
	t.Helper()
	got, err := yaml.Marshal(obj)
	require.NoError(t, err)
	file := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(file, got, 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run go test ./scenarios/chaosmesh -run Golden -update")
	require.Equal(t, string(want), string(got), "%s differs; rerun with -update if the change is intended", file)
}

func TestGoldenObjects(t *testing.T) {
	for name, c := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			obj, err := Build(c.spec, goldenTarget, c.sel, goldenMeta)
			require.NoError(t, err)
			// Owner, expiry and managed-by are on every object.
			require.Equal(t, "golden-drill", obj.GetAnnotations()[scenarios.AnnotationOwner])
			require.Equal(t, "2026-11-30T04:05:00Z", obj.GetAnnotations()[scenarios.AnnotationExpires])
			require.Equal(t, ManagedBy, obj.GetLabels()[LabelManagedBy])
			require.Equal(t, GroupVersion.WithKind(obj.GetObjectKind().GroupVersionKind().Kind), obj.GetObjectKind().GroupVersionKind())
			checkGolden(t, name, obj)
		})
	}
}

// The seed's weekly drill as a Chaos Mesh Schedule.
func TestGoldenScheduleWeeklyDrill(t *testing.T) {
	ds, err := drills.LoadFile("../../drills/examples/network-partition-weekly.yaml")
	require.NoError(t, err)
	require.Len(t, ds, 1)
	d := ds[0]
	sel, err := ResolveSelection(t.Context(), nil, d.Spec.Faults[0], d.Spec.Target)
	require.NoError(t, err)
	s, err := ScheduleDrill(d, 0, sel, goldenMeta)
	require.NoError(t, err)
	require.Equal(t, "0 3 * * 1", s.Spec.Schedule)
	require.EqualValues(t, "Forbid", s.Spec.ConcurrencyPolicy)
	require.Equal(t, 5, s.Spec.HistoryLimit)
	require.NotNil(t, s.Spec.NetworkChaos)
	checkGolden(t, "schedule-network-partition-weekly", s)

	pod, err := Build(goldenCases()["podchaos-pod-kill"].spec, goldenTarget, goldenSel, goldenMeta)
	require.NoError(t, err)
	s, err = NewSchedule(pod, "@weekly", drills.ConcurrencyAllow, nil)
	require.NoError(t, err)
	require.Equal(t, DefaultHistoryLimit, s.Spec.HistoryLimit)
	checkGolden(t, "schedule-pod-kill", s)
}

func TestObjectNames(t *testing.T) {
	spec := drills.Fault{Name: "A Very_Long name/with?odd chars " + string(make([]byte, 0)) + "and more and more and more words to exceed", Type: drills.FaultPodKill}
	n := Meta{Owner: "o", Expires: goldenMeta.Expires}.objectName(spec)
	require.LessOrEqual(t, len(n), 63)
	require.Regexp(t, `^fd-[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, n)
	// Another owner or expiry gives another name; the same gives the same.
	require.NotEqual(t, n, Meta{Owner: "p", Expires: goldenMeta.Expires}.objectName(spec))
	require.NotEqual(t, n, Meta{Owner: "o", Expires: goldenMeta.Expires.Add(time.Second)}.objectName(spec))
	require.Equal(t, n, Meta{Owner: "o", Expires: goldenMeta.Expires}.objectName(spec))
	require.Equal(t, "given", Meta{Name: "given"}.objectName(spec))
}

func TestInvalidParams(t *testing.T) {
	withMode := func(m drills.SelectorMode, v int) Selection {
		s := goldenSel
		s.Mode, s.Value = m, v
		return s
	}
	cases := []struct {
		name string
		spec drills.Fault
		sel  Selection
		want string
	}{
		{"negative percent", drills.Fault{Type: drills.FaultPodKill}, withMode(drills.ModeFixedPercent, -5), "fixed-percent needs value 1..100, got -5"},
		{"percent over 100", drills.Fault{Type: drills.FaultPodKill}, withMode(drills.ModeFixedPercent, 101), "fixed-percent needs value 1..100, got 101"},
		{"fixed zero", drills.Fault{Type: drills.FaultPodKill}, withMode(drills.ModeFixed, 0), "mode fixed needs value >= 1, got 0"},
		{"one with value", drills.Fault{Type: drills.FaultPodKill}, withMode(drills.ModeOne, 3), "mode one takes no value"},
		{"unknown mode", drills.Fault{Type: drills.FaultPodKill}, withMode("random-max-percent", 10), `unknown mode "random-max-percent"`},
		{"unknown action", drills.Fault{Type: "pod-explode"}, goldenSel, `unknown fault type "pod-explode"`},
		{"not a chaos mesh fault", drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "x"}}, goldenSel, `unknown fault type "bad-image"`},
		{"loss over 100", drills.Fault{Type: drills.FaultNetworkLoss, Network: &drills.NetworkSettings{LossPercent: 150}}, goldenSel, "lossPercent 150: want more than 0 and at most 100"},
		{"negative loss", drills.Fault{Type: drills.FaultNetworkLoss, Network: &drills.NetworkSettings{LossPercent: -1}}, goldenSel, "lossPercent -1"},
		{"loss both ways without target", drills.Fault{Type: drills.FaultNetworkLoss, Network: &drills.NetworkSettings{LossPercent: 10, Direction: drills.DirectionBoth}}, goldenSel, "rejected by Chaos Mesh's validation"},
		{"unknown direction", drills.Fault{Type: drills.FaultNetworkPartition, Network: &drills.NetworkSettings{Direction: "sideways"}}, goldenSel, `direction "sideways"`},
		{"partition with loss", drills.Fault{Type: drills.FaultNetworkPartition, Network: &drills.NetworkSettings{LossPercent: 5}}, goldenSel, "network.lossPercent does not apply to network-partition"},
		{"delay without latency", drills.Fault{Type: drills.FaultNetworkDelay}, goldenSel, "needs network.latency > 0"},
		{"negative jitter", drills.Fault{Type: drills.FaultNetworkDelay, Network: &drills.NetworkSettings{Latency: drills.D(time.Second), Jitter: drills.D(-time.Second)}}, goldenSel, "jitter -1s is negative"},
		{"bandwidth bad rate", drills.Fault{Type: drills.FaultBandwidth, Network: &drills.NetworkSettings{Rate: "fast"}}, goldenSel, "parse rate field error"},
		{"bandwidth no rate", drills.Fault{Type: drills.FaultBandwidth}, goldenSel, "needs network.rate"},
		{"pod-failure without duration", drills.Fault{Type: drills.FaultPodFailure}, goldenSel, "pod-failure needs a duration"},
		{"negative grace", drills.Fault{Type: drills.FaultPodKill, PodKill: &drills.PodKillSettings{GracePeriodSeconds: i64(-1)}}, goldenSel, "gracePeriodSeconds -1 is negative"},
		{"negative duration", drills.Fault{Type: drills.FaultPodKill, Duration: drills.D(-time.Second)}, goldenSel, "duration -1s is negative"},
		{"foreign settings", drills.Fault{Type: drills.FaultPodKill, Network: &drills.NetworkSettings{}}, goldenSel, "settings block network does not apply to pod-kill"},
		{"unknown kind", drills.Fault{Type: drills.FaultChaosMesh, ChaosMesh: &drills.ChaosMeshSettings{Kind: "MeteorChaos"}}, goldenSel, `unknown Chaos Mesh kind "MeteorChaos"`},
		{"unknown spec field", drills.Fault{Type: drills.FaultChaosMesh, ChaosMesh: &drills.ChaosMeshSettings{Kind: "StressChaos", Spec: map[string]any{"stresors": 1}}}, goldenSel, "unknown field"},
		{"generic unknown action", drills.Fault{Type: drills.FaultChaosMesh, ChaosMesh: &drills.ChaosMeshSettings{Kind: "PodChaos", Spec: map[string]any{"action": "container-kill"}}}, goldenSel, "the name of container is required"},
		{"container-kill without container", drills.Fault{Type: drills.FaultContainerKill}, goldenSel, "needs the target's container"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := goldenTarget
			if c.name == "container-kill without container" {
				target.Container = ""
			}
			_, err := Build(c.spec, target, c.sel, goldenMeta)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalid)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestProtectedNamespace(t *testing.T) {
	sel := goldenSel
	sel.Namespace = "kube-system"
	_, err := Build(drills.Fault{Type: drills.FaultPodKill}, goldenTarget, sel, goldenMeta)
	require.ErrorIs(t, err, scenarios.ErrProtectedNamespace)
	require.Contains(t, err.Error(), "refusing to inject faults into kube-system")
}

func TestInvalidSchedule(t *testing.T) {
	obj, err := Build(drills.Fault{Type: drills.FaultPodKill}, goldenTarget, goldenSel, goldenMeta)
	require.NoError(t, err)
	for name, c := range map[string]struct {
		cron   string
		policy drills.ConcurrencyPolicy
		limit  *int
		want   string
	}{
		"bad cron":     {"every monday", "", nil, "parse schedule field error"},
		"replace":      {"0 3 * * 1", drills.ConcurrencyReplace, nil, `concurrency policy "Replace" has no Chaos Mesh equivalent`},
		"zero history": {"0 3 * * 1", "", new(int), "history limit 0"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewSchedule(obj, c.cron, c.policy, c.limit)
			require.ErrorIs(t, err, ErrInvalid)
			require.Contains(t, err.Error(), c.want)
		})
	}
	var notChaos client.Object = &metav1.PartialObjectMetadata{}
	_, err = NewSchedule(notChaos, "@weekly", "", nil)
	require.True(t, errors.Is(err, ErrInvalid))
}
