// Package testenv decides whether integration tests can run on this
// machine. They need root and the pinned tools; without them they skip
// with the reason, except under `make test` as root, which sets
// FIREDRILL_REQUIRE_INTEGRATION=1 so that a missing piece fails the run
// instead of hiding behind a skip.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RequireEnv is the variable make test sets when integration tests must run.
const RequireEnv = "FIREDRILL_REQUIRE_INTEGRATION"

// Required reports whether integration tests must run rather than skip.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Reason returns why integration tests cannot run here ("" if they can):
// not root, or one of the given files missing.
func Reason(files ...string) string {
	if os.Geteuid() != 0 {
		return "integration tests need root"
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return fmt.Sprintf("%s is missing (run make tools)", f)
		}
	}
	return ""
}

// Integration skips tb, or fails it under make test, when integration
// tests cannot run here.
func Integration(tb testing.TB, files ...string) {
	tb.Helper()
	if testing.Short() && !Required() {
		tb.Skip("skipping integration test in -short mode")
	}
	if r := Reason(files...); r != "" {
		if Required() {
			tb.Fatalf("integration test cannot run: %s (%s=1)", r, RequireEnv)
		}
		tb.Skip("skipping: " + r)
	}
}

// Missing skips tb, or fails it under make test, because something the
// test needs is not on this machine.
func Missing(tb testing.TB, what string) {
	tb.Helper()
	if Required() {
		tb.Fatalf("integration test cannot run: %s (%s=1)", what, RequireEnv)
	}
	tb.Skip("skipping: " + what)
}
