package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// stampLayout is the start time in history file names: UTC, fixed width, so
// that names sort by time.
const stampLayout = "20060102T150405.000Z"

// runFileRe matches history file names; files that do not match are never
// read as runs nor trimmed.
var runFileRe = regexp.MustCompile(`^(\d{8}T\d{6}\.\d{3}Z)-([A-Za-z0-9._-]+)\.json$`)

// unsafeIDRe matches what may not appear in the run ID part of a file name.
var unsafeIDRe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// RunFileName is the history file name of a run that started at started.
func RunFileName(started time.Time, runID string) string {
	id := unsafeIDRe.ReplaceAllString(runID, "-")
	if id == "" {
		id = "run"
	}
	return started.UTC().Format(stampLayout) + "-" + id + ".json"
}

// writeRun writes res into the drill's history and trims it to the drill's
// history limit. It returns the file written.
func (s *Scheduler) writeRun(e *entry, res *drills.Result) (string, error) {
	e.historyMu.Lock()
	defer e.historyMu.Unlock()
	dir := filepath.Join(s.runsDir, e.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("schedule: history: %w", err)
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", fmt.Errorf("schedule: history: encode result: %w", err)
	}
	path := filepath.Join(dir, RunFileName(res.Started, res.RunID))
	if err := writeFileAtomic(path, append(data, '\n')); err != nil {
		return "", fmt.Errorf("schedule: history: %w", err)
	}
	removed, err := trimHistory(dir, e.limit)
	if err != nil {
		return path, fmt.Errorf("schedule: history: %w", err)
	}
	if len(removed) > 0 {
		s.log.Debug("history trimmed", "drill", e.name, "removed", removed, "historyLimit", e.limit)
	}
	return path, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place, so that readers see the whole file or none.
func writeFileAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// listRuns returns the names of the history files in dir, oldest first. A
// missing dir has no runs.
func listRuns(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range ents {
		if de.Type().IsRegular() && runFileRe.MatchString(de.Name()) {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// trimHistory removes the oldest history files of dir so that at most keep
// remain, and returns the names removed.
func trimHistory(dir string, keep int) ([]string, error) {
	names, err := listRuns(dir)
	if err != nil || len(names) <= keep {
		return nil, err
	}
	old := names[:len(names)-keep]
	var errs []error
	for _, n := range old {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return old, errors.Join(errs...)
}

// lastRunTime is the start time of the newest run recorded in dir; ok is
// false if there is none.
func lastRunTime(dir string) (t time.Time, ok bool, err error) {
	names, err := listRuns(dir)
	if err != nil || len(names) == 0 {
		return time.Time{}, false, err
	}
	m := runFileRe.FindStringSubmatch(names[len(names)-1])
	t, err = time.Parse(stampLayout, m[1])
	if err != nil {
		return time.Time{}, false, fmt.Errorf("history file %s: %w", names[len(names)-1], err)
	}
	return t, true, nil
}
