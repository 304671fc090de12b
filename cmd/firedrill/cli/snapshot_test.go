package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/clusters/local/postgres/pgtest"
)

func runSnapshotCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runSub(t, newSnapshotCmd(), args...)
}

const snapshotDrill = `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: snap
spec:
  target:
    namespace: demo
    name: payment
  guard:
    strategies:
      - name: revert
      - name: restore
        restore:
          dsn: ${FIREDRILL_TEST_SNAPSHOT_DSN}
          snapshotSQL: SNAPSHOT_SQL
          restoreSQL: DELETE FROM accounts; INSERT INTO accounts SELECT * FROM accounts_snapshot
          verifySQL: SELECT SUM(balance) = 300 FROM accounts
  traffic:
    requests:
      - path: /
  faults:
    - type: pod-kill
`

func writeSnapshotDrill(t *testing.T, snapshotSQL string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snap.yaml")
	src := bytes.ReplaceAll([]byte(snapshotDrill), []byte("SNAPSHOT_SQL"), []byte(snapshotSQL))
	require.NoError(t, os.WriteFile(path, src, 0o644))
	return path
}

func TestSnapshotTakesTheRestoreSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := pgtest.Start(t, ctx)
	t.Setenv("FIREDRILL_TEST_SNAPSHOT_DSN", pg.DSN())
	conn, err := pgx.Connect(ctx, pg.DSN())
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
		INSERT INTO accounts VALUES (1, 100), (2, 200)`)
	require.NoError(t, err)

	file := writeSnapshotDrill(t, "DROP TABLE IF EXISTS accounts_snapshot; CREATE TABLE accounts_snapshot AS SELECT * FROM accounts")
	code, out, errOut := runSnapshotCmd(t, file)
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "drill snap: 1 snapshot(s) taken")
	var sum int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT SUM(balance) FROM accounts_snapshot`).Scan(&sum))
	require.EqualValues(t, 300, sum)

	// A failing snapshot is an error that names the drill and the strategy.
	code, _, errOut = runSnapshotCmd(t, writeSnapshotDrill(t, "SELECT * FROM no_such_table"))
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "drill snap: spec.guard.strategies[1]: restore: snapshot")
}

func TestSnapshotErrors(t *testing.T) {
	// No restore strategy with a snapshot in the shipped bad-image drill.
	code, _, errOut := runSnapshotCmd(t, filepath.Join("..", "..", "..", "drills", "examples", "bad-image.yaml"))
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "no restore strategy with a snapshotSQL")

	code, _, errOut = runSnapshotCmd(t, filepath.Join("..", "..", "..", "drills", "testdata", "invalid-bad-cron.yaml"))
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "invalid-bad-cron.yaml:11: spec.schedule")

	code, _, errOut = runSnapshotCmd(t, "--timeout", "0s", writeSnapshotDrill(t, "SELECT 1"))
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "--timeout must be positive")
}
