package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

func runAuditCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runSub(t, newAuditCmd(), args...)
}

func TestAuditListsRows(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "audit.db")
	st, err := engine.OpenAudit(ctx, db)
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Second)
	old := drills.AuditRecord{RollbackID: "old", ServiceName: "firedrill-demo/payment", FromVersion: "payment:v2-buggy", ToVersion: "payment:v1",
		TriggerTime: now.Add(-10 * 24 * time.Hour), StartTime: now.Add(-10 * 24 * time.Hour), Decision: "rollback", Score: 1.2, Strategy: "revert", Reason: "old one"}
	fresh := old
	fresh.RollbackID, fresh.TriggerTime, fresh.StartTime, fresh.Reason = "fresh", now.Add(-time.Hour), now.Add(-time.Hour), "HighErrorRate"
	require.NoError(t, st.Start(ctx, old))
	require.NoError(t, st.Start(ctx, fresh))
	require.NoError(t, st.Finish(ctx, "fresh", now.Add(-time.Hour+12*time.Second), true, "", ""))
	require.NoError(t, st.Close())

	code, out, errOut := runAuditCmd(t, "--audit-dsn", db)
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "payment:v2-buggy → payment:v1")
	require.Contains(t, out, "HighErrorRate")
	require.Contains(t, out, "12s")
	require.NotContains(t, out, "old one", "the default window is 7 days")

	code, out, errOut = runAuditCmd(t, "--audit-dsn", db, "--since", "0", "--format", "json")
	require.Equal(t, ExitOK, code, errOut)
	var rows []drills.AuditRecord
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 2)
	require.Equal(t, "fresh", rows[0].RollbackID, "newest first")
	require.True(t, rows[0].Success)
	require.NotNil(t, rows[0].EndTime)
	require.Nil(t, rows[1].EndTime)
}

func TestAuditBadInput(t *testing.T) {
	code, _, errOut := runAuditCmd(t, "--audit-dsn", filepath.Join(t.TempDir(), "missing.db"))
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "missing.db")

	code, _, errOut = runAuditCmd(t, "--audit-dsn", "x.db", "--since", "yesterday")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, `--since "yesterday"`)

	code, _, errOut = runAuditCmd(t, "--audit-dsn", "x.db", "--format", "xml")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "table or json")
}

func TestParseSince(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "90m": 90 * time.Minute, "0": 0, "": 0, "1d": 24 * time.Hour} {
		got, err := parseSince(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"-1h", "xd", "1.5d", "d"} {
		_, err := parseSince(in)
		require.Error(t, err, in)
	}
}
