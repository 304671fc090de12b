package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// GoBuildError reports a failed `go build`: the package that did not build
// and the compiler's output.
type GoBuildError struct {
	// Package is the Go package path that was built.
	Package string
	// Output is what `go build` printed.
	Output string
	// Err is the underlying error, usually an *exec.ExitError.
	Err error
}

// Error implements error.
func (e *GoBuildError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		return fmt.Sprintf("images: go build %s: %v", e.Package, e.Err)
	}
	return fmt.Sprintf("images: go build %s: %v: %s", e.Package, e.Err, out)
}

// Unwrap returns the underlying error.
func (e *GoBuildError) Unwrap() error { return e.Err }

// elfMagic starts every linux executable; a non-main package built with -o
// gives an archive instead.
var elfMagic = []byte("\x7fELF")

// goBuild compiles pkg into a static linux binary at out.
func goBuild(ctx context.Context, pkg, out, goarch string, o *options) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("images: go toolchain not found: %w", err)
	}
	args := []string{"build", "-trimpath", "-ldflags", "-s -w"}
	args = append(args, o.goFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	o.logger.DebugContext(ctx, "running go build", "dir", o.dir, "args", args)
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return &GoBuildError{Package: pkg, Output: output.String(), Err: err}
	}
	f, err := os.Open(out)
	if err != nil {
		return &GoBuildError{Package: pkg, Output: output.String(),
			Err: fmt.Errorf("no binary written (is it a main package?): %w", err)}
	}
	defer f.Close()
	magic := make([]byte, len(elfMagic))
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, elfMagic) {
		return &GoBuildError{Package: pkg, Output: output.String(),
			Err: errors.New("not a main package: go build wrote no linux executable")}
	}
	return nil
}

// binaryName derives the binary's file name from the package path: its last
// element, or for a relative path such as "." the base of the directory it
// resolves to.
func binaryName(pkg, dir string) (string, error) {
	if strings.Contains(pkg, "...") {
		return "", fmt.Errorf("images: package %q is a pattern; name one main package", pkg)
	}
	if pkg == "" {
		return "", fmt.Errorf("images: empty package path")
	}
	base := path.Base(filepath.ToSlash(pkg))
	if base == "." || base == ".." || base == "/" {
		abs, err := filepath.Abs(filepath.Join(dir, pkg))
		if err != nil {
			return "", fmt.Errorf("images: resolve package %q: %w", pkg, err)
		}
		base = filepath.Base(abs)
	}
	if err := checkBinaryName(base); err != nil {
		return "", fmt.Errorf("images: package %q: %w; use WithEntrypointName", pkg, err)
	}
	return base, nil
}
