package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/firedrill/firedrill/clusters/local/prometheus"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
)

// standardScrapeListen is where the test's second Prometheus listens.
const standardScrapeListen = "127.0.0.1:9091"

// standardScrape starts a second, real Prometheus that scrapes the shared
// cluster every 15 s, the standard interval of real clusters, and waits
// until it has scraped the demo's pods. It is stopped when the test ends.
func standardScrape(t *testing.T, st *stack.Stack) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "fdprom")
	require.NoError(t, err)
	srv := prometheus.New(dir, st.Cluster().Kubeconfig(), prometheus.WithListen(standardScrapeListen),
		prometheus.WithScrapeInterval(15*time.Second), prometheus.WithLogger(stacktest.Logger()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, srv.Delete(ctx))
		_ = os.RemoveAll(dir)
	})
	require.NoError(t, srv.Start(ctx))
	api, err := runner.DefaultPrometheus(srv.URL())
	require.NoError(t, err)
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		v, _, _, err := api.Query(ctx, `count(up{namespace="`+stack.Namespace+`"} == 1)`, time.Now())
		if err != nil {
			return false, nil
		}
		vec, ok := v.(model.Vector)
		return ok && len(vec) == 1 && vec[0].Value >= 1, nil
	})
	require.NoError(t, err, "the 15s Prometheus never scraped the demo's pods")
	targets, err := api.Targets(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, targets.Active)
	for _, tg := range targets.Active {
		require.Equal(t, "15s", string(tg.DiscoveredLabels[model.ScrapeIntervalLabel]), "every target at the standard interval")
	}
	return srv.URL()
}

// scrapeDrills are the shipped drills make test runs at a 15 s scrape: one
// caught by a Kubernetes signal, one only Prometheus can see (the error
// ratio, through the widened windows). FIREDRILL_SCRAPE_DRILLS=all runs
// every one (make bench does).
func scrapeDrills() []string {
	if os.Getenv("FIREDRILL_SCRAPE_DRILLS") == "all" {
		return []string{"bad-image.yaml", "bad-config.yaml", "pod-kill.yaml", "network-partition-weekly.yaml",
			"data-corruption.yaml", "corrupt-release.yaml"}
	}
	return []string{"bad-image.yaml", "corrupt-release.yaml"}
}

// TestRunAtStandardScrape points the shipped drills, unchanged but for
// their Prometheus URL, at a Prometheus that scrapes every 15 s: the
// generated windows are widened to four scrapes, the guard's staleness
// limit to two, and each drill passes. A drill that writes a [5s] window is
// refused before anything is touched, with the file and line of the rule.
func TestRunAtStandardScrape(t *testing.T) {
	st, cs := stackClient(t)
	url := standardScrape(t, st)

	t.Run("5s window refused", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join("..", "drills", "examples", "pod-kill.yaml"))
		require.NoError(t, err)
		drill := strings.Replace(strings.Replace(string(src), "  guard:\n", `  guard:
    rules:
      - name: FastErrors
        expr: sum(rate(http_requests_total{ {{.Scope}}, code=~"5.." }[5s]))
        threshold: 1
`, 1), "http://127.0.0.1:9090", url, 1)
		file := filepath.Join(t.TempDir(), "fast-window.yaml")
		require.NoError(t, os.WriteFile(file, []byte(drill), 0o644))
		ds, err := drills.LoadFile(file)
		require.NoError(t, err)
		line := 0
		for i, l := range strings.Split(drill, "\n") {
			if strings.Contains(l, "[5s]") {
				line = i + 1
			}
		}
		res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), ds[0])
		require.NoError(t, err)
		logResult(t, res)
		require.Equal(t, drills.VerdictError, res.Verdict)
		require.Contains(t, res.Reason, file+":"+strconv.Itoa(line)+": spec.guard.rules[0].expr: window [5s] is shorter than 4× the target's scrape interval (15s")
		require.Zero(t, kinds(res)[drills.EventFault], "refused before any fault")
		requireRestored(t, cs)
	})

	for _, file := range scrapeDrills() {
		t.Run(strings.TrimSuffix(file, ".yaml"), func(t *testing.T) {
			if file == "bad-config.yaml" { // pushes to the canary track
				cfg, err := st.Cluster().RESTConfig()
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				require.NoError(t, stack.InstallCanary(ctx, cfg, 2*time.Minute))
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					require.NoError(t, stack.RemoveCanary(ctx, cfg, time.Minute))
				})
			}
			d := loadExample(t, file)
			d.Spec.Prometheus.URL = url
			for i := range d.Spec.Faults {
				if d.Spec.Faults[i].Duration != nil {
					d.Spec.Faults[i].Duration = drills.D(20 * time.Second)
				}
			}
			res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
			require.NoError(t, err)
			logResult(t, res)
			t.Logf("at a 15s scrape: %s MTTD %v MTTR %v", file, res.MTTD, res.MTTR)
			require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
			var notes []string
			for _, e := range res.Events {
				notes = append(notes, e.Message)
			}
			all := strings.Join(notes, "\n")
			require.Contains(t, all, "target scraped every 15s")
			if d.Spec.Guard != nil && d.Spec.Guard.DefaultRules != nil && *d.Spec.Guard.DefaultRules {
				require.Contains(t, all, "generated rules' rate window 15s → 1m, for the target's 15s scrape")
				require.NotContains(t, all, "[15s]", "no generated window shorter than four scrapes")
			}
			requireRestored(t, cs)
		})
	}
}
