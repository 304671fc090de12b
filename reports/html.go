package reports

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates holds the HTML report, the site index and their shared parts.
var templates = template.Must(template.New("reports").Funcs(template.FuncMap{
	"verdictClass": verdictClass,
	"human":        func(d drills.Duration) string { return humanDur(d.Duration) },
	"utc":          func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).ParseFS(templateFS, "templates/*.tmpl"))

// HTMLWriter writes one self-contained HTML page: inline CSS and SVG, no
// scripts, no external fetches. Per drill it shows the verdict, MTTD and
// MTTR tiles, charts of error rate, p99 latency and throughput with markers
// for fault, detection, decision, action and recovery, a strip per signal
// unit of the engine showing when it evaluated, held or fired and a
// coverage table, the checks, the
// proof-of-effect evidence, the events and the engine's audit rows.
type HTMLWriter struct{}

// Name returns "html".
func (HTMLWriter) Name() string { return "html" }

// Ext returns ".html".
func (HTMLWriter) Ext() string { return ".html" }

// Write renders results as one page.
func (HTMLWriter) Write(ctx context.Context, w io.Writer, results []drills.Result) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	page := htmlPage{Title: "firedrill report"}
	if len(results) == 1 {
		page.Title = fmt.Sprintf("firedrill: %s %s", results[0].Drill, results[0].Verdict)
	}
	for _, r := range results {
		page.Runs = append(page.Runs, newHTMLRun(r))
	}
	return execute(w, "report.html.tmpl", page)
}

