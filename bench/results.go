package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Results is what `make bench` writes to _out/bench/results.json and
// renders as _out/bench/results.md: every scenario's row, the healthy
// soak, the engine's resource use and the targets it is held to.
type Results struct {
	// Command reproduces the run; Machine is where it ran.
	Command string  `json:"command"`
	Machine Machine `json:"machine"`
	// Started and Finished bound the run; WallSeconds is between them.
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished,omitzero"`
	WallSeconds float64   `json:"wall_s,omitempty"`
	// Settings are the knobs the run used (BENCH_RUNS, ...).
	Settings map[string]string `json:"settings"`
	// Scenarios are the table's rows, firedrill's and the peers'.
	Scenarios []Scenario `json:"scenarios"`
	// Soaks are the healthy soak in detail, one per guard policy soaked.
	Soaks []Soak `json:"soaks,omitempty"`
	// Sequential is the guard's sequential test on its own: false alarms
	// per revision-hour on the soak and detection time by error rate.
	Sequential *Sequential `json:"sequential,omitempty"`
	// Engine is the engine's CPU and memory, one per soaked policy, each
	// guard alone in its own process.
	Engine []Resources `json:"engine,omitempty"`
	// Process is the benchmark process's own CPU and memory: the runner,
	// the in-process engine of every drill, the traffic generators and the
	// Argo Rollouts poller together.
	Process *Resources `json:"process,omitempty"`
	// Targets compares the figures with the issues' targets.
	Targets []Target `json:"targets,omitempty"`
	// Notes are caveats a reader needs (concurrency, CPU contention,
	// differences from the shipped drills).
	Notes []string `json:"notes,omitempty"`
	// Errors are failures of parts of the run; their rows may be missing.
	Errors []string `json:"errors,omitempty"`
}

// Soak is the healthy soak: the engine guards a healthy workload that
// fails a small share of requests, and must not roll it back.
type Soak struct {
	// Workload is the Deployment soaked, Policy the drill file whose guard
	// policy guarded it.
	Workload string `json:"workload"`
	Policy   string `json:"policy"`
	// NoiseRate is the configured share of failed requests.
	NoiseRate float64 `json:"noiseRate"`
	// Seconds is how long the engine guarded the workload.
	Seconds float64 `json:"seconds"`
	// Requests and Errors are the traffic generator's totals while the
	// engine guarded; ErrorRate is their ratio; PromErrorRatio is the 5xx
	// ratio Prometheus counted over the same time.
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	ErrorRate      float64 `json:"errorRate"`
	PromErrorRatio float64 `json:"promErrorRatio"`
	// Evaluations is how many times the engine evaluated its signals.
	Evaluations int64 `json:"evaluations"`
	// Detections, Decisions and Actions count the engine's events (every
	// detection is a false alarm); FalseRollbacks counts the decisions to
	// roll back (fully or partially) and the actions other than handing
	// over to a human; SequentialFalseAlarms counts the incidents whose
	// evidence included the sequential test.
	Detections            int `json:"detections"`
	Decisions             int `json:"decisions"`
	Actions               int `json:"actions"`
	FalseRollbacks        int `json:"false_rollbacks"`
	SequentialFalseAlarms int `json:"sequentialFalseAlarms"`
	// RevisionPeriodSeconds is how often the soak rolled the workload to a
	// fresh revision (0: never); Revisions are the revisions live under
	// the guard and RevisionHours their summed exposure (SetRevisions).
	RevisionPeriodSeconds float64    `json:"revisionPeriod_s,omitempty"`
	Revisions             []Revision `json:"revisions,omitempty"`
	RevisionHours         float64    `json:"revisionHours,omitempty"`
	// Events are the engine's events, as the guard process printed them.
	Events []SoakEvent `json:"events,omitempty"`
}

