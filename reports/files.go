package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/firedrill/firedrill/drills"
)

// FileNames are the report files WriteFiles writes, by format.
var FileNames = map[string]string{
	"junit":    "junit.xml",
	"json":     "results.json",
	"markdown": "summary.md",
	"html":     "report.html",
}

// WriteFiles writes every format of results into dir (junit.xml,
// results.json, summary.md, report.html), each file atomically, and returns
// the paths written in Writers order.
func WriteFiles(ctx context.Context, dir string, results []drills.Result, opts ...Option) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	var paths []string
	for _, w := range Writers(opts...) {
		var buf bytes.Buffer
		if err := w.Write(ctx, &buf, results); err != nil {
			return paths, fmt.Errorf("reports: %s: %w", w.Name(), err)
		}
		p := filepath.Join(dir, FileNames[w.Name()])
		if err := writeAtomic(p, buf.Bytes()); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// WriteRun stores one result as runsDir/RUNID.json, the layout Publish
// reads.
func WriteRun(runsDir string, r drills.Result) (string, error) {
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return "", fmt.Errorf("reports: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("reports: %w", err)
	}
	p := filepath.Join(runsDir, r.RunID+".json")
	return p, writeAtomic(p, append(data, '\n'))
}

// writeAtomic writes data to a temporary file next to path and renames it.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("reports: writing %s: %w", path, werr)
	}
	return nil
}
