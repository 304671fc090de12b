package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// passRateWindow is how many runs, up to and including each one, the
// pass-rate trend averages over.
const passRateWindow = 5

// Publish reads the JSON reports in runsDir (files ending in .json written
// by JSONWriter, or bare drills.Result files; each result is one run) and writes a static site to
// outDir: index.html with every kept run and, per drill, trend charts of
// MTTD, MTTR and pass rate over time; and runs/NAME.html (and NAME.json) per
// run. Only the newest historyLimit runs of each drill are kept (0 keeps
// all). The site is built in a temporary folder next to outDir and swapped
// in at the end, so a failed publish leaves the previous site as it was.
func Publish(ctx context.Context, runsDir, outDir string, historyLimit int) error {
	return publish(ctx, runsDir, outDir, historyLimit, os.WriteFile)
}

// writeFileFunc is os.WriteFile; tests swap it to make writes fail.
type writeFileFunc func(name string, data []byte, perm os.FileMode) error

// siteRun is one run on the site.
type siteRun struct {
	R         drills.Result
	File      string
	From      string
	MTTD      string
	MTTR      string
	Passed    int
	StartedAt string
}

type siteDrill struct {
	Name   string
	Anchor string
	Latest siteRun
	Runs   int
	Charts []svgChart
}

type sitePage struct {
	Title     string
	Generated string
	Drills    []siteDrill
	Runs      []siteRun
	Kept      int
	// Counts are the kept runs by verdict, passed first, so that
	// inconclusive runs are counted apart from passed ones.
	Counts []verdictCount
}

// verdictCount is how many runs ended with Verdict.
type verdictCount struct {
	Verdict drills.Verdict
	N       int
}

func publish(ctx context.Context, runsDir, outDir string, historyLimit int, writeFile writeFileFunc) error {
	if historyLimit < 0 {
		return fmt.Errorf("publish: history limit %d is negative", historyLimit)
	}
	if strings.TrimSpace(outDir) == "" {
		return errors.New("publish: no output folder")
	}
	if inside, err := within(runsDir, outDir); err != nil {
		return fmt.Errorf("publish: %w", err)
	} else if inside {
		return fmt.Errorf("publish: the runs folder %s is inside the site folder %s, which publishing replaces", runsDir, outDir)
	}
	runs, err := loadRuns(ctx, runsDir)
	if err != nil {
		return err
	}
	runs = keepNewest(runs, historyLimit)

	outDir = filepath.Clean(outDir)
	parent, base := filepath.Dir(outDir), filepath.Base(outDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := writeSite(ctx, tmp, runs, writeFile); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := swapIn(tmp, outDir); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	done = true
	return nil
}

// loadRuns reads every *.json report in dir, newest first.
func loadRuns(ctx context.Context, dir string) ([]siteRun, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("publish: read runs: %w", err)
	}
	// Runs are files in dir or one folder down (the scheduler keeps a
	// folder per drill).
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("publish: read runs: %w", err)
			}
			for _, se := range sub {
				if !se.IsDir() && strings.HasSuffix(se.Name(), ".json") {
					names = append(names, filepath.Join(e.Name(), se.Name()))
				}
			}
			continue
		}
		if strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	var runs []siteRun
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		results, err := DecodeResults(data)
		if err != nil {
			return nil, fmt.Errorf("publish: %s: %w", path, err)
		}
		for _, r := range results {
			runs = append(runs, siteRun{R: r, From: name})
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i].R, runs[j].R
		if !a.Started.Equal(b.Started) {
			return a.Started.After(b.Started)
		}
		if a.Drill != b.Drill {
			return a.Drill < b.Drill
		}
		return a.RunID > b.RunID
	})
	return runs, nil
}

// keepNewest keeps the first limit runs of each drill (runs are newest
// first); limit 0 keeps all.
func keepNewest(runs []siteRun, limit int) []siteRun {
	if limit == 0 {
		return runs
	}
	seen := map[string]int{}
	var kept []siteRun
	for _, r := range runs {
		if seen[r.R.Drill] < limit {
			seen[r.R.Drill]++
			kept = append(kept, r)
		}
	}
	return kept
}