// execute renders a template into a buffer first so that a template error
// never leaves half a page in w.
func execute(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

type htmlPage struct {
	Title string
	Back  string
	Runs  []htmlRun
}

type htmlRun struct {
	R        drills.Result
	Anchor   string
	MTTD     string
	MTTR     string
	Duration string
	Passed   int
	// Inconclusive counts the checks that could not be judged, shown
	// apart from the passed ones.
	Inconclusive int
	Labels       []string
	Charts       []svgChart
	Markers      []svgLegend
	Proof        []proofRow
	Events       []eventRow
	Audit        []auditRow
	HasTraces    bool
	Strips       *svgStrips
	Coverage     []coverageRow
}

type proofRow struct {
	What, Expected, Observed, Detail string
	Verdict                          drills.Verdict
}

type eventRow struct {
	Offset, Kind, Message, Attributes string
}

type auditRow struct {
	drills.AuditRecord
	Score, End string
}

// markerKinds are the events drawn as vertical lines, with their labels.
var markerKinds = []struct {
	Kind         drills.EventKind
	Label, Short string
}{
	{drills.EventFault, "fault injected", "fault"},
	{drills.EventDetection, "detection", "detect"},
	{drills.EventDecision, "decision", "decide"},
	{drills.EventAction, "action (rollback)", "rollback"},
	{drills.EventRecovery, "recovery", "recovered"},
}

func newHTMLRun(r drills.Result) htmlRun {
	h := htmlRun{
		R:            r,
		Anchor:       anchorOf(r),
		MTTD:         fmtDur(r.MTTD),
		MTTR:         fmtDur(r.MTTR),
		Duration:     humanDur(runDuration(r)),
		Passed:       checksPassed(r),
		Inconclusive: checksWith(r, drills.VerdictInconclusive),
	}
	for _, k := range sortedKeys(r.Labels) {
		h.Labels = append(h.Labels, k+"="+r.Labels[k])
	}
	t0 := r.Started
	if t0.IsZero() && len(r.Timeline) > 0 {
		t0 = r.Timeline[0].Time
	}
	h.Charts, h.HasTraces = runCharts(r, t0)
	h.Strips, h.Coverage = coverageStrips(r, t0), coverageRows(r.GuardCoverage)
	for _, m := range markerKinds {
		h.Markers = append(h.Markers, svgLegend{Name: m.Label, Class: "m-" + string(m.Kind)})
	}
	for _, c := range r.Checks {
		if c.Kind == drills.CheckProof {
			h.Proof = append(h.Proof, proofRow{What: c.Name, Expected: c.Expected, Observed: c.Observed, Detail: c.Message, Verdict: c.Verdict})
		}
	}
	for _, e := range r.Events {
		row := eventRow{Offset: offset(t0, e.Time), Kind: string(e.Kind), Message: e.Message, Attributes: attrs(e.Attributes)}
		h.Events = append(h.Events, row)
		if e.Kind == drills.EventProof {
			h.Proof = append(h.Proof, proofRow{What: "event at " + row.Offset, Observed: e.Message, Detail: row.Attributes})
		}
	}
	for _, a := range r.Audit {
		row := auditRow{AuditRecord: a, Score: fmt.Sprintf("%.2f", a.Score), End: "—"}
		if a.EndTime != nil {
			row.End = a.EndTime.UTC().Format("15:04:05Z")
		}
		h.Audit = append(h.Audit, row)
	}
	return h
}

// runCharts draws error rate, p99 and throughput over the run, one line per
// sample source, with the marker events.
func runCharts(r drills.Result, t0 time.Time) ([]svgChart, bool) {
	xmin, xmax := 0.0, runDuration(r).Seconds()
	bySource := map[drills.SampleSource][]drills.Sample{}
	for _, s := range r.Timeline {
		bySource[s.Source] = append(bySource[s.Source], s)
		x := s.Time.Sub(t0).Seconds()
		if x < xmin {
			xmin = x
		}
		if x > xmax {
			xmax = x
		}
	}
	var markers []marker
	for _, e := range r.Events {
		for i, m := range markerKinds {
			if e.Kind == m.Kind {
				markers = append(markers, marker{X: e.Time.Sub(t0).Seconds(), Label: m.Short, Class: "m-" + string(m.Kind), Row: i})
			}
		}
	}
	sources := make([]string, 0, len(bySource))
	for s := range bySource {
		sources = append(sources, string(s))
	}
	sort.Strings(sources)
	metrics := []struct {
		title string
		value func(drills.Sample) float64
		label func(float64) string
	}{
		{"Error rate", func(s drills.Sample) float64 { return s.ErrorRate * 100 }, func(v float64) string { return num(v) + "%" }},
		{"p99 latency", func(s drills.Sample) float64 { return s.P99 * 1000 }, func(v float64) string { return num(v) + " ms" }},
		{"Throughput", func(s drills.Sample) float64 { return s.Throughput }, func(v float64) string { return num(v) + "/s" }},
	}
	var charts []svgChart
	for _, m := range metrics {
		spec := chartSpec{Title: m.title, Markers: markers, XMin: xmin, XMax: xmax, YLabel: m.label,
			XLabel: func(v float64) string { return num(v) + "s" }}
		for _, src := range sources {
			var pts []point
			for _, s := range bySource[drills.SampleSource(src)] {
				pts = append(pts, point{X: s.Time.Sub(t0).Seconds(), Y: finite(m.value(s))})
			}
			spec.Series = append(spec.Series, series{Name: src, Class: "s-" + src, Points: pts})
		}
		charts = append(charts, layout(spec))
	}
	return charts, len(r.Timeline) > 0
}

func offset(t0, t time.Time) string {
	d := t.Sub(t0)
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + humanDur(d)
}

func attrs(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

func verdictClass(v drills.Verdict) string {
	switch v {
	case drills.VerdictPassed, drills.VerdictFailed, drills.VerdictError, drills.VerdictSkipped, drills.VerdictInconclusive:
		return "v-" + string(v)
	}
	return "v-error"
}

// anchorOf is a fragment id for r, made only of safe characters.
func anchorOf(r drills.Result) string {
	return "run-" + safeName(r.Drill+"-"+r.RunID)
}

// safeName keeps letters, digits, dot, dash and underscore; anything else
// becomes a dash.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), ".")
	if out == "" {
		return "run"
	}
	return out
}
