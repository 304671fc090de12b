//go:build tools

// Package tools pins the Prometheus server and promtool that hack/tools.sh
// builds into the tool cache.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
