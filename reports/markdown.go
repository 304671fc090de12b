package reports

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/firedrill/firedrill/drills"
)

// MarkdownWriter writes a summary table for CI job summaries (for example
// GitHub's $GITHUB_STEP_SUMMARY): drill, verdict, MTTD, MTTR and checks
// passed, then the checks that did not pass, then per guarded run how
// each signal unit of the engine covered inject and observe.
type MarkdownWriter struct{}

// Name returns "markdown".
func (MarkdownWriter) Name() string { return "markdown" }

// Ext returns ".md".
func (MarkdownWriter) Ext() string { return ".md" }

// Write writes the summary.
func (MarkdownWriter) Write(ctx context.Context, w io.Writer, results []drills.Result) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	var b strings.Builder
	passed := 0
	for _, r := range results {
		if r.Verdict == drills.VerdictPassed {
			passed++
		}
	}
	fmt.Fprintf(&b, "## firedrill: %d of %d drill(s) passed\n\n", passed, len(results))
	b.WriteString("| Drill | Verdict | MTTD | MTTR | Checks passed |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %d/%d |\n",
			mdCell(r.Drill), verdictIcon(r.Verdict), mdCell(string(r.Verdict)),
			fmtDur(r.MTTD), fmtDur(r.MTTR), checksPassed(r), len(r.Checks))
	}
	var notes strings.Builder
	for _, r := range results {
		var lines []string
		if r.Verdict != drills.VerdictPassed && r.Reason != "" {
			lines = append(lines, fmt.Sprintf("- %s: %s", mdCell(string(r.Verdict)), mdCell(r.Reason)))
		}
		for _, c := range r.Checks {
			if c.Verdict == drills.VerdictPassed {
				continue
			}
			line := fmt.Sprintf("- %s %s (%s): expected %s, observed %s", verdictIcon(c.Verdict), mdCell(c.Name), mdCell(string(c.Kind)), mdCell(c.Expected), mdCell(c.Observed))
			if c.Message != "" {
				line += " — " + mdCell(c.Message)
			}
			lines = append(lines, line)
		}
		if len(lines) > 0 {
			fmt.Fprintf(&notes, "\n### %s (run %s)\n\n%s\n", mdCell(r.Drill), mdCell(r.RunID), strings.Join(lines, "\n"))
		}
	}
	b.WriteString(notes.String())
	for _, r := range results {
		if len(r.GuardCoverage) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### %s guard coverage (%s)\n\n", mdCell(r.Drill), drills.CoverageFault)
		b.WriteString("| Signal unit | Evaluations | Held | Firing | Top hold reason |\n")
		b.WriteString("| --- | --- | --- | --- | --- |\n")
		for _, c := range r.GuardCoverage {
			p := c.Phase(drills.CoverageFault)
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %s |\n", mdCell(c.Unit), p.Evaluations, heldPercent(p), p.Firing, mdCell(p.TopHoldReason()))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	return nil
}

// verdictIcon is a glyph that reads at a glance in a job summary.
func verdictIcon(v drills.Verdict) string {
	switch v {
	case drills.VerdictPassed:
		return "✅"
	case drills.VerdictFailed:
		return "❌"
	case drills.VerdictError:
		return "💥"
	case drills.VerdictSkipped:
		return "⏭️"
	default:
		return "⚠️"
	}
}

// mdCell makes s safe inside a Markdown table cell or list item: one line,
// no table pipes, no inline HTML, no emphasis or code markers.
var mdReplacer = strings.NewReplacer(
	"\\", "\\\\", "|", "\\|", "<", "&lt;", ">", "&gt;", "&", "&amp;",
	"`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]",
	"\r\n", " ", "\n", " ", "\r", " ",
)

func mdCell(s string) string { return mdReplacer.Replace(s) }
