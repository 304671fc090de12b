package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/clusters/local/postgres/pgtest"
	"github.com/firedrill/firedrill/drills"
)

// auditRows are three actions: two recent (one finished), one 8 days old.
func auditRows(now time.Time) []drills.AuditRecord {
	return []drills.AuditRecord{
		{RollbackID: "rb-old", ServiceName: "payment", FromVersion: "3", ToVersion: "2",
			TriggerTime: now.Add(-8 * 24 * time.Hour), StartTime: now.Add(-8*24*time.Hour + time.Second),
			Decision: string(ActionRollback), Score: 0.95, Strategy: string(drills.StrategyRevert), Reason: "old"},
		{RollbackID: "rb-1", ServiceName: "payment", FromVersion: "5", ToVersion: "4",
			TriggerTime: now.Add(-2 * time.Hour), StartTime: now.Add(-2*time.Hour + 2*time.Second),
			Decision: string(ActionRollback), Score: 1.1, Strategy: string(drills.StrategyRevert), Reason: "crash loop"},
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
	require.NoError(t, s.Finish(ctx, "rb-1", end, true, ""))
	require.ErrorIs(t, s.Finish(ctx, "missing", end, true, ""), ErrAuditNotFound)

	got, err := s.List(ctx, now.Add(-7*24*time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "rb-2", got[0].RollbackID, "newest first")
	require.Nil(t, got[0].EndTime)
	require.False(t, got[0].Success)
	require.Equal(t, "rb-1", got[1].RollbackID)
	require.True(t, got[1].Success)
	require.Equal(t, "crash loop", got[1].Reason)
	require.NotNil(t, got[1].EndTime)
	require.True(t, end.Equal(*got[1].EndTime))
	want := auditRows(now)[1]
	require.True(t, want.TriggerTime.Equal(got[1].TriggerTime))
	require.True(t, want.StartTime.Equal(got[1].StartTime))
	require.Equal(t, want.FromVersion, got[1].FromVersion)
	require.Equal(t, want.ToVersion, got[1].ToVersion)
	require.Equal(t, want.Decision, got[1].Decision)
	require.Equal(t, want.Score, got[1].Score)
	require.Equal(t, want.Strategy, got[1].Strategy)

	require.NoError(t, s.Finish(ctx, "rb-2", now, false, "not recovered"))
	got, err = s.List(ctx, now.Add(-90*time.Minute))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "not recovered", got[0].Reason)
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
	require.Len(t, got, 3)
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
	var got []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.id, &r.service, &r.from, &r.to, &r.duration, &r.success))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, 2, "the 8-day-old row is outside the window")
	require.Equal(t, "rb-2", got[0].id)
	require.False(t, got[0].success)
	require.NotNil(t, got[0].duration)
	require.InDelta(t, float64(time.Hour-time.Second)/float64(time.Second), *got[0].duration, 1e-6)
	require.Equal(t, row{id: "rb-1", service: "payment", from: "5", to: "4", duration: got[1].duration, success: true}, got[1])
	require.InDelta(t, 23.0, *got[1].duration, 1e-6)
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
