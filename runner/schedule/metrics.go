package schedule

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reasons a due run did not start, the reason label of
// firedrill_schedule_skipped_total.
const (
	// ReasonStillRunning: concurrencyPolicy Forbid and the previous run of
	// the drill was still running.
	ReasonStillRunning = "still-running"
	// ReasonMissed: a run fell due while the scheduler was down and the
	// missed-run policy is skip.
	ReasonMissed = "missed"
	// ReasonDeadlineExceeded: a run fell due while the scheduler was down,
	// longer ago than the starting deadline.
	ReasonDeadlineExceeded = "deadline-exceeded"
	// ReasonReplaced: concurrencyPolicy Replace and a newer run fell due
	// before this one could start.
	ReasonReplaced = "replaced"
)

// metrics are the scheduler's Prometheus series.
type metrics struct {
	runs         *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	running      *prometheus.GaugeVec
	lastRun      *prometheus.GaugeVec
	lastDuration *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firedrill_schedule_runs_total",
			Help: "Finished scheduled drill runs by verdict.",
		}, []string{"drill", "verdict"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firedrill_schedule_skipped_total",
			Help: "Scheduled drill runs that did not start, by reason (still-running, missed, deadline-exceeded, replaced).",
		}, []string{"drill", "reason"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "firedrill_schedule_running",
			Help: "Drill runs in progress.",
		}, []string{"drill"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "firedrill_schedule_last_run_timestamp_seconds",
			Help: "Unix time the drill's last run finished.",
		}, []string{"drill"}),
		lastDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "firedrill_schedule_last_duration_seconds",
			Help: "How long the drill's last run took.",
		}, []string{"drill"}),
	}
	var err error
	if m.runs, err = register(reg, m.runs); err != nil {
		return nil, err
	}
	if m.skipped, err = register(reg, m.skipped); err != nil {
		return nil, err
	}
	if m.running, err = register(reg, m.running); err != nil {
		return nil, err
	}
	if m.lastRun, err = register(reg, m.lastRun); err != nil {
		return nil, err
	}
	if m.lastDuration, err = register(reg, m.lastDuration); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector already
// registered (a second scheduler on the same registry shares the series).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, err
}

// Registry returns the registry that holds the scheduler's metrics.
func (s *Scheduler) Registry() *prometheus.Registry { return s.reg }

// Handler serves the scheduler's registry in the Prometheus exposition
// format, for /metrics.
func (s *Scheduler) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}
