// Package runner wires a drill together: it runs the ordered phases
// (preflight, baseline, inject, observe, verify, teardown), measures MTTD and
// MTTR, and fills a drills.Result.
package runner
