package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

func defaultStatistical(method drills.StatisticalMethod) *drills.Statistical {
	d := &drills.Drill{Spec: drills.Spec{Guard: &drills.Guard{Statistical: &drills.Statistical{Method: method}}}}
	d.Default()
	return d.Spec.Guard.Statistical
}

// counterProm is an in-memory PromQuerier holding cumulative counters by
// expression, as Prometheus answers sum(http_requests_total{...}); an
// expression it does not hold has no series.
type counterProm struct {
	values map[string]float64
}

func (c *counterProm) Query(_ context.Context, q string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	v, ok := c.values[q]
	if !ok {
		return model.Vector{}, nil, nil, nil
	}
	return model.Vector{{Metric: model.Metric{}, Value: model.SampleValue(v), Timestamp: model.Now()}}, nil, nil, nil
}

// revisionSim drives the guard's own SequentialSignal over simulated
// traffic to the newest revision (hv3 of history()): every simulated second
// it adds rps requests, each failing with probability p, to the revision's
// cumulative counters, then lets the signal observe them.
type revisionSim struct {
	t      *testing.T
	prom   *counterProm
	watch  *Watch
	cfg    drills.Statistical
	errs   string
	total  string
	signal *SequentialSignal
}

func newRevisionSim(t *testing.T, cfg drills.Statistical) *revisionSim {
	t.Helper()
	w := NewWatch(fake.NewClientset(history()...), testNS, testDep)
	startWatch(t, w)
	errs, total := seqExprs("hv3")
	return &revisionSim{t: t, prom: &counterProm{values: map[string]float64{}}, watch: w, cfg: cfg, errs: errs, total: total}
}

// deploy starts a new revision: its counters do not exist yet, and the
// signal takes its baseline reading.
func (r *revisionSim) deploy() {
	r.t.Helper()
	delete(r.prom.values, r.errs)
	delete(r.prom.values, r.total)
	sig, err := NewSequentialSignal(r.prom, r.watch, r.cfg)
	require.NoError(r.t, err)
	r.signal = sig
	obs := sig.Observe(context.Background(), time.Now())
	require.Empty(r.t, obs.Hold)
	require.Empty(r.t, obs.Evidence)
}

// run simulates seconds of traffic and returns how many requests the
// revision had served when the signal first gave evidence, or -1.
func (r *revisionSim) run(rng *rand.Rand, rps int, p float64, seconds int) int {
	r.t.Helper()
	served := 0
	for range seconds {
		var errs int
		for range rps {
			if rng.Float64() < p {
				errs++
			}
		}
		served += rps
		r.prom.values[r.total] += float64(rps)
		r.prom.values[r.errs] += float64(errs)
		obs := r.signal.Observe(context.Background(), time.Now())
		require.Empty(r.t, obs.Hold)
		if len(obs.Evidence) > 0 {
			return served
		}
	}
	return -1
}

func TestSequentialDetectsWithinRequests(t *testing.T) {
	detect2 := 0.02
	for _, tc := range []struct {
		name     string
		cfg      drills.Statistical
		p        float64
		p50, p95 int // requests
	}{
		// The defaults (0.5 % baseline, 5 % to detect) at 5 % errors.
		{"sprt 5%", drills.Statistical{Method: drills.MethodSPRT}, 0.05, 250, 500},
		{"cusum 5%", drills.Statistical{Method: drills.MethodCUSUM}, 0.05, 250, 500},
		// A test tuned to catch 2 % errors (detectErrorRate: 0.02).
		{"sprt 2%", drills.Statistical{Method: drills.MethodSPRT, DetectErrorRate: &detect2}, 0.02, 1500, 3000},
		{"cusum 2%", drills.Statistical{Method: drills.MethodCUSUM, DetectErrorRate: &detect2}, 0.02, 1500, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := newRevisionSim(t, tc.cfg)
			var served []int
			for seed := range uint64(100) {
				sim.deploy()
				at := sim.run(rand.New(rand.NewPCG(seed, 1)), 50, tc.p, 300)
				require.Positive(t, at, "seed %d: %.0f%% errors never detected in 300 s", seed, tc.p*100)
				served = append(served, at)
			}
			slices.Sort(served)
			p50, p95 := served[len(served)/2], served[len(served)*95/100]
			t.Logf("detection of %.0f%% errors over 100 revisions: median %d requests (%.0f s at 50 req/s), p95 %d, max %d",
				tc.p*100, p50, float64(p50)/50, p95, served[len(served)-1])
			require.LessOrEqual(t, p50, tc.p50, "median requests to detection")
			require.LessOrEqual(t, p95, tc.p95, "p95 requests to detection")
		})
	}
}

