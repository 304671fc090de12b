// Package runner wires a drill together: it runs the ordered phases
// (preflight, baseline, inject, observe, verify, teardown), measures MTTD and
// MTTR, and fills a drills.Result. It records what each of the engine's
// signal units really saw (coverage.go) and judges a drill whose guard was
// blind during inject and observe inconclusive.
//
// Safety: preflight refuses, before touching anything, a drill whose
// namespaces have not opted in (label firedrill.dev/drills=enabled, or
// WithAllowedNamespaces) and a network or process fault whose pods share
// the node's network or process namespace or are privileged. Teardown puts
// back only the target fields that still hold a value the drill wrote.
package runner
