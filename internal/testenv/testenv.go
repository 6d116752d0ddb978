// Package testenv gates tests on the privileges they need and proves that they clean up.
//
// Tests come in three tiers: pure logic (any user), root with namespaces, and end to end.
// Root tests call [RequireRoot]; they skip with a reason when the process is not root, unless
// CONTAIN_TESTS=require (set by CI), which turns every such skip into a failure so that a green
// CI run means the root tests really ran.
package testenv

import (
	"os"
	"testing"
)

// Required reports whether CONTAIN_TESTS=require is set: skips become failures.
func Required() bool { return os.Getenv("CONTAIN_TESTS") == "require" }

// Skip skips the test with reason, or fails it in require mode.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("CONTAIN_TESTS=require but the test cannot run: %s", reason)
	}
	t.Skip(reason)
}

// RequireRoot skips (or, in require mode, fails) the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (run: sudo make test)")
	}
}
