package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// lock takes the cluster's lock (one Create or Delete at a time per cluster
// name).
func (cl *Cluster) lock(ctx context.Context) (func(), error) {
	return flockFile(ctx, cl.cfg.lockPath())
}

// MachineLockPath is the file behind LockMachine.
const MachineLockPath = "/run/lock/firedrill-local-cluster.lock"

// LockMachine takes a machine-wide lock, waiting until ctx ends. The local
// cluster uses fixed ports, bridge and CIDRs, so only one can run at a time:
// test binaries that bring one up (this package's tests, e2e suites) hold
// this lock for as long as their cluster exists, so that `go test ./...`
// running packages in parallel serialises them instead of failing on busy
// ports. Create and Delete do not take it themselves.
func LockMachine(ctx context.Context) (unlock func(), err error) {
	return flockFile(ctx, MachineLockPath)
}

var (
	heldMu sync.Mutex
	held   = map[*os.File]bool{}
)

// flockFile takes an exclusive flock on path, polling until ctx ends.
func flockFile(ctx context.Context, path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Keep the file reachable until unlock: if a caller dropped
			// the unlock function, the garbage collector would close the
			// file and silently release the lock.
			heldMu.Lock()
			held[f] = true
			heldMu.Unlock()
			return func() {
				heldMu.Lock()
				delete(held, f)
				heldMu.Unlock()
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("local: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("local: another firedrill process holds %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
