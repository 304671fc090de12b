package schedule

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestRunFileNameSortsByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	require.Equal(t, "20261126T020405.000Z-abc.json", RunFileName(t0, "abc"))
	require.Equal(t, "20261126T020405.123Z-a-b.json", RunFileName(t0.Add(123*time.Millisecond), "a/b"))
	require.Equal(t, "20261126T020405.000Z-run.json", RunFileName(t0, ""))
	require.Less(t, RunFileName(t0.Add(999*time.Millisecond), "z"), RunFileName(t0.Add(time.Second), "a"))
	require.Regexp(t, runFileRe, RunFileName(t0, "0123abcd"))
}

func TestTrimHistoryKeepsNewestAndLeavesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	var names []string
	for i := range 5 {
		n := RunFileName(t0.AddDate(0, 0, 7*i), "r")
		names = append(names, n)
		require.NoError(t, writeFileAtomic(filepath.Join(dir, n), []byte("{}")))
	}
	for _, other := range []string{"README.md", ".20261126T020405.000Z-x.json.tmp-1", "index.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, other), nil, 0o644))
	}
	removed, err := trimHistory(dir, 2)
	require.NoError(t, err)
	require.Equal(t, names[:3], removed)
	left, err := listRuns(dir)
	require.NoError(t, err)
	require.Equal(t, names[3:], left)
	for _, other := range []string{"README.md", "index.json"} {
		require.FileExists(t, filepath.Join(dir, other))
	}

	last, ok, err := lastRunTime(dir)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, last.Equal(t0.AddDate(0, 0, 28)), last)

	_, ok, err = lastRunTime(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.False(t, ok)
}

func TestWriteFileAtomicLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	require.NoError(t, writeFileAtomic(path, []byte("one")))
	require.NoError(t, writeFileAtomic(path, []byte("two")))
	require.Equal(t, "two", readFile(t, path))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
}
