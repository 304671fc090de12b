package reports

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// JUnitWriter writes JUnit XML in the Ant/Jenkins junit-10 format: a
// testsuite per drill; a testcase for the drill's verdict, one per phase and
// one per check; failures say what was expected and what was observed;
// error and inconclusive verdicts become <error> elements whose type is the
// verdict and whose message and text are the reason, so that CI shows them
// red; skipped becomes skipped with the reason; MTTD and MTTR are testsuite
// properties.
type JUnitWriter struct {
	// Inconclusive is how inconclusive verdicts are written: JUnitError
	// (the zero value) or JUnitSkipped (as skipped, which CI shows green).
	Inconclusive JUnitInconclusive
}

// JUnitInconclusive is how the JUnit report writes an inconclusive verdict.
type JUnitInconclusive string

// The ways of writing an inconclusive verdict in JUnit.
const (
	// JUnitError writes it as an <error> (the default): a drill that
	// could not judge the fault did not prove anything.
	JUnitError JUnitInconclusive = "error"
	// JUnitSkipped writes it as <skipped>, as firedrill did before.
	JUnitSkipped JUnitInconclusive = "skipped"
)

// ParseJUnitInconclusive reads the --junit-inconclusive flag: "error" or
// "skipped".
func ParseJUnitInconclusive(s string) (JUnitInconclusive, error) {
	switch v := JUnitInconclusive(s); v {
	case JUnitError, JUnitSkipped:
		return v, nil
	}
	return "", fmt.Errorf("reports: unknown junit-inconclusive %q (want error or skipped)", s)
}

// Name returns "junit".
func (JUnitWriter) Name() string { return "junit" }

// Ext returns ".xml".
func (JUnitWriter) Ext() string { return ".xml" }

// The junit-10 elements, in the order the schema wants them.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	ID         string          `xml:"id,attr,omitempty"`
	Package    string          `xml:"package,attr,omitempty"`
	Properties *junitProps     `xml:"properties,omitempty"`
	Cases      []junitTestCase `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *string       `xml:"skipped,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// Write writes results as one testsuites document.
func (jw JUnitWriter) Write(ctx context.Context, w io.Writer, results []drills.Result) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	doc := junitSuites{Name: "firedrill"}
	var total time.Duration
	for _, r := range results {
		s := junitSuiteOf(r, jw.Inconclusive)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		total += runDuration(r)
		doc.Suites = append(doc.Suites, s)
	}
	doc.Time = seconds(total)
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	if _, err := io.WriteString(w, xml.Header+string(out)+"\n"); err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	return nil
}

func junitSuiteOf(r drills.Result, inconclusive JUnitInconclusive) junitSuite {
	s := junitSuite{
		Name:    r.Drill,
		Time:    seconds(runDuration(r)),
		ID:      r.RunID,
		Package: "firedrill",
	}
	if !r.Started.IsZero() {
		s.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
	}
	props := []junitProp{
		{"runID", r.RunID},
		{"verdict", string(r.Verdict)},
		{"guardEnabled", fmt.Sprint(r.GuardEnabled)},
	}
	if r.Source != "" {
		props = append(props, junitProp{"source", r.Source})
	}
	props = append(props, durProps("mttd", r.MTTD)...)
	props = append(props, durProps("mttr", r.MTTR)...)
	for _, k := range sortedKeys(r.Labels) {
		props = append(props, junitProp{"label." + k, r.Labels[k]})
	}
	s.Properties = &junitProps{Props: props}

	verdictCase := junitCaseOf(r.Drill, "verdict", runDuration(r), r.Verdict, r.Reason, "", inconclusive)
	s.Cases = append(s.Cases, verdictCase)
	for _, p := range r.Phases {
		s.Cases = append(s.Cases, junitCaseOf(r.Drill+".phase", p.Name, p.Duration.Duration, p.Verdict, p.Message, "", inconclusive))
	}
	for _, c := range r.Checks {
		msg := fmt.Sprintf("expected %s, observed %s", c.Expected, c.Observed)
		body := msg
		if c.Message != "" {
			body += "\n" + c.Message
		}
		tc := junitCaseOf(r.Drill+".check."+string(c.Kind), c.Name, 0, c.Verdict, msg, body, inconclusive)
		if c.Verdict == drills.VerdictPassed {
			tc.SystemOut = msg
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, tc := range s.Cases {
		s.Tests++
		switch {
		case tc.Failure != nil:
			s.Failures++
		case tc.Error != nil:
			s.Errors++
		case tc.Skipped != nil:
			s.Skipped++
		}
	}
	if r.Reason != "" {
		s.SystemOut = fmt.Sprintf("%s: %s", r.Verdict, r.Reason)
	}
	return s
}

// junitCaseOf maps a verdict onto a testcase; body defaults to message.
func junitCaseOf(class, name string, d time.Duration, v drills.Verdict, message, body string, inconclusive JUnitInconclusive) junitTestCase {
	tc := junitTestCase{Name: name, Classname: class, Time: seconds(d)}
	if body == "" {
		body = message
	}
	switch v {
	case drills.VerdictPassed:
	case drills.VerdictFailed:
		tc.Failure = &junitProblem{Message: orDefault(message, name+" failed"), Type: string(v), Body: body}
	case drills.VerdictError:
		tc.Error = &junitProblem{Message: orDefault(message, name+" could not run"), Type: string(v), Body: body}
	case drills.VerdictInconclusive:
		if inconclusive == JUnitSkipped {
			msg := string(v)
			if message != "" {
				msg += ": " + message
			}
			tc.Skipped = &msg
			break
		}
		tc.Error = &junitProblem{Message: orDefault(message, name+" was inconclusive"), Type: string(v), Body: orDefault(body, name+" was inconclusive")}
	case drills.VerdictSkipped:
		msg := string(v)
		if message != "" {
			msg += ": " + message
		}
		tc.Skipped = &msg
	default:
		tc.Error = &junitProblem{Message: fmt.Sprintf("unknown verdict %q", v), Type: "unknown", Body: body}
	}
	return tc
}

func durProps(name string, d *drills.Duration) []junitProp {
	if d == nil {
		return []junitProp{{name, "none"}}
	}
	return []junitProp{{name, d.String()}, {name + ".seconds", seconds(d.Duration)}}
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
