package runner

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
	"github.com/firedrill/firedrill/scenarios"
)

// TestTrafficEvidence reads the run's generator, which starts after the
// faults are built.
func TestTrafficEvidence(t *testing.T) {
	tr := &drills.Traffic{Rate: 20, Duration: drills.D(500 * time.Millisecond), Timeout: drills.D(700 * time.Millisecond), Requests: []drills.RequestTemplate{{Path: "/"}}}
	run := &Run{drill: &drills.Drill{Spec: drills.Spec{Traffic: tr}}}
	var ev scenarios.TrafficEvidence = trafficEvidence{run: run}
	require.Zero(t, ev.Endpoint("127.0.0.1", time.Time{}, time.Time{}), "no traffic yet")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	targets, err := traffic.NewStaticTargets(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	gen, err := traffic.New(targets, *tr)
	require.NoError(t, err)
	run.gen = gen
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, gen.Run(ctx))

	c := ev.Endpoint("127.0.0.1", time.Time{}, time.Time{})
	require.Equal(t, int64(10), c.Sent)
	require.Equal(t, int64(10), c.Succeeded)
	require.Zero(t, c.Errors())
	require.False(t, c.FirstSuccess.IsZero())
	require.Zero(t, ev.Endpoint("10.0.0.1", time.Time{}, time.Time{}).Sent)
}

// stubProm answers every query with one sample of value v.
type stubProm struct {
	promv1.API
	v float64
}

func (s *stubProm) Query(context.Context, string, time.Time, ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error) {
	return model.Vector{&model.Sample{Value: model.SampleValue(s.v)}}, nil, nil, nil
}

func TestInvariantsViolated(t *testing.T) {
	d := &drills.Drill{Spec: drills.Spec{SLO: drills.SLO{Consistency: []drills.ConsistencyCheck{
		{Name: "ledger-balanced", PromQL: &drills.PromQLCheck{Expr: "max(ledger_balance_mismatch)", Op: drills.OpEQ, Threshold: 0}},
	}}}}
	run := &Run{r: New(nil), drill: d}
	var inv scenarios.Invariants = invariants{run: run}

	_, err := inv.Violated(context.Background())
	require.ErrorContains(t, err, "check ledger-balanced: no Prometheus")

	prom := &stubProm{v: 0}
	run.prom = prom
	v, err := inv.Violated(context.Background())
	require.NoError(t, err)
	require.Empty(t, v, "the invariant holds")

	prom.v = 10
	v, err = inv.Violated(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"ledger-balanced: max(ledger_balance_mismatch) = 10, want == 0"}, v)
}
