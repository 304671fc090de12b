package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrateLockKey is the pg_advisory_xact_lock key that serialises
// migrations when several replicas start at once ("firedrll" in ASCII).
const migrateLockKey int64 = 0x6669726564726c6c

// schema is idempotent: every statement can run again on a migrated
// database. ledger_total has a boolean key fixed to true so it can hold at
// most one row; `SELECT total FROM ledger_total` reads it.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS accounts (
		id      integer PRIMARY KEY,
		balance bigint  NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS ledger_total (
		single boolean PRIMARY KEY DEFAULT true CHECK (single),
		total  bigint  NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS transfers (
		id      bigserial   PRIMARY KEY,
		from_id integer     NOT NULL,
		to_id   integer     NOT NULL,
		amount  bigint      NOT NULL CHECK (amount > 0),
		at      timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE TABLE IF NOT EXISTS ledger_snapshots (
		id       integer     PRIMARY KEY,
		balance  bigint      NOT NULL,
		taken_at timestamptz NOT NULL DEFAULT now()
	)`,
	// ledger_snapshot replaces the previous snapshot with a copy of
	// accounts (one INSERT ... SELECT, so one consistent view) and returns
	// the number of accounts copied.
	`CREATE OR REPLACE FUNCTION ledger_snapshot() RETURNS bigint
	LANGUAGE plpgsql AS $$
	DECLARE
		n bigint;
	BEGIN
		LOCK TABLE ledger_snapshots IN EXCLUSIVE MODE;
		DELETE FROM ledger_snapshots;
		INSERT INTO ledger_snapshots (id, balance) SELECT id, balance FROM accounts;
		GET DIAGNOSTICS n = ROW_COUNT;
		RETURN n;
	END
	$$`,
	// ledger_restore puts accounts back to the snapshot and returns whether
	// the ledger invariant holds afterwards. The EXCLUSIVE lock waits for
	// in-flight transfers (which hold row locks) and holds new ones back, so
	// a restore never deadlocks with them.
	`CREATE OR REPLACE FUNCTION ledger_restore() RETURNS boolean
	LANGUAGE plpgsql AS $$
	BEGIN
		IF NOT EXISTS (SELECT 1 FROM ledger_snapshots) THEN
			RAISE EXCEPTION 'ledger_restore: no snapshot to restore (run SELECT ledger_snapshot() first)';
		END IF;
		LOCK TABLE accounts IN EXCLUSIVE MODE;
		DELETE FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM ledger_snapshots s WHERE s.id = a.id);
		INSERT INTO accounts (id, balance) SELECT id, balance FROM ledger_snapshots
			ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance;
		RETURN COALESCE((SELECT COALESCE(SUM(balance), 0) FROM accounts) = (SELECT total FROM ledger_total), false);
	END
	$$`,
}

// Migrate creates the schema and seeds accounts accounts with
// InitialBalance each (ids 0..accounts-1) and ledger_total when the accounts
// table is empty. It runs in one transaction under an advisory lock, so
// replicas starting together migrate one after the other, and it is safe to
// run on every start.
func Migrate(ctx context.Context, pool *pgxpool.Pool, accounts int, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if accounts < 1 {
		return fmt.Errorf("migrate: accounts must be at least 1, got %d", accounts)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("advisory lock: %w", err)
		}
		for _, stmt := range schema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		return seed(ctx, tx, accounts, log)
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// seed fills an empty accounts table and sets ledger_total; on a seeded
// database it only restores a missing ledger_total row from the current sum.
func seed(ctx context.Context, tx pgx.Tx, accounts int, log *slog.Logger) error {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil {
		return fmt.Errorf("count accounts: %w", err)
	}
	if n == 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, balance) SELECT g, $2 FROM generate_series(0, $1 - 1) AS g`, accounts, InitialBalance); err != nil {
			return fmt.Errorf("seed accounts: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_total (total) SELECT SUM(balance) FROM accounts
			ON CONFLICT (single) DO UPDATE SET total = EXCLUDED.total`); err != nil {
			return fmt.Errorf("seed ledger_total: %w", err)
		}
		log.InfoContext(ctx, "seeded ledger", "accounts", accounts, "balance", InitialBalance)
		return nil
	}
	if n != int64(accounts) {
		log.InfoContext(ctx, "ledger already seeded; keeping its accounts", "accounts", n, "configured", accounts)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO ledger_total (total) SELECT COALESCE(SUM(balance), 0) FROM accounts
		ON CONFLICT (single) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("ensure ledger_total: %w", err)
	}
	if tag.RowsAffected() > 0 {
		log.WarnContext(ctx, "ledger_total was missing; set it from the current sum of balances")
	}
	return nil
}
