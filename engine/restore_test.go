package engine

import (
	"context"
	"testing"
	"time"

	"github.com/firedrill/firedrill/clusters/local/postgres/pgtest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestNewRestoreValidation(t *testing.T) {
	for _, s := range []*drills.RestoreSettings{
		nil,
		{Job: "restore-job"},
		{DSN: "postgres://x", VerifySQL: "SELECT true"},
		{DSN: "postgres://x", RestoreSQL: "SELECT 1"},
	} {
		_, err := NewRestore(s)
		require.Error(t, err)
	}
	r, err := NewRestore(&drills.RestoreSettings{DSN: "postgres://x", RestoreSQL: "SELECT 1", VerifySQL: "SELECT true"})
	require.NoError(t, err)
	require.Equal(t, drills.StrategyRestore, r.Name())
}

func TestRestoreUnsetEnv(t *testing.T) {
	r, err := NewRestore(&drills.RestoreSettings{DSN: "postgres://${FIREDRILL_TEST_UNSET_VAR}@127.0.0.1:1/x", RestoreSQL: "SELECT 1", VerifySQL: "SELECT true"})
	require.NoError(t, err)
	_, err = r.Act(context.Background(), testTarget, Decision{})
	require.ErrorContains(t, err, "FIREDRILL_TEST_UNSET_VAR")
}

// TestRestoreIntegration restores a corrupted balance from a snapshot on
// a private PostgreSQL.
func TestRestoreIntegration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := pgtest.Start(t, ctx)
	t.Setenv("FIREDRILL_TEST_DSN", pg.DSN())

	conn, err := pgx.Connect(ctx, pg.DSN())
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
		INSERT INTO accounts VALUES (1, 100), (2, 200)`)
	require.NoError(t, err)

	settings := &drills.RestoreSettings{
		DSN:         "${FIREDRILL_TEST_DSN}",
		SnapshotSQL: `DROP TABLE IF EXISTS accounts_snapshot; CREATE TABLE accounts_snapshot AS SELECT * FROM accounts`,
		RestoreSQL:  `DELETE FROM accounts; INSERT INTO accounts SELECT * FROM accounts_snapshot`,
		VerifySQL:   `SELECT SUM(balance) = 300 FROM accounts`,
	}
	r, err := NewRestore(settings)
	require.NoError(t, err)
	// The policy's hook before a risky change runs the one snapshot.
	policy := drills.Guard{Strategies: []drills.Strategy{{Name: drills.StrategyRevert}, {Name: drills.StrategyRestore, Restore: settings}, {Name: drills.StrategyHuman}}}
	n, err := TakeSnapshots(ctx, policy)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var snapped int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT SUM(balance) FROM accounts_snapshot`).Scan(&snapped))
	require.EqualValues(t, 300, snapped)
	broken := *settings
	broken.SnapshotSQL = `SELECT * FROM no_such_table`
	_, err = TakeSnapshots(ctx, drills.Guard{Strategies: []drills.Strategy{{Name: drills.StrategyRevert}, {Name: drills.StrategyRestore, Restore: &broken}}})
	require.ErrorContains(t, err, "strategies[1]: restore: snapshot")

	out, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, "nothing to restore yet")

	_, err = conn.Exec(ctx, `UPDATE accounts SET balance = balance + 50 WHERE id = 1`) // corruption
	require.NoError(t, err)
	out, err = r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	var sum int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT SUM(balance) FROM accounts`).Scan(&sum))
	require.EqualValues(t, 300, sum)

	out, err = r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone)

	// A restore that does not verify is rolled back.
	_, err = conn.Exec(ctx, `UPDATE accounts SET balance = 0 WHERE id = 2`)
	require.NoError(t, err)
	bad := *settings
	bad.RestoreSQL = `UPDATE accounts SET balance = balance + 1`
	rb, err := NewRestore(&bad)
	require.NoError(t, err)
	_, err = rb.Act(ctx, testTarget, Decision{})
	require.ErrorContains(t, err, "verifySQL returned false")
	require.NoError(t, conn.QueryRow(ctx, `SELECT SUM(balance) FROM accounts`).Scan(&sum))
	require.EqualValues(t, 100, sum, "the failed restore left the data as it was")
}
