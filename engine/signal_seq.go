package engine

import (
	"context"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// SequentialSignal runs the guard's sequential test (SPRT or CUSUM) on the
// newest revision, identified by its pod template hash (a Deployment's
// pod-template-hash, a Rollout's rollouts-pod-template-hash: the canary's
// during a canary step). When a new revision appears it builds a new test
// whose baseline is the previous revision's (a Rollout's stable one)
// observed error rate (ErrorsExpr/TotalExpr of the previous
// hash), or the configured baseline when that revision served nothing or
// was itself degraded (at or above DetectErrorRate, e.g. after a revert).
//
// The expressions return the revision's cumulative counters (the
// generated defaults and the fallback sum the counters of the revision's
// pods, not an increase over a window), and the test
// accumulates from the revision's first request, as the SPRT and CUSUM
// maths assume: the first reading when the revision appears is the
// baseline (zero when its series do not exist yet, so every request it
// serves counts), and each evaluation feeds the test only the requests and
// errors since the previous reading. When a counter goes down (a pod
// restarted and its counter started over, so the sum dropped) the signal
// takes the new reading as its baseline and feeds nothing for that
// evaluation: it may miss the requests of one interval, never invents any.
// Degraded is categorical evidence.
type SequentialSignal struct {
	api   PromQuerier
	watch *Watch
	cfg   drills.Statistical

	errorsT, totalT *template.Template
	revision        string
	test            SequentialTest
	since           time.Time
	// primed is set once the revision's baseline reading was taken;
	// lastTotal and lastErrors are the previous reading.
	primed                bool
	lastTotal, lastErrors float64
}

// NewSequentialSignal builds the signal; the expressions must be valid
// templates.
func NewSequentialSignal(api PromQuerier, w *Watch, cfg drills.Statistical) (*SequentialSignal, error) {
	g := drills.Guard{Statistical: &cfg}
	// Fill unset settings with the drills defaults.
	d := drills.Drill{Spec: drills.Spec{Guard: &g}}
	d.Default()
	cfg = *d.Spec.Guard.Statistical
	if cfg.ErrorsExpr == "" {
		cfg.ErrorsExpr = drills.FallbackErrorsExpr
	}
	if cfg.TotalExpr == "" {
		cfg.TotalExpr = drills.FallbackTotalExpr
	}
	et, err := template.New("errorsExpr").Option("missingkey=error").Parse(cfg.ErrorsExpr)
	if err != nil {
		return nil, fmt.Errorf("sequential signal: errorsExpr: %w", err)
	}
	tt, err := template.New("totalExpr").Option("missingkey=error").Parse(cfg.TotalExpr)
	if err != nil {
		return nil, fmt.Errorf("sequential signal: totalExpr: %w", err)
	}
	return &SequentialSignal{api: api, watch: w, cfg: cfg, errorsT: et, totalT: tt}, nil
}

// Name implements Signal.
func (*SequentialSignal) Name() string { return "sequential" }

// Observe implements Signal.
func (s *SequentialSignal) Observe(ctx context.Context, now time.Time) Observation {
	snap, err := s.watch.Snapshot()
	if err != nil {
		return Observation{Hold: []string{err.Error()}}
	}
	if snap.New == nil {
		return Observation{Hold: []string{"sequential: no replica set for the current template yet"}}
	}
	hash := snap.NewHash
	if hash == "" {
		return Observation{Hold: []string{fmt.Sprintf("sequential: replica set %s has no %s label", snap.New.Name, snap.HashLabel)}}
	}
	if hash != s.revision || s.test == nil {
		baseline := 0.0
		if ph := snap.PreviousHash; ph != "" {
			// A previous revision that was itself degraded (e.g. the
			// bad release a revert just left) is no baseline: use
			// the configured one.
			if total, errs, err := s.counts(ctx, ph); err == nil && total > 0 && errs/total < *s.cfg.DetectErrorRate {
				baseline = errs / total
			}
		}
		test, err := NewSequentialTest(&s.cfg, baseline)
		if err != nil {
			return Observation{Hold: []string{err.Error()}}
		}
		s.revision, s.test, s.since, s.primed = hash, test, time.Time{}, false
	}
	total, errs, err := s.counts(ctx, hash)
	if err != nil {
		return Observation{Hold: []string{"sequential: " + err.Error()}}
	}
	dTotal, dErrs := total-s.lastTotal, errs-s.lastErrors
	first, reset := !s.primed, dTotal < 0 || dErrs < 0
	s.primed, s.lastTotal, s.lastErrors = true, total, errs
	if first || reset {
		// The baseline reading, or a counter reset: start from here.
		if !s.since.IsZero() {
			return s.degraded(hash) // keep a verdict already reached
		}
		return Observation{}
	}
	if s.test.Observe(int64(math.Round(dTotal)), int64(math.Round(dErrs))) != Degraded {
		s.since = time.Time{}
		return Observation{}
	}
	if s.since.IsZero() {
		s.since = now
	}
	return s.degraded(hash)
}

// degraded is the evidence of a Degraded verdict on revision hash.
func (s *SequentialSignal) degraded(hash string) Observation {
	return Observation{Evidence: []Evidence{{
		Kind: EvidenceSequential, Source: fmt.Sprintf("%s(revision %s)", s.cfg.Method, hash),
		Severity: s.cfg.Severity, Since: s.since, Value: s.test.Statistic(),
	}}}
}

// counts queries the request and error counts of a revision.
func (s *SequentialSignal) counts(ctx context.Context, revision string) (total, errs float64, err error) {
	run := func(t *template.Template) (Reading, error) {
		var b strings.Builder
		if err := t.Execute(&b, struct{ Revision string }{revision}); err != nil {
			return Reading{}, fmt.Errorf("%s: %w", t.Name(), err)
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		val, _, _, err := s.api.Query(ctx, b.String(), time.Time{})
		if err != nil {
			return Reading{}, fmt.Errorf("query %q: %w", b.String(), err)
		}
		return readingOf(val), nil
	}
	t, err := run(s.totalT)
	if err != nil {
		return 0, 0, err
	}
	e, err := run(s.errorsT)
	if err != nil {
		return 0, 0, err
	}
	return t.Value, e.Value, nil
}
