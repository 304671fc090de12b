package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/reports"
)

// reportRenderFlags holds the flags of `firedrill report render`.
type reportRenderFlags struct {
	format string
	out    string
	// junitInconclusive is --junit-inconclusive: error or skipped.
	junitInconclusive string
}

// reportPublishFlags holds the flags of `firedrill report publish`.
type reportPublishFlags struct {
	out     string
	history int
}

// newReportCmd returns `firedrill report` with render and publish.
func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render drill results as JUnit, JSON, Markdown or HTML, and publish a history site",
	}
	cmd.AddCommand(newReportRenderCmd(), newReportPublishCmd())
	return cmd
}

func newReportRenderCmd() *cobra.Command {
	f := &reportRenderFlags{}
	cmd := &cobra.Command{
		Use:   "render RESULT.json... [--format junit|json|markdown|html] [--out FILE]",
		Short: "Render drill results in one format",
		Long: `Render reads drill results (JSON reports written by --format json, or bare
result files) and writes them, all in one report, as JUnit XML, a versioned
JSON document, a Markdown summary (for CI job summaries) or a self-contained
HTML page.

Without --format the format follows the --out extension (.xml junit, .json
json, .md markdown, .html html), and is markdown otherwise. Without --out,
or with --out -, the report goes to standard output.

Exit codes: 0 written, 2 bad usage or unreadable results.`,
		Example: `  firedrill report render results/*.json --format junit --out junit.xml
  firedrill report render results/run.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  firedrill report render results/run.json --out report.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReportRender(cmd, f, args)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "", "junit, json, markdown or html (default: from --out's extension, else markdown)")
	cmd.Flags().StringVarP(&f.out, "out", "o", "-", "file to write, - for standard output")
	cmd.Flags().StringVar(&f.junitInconclusive, "junit-inconclusive", string(reports.JUnitError), "junit: write inconclusive drills, phases and checks as error (red, with the reason) or skipped")
	return cmd
}

func newReportPublishCmd() *cobra.Command {
	f := &reportPublishFlags{}
	cmd := &cobra.Command{
		Use:   "publish RUNS_DIR --out SITE [--history N]",
		Short: "Publish a static history site from a folder of run results",
		Long: `Publish reads every *.json result in RUNS_DIR (one file per run) and writes
a static site to SITE: index.html with all runs and trend charts of MTTD,
MTTR and pass rate per drill, and each run's HTML report under runs/. Only
the newest --history runs of each drill are kept (0 keeps all). The site is
built next to SITE and swapped in at the end: a failed publish leaves the
previous site untouched.

Exit codes: 0 published, 2 bad usage, unreadable results or a failed write.`,
		Example: `  firedrill report publish results/ --out public/ --history 30`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.history < 0 {
				return fmt.Errorf("--history %d: must be 0 (keep all) or more", f.history)
			}
			if err := reports.Publish(cmd.Context(), args[0], f.out, f.history); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "published %s\n", filepath.Join(f.out, "index.html"))
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.out, "out", "o", "", "folder of the site (required)")
	cmd.Flags().IntVar(&f.history, "history", 50, "runs to keep per drill, newest first (0 keeps all)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// formatForOut picks the format: --format if set, else from the extension
// of out, else markdown.
func formatForOut(format, out string) string {
	if format != "" {
		return format
	}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".xml":
		return "junit"
	case ".json":
		return "json"
	case ".html", ".htm":
		return "html"
	}
	return "markdown"
}

func runReportRender(cmd *cobra.Command, f *reportRenderFlags, files []string) error {
	junitMode, err := reports.ParseJUnitInconclusive(f.junitInconclusive)
	if err != nil {
		return fmt.Errorf("--junit-inconclusive: %w", err)
	}
	w, err := reports.ForFormat(formatForOut(f.format, f.out), reports.WithJUnitInconclusive(junitMode))
	if err != nil {
		return err
	}
	var results []drills.Result
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		rs, err := reports.DecodeResults(data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		results = append(results, rs...)
	}
	var buf bytes.Buffer
	if err := w.Write(cmd.Context(), &buf, results); err != nil {
		return err
	}
	if f.out == "" || f.out == "-" {
		_, err := cmd.OutOrStdout().Write(buf.Bytes())
		return err
	}
	return writeFileAtomic(f.out, buf.Bytes())
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it into place, so a reader never sees half a report.
func writeFileAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
