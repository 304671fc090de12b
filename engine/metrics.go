package engine

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's own metrics, registered on a registry the
// caller owns (never the global one).
type Metrics struct {
	// Rollbacks counts actions by strategy and outcome (success, failure,
	// already-done).
	Rollbacks *prometheus.CounterVec
	// Detection is the time from the start of an anomaly (the earliest
	// evidence) to the decision to act, in seconds.
	Detection prometheus.Histogram
	// Recovery is the time from detection until the rules were clear
	// again and stayed clear for the verify window, in seconds.
	Recovery prometheus.Histogram
}

// Outcome labels of firedrill_rollbacks_total.
const (
	OutcomeSuccess     = "success"
	OutcomeFailure     = "failure"
	OutcomeAlreadyDone = "already-done"
)

// NewMetrics builds the metrics and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firedrill_rollbacks_total",
			Help: "Rollback actions taken by the engine, by strategy and outcome.",
		}, []string{"strategy", "outcome"}),
		Detection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firedrill_detection_seconds",
			Help:    "Time from the start of an anomaly to the engine's decision to act.",
			Buckets: []float64{0.5, 1, 2, 3, 5, 10, 15, 30, 60, 120},
		}),
		Recovery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firedrill_recovery_seconds",
			Help:    "Time from detection until the rules were clear again.",
			Buckets: []float64{1, 5, 10, 20, 30, 60, 120, 300, 600},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Rollbacks, m.Detection, m.Recovery} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("engine metrics: %w", err)
			}
		}
	}
	return m, nil
}
