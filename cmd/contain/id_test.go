package main

import (
	"regexp"
	"testing"

	"github.com/containkit/contain/isolate"
)

// Quick-form containers are named run-<12 hex digits>: a valid id, and a fresh one each time
// (a repeat would fail the run, whose state directory is taken).
func TestNewIDIsValidAndFresh(t *testing.T) {
	form := regexp.MustCompile(`^run-[0-9a-f]{12}$`)
	seen := make(map[string]bool)
	for range 10000 {
		id := newID()
		if !form.MatchString(id) {
			t.Fatalf("newID() = %q, want run-<12 hex digits>", id)
		}
		if err := isolate.ValidateID(id); err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("newID() gave %q twice in %d ids", id, len(seen))
		}
		seen[id] = true
	}
}
