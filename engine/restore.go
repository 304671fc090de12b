package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/firedrill/firedrill/drills"
)

// Restore restores a data snapshot with SQL through pgx: RestoreSQL and then
// VerifySQL run in one transaction, which commits only if VerifySQL returns
// true, so a crash or a failed verification leaves the data as it was. If
// VerifySQL already returns true before the restore, the restore is not run
// and the outcome is AlreadyDone: a retry after a successful restore is a
// no-op. The DSN may reference environment variables as ${NAME}.
type Restore struct {
	dsn                             string
	snapshotSQL, restoreSQL, verify string
	lookupEnv                       func(string) (string, bool)
}

// NewRestore builds the restore strategy. It needs a DSN, RestoreSQL and
// VerifySQL; restoring with a Kubernetes Job is not supported yet.
func NewRestore(s *drills.RestoreSettings) (*Restore, error) {
	switch {
	case s == nil:
		return nil, fmt.Errorf("restore: no settings")
	case s.Job != "":
		return nil, fmt.Errorf("restore: restoring with a job (%q) is not supported yet", s.Job)
	case s.DSN == "" || s.RestoreSQL == "":
		return nil, fmt.Errorf("restore: needs a dsn and restoreSQL")
	case s.VerifySQL == "":
		return nil, fmt.Errorf("restore: needs verifySQL to tell whether the restore worked")
	}
	return &Restore{dsn: s.DSN, snapshotSQL: s.SnapshotSQL, restoreSQL: s.RestoreSQL, verify: s.VerifySQL, lookupEnv: os.LookupEnv}, nil
}

// Name implements Strategy.
func (*Restore) Name() drills.StrategyName { return drills.StrategyRestore }

func (r *Restore) connect(ctx context.Context) (*pgx.Conn, error) {
	dsn, err := drills.ExpandEnv(r.dsn, r.lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		// pgx errors may quote the DSN; say only what failed.
		return nil, fmt.Errorf("restore: connect to the database: %w", redactConnectError(err))
	}
	return conn, nil
}

// redactConnectError drops the connection string from pgx's parse errors,
// which could carry a password.
func redactConnectError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if inner := pe.Unwrap(); inner != nil {
			return fmt.Errorf("invalid dsn: %w", inner)
		}
		return errors.New("invalid dsn")
	}
	return err
}

// Snapshot runs SnapshotSQL, the snapshot before a risky change; it does
// nothing when none is set.
func (r *Restore) Snapshot(ctx context.Context) error {
	if r.snapshotSQL == "" {
		return nil
	}
	conn, err := r.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, r.snapshotSQL); err != nil {
		return fmt.Errorf("restore: snapshot: %w", err)
	}
	return nil
}

// TakeSnapshots runs the SnapshotSQL of every restore strategy of the
// policy that has one, in order, and returns how many it ran. It is the
// hook before a risky change: the drill runner calls it just before the
// fault, and `firedrill snapshot` before a release.
func TakeSnapshots(ctx context.Context, g drills.Guard) (int, error) {
	n := 0
	for i, s := range g.Strategies {
		if s.Name != drills.StrategyRestore || s.Restore == nil || s.Restore.SnapshotSQL == "" {
			continue
		}
		r, err := NewRestore(s.Restore)
		if err != nil {
			return n, fmt.Errorf("strategies[%d]: %w", i, err)
		}
		if err := r.Snapshot(ctx); err != nil {
			return n, fmt.Errorf("strategies[%d]: %w", i, err)
		}
		n++
	}
	return n, nil
}

// Act implements Strategy. A partial rollback decision is refused
// (ErrRefused): a data snapshot is restored whole.
func (r *Restore) Act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	return logged(ctx, t, func() (Outcome, error) { return r.act(ctx, t, d) })
}

func (r *Restore) act(ctx context.Context, _ Target, d Decision) (Outcome, error) {
	out := Outcome{Strategy: drills.StrategyRestore, FromVersion: "current data", ToVersion: "snapshot"}
	if err := refusePartial(drills.StrategyRestore, d, "a data snapshot is restored whole"); err != nil {
		return out, err
	}
	conn, err := r.connect(ctx)
	if err != nil {
		return out, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ok, err := verify(ctx, conn, r.verify)
	if err != nil {
		return out, fmt.Errorf("restore: verify before restore: %w", err)
	}
	if ok {
		out.AlreadyDone = true
		out.Message = "already done: verifySQL returns true, restore not run"
		return out, nil
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, r.restoreSQL); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		ok, err := verify(ctx, tx, r.verify)
		if err != nil {
			return fmt.Errorf("restore: verify: %w", err)
		}
		if !ok {
			return fmt.Errorf("restore: verifySQL returned false after the restore; rolled the transaction back")
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	out.Message = "restored the snapshot; verifySQL returns true"
	return out, nil
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func verify(ctx context.Context, q queryRower, sql string) (bool, error) {
	var ok *bool
	if err := q.QueryRow(ctx, sql).Scan(&ok); err != nil {
		return false, err
	}
	return ok != nil && *ok, nil
}
