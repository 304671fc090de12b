package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

type auditFlags struct {
	dsn    string
	since  string
	format string
}

// newAuditCmd returns `firedrill audit`: the rollback_audit rows.
func newAuditCmd() *cobra.Command {
	f := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "audit [--audit-dsn DSN] [--since 7d] [--format table|json]",
		Short: "List the rollback engine's audit records (rollback_audit), newest first",
		Long: `Audit lists the rows of the rollback_audit table that the engine writes for
every action it takes: the seed's columns (rollback_id, service_name,
from_version, to_version, trigger_time, start_time, end_time, success) plus
the decision, score, strategy and reason behind it.

The store is the one firedrill guard and firedrill run write to: a SQLite
file (default $FIREDRILL_HOME/audit.db; firedrill run keeps one per run
under REPORT_DIR/audit/) or PostgreSQL with a postgres:// URL.

Exit codes: 0 listed, 2 the store could not be opened or read.`,
		Example: `  firedrill audit
  firedrill audit --audit-dsn _out/run/audit/bad-image-20261126T120000Z-1a2b.db
  firedrill audit --audit-dsn postgres://firedrill@127.0.0.1:55432/audit --since 24h --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd, f)
		},
	}
	cmd.Flags().StringVar(&f.dsn, "audit-dsn", "", "audit store: a postgres:// URL or a SQLite file (default $FIREDRILL_HOME/audit.db)")
	cmd.Flags().StringVar(&f.since, "since", "7d", "list rows triggered within this long (e.g. 90m, 24h, 7d); 0 lists all")
	cmd.Flags().StringVar(&f.format, "format", "table", "table or json")
	return cmd
}

func runAudit(cmd *cobra.Command, f *auditFlags) error {
	since, err := parseSince(f.since)
	if err != nil {
		return err
	}
	if f.format != "table" && f.format != "json" {
		return fmt.Errorf("--format %q: want table or json", f.format)
	}
	dsn := f.dsn
	if dsn == "" {
		dsn = engine.DefaultAuditPath()
		if _, err := os.Stat(dsn); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit: no audit store at %s (the engine has not run here; name one with --audit-dsn)", dsn)
		}
	} else if !strings.Contains(dsn, "://") {
		if _, err := os.Stat(dsn); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	ctx := cmd.Context()
	st, err := engine.OpenAudit(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	var from time.Time
	if since > 0 {
		from = time.Now().Add(-since)
	}
	rows, err := st.List(ctx, from)
	if err != nil {
		return err
	}
	if f.format == "json" {
		if rows == nil {
			rows = []drills.AuditRecord{}
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return writeAuditTable(cmd.OutOrStdout(), rows)
}

// parseSince reads a duration that may also be given in days ("7d").
func parseSince(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days >= 0 && fmt.Sprint(days) == n {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--since %q: want a duration such as 90m, 24h or 7d", s)
	}
	return d, nil
}

func writeAuditTable(w io.Writer, rows []drills.AuditRecord) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no audit records in that window")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TRIGGERED\tSERVICE\tSTRATEGY\tDECISION\tSCORE\tFROM → TO\tTOOK\tSUCCESS\tREASON")
	for _, r := range rows {
		took := "running"
		if r.EndTime != nil {
			took = r.EndTime.Sub(r.StartTime).Round(100 * time.Millisecond).String()
		}
		reason := r.Reason
		if len(reason) > 80 {
			reason = reason[:77] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%s → %s\t%s\t%t\t%s\n",
			r.TriggerTime.UTC().Format(time.RFC3339), r.ServiceName, r.Strategy, r.Decision, r.Score,
			r.FromVersion, r.ToVersion, took, r.Success, reason)
	}
	return tw.Flush()
}
