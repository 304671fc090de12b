// Package runner wires a drill together: it runs the ordered phases
// (preflight, baseline, inject, observe, verify, teardown), measures MTTD and
// MTTR, and fills a drills.Result. It records what each of the engine's
// signal units really saw (coverage.go) and judges a drill whose guard was
// blind during inject and observe inconclusive.
package runner
