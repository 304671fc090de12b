// Package engine is the rollback engine (the guard): it detects anomalies
// from rules and signals, decides with a score, acts through strategies, and
// audits every decision. It imports only drills.
package engine