// TestSequentialFalseAlarmsUnderBound runs 50 revisions for ten minutes
// each at 50 requests/s with 0.5 % background errors through the guard's
// signal. The stated bound (falseAlarmRate, 1e-6 by default) allows on
// average one false alarm per 1/alpha requests watched.
func TestSequentialFalseAlarmsUnderBound(t *testing.T) {
	for _, method := range []drills.StatisticalMethod{drills.MethodSPRT, drills.MethodCUSUM} {
		t.Run(string(method), func(t *testing.T) {
			sim := newRevisionSim(t, drills.Statistical{Method: method})
			alarms, requests := 0, 0
			for seed := range uint64(50) {
				sim.deploy()
				if sim.run(rand.New(rand.NewPCG(seed, 2)), 50, 0.005, 600) > 0 {
					alarms++
				}
				requests += 50 * 600
			}
			bound := float64(requests) * drills.DefaultFalseAlarmRate
			t.Logf("%d false alarm(s) over %d revisions, %d requests (bound %.2f)", alarms, 50, requests, bound)
			require.LessOrEqual(t, float64(alarms), math.Max(1, bound), "false alarms over 50 ten-minute revisions")
		})
	}
}

// TestSequentialSignalCounterReset: when a pod restarts its counter starts
// over and the sum drops; the signal re-baselines instead of feeding a
// negative count, and keeps accumulating after it.
func TestSequentialSignalCounterReset(t *testing.T) {
	sim := newRevisionSim(t, drills.Statistical{})
	sim.deploy()
	rng := rand.New(rand.NewPCG(7, 7))
	require.Equal(t, -1, sim.run(rng, 50, 0.005, 60), "healthy")
	sim.prom.values[sim.total] /= 2 // one of two pods restarted
	sim.prom.values[sim.errs] /= 2
	obs := sim.signal.Observe(context.Background(), time.Now())
	require.Empty(t, obs.Hold)
	require.Empty(t, obs.Evidence, "a reset is no evidence")
	require.Equal(t, -1, sim.run(rng, 50, 0.005, 60), "still healthy after the reset")
	require.Positive(t, sim.run(rng, 50, 0.10, 60), "a bad phase after the reset is still caught")
}

func TestSPRTAcceptsHealthyAndRestarts(t *testing.T) {
	s, err := NewSPRT(0.005, 0.05, 0.001, 0.01, 0)
	require.NoError(t, err)
	require.Equal(t, Healthy, s.Observe(200, 0))
	require.Zero(t, s.Statistic(), "a new test starts after accepting H0")
	require.Equal(t, Degraded, s.Observe(10, 10))
}

func TestSequentialMinRequests(t *testing.T) {
	s, err := NewSPRT(0.005, 0.05, 0.001, 0.01, 50)
	require.NoError(t, err)
	require.Equal(t, Undecided, s.Observe(10, 10), "no verdict before minRequests")
	require.Equal(t, Degraded, s.Observe(40, 0))
	s.Reset()
	require.Zero(t, s.Statistic())
}

func TestSequentialRejectsBadParameters(t *testing.T) {
	_, err := NewSPRT(0.05, 0.005, 0.001, 0.01, 0)
	require.ErrorContains(t, err, "p0 < p1")
	_, err = NewCUSUM(0.005, 0.05, 0, 0)
	require.ErrorContains(t, err, "alpha")
	st := defaultStatistical(drills.MethodSPRT)
	_, err = NewSequentialTest(st, 0.2)
	require.ErrorContains(t, err, "not below")
	st.Method = "bayes"
	_, err = NewSequentialTest(st, 0)
	require.ErrorContains(t, err, "unknown method")
}

func TestSequentialBaselineFloor(t *testing.T) {
	// A previous revision with zero errors must not make one error an alarm.
	test, err := NewSequentialTest(defaultStatistical(drills.MethodCUSUM), 1e-9)
	require.NoError(t, err)
	require.Equal(t, Undecided, test.Observe(50, 1))
}
