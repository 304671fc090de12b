package engine

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/clusters/local/postgres/pgtest"
	"github.com/firedrill/firedrill/drills"
)

// auditRows are four actions: three recent (one incident escalated once),
// one 8 days old.
func auditRows(now time.Time) []drills.AuditRecord {
	return []drills.AuditRecord{
		{RollbackID: "rb-old", ServiceName: "payment", FromVersion: "3", ToVersion: "2",
			TriggerTime: now.Add(-8 * 24 * time.Hour), StartTime: now.Add(-8*24*time.Hour + time.Second),
			Decision: string(ActionRollback), Score: 0.95, Strategy: string(drills.StrategyRevert), Reason: "old"},
		{RollbackID: "rb-1", ServiceName: "payment", FromVersion: "5", ToVersion: "4",
			TriggerTime: now.Add(-2 * time.Hour), StartTime: now.Add(-2*time.Hour + 2*time.Second),
			Decision: string(ActionRollback), Score: 1.1, Strategy: string(drills.StrategyRevert), Reason: "crash loop",
			ErrorRate: 1, Severity: 1, RecoveryPotential: 1, TimeDecay: 0.1},
		// The same incident escalated: same trigger, later start (stored
		// first so that only the order by start puts it first).
		{RollbackID: "rb-2-2", ServiceName: "payment", FromVersion: "6", ToVersion: "5",
			TriggerTime: now.Add(-time.Hour), StartTime: now.Add(-time.Hour + 31*time.Second),
			Decision: string(ActionRollback), Score: 1.2, Strategy: string(drills.StrategyRestore), Reason: "still failing"},
		{RollbackID: "rb-2", ServiceName: "payment", FromVersion: "6", ToVersion: "5",
			TriggerTime: now.Add(-time.Hour), StartTime: now.Add(-time.Hour + time.Second),
			Decision: string(ActionPartialRollback), Score: 0.75, Strategy: string(drills.StrategyShrink), Reason: "error rate"},
	}
}

// exerciseAuditStore runs the common round trip on s.
func exerciseAuditStore(t *testing.T, ctx context.Context, s AuditStore, now time.Time) {
	t.Helper()
	for _, r := range auditRows(now) {
		require.NoError(t, s.Start(ctx, r))
	}
	// A retry after a crash records the start again: the first row stays.
	dup := auditRows(now)[1]
	dup.Reason = "retry"
	require.NoError(t, s.Start(ctx, dup))
	end := now.Add(-2*time.Hour + 25*time.Second)
	require.NoError(t, s.Finish(ctx, "rb-1", end, true, "", ""))
	require.ErrorIs(t, s.Finish(ctx, "missing", end, true, "", ""), ErrAuditNotFound)

	got, err := s.List(ctx, now.Add(-7*24*time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 3)
	// Newest first; one incident's escalations by their start.
	require.Equal(t, []string{"rb-2-2", "rb-2", "rb-1"}, []string{got[0].RollbackID, got[1].RollbackID, got[2].RollbackID})
	require.Nil(t, got[1].EndTime)
	require.False(t, got[1].Success)
	require.True(t, got[2].Success)
	require.Equal(t, "crash loop", got[2].Reason)
	require.NotNil(t, got[2].EndTime)
	require.True(t, end.Equal(*got[2].EndTime))
	want := auditRows(now)[1]
	require.True(t, want.TriggerTime.Equal(got[2].TriggerTime))
	require.True(t, want.StartTime.Equal(got[2].StartTime))
	require.Equal(t, want.FromVersion, got[2].FromVersion)
	require.Equal(t, want.ToVersion, got[2].ToVersion)
	require.Equal(t, want.Decision, got[2].Decision)
	require.Equal(t, want.Score, got[2].Score)
	require.Equal(t, want.Strategy, got[2].Strategy)
	require.Equal(t, [4]float64{1, 1, 1, 0.1}, [4]float64{got[2].ErrorRate, got[2].Severity, got[2].RecoveryPotential, got[2].TimeDecay})

	require.NoError(t, s.Finish(ctx, "rb-2", now, false, "not recovered", ""))
	got, err = s.List(ctx, now.Add(-90*time.Minute))
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "not recovered", got[1].Reason)
}

func TestSQLiteAuditRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := OpenSQLiteAudit(ctx, path)
	require.NoError(t, err)
	// Truncate to microseconds like PostgreSQL would not matter here, but
	// keep the zone non-UTC to prove times are normalised.
	now := time.Now().In(time.FixedZone("CST", 8*3600))
	exerciseAuditStore(t, ctx, s, now)
	require.NoError(t, s.Close())

	// Reopening keeps the rows.
	s, err = OpenSQLiteAudit(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.List(ctx, now.Add(-30*24*time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 4)
}

// oldAuditSchema is rollback_audit as the first release created it,
// without the score's terms.
const oldAuditSchema = `CREATE TABLE rollback_audit (
	rollback_id  TEXT PRIMARY KEY,
	service_name TEXT NOT NULL,
	from_version TEXT NOT NULL DEFAULT '',
	to_version   TEXT NOT NULL DEFAULT '',
	trigger_time %[1]s NOT NULL,
	start_time   %[1]s NOT NULL,
	end_time     %[1]s,
	success      %[2]s NOT NULL DEFAULT %[3]s,
	decision     TEXT NOT NULL DEFAULT '',
	score        %[4]s NOT NULL DEFAULT 0,
	strategy     TEXT NOT NULL DEFAULT '',
	reason       TEXT NOT NULL DEFAULT ''
)`

func TestSQLiteAuditMigratesOldTable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, fmt.Sprintf(oldAuditSchema, "TEXT", "INTEGER", "0", "REAL"))
	require.NoError(t, err)
	old := "2026-01-01T10:00:00.000000000Z"
	_, err = db.ExecContext(ctx, `INSERT INTO rollback_audit (rollback_id, service_name, trigger_time, start_time, decision, score)
		VALUES ('rb-old', 'payment', ?, ?, 'rollback', 0.95)`, old, old)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	for range 2 { // opening twice: the second finds the columns there
		s, err := OpenSQLiteAudit(ctx, path)
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
	s, err := OpenSQLiteAudit(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	now := time.Now()
	require.NoError(t, s.Start(ctx, drills.AuditRecord{RollbackID: "rb-new", ServiceName: "payment", TriggerTime: now, StartTime: now,
		Decision: string(ActionPartialRollback), Score: 0.85, ErrorRate: 1, Severity: 0.8, RecoveryPotential: 1, TimeDecay: 0.05}))
	got, err := s.List(ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "rb-new", got[0].RollbackID)
	require.Equal(t, [4]float64{1, 0.8, 1, 0.05}, [4]float64{got[0].ErrorRate, got[0].Severity, got[0].RecoveryPotential, got[0].TimeDecay})
	require.Equal(t, "rb-old", got[1].RollbackID)
	require.Equal(t, 0.95, got[1].Score)
	require.Zero(t, got[1].ErrorRate, "an old row has no terms")
}

func TestOpenSQLiteAuditErrors(t *testing.T) {
	_, err := OpenSQLiteAudit(context.Background(), "")
	require.Error(t, err)
	_, err = OpenSQLiteAudit(context.Background(), filepath.Join(t.TempDir(), "missing", "dir", "audit.db"))
	require.Error(t, err)
}

// seedQuery is the seed document's 7-day audit query, unchanged.
const seedQuery = `SELECT 
    rollback_id,
    service_name,
    from_version,
    to_version,
    EXTRACT(EPOCH FROM end_time - start_time) AS duration,
    success
FROM rollback_audit
WHERE trigger_time > NOW() - INTERVAL '7 DAYS'
ORDER BY trigger_time DESC
LIMIT 10;`

func TestPostgresAuditIntegration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := pgtest.Start(t, ctx)

	// A table from the first release, without the score's terms: opening
	// adds them.
	old, err := pgx.Connect(ctx, pg.DSN())
	require.NoError(t, err)
	_, err = old.Exec(ctx, fmt.Sprintf(oldAuditSchema, "TIMESTAMPTZ", "BOOLEAN", "false", "DOUBLE PRECISION"))
	require.NoError(t, err)
	require.NoError(t, old.Close(ctx))

	st, err := OpenAudit(ctx, pg.DSN())
	require.NoError(t, err)
	defer st.Close()
	s, ok := st.(*PostgresAudit)
	require.True(t, ok, "a postgres:// DSN opens PostgreSQL")
	// PostgreSQL keeps microseconds.
	now := time.Now().Truncate(time.Microsecond)
	exerciseAuditStore(t, ctx, s, now)

	// Opening again on an existing table is fine.
	s2, err := OpenPostgresAudit(ctx, pg.DSN())
	require.NoError(t, err)
	require.NoError(t, s2.Close())

	conn, err := pgx.Connect(ctx, pg.DSN())
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, seedQuery)
	require.NoError(t, err)
	type row struct {
		id, service, from, to string
		duration              *float64
		success               bool
	}
	var ids []string
	got := map[string]row{}
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.id, &r.service, &r.from, &r.to, &r.duration, &r.success))
		ids = append(ids, r.id)
		got[r.id] = r
	}
	require.NoError(t, rows.Err())
	// The seed orders by trigger time only: an incident's escalations tie.
	require.Len(t, ids, 3, "the 8-day-old row is outside the window")
	require.ElementsMatch(t, []string{"rb-2", "rb-2-2"}, ids[:2])
	require.Equal(t, "rb-1", ids[2])
	require.False(t, got["rb-2"].success)
	require.NotNil(t, got["rb-2"].duration)
	require.InDelta(t, float64(time.Hour-time.Second)/float64(time.Second), *got["rb-2"].duration, 1e-6)
	require.Nil(t, got["rb-2-2"].duration, "never finished")
	rb1 := got["rb-1"]
	require.Equal(t, row{id: "rb-1", service: "payment", from: "5", to: "4", duration: rb1.duration, success: true}, rb1)
	require.InDelta(t, 23.0, *rb1.duration, 1e-6)
}

func TestOpenAuditDefaultsToSQLite(t *testing.T) {
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	t.Setenv("FIREDRILL_HOME", home)
	require.Equal(t, filepath.Join(home, "audit.db"), DefaultAuditPath())
	s, err := OpenAudit(ctx, "")
	require.NoError(t, err)
	require.IsType(t, &SQLiteAudit{}, s)
	require.NoError(t, s.Start(ctx, drills.AuditRecord{RollbackID: "x", ServiceName: "svc", TriggerTime: time.Now(), StartTime: time.Now()}))
	require.NoError(t, s.Close())
	require.FileExists(t, filepath.Join(home, "audit.db"))

	t.Setenv("FIREDRILL_HOME", "")
	require.Equal(t, "/var/lib/firedrill/audit.db", DefaultAuditPath())

	path := filepath.Join(t.TempDir(), "other.db")
	s, err = OpenAudit(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// A PostgreSQL URL goes to pgx; nothing listens on port 1.
	_, err = OpenAudit(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	require.Error(t, err)
}
