package bench

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/engine/signals"
)

// noProm answers every query with nothing.
type noProm struct{}

func (noProm) Query(context.Context, string, time.Time, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	return model.Vector{}, nil, nil, nil
}

func TestSequentialGuard(t *testing.T) {
	ds, err := drills.LoadFile(filepath.Join("..", "drills", "examples", "bad-image.yaml"))
	require.NoError(t, err)
	d := ds[0]
	m := signals.Metrics{Convention: drills.ConventionPrometheus, Requests: "http_requests_total", StatusLabel: "code", Errors: signals.HTTPErrors}
	g, target, err := SequentialGuard(d, SeqWorkload, m)
	require.NoError(t, err)

	require.Equal(t, drills.Target{Kind: drills.TargetDeployment, Namespace: "firedrill-demo", Name: "payment-seq", Service: "payment-seq", Port: 8080}, target)
	require.Empty(t, g.Rules, "no rules")
	require.False(t, *g.DefaultRules, "no generated rules either")
	require.Nil(t, g.Kubernetes, "no Kubernetes signals")
	require.Equal(t, 500*time.Millisecond, g.Interval.Duration, "the drill's interval")
	var names []drills.StrategyName
	for _, s := range g.Strategies {
		names = append(names, s.Name)
	}
	require.Equal(t, []drills.StrategyName{drills.StrategyRevert, drills.StrategyHuman}, names)

	st := g.Statistical
	require.Equal(t, drills.MethodSPRT, st.Method)
	require.Equal(t, 0.005, *st.BaselineErrorRate)
	require.Equal(t, 0.05, *st.DetectErrorRate)
	require.Equal(t, 0.0001, *st.FalseAlarmRate)
	require.Equal(t, 20, st.MinRequests)
	require.Equal(t, `sum(http_requests_total{namespace="firedrill-demo",pod=~"payment-seq-{{.Revision}}-[a-z0-9]{5}",code=~"5.."})`, st.ErrorsExpr)
	require.Equal(t, `sum(http_requests_total{namespace="firedrill-demo",pod=~"payment-seq-{{.Revision}}-[a-z0-9]{5}"})`, st.TotalExpr)

	// The revision's pods and no other workload's.
	q := RevisionQuery(st.TotalExpr, "6d4f8b7c9")
	require.Equal(t, `sum(http_requests_total{namespace="firedrill-demo",pod=~"payment-seq-6d4f8b7c9-[a-z0-9]{5}"})`, q)
	pods := regexp.MustCompile(`^payment-seq-6d4f8b7c9-[a-z0-9]{5}$`)
	require.True(t, pods.MatchString("payment-seq-6d4f8b7c9-abcde"))
	for _, other := range []string{"payment-6d4f8b7c9-abcde", "payment-soak-6d4f8b7c9-abcde", "payment-seq-7a7a7a7a7-abcde"} {
		require.False(t, pods.MatchString(other), other)
	}

	// The engine takes it as it is.
	_, err = engine.NewGuard(g, target, engine.WithKubernetes(fake.NewClientset()), engine.WithPrometheus(noProm{}))
	require.NoError(t, err)

	d.Spec.Guard.Statistical = nil
	_, _, err = SequentialGuard(d, SeqWorkload, m)
	require.Error(t, err)
}
