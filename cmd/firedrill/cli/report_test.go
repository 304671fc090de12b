package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/reports"
)

// runReport runs `firedrill report ARGS`.
func runReport(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runSub(t, newReportCmd(), args...)
}

// runSub runs `firedrill NAME ARGS` on a root holding only sub and maps
// errors to exit codes as Execute does.
func runSub(t *testing.T, sub *cobra.Command, args ...string) (int, string, string) {
	t.Helper()
	root := &cobra.Command{Use: "firedrill", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(sub)
	var out, errOut bytes.Buffer
	root.SetArgs(append([]string{sub.Name()}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return ExitOK, out.String(), errOut.String()
	}
	errOut.WriteString("Error: " + err.Error() + "\n")
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, out.String(), errOut.String()
	}
	return ExitError, out.String(), errOut.String()
}

func reportResult(drill, run string, start time.Time, v drills.Verdict) drills.Result {
	return drills.Result{
		SchemaVersion: drills.ResultSchemaVersion,
		Drill:         drill, RunID: run, Verdict: v, GuardEnabled: true,
		Started: start, Finished: start.Add(time.Minute),
		MTTD: drills.D(4 * time.Second), MTTR: drills.D(20 * time.Second),
		Phases: []drills.PhaseResult{{Name: "observe", Started: start, Duration: drills.Duration{Duration: 30 * time.Second}, Verdict: v}},
		Checks: []drills.Check{{Name: "error rate", Kind: drills.CheckSLO, Expected: "< 1%", Observed: "0.3%", Verdict: v}},
		Timeline: []drills.Sample{
			{Time: start, Source: drills.SourceTraffic, Throughput: 100, ErrorRate: 0, P99: 0.05},
			{Time: start.Add(30 * time.Second), Source: drills.SourceTraffic, Throughput: 80, ErrorRate: 0.2, P99: 0.4},
		},
		Events: []drills.Event{{Time: start.Add(10 * time.Second), Kind: drills.EventFault, Message: "pod killed"}},
	}
}

// writeReport writes results as a JSON report and returns its path.
func writeReport(t *testing.T, dir, name string, results ...drills.Result) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, reports.JSONWriter{}.Write(context.Background(), &buf, results))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return path
}

func TestReportRenderFormats(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := writeReport(t, dir, "a.json", reportResult("pod-kill", "r1", start, drills.VerdictPassed))
	// a bare result file is accepted too
	bare, err := os.Create(filepath.Join(dir, "b.json"))
	require.NoError(t, err)
	require.NoError(t, reportJSON(bare, reportResult("bad-config", "r2", start, drills.VerdictFailed)))
	require.NoError(t, bare.Close())
	b := bare.Name()

	code, out, errOut := runReport(t, "render", a, b, "--format", "markdown")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "| pod-kill | ✅ passed | 4s | 20s | 1/1 |")
	require.Contains(t, out, "| bad-config | ❌ failed |")

	junit := filepath.Join(dir, "junit.xml")
	code, _, errOut = runReport(t, "render", a, b, "--out", junit)
	require.Equal(t, ExitOK, code, errOut)
	data, err := os.ReadFile(junit)
	require.NoError(t, err)
	var doc struct {
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(data, &doc))
	require.Len(t, doc.Suites, 2)

	html := filepath.Join(dir, "report.html")
	code, _, errOut = runReport(t, "render", a, "--format", "html", "--out", html)
	require.Equal(t, ExitOK, code, errOut)
	data, err = os.ReadFile(html)
	require.NoError(t, err)
	require.Contains(t, string(data), "<svg")

	code, out, errOut = runReport(t, "render", a, b, "--format", "json")
	require.Equal(t, ExitOK, code, errOut)
	rs, err := reports.ReadJSON(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, rs, 2)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.Contains(e.Name(), ".tmp-"), "temporary file left: %s", e.Name())
	}
}

func reportJSON(f *os.File, r drills.Result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return err
}

func TestReportRenderErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	good := writeReport(t, dir, "good.json", reportResult("pod-kill", "r1", time.Now(), drills.VerdictPassed))
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"schemaVersion":"firedrill.dev/report/v0"}`), 0o644))

	for name, args := range map[string][]string{
		"no files":       {"render"},
		"unknown format": {"render", good, "--format", "pdf"},
		"missing file":   {"render", filepath.Join(dir, "missing.json")},
		"bad version":    {"render", bad},
		"unknown flag":   {"render", good, "--bogus"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runReport(t, args...)
			require.Equal(t, ExitError, code, errOut)
		})
	}
	_, _, errOut := runReport(t, "render", bad)
	require.Contains(t, errOut, "bad.json")
}

func TestReportPublish(t *testing.T) {
	runs := t.TempDir()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, v := range []drills.Verdict{drills.VerdictPassed, drills.VerdictFailed, drills.VerdictPassed} {
		writeReport(t, runs, "run"+string(rune('a'+i))+".json", reportResult("pod-kill", "r"+string(rune('a'+i)), start.Add(time.Duration(i)*time.Hour), v))
	}
	site := filepath.Join(t.TempDir(), "site")
	code, _, errOut := runReport(t, "publish", runs, "--out", site, "--history", "2")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, errOut, "published")
	index, err := os.ReadFile(filepath.Join(site, "index.html"))
	require.NoError(t, err)
	require.Contains(t, string(index), "runs/pod-kill-rc.html")
	require.NotContains(t, string(index), "runs/pod-kill-ra.html")
	pages, err := filepath.Glob(filepath.Join(site, "runs", "*.html"))
	require.NoError(t, err)
	require.Len(t, pages, 2)

	for name, args := range map[string][]string{
		"no out":           {"publish", runs},
		"negative history": {"publish", runs, "--out", site, "--history", "-1"},
		"missing runs":     {"publish", filepath.Join(runs, "nope"), "--out", site},
		"two dirs":         {"publish", runs, runs, "--out", site},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runReport(t, args...)
			require.Equal(t, ExitError, code, errOut)
		})
	}
	// the failed publishes left the site as it was
	pages, err = filepath.Glob(filepath.Join(site, "runs", "*.html"))
	require.NoError(t, err)
	require.Len(t, pages, 2)
}

func TestReportFormatForOut(t *testing.T) {
	for out, want := range map[string]string{"x.xml": "junit", "x.JSON": "json", "x.html": "html", "x.md": "markdown", "-": "markdown"} {
		require.Equal(t, want, formatForOut("", out), out)
	}
	require.Equal(t, "json", formatForOut("json", "x.html"))
}
