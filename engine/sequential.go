package engine

import (
	"fmt"
	"math"

	"github.com/firedrill/firedrill/drills"
)

// SequentialVerdict is the state of a sequential test.
type SequentialVerdict int

// Sequential test verdicts.
const (
	// Undecided: not enough evidence either way yet.
	Undecided SequentialVerdict = iota
	// Healthy: the error rate looks like the baseline (H0 accepted). A
	// repeated SPRT then starts a new test; CUSUM never reports it.
	Healthy
	// Degraded: the error rate looks like the degraded rate (H1 accepted).
	Degraded
)

func (v SequentialVerdict) String() string {
	switch v {
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	}
	return "undecided"
}

// SequentialTest decides, batch by batch of requests, whether a revision's
// error rate is the baseline rate p0 or the degraded rate p1. Both tests
// below use the same per-request log-likelihood ratio of a Bernoulli
// process:
//
//	error:   ln(p1/p0)          success: ln((1-p1)/(1-p0))
//
// so that at 50 requests/s a 5% error rate against a 0.5% baseline gains
// about +3.6 nats a second, and 0.5% background noise loses about 1.7.
type SequentialTest interface {
	// Observe adds a batch of requests, errors of them failed, and returns
	// the verdict after it.
	Observe(requests, errors int64) SequentialVerdict
	// Statistic is the current test statistic (nats), for audit records.
	Statistic() float64
	// Reset starts over, e.g. when the revision under test changes.
	Reset()
}

// bernoulliLLR holds the per-request log-likelihood ratios.
type bernoulliLLR struct {
	onError, onSuccess float64
}

func newBernoulliLLR(p0, p1 float64) (bernoulliLLR, error) {
	if !(p0 > 0 && p0 < 1 && p1 > 0 && p1 < 1 && p1 > p0) {
		return bernoulliLLR{}, fmt.Errorf("sequential test: need 0 < p0 < p1 < 1, got p0=%v p1=%v", p0, p1)
	}
	return bernoulliLLR{
		onError:   math.Log(p1 / p0),
		onSuccess: math.Log((1 - p1) / (1 - p0)),
	}, nil
}

func (b bernoulliLLR) of(requests, errors int64) float64 {
	if requests <= 0 {
		return 0
	}
	errors = min(max(errors, 0), requests)
	return float64(errors)*b.onError + float64(requests-errors)*b.onSuccess
}

// SPRT is Wald's sequential probability ratio test, repeated: when it
// accepts H0 (healthy) it starts a new test, so it keeps watching.
// Boundaries: A = ln((1-β)/α) to decide degraded, B = ln(β/(1-α)) to decide
// healthy.
type SPRT struct {
	llr        bernoulliLLR
	upper      float64
	lower      float64
	statistic  float64
	minSamples int64
	seen       int64
}

// NewSPRT builds a repeated SPRT between baseline error rate p0 and degraded
// rate p1 with false-alarm rate alpha and miss rate beta; no verdict is given
// before minRequests requests were seen.
func NewSPRT(p0, p1, alpha, beta float64, minRequests int64) (*SPRT, error) {
	llr, err := newBernoulliLLR(p0, p1)
	if err != nil {
		return nil, err
	}
	if !(alpha > 0 && alpha < 1 && beta > 0 && beta < 1) {
		return nil, fmt.Errorf("sprt: need 0 < alpha, beta < 1, got %v, %v", alpha, beta)
	}
	return &SPRT{
		llr:        llr,
		upper:      math.Log((1 - beta) / alpha),
		lower:      math.Log(beta / (1 - alpha)),
		minSamples: minRequests,
	}, nil
}

// Observe implements SequentialTest.
func (s *SPRT) Observe(requests, errors int64) SequentialVerdict {
	s.seen += max(requests, 0)
	s.statistic += s.llr.of(requests, errors)
	if s.seen < s.minSamples {
		return Undecided
	}
	switch {
	case s.statistic >= s.upper:
		return Degraded
	case s.statistic <= s.lower:
		s.statistic = 0
		return Healthy
	}
	return Undecided
}

// Statistic implements SequentialTest.
func (s *SPRT) Statistic() float64 { return s.statistic }

// Reset implements SequentialTest.
func (s *SPRT) Reset() { s.statistic, s.seen = 0, 0 }

// CUSUM is Page's cumulative sum test: the log-likelihood ratio summed and
// floored at zero, alarming at h = ln(1/α). It never accepts H0; it only
// detects a shift.
type CUSUM struct {
	llr        bernoulliLLR
	h          float64
	statistic  float64
	minSamples int64
	seen       int64
}

// NewCUSUM builds a CUSUM between baseline rate p0 and degraded rate p1
// alarming at ln(1/alpha).
func NewCUSUM(p0, p1, alpha float64, minRequests int64) (*CUSUM, error) {
	llr, err := newBernoulliLLR(p0, p1)
	if err != nil {
		return nil, err
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("cusum: need 0 < alpha < 1, got %v", alpha)
	}
	return &CUSUM{llr: llr, h: math.Log(1 / alpha), minSamples: minRequests}, nil
}

// Observe implements SequentialTest.
func (c *CUSUM) Observe(requests, errors int64) SequentialVerdict {
	c.seen += max(requests, 0)
	c.statistic = math.Max(0, c.statistic+c.llr.of(requests, errors))
	if c.seen >= c.minSamples && c.statistic >= c.h {
		return Degraded
	}
	return Undecided
}

// Statistic implements SequentialTest.
func (c *CUSUM) Statistic() float64 { return c.statistic }

// Reset implements SequentialTest.
func (c *CUSUM) Reset() { c.statistic, c.seen = 0, 0 }

// NewSequentialTest builds the test a drill's statistical settings ask for.
// baseline, when above zero, replaces the configured baseline error rate
// (e.g. the previous revision's observed rate); it is kept at least a tenth
// of the degraded rate so that a perfect previous revision does not make
// every single error an alarm.
func NewSequentialTest(st *drills.Statistical, baseline float64) (SequentialTest, error) {
	if st == nil {
		return nil, fmt.Errorf("sequential test: no statistical settings")
	}
	p0 := *st.BaselineErrorRate
	p1 := *st.DetectErrorRate
	if baseline > 0 {
		p0 = baseline
	}
	p0 = math.Max(p0, p1/10)
	if p0 >= p1 {
		return nil, fmt.Errorf("sequential test: baseline error rate %.4f is not below the rate to detect %.4f", p0, p1)
	}
	switch st.Method {
	case drills.MethodCUSUM:
		return NewCUSUM(p0, p1, *st.FalseAlarmRate, int64(st.MinRequests))
	case drills.MethodSPRT, "":
		return NewSPRT(p0, p1, *st.FalseAlarmRate, *st.MissRate, int64(st.MinRequests))
	}
	return nil, fmt.Errorf("sequential test: unknown method %q", st.Method)
}
