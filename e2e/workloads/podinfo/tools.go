//go:build tools

// Package podinfo pins github.com/stefanprodan/podinfo, built unmodified
// by `firedrill image build github.com/stefanprodan/podinfo/cmd/podinfo
// --dir e2e/workloads/podinfo`.
package podinfo

import _ "github.com/stefanprodan/podinfo/cmd/podinfo"
