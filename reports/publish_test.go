package reports

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// writeRuns writes one JSON report per run into a new runs folder: five
// daily runs of bad-image-rollback (the third failed) and two of bad-config.
func writeRuns(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	base := sampleResults()
	var runs []drills.Result
	for day := range 5 {
		r := base[0]
		r.RunID = fmt.Sprintf("img-%d", day)
		r.Started = t0.Add(time.Duration(day) * 24 * time.Hour)
		r.Finished = r.Started.Add(95 * time.Second)
		r.MTTD = drills.D(time.Duration(5+day) * time.Second)
		r.MTTR = drills.D(time.Duration(20+3*day) * time.Second)
		r.Timeline, r.Events = nil, nil
		if day == 2 {
			r.Verdict, r.MTTR = drills.VerdictFailed, nil
		}
		runs = append(runs, r)
	}
	for day := range 2 {
		r := base[1]
		r.RunID = fmt.Sprintf("cfg-%d", day)
		r.Started = t0.Add(time.Duration(day)*24*time.Hour + time.Hour)
		r.Finished = r.Started.Add(time.Minute)
		runs = append(runs, r)
	}
	for _, r := range runs {
		f, err := os.Create(filepath.Join(dir, r.RunID+".json"))
		require.NoError(t, err)
		require.NoError(t, JSONWriter{}.Write(context.Background(), f, []drills.Result{r}))
		require.NoError(t, f.Close())
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a report"), 0o644))
	return dir
}

func listRuns(t *testing.T, site string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(site, "runs", "*.html"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".html"))
	}
	sort.Strings(names)
	return names
}

func TestPublishKeepsNewestPerDrill(t *testing.T) {
	runs := writeRuns(t)
	site := filepath.Join(t.TempDir(), "site")
	require.NoError(t, Publish(context.Background(), runs, site, 3))

	require.Equal(t, []string{
		"bad-config-cfg-0", "bad-config-cfg-1",
		"bad-image-rollback-img-2", "bad-image-rollback-img-3", "bad-image-rollback-img-4",
	}, listRuns(t, site))
	index, err := os.ReadFile(filepath.Join(site, "index.html"))
	require.NoError(t, err)
	html := string(index)
	require.Contains(t, html, `href="runs/bad-image-rollback-img-4.html"`)
	require.NotContains(t, html, "img-1")
	require.NotContains(t, html, "img-0")
	// MTTD, MTTR and pass rate per drill.
	require.Equal(t, 6, strings.Count(html, `<svg class="chart"`))
	require.Contains(t, html, `<path class="line s-mttd"`)
	require.Contains(t, html, `<path class="line s-passrate"`)
	for _, bad := range []string{"<script", "http://", "https://", "src="} {
		require.NotContains(t, html, bad)
	}
	// Each run page is a full report with a way back; its JSON reads back.
	page, err := os.ReadFile(filepath.Join(site, "runs", "bad-image-rollback-img-4.html"))
	require.NoError(t, err)
	require.Contains(t, string(page), `href="../index.html"`)
	f, err := os.Open(filepath.Join(site, "runs", "bad-config-cfg-1.json"))
	require.NoError(t, err)
	defer f.Close()
	got, err := ReadJSON(f)
	require.NoError(t, err)
	require.Equal(t, "cfg-1", got[0].RunID)

	// Publishing again with a smaller limit replaces the site; nothing is
	// left next to it.
	require.NoError(t, Publish(context.Background(), runs, site, 1))
	require.Equal(t, []string{"bad-config-cfg-1", "bad-image-rollback-img-4"}, listRuns(t, site))
	entries, err := os.ReadDir(filepath.Dir(site))
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// 0 keeps everything.
	require.NoError(t, Publish(context.Background(), runs, site, 0))
	require.Len(t, listRuns(t, site), 7)
}

func TestPublishFailureLeavesOldSite(t *testing.T) {
	runs := writeRuns(t)
	site := filepath.Join(t.TempDir(), "site")
	require.NoError(t, Publish(context.Background(), runs, site, 2))
	before := snapshot(t, site)

	boom := errors.New("disk full")
	for _, failAt := range []int{1, 4, 9} {
		n := 0
		failing := func(name string, data []byte, perm os.FileMode) error {
			n++
			if n == failAt {
				return boom
			}
			return os.WriteFile(name, data, perm)
		}
		err := publish(context.Background(), runs, site, 0, failing)
		require.ErrorIs(t, err, boom)
		require.Equal(t, before, snapshot(t, site), "failing at write %d changed the site", failAt)
		entries, err := os.ReadDir(filepath.Dir(site))
		require.NoError(t, err)
		require.Len(t, entries, 1, "temporary folders left behind")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, Publish(ctx, runs, site, 0), context.Canceled)
	require.Equal(t, before, snapshot(t, site))
}

