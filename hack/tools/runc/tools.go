//go:build tools

// Package tools pins runc, which hack/tools.sh builds with -tags seccomp, so
// that `go mod tidy` keeps its requirements in go.mod/go.sum. It is never
// compiled.
package tools

import (
	_ "github.com/opencontainers/runc"
)
