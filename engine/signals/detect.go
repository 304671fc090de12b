package signals

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/firedrill/firedrill/drills"
)

// SeriesAPI is the part of the Prometheus HTTP API (api/v1) detection
// uses; v1.NewAPI returns one.
type SeriesAPI interface {
	Series(ctx context.Context, matches []string, startTime, endTime time.Time, opts ...v1.Option) ([]model.LabelSet, v1.Warnings, v1.Infos, error)
}

// Lookback is how far back Detect looks for the target's series.
const Lookback = 15 * time.Minute

// ErrNoMetrics is wrapped by Detect's error when the target's pods have
// none of the series it looked for. A workload whose counters appear only
// with its first request may simply not have served one yet.
var ErrNoMetrics = errors.New("no request metrics found")

// Metrics are the target's request metrics, from the drill or detected.
type Metrics struct {
	// Convention the metrics follow; it decides which statuses are errors.
	Convention drills.MetricsConvention
	// Requests is the request counter series.
	Requests string
	// StatusLabel is the counter's status label.
	StatusLabel string
	// Errors is the regular expression of the error status values.
	Errors string
	// Latency is the latency histogram's bucket series ("" when there is
	// none: no latency rule).
	Latency string
	// Found is the series the request counter was detected from ("" when
	// the drill named it).
	Found string
	// LatencyFound is the series the histogram was detected from.
	LatencyFound string
}

// String describes the metrics for events and logs.
func (m Metrics) String() string {
	s := fmt.Sprintf("%s metrics: requests %s{%s=~%q}", m.Convention, m.Requests, m.StatusLabel, m.Errors)
	if m.Found != "" {
		s += " (found " + m.Found + ")"
	}
	if m.Latency == "" {
		return s + ", no latency histogram"
	}
	s += ", latency " + m.Latency
	if m.LatencyFound != "" {
		s += " (found " + m.LatencyFound + ")"
	}
	return s
}

// Detect finds how the target reports its requests among the series of its
// own pods (sc) over the last Lookback before now. What the drill names in
// want is taken as it is; a drill that names the counter and its status
// label needs no detection of them, only of the histogram (optional).
// Otherwise the conventions are tried in order (only want.Convention's
// when set) and the first whose counter has a status label wins. Nothing
// found is an error wrapping ErrNoMetrics that names what was looked for
// and the field to set.
func Detect(ctx context.Context, api SeriesAPI, sc drills.Scope, want *drills.TargetMetrics, now time.Time) (Metrics, error) {
	cands := conventionsFor(want)
	if len(cands) == 0 {
		return Metrics{}, fmt.Errorf("signals: unknown convention %q", want.Convention)
	}
	names := map[string]bool{}
	for _, c := range cands {
		names[c.Requests] = true
		for _, l := range c.Latency {
			names[l] = true
		}
	}
	series, err := seriesOf(ctx, api, sc, names, now)
	if err != nil {
		return Metrics{}, err
	}
	latency := func(c Convention) (string, string) {
		for _, l := range c.Latency {
			if ls := series[l]; len(ls) > 0 {
				return l, ls[0].String()
			}
		}
		return "", ""
	}
	if want != nil && want.Requests != "" && want.StatusLabel != "" {
		c := cands[0]
		m := Metrics{Convention: c.Name, Requests: want.Requests, StatusLabel: want.StatusLabel, Errors: c.Errors, Latency: want.Latency}
		if m.Latency == "" {
			m.Latency, m.LatencyFound = latency(c)
		}
		return m, nil
	}
	for _, c := range cands {
		for _, label := range c.StatusLabels {
			for _, ls := range series[c.Requests] {
				if _, ok := ls[model.LabelName(label)]; !ok {
					continue
				}
				m := Metrics{Convention: c.Name, Requests: c.Requests, StatusLabel: label, Errors: c.Errors, Found: ls.String()}
				m.Latency, m.LatencyFound = latency(c)
				return m, nil
			}
		}
	}
	why := ""
	if up, err := seriesOf(ctx, api, sc, map[string]bool{"up": true}, now); err == nil && len(up["up"]) == 0 {
		why = "; Prometheus scrapes none of these pods (no up series): check that they are scrape targets"
	}
	return Metrics{}, fmt.Errorf("%w for the pods of %s (namespace=%q, pod=~%q) in the last %s: looked for %s%s; name the workload's own in spec.target.metrics (requests, statusLabel, latency)",
		ErrNoMetrics, sc.Workload, sc.Namespace, sc.Pods, Lookback, describe(cands), why)
}

// seriesOf returns, by metric name, the series of the scope named in names.
func seriesOf(ctx context.Context, api SeriesAPI, sc drills.Scope, names map[string]bool, now time.Time) (map[string][]model.LabelSet, error) {
	var list []string
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	match := "{" + sc.Matchers() + ",__name__=~" + strconv.Quote(strings.Join(list, "|")) + "}"
	ls, _, _, err := api.Series(ctx, []string{match}, now.Add(-Lookback), now)
	if err != nil {
		return nil, fmt.Errorf("signals: series %s: %w", match, err)
	}
	out := map[string][]model.LabelSet{}
	for _, l := range ls {
		n := string(l[model.MetricNameLabel])
		out[n] = append(out[n], l)
	}
	return out, nil
}