func writeSite(ctx context.Context, dir string, runs []siteRun, writeFile writeFileFunc) error {
	if err := os.Mkdir(filepath.Join(dir, "runs"), 0o755); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	used := map[string]int{}
	for i := range runs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		r := &runs[i]
		name := safeName(r.R.Drill + "-" + r.R.RunID)
		if n := used[name]; n > 0 {
			used[name]++
			name = fmt.Sprintf("%s-%d", name, n+1)
		} else {
			used[name] = 1
		}
		r.File = "runs/" + name + ".html"
		r.MTTD, r.MTTR, r.Passed = fmtDur(r.R.MTTD), fmtDur(r.R.MTTR), checksPassed(r.R)
		r.StartedAt = r.R.Started.UTC().Format("2006-01-02 15:04:05Z")

		var page, js bytes.Buffer
		if err := execute(&page, "report.html.tmpl", htmlPage{
			Title: fmt.Sprintf("firedrill: %s %s", r.R.Drill, r.R.Verdict),
			Back:  "../index.html",
			Runs:  []htmlRun{newHTMLRun(r.R)},
		}); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := (JSONWriter{}).Write(ctx, &js, []drills.Result{r.R}); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := writeFile(filepath.Join(dir, "runs", name+".html"), page.Bytes(), 0o644); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := writeFile(filepath.Join(dir, "runs", name+".json"), js.Bytes(), 0o644); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	var index bytes.Buffer
	if err := execute(&index, "index.html.tmpl", siteIndex(runs)); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := writeFile(filepath.Join(dir, "index.html"), index.Bytes(), 0o644); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// siteIndex builds the index: drills by name with their trends, and every
// run newest first.
func siteIndex(runs []siteRun) sitePage {
	page := sitePage{Title: "firedrill drill history", Runs: runs, Kept: len(runs)}
	if len(runs) > 0 {
		page.Generated = runs[0].StartedAt
	}
	n := map[drills.Verdict]int{}
	for _, r := range runs {
		n[r.R.Verdict]++
	}
	for _, v := range []drills.Verdict{drills.VerdictPassed, drills.VerdictFailed, drills.VerdictInconclusive, drills.VerdictError, drills.VerdictSkipped} {
		if n[v] > 0 {
			page.Counts = append(page.Counts, verdictCount{Verdict: v, N: n[v]})
			delete(n, v)
		}
	}
	var unknown []string // verdicts this version does not know
	for v := range n {
		unknown = append(unknown, string(v))
	}
	sort.Strings(unknown)
	for _, v := range unknown {
		page.Counts = append(page.Counts, verdictCount{Verdict: drills.Verdict(v), N: n[drills.Verdict(v)]})
	}
	byDrill := map[string][]siteRun{}
	var names []string
	for _, r := range runs {
		if _, ok := byDrill[r.R.Drill]; !ok {
			names = append(names, r.R.Drill)
		}
		byDrill[r.R.Drill] = append(byDrill[r.R.Drill], r)
	}
	sort.Strings(names)
	for _, name := range names {
		rs := byDrill[name]
		page.Drills = append(page.Drills, siteDrill{Name: name, Anchor: "drill-" + safeName(name), Latest: rs[0], Runs: len(rs), Charts: trendCharts(rs)})
	}
	return page
}

// trendCharts draws MTTD, MTTR and the rolling pass rate of one drill's
// runs (given newest first) against the runs' start times.
func trendCharts(newestFirst []siteRun) []svgChart {
	n := len(newestFirst)
	runs := make([]drills.Result, n)
	for i, r := range newestFirst {
		runs[n-1-i] = r.R
	}
	t0 := runs[0].Started
	x := func(t time.Time) float64 { return t.Sub(t0).Hours() }
	xmax := x(runs[n-1].Started)
	var mttd, mttr, pass []point
	for i, r := range runs {
		if r.MTTD != nil {
			mttd = append(mttd, point{X: x(r.Started), Y: r.MTTD.Seconds()})
		}
		if r.MTTR != nil {
			mttr = append(mttr, point{X: x(r.Started), Y: r.MTTR.Seconds()})
		}
		lo := max(0, i-passRateWindow+1)
		ok := 0
		for _, w := range runs[lo : i+1] {
			if w.Verdict == drills.VerdictPassed {
				ok++
			}
		}
		pass = append(pass, point{X: x(r.Started), Y: 100 * float64(ok) / float64(i+1-lo)})
	}
	xticks := func(xmin, xmax float64) []svgTick {
		var ticks []svgTick
		k := 3
		if xmax <= xmin {
			k = 0
		}
		for i := 0; i <= k; i++ {
			v := xmin + (xmax-xmin)*float64(i)/3
			ticks = append(ticks, svgTick{Pos: v, Label: t0.Add(time.Duration(v * float64(time.Hour))).UTC().Format("Jan 2 15:04")})
		}
		return ticks
	}
	secs := func(v float64) string { return num(v) + "s" }
	specs := []chartSpec{
		{Title: "MTTD", Series: []series{{Name: "mttd", Class: "s-mttd", Points: mttd}}, YLabel: secs},
		{Title: "MTTR", Series: []series{{Name: "mttr", Class: "s-mttr", Points: mttr}}, YLabel: secs},
		{Title: fmt.Sprintf("Pass rate (last %d runs)", passRateWindow), Series: []series{{Name: "pass rate", Class: "s-passrate", Points: pass}},
			YLabel: func(v float64) string { return num(v) + "%" }, YMax: 100},
	}
	var charts []svgChart
	for _, s := range specs {
		s.XMin, s.XMax, s.XTicks = 0, xmax, xticks
		s.XLabel = func(v float64) string {
			return t0.Add(time.Duration(v * float64(time.Hour))).UTC().Format("2006-01-02 15:04Z")
		}
		charts = append(charts, layout(s))
	}
	return charts
}

// within reports whether path is dir or inside it.
func within(path, dir string) (bool, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false, nil
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), nil
}
