package runner

import (
	"context"
	"fmt"
	"math"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine/signals"
)

// promTimeline adds Prometheus's view of the run to the timeline, one
// sample a second: the target's request rate, error ratio and p99, read
// from its own metrics (those the guard's signals were generated from, or
// detected now) over a window of at least four scrapes. A workload whose
// metrics cannot be found simply has no Prometheus samples.
func (run *Run) promTimeline(ctx context.Context) {
	if run.prom == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	d := run.drill
	sc := drills.TargetScope(d.Spec.Target)
	m := run.metrics
	if m == nil {
		found, err := signals.Detect(ctx, run.prom, sc, d.Spec.Target.Metrics, run.r.now())
		if err != nil {
			run.r.log.Warn("prometheus timeline: the target's request metrics", "err", err)
			return
		}
		m = &found
	}
	w := model.Duration(max(5*time.Second, signals.MinScrapesPerWindow*run.scrape)).String()
	sel := sc.Matchers()
	exprs := map[string]string{
		"throughput": fmt.Sprintf(`sum(rate(%s[%s]))`, m.Selector(sel), w),
		"errorRate":  fmt.Sprintf(`(sum(rate(%s[%s])) or vector(0)) / sum(rate(%s[%s]))`, m.ErrorsSelector(sel), w, m.Selector(sel), w),
	}
	if m.Latency != "" {
		exprs["p99"] = fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(%s{%s}[%s])))`, m.Latency, sel, w)
	}
	r := promv1.Range{Start: run.res.Started.Truncate(time.Second), End: run.res.Finished, Step: time.Second}
	series := map[string]map[int64]float64{}
	for name, expr := range exprs {
		v, _, _, err := run.prom.QueryRange(ctx, expr, r)
		if err != nil {
			run.r.log.Warn("prometheus timeline", "query", name, "err", err)
			return
		}
		m, ok := v.(model.Matrix)
		if !ok || len(m) == 0 {
			continue
		}
		series[name] = map[int64]float64{}
		for _, p := range m[0].Values {
			f := float64(p.Value)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			series[name][p.Timestamp.Unix()] = f
		}
	}
	tp := series["throughput"]
	for ts := r.Start.Unix(); ts <= r.End.Unix(); ts++ {
		thr, ok := tp[ts]
		if !ok {
			continue
		}
		run.res.Timeline = append(run.res.Timeline, drills.Sample{
			Time: time.Unix(ts, 0), Source: drills.SourcePrometheus,
			Throughput: thr, ErrorRate: series["errorRate"][ts], P99: series["p99"][ts],
		})
	}
}