// Resources is CPU time and peak memory of a process over a span.
type Resources struct {
	// What says which process and what it did meanwhile.
	What string `json:"what"`
	// WallSeconds is the span; CPUSeconds user+system CPU time in it;
	// CPUPercent their ratio (100 = one core).
	WallSeconds float64 `json:"wall_s"`
	CPUSeconds  float64 `json:"cpu_s"`
	CPUPercent  float64 `json:"cpu_percent"`
	// MaxRSSMiB is the peak resident set size.
	MaxRSSMiB float64 `json:"max_rss_mib"`
	// Evaluations and CPUMillisPerEvaluation, for the engine.
	Evaluations            int64   `json:"evaluations,omitempty"`
	CPUMillisPerEvaluation float64 `json:"cpu_ms_per_evaluation,omitempty"`
}

// Target is one of the issues' targets and whether the run met it.
type Target struct {
	What     string `json:"what"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Targets builds the target checks from the bad-image row(s) and the soaks.
func Targets(badImage []Scenario, soaks []Soak) []Target {
	var out []Target
	for _, s := range badImage {
		label := s.Name
		if s.MTTDP50 != nil {
			out = append(out, Target{What: label + ": MTTD p50", Goal: "≤ 5 s", Measured: fmtSec(s.MTTDP50), Met: *s.MTTDP50 <= 5})
		} else {
			out = append(out, Target{What: label + ": MTTD p50", Goal: "≤ 5 s", Measured: "no detection"})
		}
		if s.MTTRP50 != nil {
			out = append(out, Target{What: label + ": MTTR p50", Goal: "≤ 20 s", Measured: fmtSec(s.MTTRP50), Met: *s.MTTRP50 <= 20})
		} else {
			out = append(out, Target{What: label + ": MTTR p50", Goal: "≤ 20 s", Measured: "no recovery"})
		}
		if s.SuccessRate != nil {
			out = append(out, Target{What: label + ": automatic rollback success", Goal: "≥ 99 %",
				Measured: fmt.Sprintf("%.1f %% (%d/%d)", 100**s.SuccessRate, s.Passed, s.Runs), Met: *s.SuccessRate >= 0.99})
		}
	}
	for _, soak := range soaks {
		out = append(out, Target{What: fmt.Sprintf("healthy soak (%s, %.1f %% noise), policy %s", time.Duration(soak.Seconds*float64(time.Second)).Round(time.Second), 100*soak.NoiseRate, soak.Policy),
			Goal: "0 false rollbacks", Measured: fmt.Sprintf("%d", soak.FalseRollbacks), Met: soak.FalseRollbacks == 0})
	}
	return out
}

// fmtSec renders seconds with one decimal, or "—" for none.
func fmtSec(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f s", *v)
}

func num(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f", *v)
}

// triple renders p50 / p95 / max.
func triple(a, b, c *float64) string {
	if a == nil && b == nil && c == nil {
		return "—"
	}
	return num(a) + " / " + num(b) + " / " + num(c)
}

// cell escapes a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// Markdown renders the results as a Markdown page.
func (r *Results) Markdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# firedrill benchmark results\n\n")
	p("- date: %s", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	if !r.Finished.IsZero() {
		p(" to %s (%s)", r.Finished.UTC().Format("15:04 MST"), r.Finished.Sub(r.Started).Round(time.Second))
	}
	p("\n- machine: %s, %d CPUs, %s/%s, kernel %s\n", r.Machine.Hostname, r.Machine.CPUs, r.Machine.OS, r.Machine.Arch, r.Machine.Kernel)
	p("- command: `%s`\n", r.Command)
	if len(r.Settings) > 0 {
		var kv []string
		for _, k := range sortedKeys(r.Settings) {
			kv = append(kv, k+"="+r.Settings[k])
		}
		p("- settings: %s\n", strings.Join(kv, " "))
	}
	p("\nMTTD is the fault's injection (for bad image: the push) to the rollback engine's first detection; MTTR the injection to the start of the stretch in which the SLOs (error rate ≤ 1 %%, p99 ≤ 500 ms at the clients, consistency checks) held for the drill's stability window. Percentiles use the nearest-rank method over the runs that measured the figure, so with few runs p95 and max are the same run. Success is the share of runs whose drill verdict passed (for bad image: the engine rolled back automatically with the expected strategy and the SLOs and the ledger came back).\n\n")
	p("| scenario | guard | runs | success | MTTD p50 / p95 / max (s) | MTTR p50 / p95 / max (s) | false rollbacks | run wall p50 (s) | drill overhead p50 (s) |\n")
	p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range r.Scenarios {
		succ := "—"
		if s.SuccessRate != nil {
			succ = fmt.Sprintf("%.0f %% (%d/%d)", 100**s.SuccessRate, s.Passed, s.Runs)
		}
		fr := "—"
		if s.FalseRollbacks != nil {
			fr = fmt.Sprintf("%d", *s.FalseRollbacks)
		}
		p("| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", cell(s.Name), cell(s.Guard), s.Runs, succ,
			triple(s.MTTDP50, s.MTTDP95, s.MTTDMax), triple(s.MTTRP50, s.MTTRP95, s.MTTRMax), fr, num(s.WallP50), num(s.OverheadP50))
	}
	var notes []string
	for _, s := range r.Scenarios {
		if s.Note != "" {
			notes = append(notes, fmt.Sprintf("- **%s** (%s): %s", cell(s.Name), cell(s.Guard), s.Note))
		}
	}
	if len(notes) > 0 {
		p("\n%s\n", strings.Join(notes, "\n"))
	}
	if len(r.Targets) > 0 {
		p("\n## Targets\n\n| what | target | measured | met |\n| --- | --- | --- | --- |\n")
		for _, t := range r.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			p("| %s | %s | %s | %s |\n", cell(t.What), t.Goal, cell(t.Measured), met)
		}
	}
	if len(r.Soaks) > 0 {
		p("\n## Healthy soak\n")
	}
	for _, s := range r.Soaks {
		p("\n")
		p("The engine (guard policy of `%s`, rules scoped to the soak's pods) guarded `%s` for %s while it failed %.1f %% of requests on purpose: the traffic generator saw %d errors in %d requests (%.2f %%), Prometheus a 5xx ratio of %.2f %%. The engine evaluated its signals %d times and raised %d detections, %d decisions and %d actions: **%d false rollbacks**.\n",
			s.Policy, s.Workload, time.Duration(s.Seconds*float64(time.Second)).Round(time.Second), 100*s.NoiseRate,
			s.Errors, s.Requests, 100*s.ErrorRate, 100*s.PromErrorRatio, s.Evaluations, s.Detections, s.Decisions, s.Actions, s.FalseRollbacks)
		if len(s.Revisions) > 0 {
			p("\n%s\n", soakRevisions(s))
		}
	}
	if q := r.Sequential; q != nil {
		sequentialMarkdown(p, q)
	}
	if len(r.Engine) > 0 || r.Process != nil {
		p("\n## Resources\n\n| process | span (s) | CPU (s) | CPU %% of one core | peak RSS (MiB) | per evaluation |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
		var xs []*Resources
		for i := range r.Engine {
			xs = append(xs, &r.Engine[i])
		}
		if r.Process != nil {
			xs = append(xs, r.Process)
		}
		for _, x := range xs {
			per := "—"
			if x.Evaluations > 0 {
				per = fmt.Sprintf("%.2f ms CPU over %d evaluations", x.CPUMillisPerEvaluation, x.Evaluations)
			}
			p("| %s | %.0f | %.1f | %.1f | %.0f | %s |\n", cell(x.What), x.WallSeconds, x.CPUSeconds, x.CPUPercent, x.MaxRSSMiB, per)
		}
	}
	if over := overheadLines(r.Scenarios); len(over) > 0 {
		p("\n## Drill overhead\n\nMedian seconds per phase; observe and verify wait on the fault, the engine and the recovery, the other phases (%s) are the drill's own cost.\n\n", strings.Join(OverheadPhases, ", "))
		p("| scenario | preflight | baseline | inject | observe | verify | teardown |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, l := range over {
			p("%s\n", l)
		}
	}
	if len(r.Notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	if len(r.Errors) > 0 {
		p("\n## Errors\n\n")
		for _, e := range r.Errors {
			p("- %s\n", cell(e))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// soakRevisions is the soak's paragraph on its revisions.
func soakRevisions(s Soak) string {
	roll := "It watched one revision"
	if s.RevisionPeriodSeconds > 0 {
		roll = fmt.Sprintf("It rolled the workload to a fresh revision every %s", time.Duration(s.RevisionPeriodSeconds*float64(time.Second)).Round(time.Second))
	}
	return fmt.Sprintf("%s: %d revisions were live under the guard, %.3f revision-hours in all; %d of the incidents had the sequential test in their evidence.",
		roll, len(s.Revisions), s.RevisionHours, s.SequentialFalseAlarms)
}

// sequentialMarkdown renders the Sequential section.
func sequentialMarkdown(p func(string, ...any), q *Sequential) {
	p("\n## Sequential test\n\n")
	p("The guard's per-revision sequential test")
	if q.Test != "" {
		p(" (%s)", q.Test)
	}
	p(", measured through the engine's own code path (engine.SequentialSignal inside engine.Guard, reading each revision's counters from Prometheus).\n")
	if len(q.FalseAlarms) > 0 {
		p("\nFalse alarms on the healthy soak: every detection on its healthy revisions is a false alarm, and the sequential test's are the incidents whose evidence (at the detection or at a decision) included it. A revision is exposed from its push to the next push, within the time the engine guarded. The rate is the count over the exposure; the bound is the one-sided 95 %% Poisson upper bound (%.1f / exposure when nothing fired), so that 0 over a short exposure reads as the bound it is.\n\n", PoissonUpper95(0))
		p("| policy | background errors | fresh revision every | revisions | revision-hours | sequential false alarms | per revision-hour (95 %% bound) | all false alarms | per revision-hour (95 %% bound) |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, f := range q.FalseAlarms {
			period := "—"
			if f.RevisionPeriodSeconds > 0 {
				period = time.Duration(f.RevisionPeriodSeconds * float64(time.Second)).Round(time.Second).String()
			}
			p("| %s | %.1f %% | %s | %d | %.3f | %d | %s | %d | %s |\n", cell(f.Policy), 100*f.NoiseRate, period, f.Revisions, f.RevisionHours,
				f.Sequential.Count, rateCell(f.Sequential), f.All.Count, rateCell(f.All))
		}
	}
	if len(q.Detection) > 0 {
		p("\nDetection time on `%s`: from a fresh clean revision (%.1f %% errors) that served its baseline, a push of a revision failing the share of requests below; the time is the push to the guard's first detection whose evidence is the sequential test on the pushed revision, and a miss is none within %s. Percentiles are nearest-rank over the detected runs, so with few runs p90 and max are the same run.\n\n",
			q.Workload, 100*q.NoiseRate, time.Duration(q.MissBoundSeconds*float64(time.Second)).Round(time.Second))
		p("| error rate | runs | detected | misses | median (s) | p90 (s) | max (s) |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, d := range q.Detection {
			p("| %.3g %% | %d | %d | %d | %s | %s | %s |\n", 100*d.ErrorRate, d.Runs, d.Detected, d.Misses, num(d.MedianSeconds), num(d.P90Seconds), num(d.MaxSeconds))
		}
	}
}

// rateCell renders a false-alarm rate with its bound.
func rateCell(r FalseAlarmRate) string {
	if r.PerRevisionHour == nil || r.Upper95PerRevisionHour == nil {
		return "— (no exposure)"
	}
	return fmt.Sprintf("%.2f (≤ %.2f)", *r.PerRevisionHour, *r.Upper95PerRevisionHour)
}

func overheadLines(ss []Scenario) []string {
	var out []string
	for _, s := range ss {
		if len(s.PhaseP50) == 0 {
			continue
		}
		ph := func(n string) string {
			v, ok := s.PhaseP50[n]
			if !ok {
				return "—"
			}
			return fmt.Sprintf("%.1f", v)
		}
		out = append(out, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", cell(s.Name), ph("preflight"), ph("baseline"), ph("inject"), ph("observe"), ph("verify"), ph("teardown")))
	}
	return out
}

// Write writes results.json and results.md into dir, each atomically.
func (r *Results) Write(dir string) error {
	if err := WriteJSON(filepath.Join(dir, "results.json"), r); err != nil {
		return err
	}
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	path := filepath.Join(dir, "results.md")
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
