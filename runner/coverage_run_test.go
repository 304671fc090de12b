package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
)

// fakeProm answers instant queries from a table of expression → value,
// stamped now; an expression missing from the table has no data.
type fakeProm struct {
	mu     sync.Mutex
	values map[string]float64
	url    string
}

func newFakeProm(t *testing.T, values map[string]float64) *fakeProm {
	t.Helper()
	p := &fakeProm{values: values}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		q := r.Form.Get("query")
		ts := float64(time.Now().UnixMilli()) / 1000
		// The engine dates a rule by its series' newest raw sample.
		sel, hasPrefix := strings.CutPrefix(q, "max(timestamp(")
		sel, hasSuffix := strings.CutSuffix(sel, "))")
		stamp := hasPrefix && hasSuffix
		if !stamp {
			sel = q
		}
		p.mu.Lock()
		v, ok := p.values[sel]
		p.mu.Unlock()
		if ok && stamp {
			v = ts
		}
		result := []any{}
		if ok {
			result = append(result, map[string]any{"metric": map[string]string{}, "value": []any{ts, fmt.Sprint(v)}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *fakeProm) drop(expr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.values, expr)
}

func (p *fakeProm) factory(string) (promv1.API, error) {
	c, err := promapi.NewClient(promapi.Config{Address: p.url})
	if err != nil {
		return nil, err
	}
	return promv1.NewAPI(c), nil
}

// guardedDrill is stubDrill guarded by one rule over expr.
func guardedDrill(t *testing.T, prom *fakeProm, expr string) *drills.Drill {
	d := stubDrill(t)
	d.Spec.Prometheus = &drills.Prometheus{URL: prom.url}
	d.Spec.Guard = &drills.Guard{
		Interval: drills.D(100 * time.Millisecond),
		Rules:    []drills.Rule{{Name: "ErrorRateHigh", Expr: expr, Threshold: 0.5, Scope: drills.ScopeCluster}},
	}
	return d
}

func guardedRunner(t *testing.T, f *stubFault, prom *fakeProm) *runner.Runner {
	cs := fakeTarget(t)
	backends := stubRunnerBackends(cs, f)
	return runner.New(cs, runner.WithBackends(backends), runner.WithTick(200*time.Millisecond),
		runner.WithMinObserve(2*time.Second), runner.WithPrometheus(prom.factory), runner.WithAuditDir(t.TempDir()))
}

func coverageChecks(res *drills.Result) []drills.Check {
	var out []drills.Check
	for _, c := range res.Checks {
		if c.Kind == drills.CheckCoverage {
			out = append(out, c)
		}
	}
	return out
}

func TestGuardedDrillWithCoverPasses(t *testing.T) {
	prom := newFakeProm(t, map[string]float64{"errors_ratio": 0})
	f := &stubFault{effective: true}
	res, err := guardedRunner(t, f, prom).Run(context.Background(), guardedDrill(t, prom, "errors_ratio"))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.Len(t, res.GuardCoverage, 1)
	cov := res.GuardCoverage[0]
	require.Equal(t, "rule ErrorRateHigh", cov.Unit)
	require.GreaterOrEqual(t, cov.Phase(drills.CoverageBaseline).Real(), 2)
	p := cov.Phase(drills.CoverageFault)
	require.Positive(t, p.Evaluations)
	require.Zero(t, p.Held)
	require.NotNil(t, p.FirstEvaluated)
	checks := coverageChecks(res)
	require.Len(t, checks, 1)
	require.Equal(t, drills.VerdictPassed, checks[0].Verdict)
}

func TestGuardBlindDuringFaultIsInconclusive(t *testing.T) {
	prom := newFakeProm(t, map[string]float64{"errors_ratio": 0})
	// The series vanishes with the fault: the rule holds from then on.
	f := &stubFault{effective: true, onInject: func() { prom.drop("errors_ratio") }}
	res, err := guardedRunner(t, f, prom).Run(context.Background(), guardedDrill(t, prom, "errors_ratio"))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.True(t, strings.HasPrefix(res.Reason, "guard blind: rule ErrorRateHigh held 100% of "), res.Reason)
	require.True(t, strings.HasSuffix(res.Reason, " evaluations during inject+observe (no data)"), res.Reason)
	checks := coverageChecks(res)
	require.Len(t, checks, 1)
	require.Equal(t, drills.VerdictInconclusive, checks[0].Verdict)
	p := res.GuardCoverage[0].Phase(drills.CoverageFault)
	require.Positive(t, p.Evaluations)
	require.Equal(t, p.Evaluations, p.Held)
	require.Nil(t, p.FirstEvaluated)
}

func TestGuardBlindBeforeFaultIsInconclusive(t *testing.T) {
	prom := newFakeProm(t, map[string]float64{})
	f := &stubFault{effective: true}
	d := guardedDrill(t, prom, "no_such_metric")
	d.Spec.Timeouts.Baseline = drills.D(8 * time.Second)
	res, err := guardedRunner(t, f, prom).Run(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.Contains(t, res.Reason, "the engine's signals could not evaluate before any fault: rule ErrorRateHigh: no data")
	for _, e := range res.Events {
		require.NotEqual(t, drills.EventFault, e.Kind, "no fault went in")
	}
	require.Empty(t, coverageChecks(res), "an inconclusive baseline is not judged again")
	require.Len(t, res.GuardCoverage, 1)
	require.Zero(t, res.GuardCoverage[0].Phase(drills.CoverageBaseline).Real())
}
