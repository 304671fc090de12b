package reports

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/testenv"
)

// TestJUnitValidatesAgainstXSD checks the sample output with libxml2's
// xmllint against testdata/junit-10.xsd.
func TestJUnitValidatesAgainstXSD(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.Missing(t, "xmllint (Debian package libxml2-utils; hack/host-deps.sh installs it)")
	}
	for name, results := range map[string][]drills.Result{
		"sample": sampleResults(),
		"empty":  nil,
		"bare":   {{Drill: "x", Verdict: drills.VerdictError}},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, JUnitWriter{}.Write(context.Background(), &buf, results))
			file := filepath.Join(t.TempDir(), "junit.xml")
			require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o644))
			out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("testdata", "junit-10.xsd"), file).CombinedOutput()
			require.NoError(t, err, "xmllint: %s", out)
			require.Contains(t, string(out), "validates")
		})
	}
}

// TestJUnitXSDRejectsInvalid makes sure the schema check is not vacuous.
func TestJUnitXSDRejectsInvalid(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.Missing(t, "xmllint (Debian package libxml2-utils; hack/host-deps.sh installs it)")
	}
	file := filepath.Join(t.TempDir(), "bad.xml")
	require.NoError(t, os.WriteFile(file, []byte(`<testsuites><testsuite name="a"><testcase/></testsuite></testsuites>`), 0o644))
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("testdata", "junit-10.xsd"), file).CombinedOutput()
	require.Error(t, err, "%s", out)
}

// Strict mirrors of the junit-10 elements: decoding rejects nothing by
// itself, so the test compares counts and content as a CI system would.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    string   `xml:"tests,attr"`
	Failures string   `xml:"failures,attr"`
	Errors   string   `xml:"errors,attr"`
	Suites   []xSuite `xml:"testsuite"`
}

type xSuite struct {
	Name     string  `xml:"name,attr"`
	Tests    string  `xml:"tests,attr"`
	Failures string  `xml:"failures,attr"`
	Errors   string  `xml:"errors,attr"`
	Skipped  string  `xml:"skipped,attr"`
	Props    []xProp `xml:"properties>property"`
	Cases    []xCase `xml:"testcase"`
}

type xProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type xCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Skipped   *string   `xml:"skipped"`
	Failure   *xProblem `xml:"failure"`
	Error     *xProblem `xml:"error"`
}

type xProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

func TestJUnitStructure(t *testing.T) {
	var doc xSuites
	require.NoError(t, xml.Unmarshal(render(t, JUnitWriter{}), &doc))
	require.Len(t, doc.Suites, 3)

	total := 0
	for _, s := range doc.Suites {
		n, err := strconv.Atoi(s.Tests)
		require.NoError(t, err)
		require.Len(t, s.Cases, n, s.Name)
		total += n
	}
	require.Equal(t, strconv.Itoa(total), doc.Tests)

	passed := doc.Suites[0]
	props := map[string]string{}
	for _, p := range passed.Props {
		props[p.Name] = p.Value
	}
	require.Equal(t, "6.2s", props["mttd"])
	require.Equal(t, "25.000", props["mttr.seconds"])
	require.Equal(t, "0", passed.Failures)
	// verdict + 6 phases + 6 checks (one of guard coverage)
	require.Len(t, passed.Cases, 13)

	failed := doc.Suites[1]
	require.Equal(t, "4", failed.Failures)
	require.Equal(t, "1", failed.Errors)
	var slo *xCase
	for i := range failed.Cases {
		if failed.Cases[i].Classname == "bad-config.check.slo" {
			slo = &failed.Cases[i]
		}
	}
	require.NotNil(t, slo)
	require.NotNil(t, slo.Failure)
	require.Equal(t, "expected < 1%, observed 12.5%", slo.Failure.Message)
	require.Contains(t, slo.Failure.Body, "still failing at the end of observe")

	// An inconclusive drill is red by default: its verdict and its
	// inconclusive phase are errors with the reason; skipped phases stay
	// skipped.
	inc := doc.Suites[2]
	require.Equal(t, "2", inc.Errors)
	require.Equal(t, "1", inc.Skipped)
	require.Nil(t, inc.Cases[0].Skipped)
	require.NotNil(t, inc.Cases[0].Error)
	require.Equal(t, xProblem{Message: "baseline SLOs did not hold before any fault", Type: "inconclusive",
		Body: "baseline SLOs did not hold before any fault"}, *inc.Cases[0].Error)
	require.Equal(t, "baseline", inc.Cases[1].Name)
	require.Equal(t, "inconclusive", inc.Cases[1].Error.Type)
	require.Equal(t, "p99 320ms > 250ms before the fault", inc.Cases[1].Error.Message)
	// An error drill is an <error> of type error.
	require.Equal(t, "error", failed.Cases[len(failed.Cases)-1].Error.Type)

	// --junit-inconclusive=skipped keeps the old behaviour.
	doc = xSuites{}
	require.NoError(t, xml.Unmarshal(render(t, JUnitWriter{Inconclusive: JUnitSkipped}), &doc))
	inc = doc.Suites[2]
	require.Equal(t, "0", inc.Errors)
	require.Equal(t, "3", inc.Skipped)
	require.NotNil(t, inc.Cases[0].Skipped)
	require.Equal(t, "inconclusive: baseline SLOs did not hold before any fault", *inc.Cases[0].Skipped)
}

func TestParseJUnitInconclusive(t *testing.T) {
	for in, want := range map[string]JUnitInconclusive{"error": JUnitError, "skipped": JUnitSkipped} {
		got, err := ParseJUnitInconclusive(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseJUnitInconclusive("green")
	require.ErrorContains(t, err, `unknown junit-inconclusive "green" (want error or skipped)`)
}
