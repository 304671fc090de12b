package runner

import (
	"context"
	"fmt"
	"math"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/firedrill/firedrill/drills"
)

// promTimeline adds Prometheus's view of the run to the timeline, one
// sample a second: the target namespace's request rate, 5xx ratio and p99
// from the conventional http_requests_total and
// http_request_duration_seconds metrics. A workload without those metrics
// simply has no Prometheus samples.
func (run *Run) promTimeline(ctx context.Context) {
	if run.prom == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	ns := run.drill.Spec.Target.Namespace
	sel := fmt.Sprintf(`namespace=%q`, ns)
	exprs := map[string]string{
		"throughput": fmt.Sprintf(`sum(rate(http_requests_total{%s}[5s]))`, sel),
		"errorRate":  fmt.Sprintf(`(sum(rate(http_requests_total{%s,code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{%s}[5s]))`, sel, sel),
		"p99":        fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{%s}[5s])))`, sel),
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