func TestPublishErrors(t *testing.T) {
	runs := writeRuns(t)
	out := filepath.Join(t.TempDir(), "site")
	require.Error(t, Publish(context.Background(), runs, out, -1))
	require.Error(t, Publish(context.Background(), filepath.Join(runs, "missing"), out, 1))

	require.NoError(t, os.WriteFile(filepath.Join(runs, "broken.json"), []byte(`{"schemaVersion":"nope"}`), 0o644))
	err := Publish(context.Background(), runs, out, 1)
	require.ErrorContains(t, err, "broken.json")
	_, statErr := os.Stat(out)
	require.True(t, os.IsNotExist(statErr))

	require.NoError(t, os.Remove(filepath.Join(runs, "broken.json")))
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	require.ErrorContains(t, Publish(context.Background(), runs, file, 1), "not a folder")

	// A runs folder inside the site would be wiped by the swap.
	require.ErrorContains(t, Publish(context.Background(), runs, runs, 1), "inside the site folder")
	require.ErrorContains(t, Publish(context.Background(), runs, filepath.Dir(runs), 1), "inside the site folder")
	_, err = os.Stat(filepath.Join(runs, "img-0.json"))
	require.NoError(t, err)
}

func TestPublishEmpty(t *testing.T) {
	site := filepath.Join(t.TempDir(), "site")
	require.NoError(t, Publish(context.Background(), t.TempDir(), site, 5))
	index, err := os.ReadFile(filepath.Join(site, "index.html"))
	require.NoError(t, err)
	require.Contains(t, string(index), "No runs published yet.")
}

// snapshot maps every file under dir to its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		files[path] = string(data)
		return err
	}))
	return files
}

// TestPublishCountsInconclusiveApart checks that the site's summary counts
// inconclusive runs apart from passed ones.
func TestPublishCountsInconclusiveApart(t *testing.T) {
	base := sampleResults()
	var runs []siteRun
	for i, v := range []drills.Verdict{drills.VerdictPassed, drills.VerdictInconclusive, drills.VerdictInconclusive, drills.VerdictFailed, drills.VerdictError} {
		r := base[0]
		r.RunID, r.Verdict = fmt.Sprintf("r-%d", i), v
		r.Started = t0.Add(time.Duration(5-i) * time.Hour) // newest first
		runs = append(runs, siteRun{R: r})
	}
	page := siteIndex(runs)
	require.Equal(t, []verdictCount{
		{drills.VerdictPassed, 1}, {drills.VerdictFailed, 1}, {drills.VerdictInconclusive, 2}, {drills.VerdictError, 1},
	}, page.Counts)

	var buf strings.Builder
	require.NoError(t, execute(&buf, "index.html.tmpl", page))
	require.Contains(t, buf.String(), `<span class="badge v-inconclusive">2 inconclusive</span>`)
	require.Contains(t, buf.String(), `<span class="badge v-passed">1 passed</span>`)
}

// TestHTMLShowsInconclusiveChecksApart checks that the report counts the
// checks that could not be judged next to the passed ones.
func TestHTMLShowsInconclusiveChecksApart(t *testing.T) {
	r := sampleResults()[0]
	r.Checks = append(r.Checks, drills.Check{Name: "slo error rate", Kind: drills.CheckSLO, Verdict: drills.VerdictInconclusive,
		Observed: "0.00% of 0 requests no request finished in the last 10s SLO window"})
	var buf strings.Builder
	require.NoError(t, HTMLWriter{}.Write(context.Background(), &buf, []drills.Result{r}))
	html := buf.String()
	require.Contains(t, html, `<div class="k">Checks passed</div><div class="v">6/7</div>`)
	require.Contains(t, html, `<div class="tile v-inconclusive-tile"><div class="k">Checks inconclusive</div><div class="v">1</div></div>`)

	buf.Reset()
	require.NoError(t, HTMLWriter{}.Write(context.Background(), &buf, sampleResults()[:1]))
	require.NotContains(t, buf.String(), "Checks inconclusive")
}
