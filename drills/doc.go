// Package drills is the drill API (firedrill.dev/v1alpha1): the versioned
// Drill types, a strict YAML loader that names file, line and field on every
// error, defaulting, validation, the JSON Schema generated from the types, and
// the Result type that the runner fills and the reports read.
//
// It imports nothing else of firedrill.
package drills
