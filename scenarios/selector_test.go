package scenarios

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func names(sel *Selection) []string {
	var out []string
	for _, p := range sel.Pods {
		out = append(out, p.Name)
	}
	return out
}

func TestSelectPodsModes(t *testing.T) {
	cs := fixture(t, 3)
	for _, tc := range []struct {
		name string
		sel  *drills.Selector
		want int
		err  error
	}{
		{"default is one", nil, 1, nil},
		{"one", &drills.Selector{Mode: drills.ModeOne}, 1, nil},
		{"all", &drills.Selector{Mode: drills.ModeAll}, 3, nil},
		{"fixed 2", &drills.Selector{Mode: drills.ModeFixed, Value: 2}, 2, nil},
		{"fixed above count takes all", &drills.Selector{Mode: drills.ModeFixed, Value: 9}, 3, nil},
		{"fixed-percent 34 of 3 is 1 (floor)", &drills.Selector{Mode: drills.ModeFixedPercent, Value: 34}, 1, nil},
		{"fixed-percent 67 of 3 is 2", &drills.Selector{Mode: drills.ModeFixedPercent, Value: 67}, 2, nil},
		{"fixed-percent 100", &drills.Selector{Mode: drills.ModeFixedPercent, Value: 100}, 3, nil},
		{"fixed-percent 10 of 3 is none", &drills.Selector{Mode: drills.ModeFixedPercent, Value: 10}, 0, ErrNoPods},
		{"labels select other app", &drills.Selector{Mode: drills.ModeAll, Labels: map[string]string{"app": "other"}}, 1, nil},
		{"labels match nothing", &drills.Selector{Labels: map[string]string{"app": "none"}}, 0, ErrNoPods},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SelectPods(context.Background(), cs, tc.sel, target, rand.New(rand.NewPCG(1, 2)), 0)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, got.Pods, tc.want)
			for _, p := range got.Pods {
				require.NotEqual(t, "payment-pending", p.Name, "only Running pods")
			}
		})
	}
}

func TestSelectPodsBadValues(t *testing.T) {
	cs := fixture(t, 3)
	for _, sel := range []*drills.Selector{
		{Mode: drills.ModeFixed},
		{Mode: drills.ModeFixedPercent, Value: 101},
		{Mode: "some"},
	} {
		_, err := SelectPods(context.Background(), cs, sel, target, rand.New(rand.NewPCG(1, 2)), 0)
		require.Error(t, err, "%+v", sel)
	}
}

func TestSelectPodsProtectedNamespaces(t *testing.T) {
	cs := fixture(t, 3)
	for _, n := range ProtectedNamespaces {
		_, err := SelectPods(context.Background(), cs, &drills.Selector{Namespace: n, Labels: map[string]string{"a": "b"}}, target, rand.New(rand.NewPCG(1, 2)), 0)
		require.ErrorIs(t, err, ErrProtectedNamespace)
		require.Contains(t, err.Error(), n)
		_, err = SelectPods(context.Background(), cs, nil, drills.Target{Namespace: n, Name: "x"}, rand.New(rand.NewPCG(1, 2)), 0)
		require.ErrorIs(t, err, ErrProtectedNamespace)
	}
}

func TestSelectPodsSeededReproducible(t *testing.T) {
	cs := fixture(t, 6)
	sel := &drills.Selector{Mode: drills.ModeFixed, Value: 2}
	seen := map[string]bool{}
	for seed := range uint64(20) {
		a, err := SelectPods(context.Background(), cs, sel, target, rand.New(rand.NewPCG(seed, 7)), 0)
		require.NoError(t, err)
		b, err := SelectPods(context.Background(), cs, sel, target, rand.New(rand.NewPCG(seed, 7)), 0)
		require.NoError(t, err)
		require.Equal(t, names(a), names(b), "seed %d", seed)
		seen[names(a)[0]+","+names(a)[1]] = true
	}
	require.Greater(t, len(seen), 3, "different seeds choose different pods")

	// The fault's own seed decides through Deps.rng.
	seed := int64(42)
	d := testDeps(cs).withDefaults()
	spec := drills.Fault{Type: drills.FaultPodKill, Seed: &seed, Selector: sel}
	a, err := SelectPods(context.Background(), cs, sel, target, d.rng(spec), 0)
	require.NoError(t, err)
	b, err := SelectPods(context.Background(), cs, sel, target, d.rng(spec), 0)
	require.NoError(t, err)
	require.Equal(t, names(a), names(b))
}

func TestSelectPodsBlastRadius(t *testing.T) {
	cs := fixture(t, 3)
	_, err := SelectPods(context.Background(), cs, &drills.Selector{Mode: drills.ModeAll}, target, rand.New(rand.NewPCG(1, 2)), 0.5)
	require.ErrorIs(t, err, ErrBlastRadius)
	require.Contains(t, err.Error(), "3 of 3")
	got, err := SelectPods(context.Background(), cs, &drills.Selector{Mode: drills.ModeOne}, target, rand.New(rand.NewPCG(1, 2)), 0.5)
	require.NoError(t, err)
	require.Len(t, got.Pods, 1)
}
