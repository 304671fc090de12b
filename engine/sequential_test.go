package engine

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func defaultStatistical(method drills.StatisticalMethod) *drills.Statistical {
	d := &drills.Drill{Spec: drills.Spec{Guard: &drills.Guard{Statistical: &drills.Statistical{Method: method}}}}
	d.Default()
	return d.Spec.Guard.Statistical
}

// simulate feeds rps requests a second with error probability p and
// returns the second of the first Degraded verdict, or -1.
func simulate(t *testing.T, test SequentialTest, rng *rand.Rand, rps int, p float64, seconds int) int {
	t.Helper()
	for s := 0; s < seconds; s++ {
		var errs int64
		for range rps {
			if rng.Float64() < p {
				errs++
			}
		}
		if test.Observe(int64(rps), errs) == Degraded {
			return s + 1
		}
	}
	return -1
}

func TestSequentialDetectsFivePercentWithinSeconds(t *testing.T) {
	for _, method := range []drills.StatisticalMethod{drills.MethodSPRT, drills.MethodCUSUM} {
		t.Run(string(method), func(t *testing.T) {
			var times []int
			for seed := range uint64(200) {
				test, err := NewSequentialTest(defaultStatistical(method), 0)
				require.NoError(t, err)
				rng := rand.New(rand.NewPCG(seed, 1))
				at := simulate(t, test, rng, 50, 0.05, 60)
				require.Positive(t, at, "seed %d: a 5%% error rate was never detected", seed)
				times = append(times, at)
			}
			slices.Sort(times)
			p50, p95 := times[len(times)/2], times[len(times)*95/100]
			t.Logf("detection after 5%% errors at 50 req/s over 200 runs: p50 %ds, p95 %ds, max %ds", p50, p95, times[len(times)-1])
			require.LessOrEqual(t, p50, 5, "median detection time (s)")
			require.LessOrEqual(t, p95, 10, "p95 detection time (s)")
		})
	}
}

// TestSequentialNoFalseAlarmOnBackgroundNoise runs the seed's soak: ten
// minutes at 50 requests/s with 0.5% background errors must not alarm.
func TestSequentialNoFalseAlarmOnBackgroundNoise(t *testing.T) {
	for _, method := range []drills.StatisticalMethod{drills.MethodSPRT, drills.MethodCUSUM} {
		t.Run(string(method), func(t *testing.T) {
			alarms := 0
			for seed := range uint64(50) {
				test, err := NewSequentialTest(defaultStatistical(method), 0)
				require.NoError(t, err)
				rng := rand.New(rand.NewPCG(seed, 2))
				if simulate(t, test, rng, 50, 0.005, 600) > 0 {
					alarms++
				}
			}
			require.Zero(t, alarms, "false alarms over 50 ten-minute soaks")
		})
	}
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
