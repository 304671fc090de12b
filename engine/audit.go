package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// AuditStore keeps the rollback_audit table: one row per action the engine
// takes, with the seed's columns (rollback_id, service_name, from_version,
// to_version, trigger_time, start_time, end_time, success) plus the
// decision, score, strategy and reason behind it, and the score's terms
// (error_rate, severity, recovery_potential, time_decay).
type AuditStore interface {
	// Start records an action that begins. Recording the same RollbackID
	// twice (a retry after a crash) keeps the first row.
	Start(ctx context.Context, rec drills.AuditRecord) error
	// Finish sets the row's end time and success; a non-empty reason
	// replaces the recorded one, a non-empty toVersion the recorded
	// ToVersion (where the action really went: a revert to the last known
	// good revision rather than the previous one). It fails if the row
	// does not exist.
	Finish(ctx context.Context, rollbackID string, end time.Time, success bool, reason, toVersion string) error
	// List returns the rows triggered after since, newest first (an
	// incident's escalations, which share its trigger time, by start).
	List(ctx context.Context, since time.Time) ([]drills.AuditRecord, error)
	// Close releases the store.
	Close() error
}

// auditColumns are the columns List reads, in order.
const auditColumns = `rollback_id, service_name, from_version, to_version, trigger_time, start_time, end_time, success, decision, score, strategy, reason, error_rate, severity, recovery_potential, time_decay`

// auditTermColumns are the score's terms, added after the first release
// of rollback_audit: both stores add them to an existing table that lacks
// them.
var auditTermColumns = []string{"error_rate", "severity", "recovery_potential", "time_decay"}

// DefaultAuditHome is the firedrill home when FIREDRILL_HOME is unset.
const DefaultAuditHome = "/var/lib/firedrill"

// DefaultAuditPath is the embedded audit database: $FIREDRILL_HOME/audit.db,
// or /var/lib/firedrill/audit.db.
func DefaultAuditPath() string {
	home := os.Getenv("FIREDRILL_HOME")
	if home == "" {
		home = DefaultAuditHome
	}
	return filepath.Join(home, "audit.db")
}

// OpenAudit opens the audit store named by dsn (the --audit-dsn): a
// postgres:// or postgresql:// URL is PostgreSQL; anything else is the path
// of a SQLite file; empty is DefaultAuditPath, whose folder is created.
func OpenAudit(ctx context.Context, dsn string) (AuditStore, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s, err := OpenPostgresAudit(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if dsn == "" {
		dsn = DefaultAuditPath()
		if err := os.MkdirAll(filepath.Dir(dsn), 0o755); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	s, err := OpenSQLiteAudit(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return s, nil
}
