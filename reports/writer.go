package reports

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// Writer renders drill results in one format.
type Writer interface {
	// Name is the format's name, as the CLI's --format takes it.
	Name() string
	// Ext is the file extension of the format, with its dot.
	Ext() string
	// Write renders results to w.
	Write(ctx context.Context, w io.Writer, results []drills.Result) error
}

// Option configures the writers that Writers, ForFormat and WriteFiles
// return or use.
type Option func(*options)

type options struct {
	junitInconclusive JUnitInconclusive
}

// WithJUnitInconclusive sets how the JUnit writer writes inconclusive
// verdicts (JUnitError by default).
func WithJUnitInconclusive(v JUnitInconclusive) Option {
	return func(o *options) { o.junitInconclusive = v }
}

// Writers returns one Writer of each format, in a fixed order: junit, json,
// markdown, html.
func Writers(opts ...Option) []Writer {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return []Writer{JUnitWriter{Inconclusive: o.junitInconclusive}, JSONWriter{}, MarkdownWriter{}, HTMLWriter{}}
}

// ForFormat returns the Writer whose Name is format; an unknown format is
// an error that lists the known ones.
func ForFormat(format string, opts ...Option) (Writer, error) {
	var names []string
	for _, w := range Writers(opts...) {
		if w.Name() == format {
			return w, nil
		}
		names = append(names, w.Name())
	}
	return nil, fmt.Errorf("reports: unknown format %q (want one of %s)", format, strings.Join(names, ", "))
}

// checksWith counts the checks of r whose verdict is v.
func checksWith(r drills.Result, v drills.Verdict) int {
	n := 0
	for _, c := range r.Checks {
		if c.Verdict == v {
			n++
		}
	}
	return n
}

// checksPassed counts the checks of r that passed.
func checksPassed(r drills.Result) int {
	n := 0
	for _, c := range r.Checks {
		if c.Verdict == drills.VerdictPassed {
			n++
		}
	}
	return n
}

// fmtDur renders an optional duration for people: "—" when absent.
func fmtDur(d *drills.Duration) string {
	if d == nil {
		return "—"
	}
	return humanDur(d.Duration)
}

// humanDur rounds d to a readable precision.
func humanDur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// seconds renders d in seconds with millisecond precision.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}

// runDuration is how long r ran; zero when its bounds are unset or reversed.
func runDuration(r drills.Result) time.Duration {
	if r.Started.IsZero() || r.Finished.IsZero() || r.Finished.Before(r.Started) {
		return 0
	}
	return r.Finished.Sub(r.Started)
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// finite maps NaN and ±Inf to 0 so that charts and JSON stay valid.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
