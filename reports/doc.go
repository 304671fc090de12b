// Package reports writes drill results (drills.Result) as JUnit XML, HTML,
// JSON and Markdown, and publishes a static history site. It reads only
// drills types.
//
// Every format is a Writer (Write(ctx, w, results)); Writers lists them and
// ForFormat picks one by name, an unknown name being an error:
//
//   - JUnitWriter: Ant/Jenkins junit-10 XML (testdata/junit-10.xsd); a
//     testsuite per drill with MTTD and MTTR as properties, a testcase for
//     the verdict, each phase and each check; failures say what was expected
//     and what was observed; skipped and inconclusive become skipped.
//   - JSONWriter: a versioned Document (ReportSchemaVersion) that ReadJSON
//     and DecodeResults read back.
//   - MarkdownWriter: a summary table for CI job summaries.
//   - HTMLWriter: one self-contained page (inline CSS and SVG, no scripts,
//     nothing fetched) with verdicts, MTTD/MTTR tiles, error rate, p99 and
//     throughput charts marked with fault, detection, decision, action and
//     recovery, the checks, proof-of-effect evidence and the audit rows.
//
// Publish turns a folder of JSON results into a static site with trend
// charts and each run's HTML report, swapped in atomically.
//
// Tests: go test ./reports -run TestGolden -update rewrites the golden
// files. The HTML test needs Debian's chromium and the JUnit schema test
// xmllint (libxml2-utils); hack/host-deps.sh installs both.
package reports
