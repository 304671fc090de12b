package engine

import (
	"context"
	"fmt"
	"strings"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/firedrill/firedrill/drills"
)

// SequentialSignal runs the guard's sequential test (SPRT or CUSUM) on the
// newest revision, identified by its pod_template_hash. When a new
// revision appears it builds a new test whose baseline is the previous
// revision's observed error rate (ErrorsExpr/TotalExpr of the previous
// hash), or the configured baseline when that revision served nothing or
// was itself degraded (at or above DetectErrorRate, e.g. after a revert).
// Each evaluation feeds the test the request and error counts that the
// expressions return for the new revision over their window, afresh (the
// test is reset first), so the verdict is about the revision's recent
// requests. Degraded is categorical evidence.
type SequentialSignal struct {
	api   PromQuerier
	watch *Watch
	cfg   drills.Statistical

	errorsT, totalT *template.Template
	revision        string
	test            SequentialTest
	since           time.Time
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
	hash := snap.New.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if hash == "" {
		return Observation{Hold: []string{fmt.Sprintf("sequential: replica set %s has no %s label", snap.New.Name, appsv1.DefaultDeploymentUniqueLabelKey)}}
	}
	if hash != s.revision || s.test == nil {
		baseline := 0.0
		if snap.Previous != nil {
			if ph := snap.Previous.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ph != "" {
				// A previous revision that was itself degraded (e.g. the
				// bad release a revert just left) is no baseline: use
				// the configured one.
				if total, errs, err := s.counts(ctx, ph); err == nil && total > 0 && errs/total < *s.cfg.DetectErrorRate {
					baseline = errs / total
				}
			}
		}
		test, err := NewSequentialTest(&s.cfg, baseline)
		if err != nil {
			return Observation{Hold: []string{err.Error()}}
		}
		s.revision, s.test, s.since = hash, test, time.Time{}
	}
	total, errs, err := s.counts(ctx, hash)
	if err != nil {
		return Observation{Hold: []string{"sequential: " + err.Error()}}
	}
	s.test.Reset()
	if s.test.Observe(int64(total), int64(errs)) != Degraded {
		s.since = time.Time{}
		return Observation{}
	}
	if s.since.IsZero() {
		s.since = now
	}
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
