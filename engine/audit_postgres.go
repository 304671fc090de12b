package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/firedrill/firedrill/drills"
)

// postgresSchema is rollback_audit for PostgreSQL, with the seed's columns
// so that its 7-day query runs unchanged.
const postgresSchema = `CREATE TABLE IF NOT EXISTS rollback_audit (
	rollback_id  TEXT PRIMARY KEY,
	service_name TEXT NOT NULL,
	from_version TEXT NOT NULL DEFAULT '',
	to_version   TEXT NOT NULL DEFAULT '',
	trigger_time TIMESTAMPTZ NOT NULL,
	start_time   TIMESTAMPTZ NOT NULL,
	end_time     TIMESTAMPTZ,
	success      BOOLEAN NOT NULL DEFAULT false,
	decision     TEXT NOT NULL DEFAULT '',
	score        DOUBLE PRECISION NOT NULL DEFAULT 0,
	strategy     TEXT NOT NULL DEFAULT '',
	reason       TEXT NOT NULL DEFAULT '',
	error_rate   DOUBLE PRECISION NOT NULL DEFAULT 0,
	severity     DOUBLE PRECISION NOT NULL DEFAULT 0,
	recovery_potential DOUBLE PRECISION NOT NULL DEFAULT 0,
	time_decay   DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rollback_audit_trigger_time ON rollback_audit (trigger_time)`

// PostgresAudit is the AuditStore in PostgreSQL (the --audit-dsn).
type PostgresAudit struct {
	pool *pgxpool.Pool
}

// OpenPostgresAudit connects to dsn and creates rollback_audit if needed.
func OpenPostgresAudit(ctx context.Context, dsn string) (*PostgresAudit, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("audit: postgres: %w", err)
	}
	if _, err := pool.Exec(ctx, postgresSchema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("audit: create rollback_audit: %w", err)
	}
	for _, c := range auditTermColumns {
		if _, err := pool.Exec(ctx, `ALTER TABLE rollback_audit ADD COLUMN IF NOT EXISTS `+c+` DOUBLE PRECISION NOT NULL DEFAULT 0`); err != nil {
			pool.Close()
			return nil, fmt.Errorf("audit: migrate rollback_audit: add column %s: %w", c, err)
		}
	}
	return &PostgresAudit{pool: pool}, nil
}

// Start implements AuditStore.
func (p *PostgresAudit) Start(ctx context.Context, r drills.AuditRecord) error {
	if r.RollbackID == "" {
		return fmt.Errorf("audit: rollback_id is empty")
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO rollback_audit (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (rollback_id) DO NOTHING`,
		r.RollbackID, r.ServiceName, r.FromVersion, r.ToVersion, r.TriggerTime, r.StartTime, r.EndTime,
		r.Success, r.Decision, r.Score, r.Strategy, r.Reason,
		r.ErrorRate, r.Severity, r.RecoveryPotential, r.TimeDecay)
	if err != nil {
		return fmt.Errorf("audit: record start of %s: %w", r.RollbackID, err)
	}
	return nil
}

// Finish implements AuditStore.
func (p *PostgresAudit) Finish(ctx context.Context, id string, end time.Time, success bool, reason, toVersion string) error {
	tag, err := p.pool.Exec(ctx, `UPDATE rollback_audit SET end_time = $1, success = $2,
		reason = CASE WHEN $3 = '' THEN reason ELSE $3 END,
		to_version = CASE WHEN $5 = '' THEN to_version ELSE $5 END WHERE rollback_id = $4`, end, success, reason, id, toVersion)
	if err != nil {
		return fmt.Errorf("audit: record finish of %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("audit: record finish of %s: %w", id, ErrAuditNotFound)
	}
	return nil
}

// List implements AuditStore.
func (p *PostgresAudit) List(ctx context.Context, since time.Time) ([]drills.AuditRecord, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+auditColumns+` FROM rollback_audit
		WHERE trigger_time > $1 ORDER BY trigger_time DESC, start_time DESC`, since)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (drills.AuditRecord, error) {
		var r drills.AuditRecord
		err := row.Scan(&r.RollbackID, &r.ServiceName, &r.FromVersion, &r.ToVersion, &r.TriggerTime, &r.StartTime,
			&r.EndTime, &r.Success, &r.Decision, &r.Score, &r.Strategy, &r.Reason,
			&r.ErrorRate, &r.Severity, &r.RecoveryPotential, &r.TimeDecay)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

// Close implements AuditStore.
func (p *PostgresAudit) Close() error {
	p.pool.Close()
	return nil
}
