package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/firedrill/firedrill/clusters/images"
)

// ctrNamespace is the containerd namespace the CRI plugin (and so the
// kubelet) uses.
const ctrNamespace = "k8s.io"

func (cl *Cluster) containerdComponent() component {
	return component{
		name: compContainerd,
		bin:  "containerd",
		args: []string{"--config", cl.p.ctrConfig, "--log-level", "warn"},
		health: func(ctx context.Context) error {
			_, err := run(ctx, "ctr", "--address", cl.p.ctrSock, "version")
			return err
		},
		timeout: 30 * time.Second,
	}
}

// importImage loads a docker-archive or OCI tarball into our containerd's
// k8s.io namespace.
func (cl *Cluster) importImage(ctx context.Context, tarball string) error {
	if _, err := os.Stat(tarball); err != nil {
		return fmt.Errorf("local: load image: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := run(ctx, "ctr", "--address", cl.p.ctrSock, "-n", ctrNamespace,
		"images", "import", tarball); err != nil {
		return fmt.Errorf("local: load image %s: %w", tarball, err)
	}
	return nil
}

// pauseCache is where the last built pause image is kept, so that
// `firedrill cluster up` also works outside the source tree once it has
// been run inside it (or after `make`).
func (cl *Cluster) pauseCache() string {
	return filepath.Join(cl.cfg.cacheDir, "images", "pause.tar")
}

// checkPauseSource fails early if the pause image can neither be built nor
// taken from the cache.
func (cl *Cluster) checkPauseSource() error {
	if _, err := cl.moduleDir(); err == nil {
		return nil
	} else if _, serr := os.Stat(cl.pauseCache()); serr != nil {
		return err
	}
	return nil
}

// buildPause builds firedrill's pause image into the work folder and
// refreshes the cached copy; outside the source tree it uses the cache.
func (cl *Cluster) buildPause(ctx context.Context) (string, error) {
	dir, err := cl.moduleDir()
	if err != nil {
		if _, serr := os.Stat(cl.pauseCache()); serr == nil {
			cl.cfg.logger.Info("using cached pause image", "path", cl.pauseCache())
			return cl.pauseCache(), nil
		}
		return "", err
	}
	out := filepath.Join(cl.p.images, "pause.tar")
	if err := os.MkdirAll(cl.p.images, 0o755); err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	if _, err := images.BuildPause(ctx, out, images.WithDir(dir), images.WithLogger(cl.cfg.logger)); err != nil {
		return "", fmt.Errorf("local: build pause image: %w", err)
	}
	// Best effort: a read-only cache only costs the fallback.
	if err := os.MkdirAll(filepath.Dir(cl.pauseCache()), 0o755); err == nil {
		tmp := cl.pauseCache() + ".tmp"
		if copyFile(out, tmp) == nil {
			_ = os.Rename(tmp, cl.pauseCache())
		}
	}
	return out, nil
}

// moduleDir returns the root of the firedrill module: the configured one or
// the first parent of the current directory whose go.mod declares it.
func (cl *Cluster) moduleDir() (string, error) {
	if cl.cfg.moduleDir != "" {
		return cl.cfg.moduleDir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isFiredrillModule(b) {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	return "", fmt.Errorf("local: cannot find the firedrill module above %s to build the pause image; run from the source tree or set --module-dir", wd)
}

func isFiredrillModule(gomod []byte) bool {
	for _, line := range splitLines(string(gomod)) {
		if line == "module github.com/firedrill/firedrill" {
			return true
		}
	}
	return false
}
