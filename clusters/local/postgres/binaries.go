package postgres

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// DistRoot is where Debian installs PostgreSQL, one folder per major
// version.
const DistRoot = "/usr/lib/postgresql"

// ErrNotInstalled means the PostgreSQL server binaries are missing; install
// Debian's postgresql package (it provides initdb, postgres and pg_isready).
var ErrNotInstalled = errors.New("postgresql server binaries not installed (apt-get install postgresql)")

// requiredBinaries are the programs Start runs.
var requiredBinaries = []string{"initdb", "postgres", "pg_isready"}

// FindBinDir returns the bin folder of the newest PostgreSQL major under
// DistRoot that has every binary Start needs.
func FindBinDir() (string, error) { return findBinDir(DistRoot) }

// findBinDir is FindBinDir under root.
func findBinDir(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("%s: %w", root, ErrNotInstalled)
	}
	best, bestMajor := "", -1
	for _, e := range entries {
		major, err := strconv.Atoi(e.Name())
		if err != nil || major <= bestMajor {
			continue
		}
		bin := filepath.Join(root, e.Name(), "bin")
		if checkBinDir(bin) == nil {
			best, bestMajor = bin, major
		}
	}
	if best == "" {
		return "", fmt.Errorf("no %s/<major>/bin with %v: %w", root, requiredBinaries, ErrNotInstalled)
	}
	return best, nil
}

// checkBinDir checks that dir holds every required binary.
func checkBinDir(dir string) error {
	for _, b := range requiredBinaries {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s missing in %s: %w", b, dir, ErrNotInstalled)
		}
	}
	return nil
}
