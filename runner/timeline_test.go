package runner

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine/signals"
)

// The Prometheus timeline reads the target's own metrics, scoped to its
// pods, over a window of four scrapes: a Micrometer service scraped every
// 15 s gets samples, not the demo's http_requests_total over [5s].
func TestPromTimelineReadsTheTargetsMetrics(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		q := r.Form.Get("query")
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		start := r.Form.Get("start")
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[%s,"2"]]}]}}`, start)
	}))
	t.Cleanup(srv.Close)
	d := signalsDrill(srv.URL)
	run := New(nil).newRun(d)
	var err error
	run.prom, err = DefaultPrometheus(srv.URL)
	require.NoError(t, err)
	run.scrape = 15 * time.Second
	run.metrics = &signals.Metrics{Convention: drills.ConventionMicrometer, Requests: "http_server_requests_seconds_count", StatusLabel: "status", Errors: signals.HTTPErrors}
	run.res.Started = time.Unix(1700000000, 0)
	run.res.Finished = run.res.Started.Add(3 * time.Second)
	run.promTimeline(context.Background())

	require.Len(t, queries, 2, "no histogram, no p99 query: %q", queries)
	for _, q := range queries {
		require.Contains(t, q, `http_server_requests_seconds_count{namespace="demo",pod=~"payment-[a-z0-9]{1,10}-[a-z0-9]{5}"`)
		require.Contains(t, q, "[1m]")
		require.NotContains(t, q, "http_requests_total")
	}
	require.True(t, strings.Contains(strings.Join(queries, " "), `status=~"5.."`))
	require.Len(t, run.res.Timeline, 1)
	require.Equal(t, drills.SourcePrometheus, run.res.Timeline[0].Source)
	require.Equal(t, 2.0, run.res.Timeline[0].Throughput)
}
