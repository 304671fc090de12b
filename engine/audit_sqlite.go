package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/firedrill/firedrill/drills"
)

// ErrAuditNotFound means Finish was asked for a rollback_id with no row.
var ErrAuditNotFound = errors.New("audit: no such rollback_id")

// sqliteSchema is rollback_audit for SQLite. Times are stored as UTC
// RFC 3339 text with nanoseconds, which sorts chronologically.
const sqliteSchema = `CREATE TABLE IF NOT EXISTS rollback_audit (
	rollback_id  TEXT PRIMARY KEY,
	service_name TEXT NOT NULL,
	from_version TEXT NOT NULL DEFAULT '',
	to_version   TEXT NOT NULL DEFAULT '',
	trigger_time TEXT NOT NULL,
	start_time   TEXT NOT NULL,
	end_time     TEXT,
	success      INTEGER NOT NULL DEFAULT 0,
	decision     TEXT NOT NULL DEFAULT '',
	score        REAL NOT NULL DEFAULT 0,
	strategy     TEXT NOT NULL DEFAULT '',
	reason       TEXT NOT NULL DEFAULT '',
	error_rate   REAL NOT NULL DEFAULT 0,
	severity     REAL NOT NULL DEFAULT 0,
	recovery_potential REAL NOT NULL DEFAULT 0,
	time_decay   REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rollback_audit_trigger_time ON rollback_audit (trigger_time);`

// sqliteTime is the stored time format: fixed width, so text order is time
// order.
const sqliteTime = "2006-01-02T15:04:05.000000000Z07:00"

// SQLiteAudit is the embedded AuditStore, a SQLite file (pure Go, no cgo).
type SQLiteAudit struct {
	db *sql.DB
}

// OpenSQLiteAudit opens (creating if needed) the audit database at path.
func OpenSQLiteAudit(ctx context.Context, path string) (*SQLiteAudit, error) {
	if path == "" {
		return nil, fmt.Errorf("audit: sqlite path is empty")
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("audit: create rollback_audit in %s: %w", path, err)
	}
	if err := migrateSQLiteAudit(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("audit: migrate rollback_audit in %s: %w", path, err)
	}
	return &SQLiteAudit{db: db}, nil
}

// migrateSQLiteAudit adds the columns of auditTermColumns that a table
// created by an earlier release lacks (SQLite has no ADD COLUMN IF NOT
// EXISTS).
func migrateSQLiteAudit(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('rollback_audit')`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			_ = rows.Close()
			return err
		}
		have[name] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, c := range auditTermColumns {
		if have[c] {
			continue
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE rollback_audit ADD COLUMN `+c+` REAL NOT NULL DEFAULT 0`); err != nil {
			return fmt.Errorf("add column %s: %w", c, err)
		}
	}
	return nil
}

// Start implements AuditStore.
func (s *SQLiteAudit) Start(ctx context.Context, r drills.AuditRecord) error {
	if r.RollbackID == "" {
		return fmt.Errorf("audit: rollback_id is empty")
	}
	var end any
	if r.EndTime != nil {
		end = r.EndTime.UTC().Format(sqliteTime)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO rollback_audit (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rollback_id) DO NOTHING`,
		r.RollbackID, r.ServiceName, r.FromVersion, r.ToVersion,
		r.TriggerTime.UTC().Format(sqliteTime), r.StartTime.UTC().Format(sqliteTime), end,
		r.Success, r.Decision, r.Score, r.Strategy, r.Reason,
		r.ErrorRate, r.Severity, r.RecoveryPotential, r.TimeDecay)
	if err != nil {
		return fmt.Errorf("audit: record start of %s: %w", r.RollbackID, err)
	}
	return nil
}

// Finish implements AuditStore.
func (s *SQLiteAudit) Finish(ctx context.Context, id string, end time.Time, success bool, reason, toVersion string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE rollback_audit SET end_time = ?, success = ?,
		reason = CASE WHEN ? = '' THEN reason ELSE ? END,
		to_version = CASE WHEN ? = '' THEN to_version ELSE ? END WHERE rollback_id = ?`,
		end.UTC().Format(sqliteTime), success, reason, reason, toVersion, toVersion, id)
	if err != nil {
		return fmt.Errorf("audit: record finish of %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("audit: record finish of %s: %w", id, ErrAuditNotFound)
	}
	return nil
}

// List implements AuditStore.
func (s *SQLiteAudit) List(ctx context.Context, since time.Time) ([]drills.AuditRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM rollback_audit
		WHERE trigger_time > ? ORDER BY trigger_time DESC, start_time DESC`, since.UTC().Format(sqliteTime))
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []drills.AuditRecord
	for rows.Next() {
		var (
			r                drills.AuditRecord
			trig, start      string
			end              sql.NullString
			parseErr, endErr error
		)
		if err := rows.Scan(&r.RollbackID, &r.ServiceName, &r.FromVersion, &r.ToVersion, &trig, &start, &end,
			&r.Success, &r.Decision, &r.Score, &r.Strategy, &r.Reason,
			&r.ErrorRate, &r.Severity, &r.RecoveryPotential, &r.TimeDecay); err != nil {
			return nil, fmt.Errorf("audit: list: %w", err)
		}
		r.TriggerTime, parseErr = time.Parse(sqliteTime, trig)
		if parseErr == nil {
			r.StartTime, parseErr = time.Parse(sqliteTime, start)
		}
		if end.Valid {
			var t time.Time
			t, endErr = time.Parse(sqliteTime, end.String)
			r.EndTime = &t
		}
		if err := errors.Join(parseErr, endErr); err != nil {
			return nil, fmt.Errorf("audit: list: row %s: %w", r.RollbackID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

// Close implements AuditStore.
func (s *SQLiteAudit) Close() error { return s.db.Close() }
