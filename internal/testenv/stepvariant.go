package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// StepVariant writes the reference of the workshop step slug (steps/SLUG/main.go in the
// repository at root), changed by edit, into a new directory of root's work/, where exercises
// build as packages of the module, and returns that directory, removed when the test ends. It
// is a learner's likely mistake for a check to catch. edit also says whether the source still
// has what it changes; when not, the test stops and asks to be updated.
func StepVariant(t testing.TB, root, slug string, edit func(src string) (string, bool)) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "steps", slug, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	changed, ok := edit(string(src))
	if !ok {
		t.Fatalf("steps/%s/main.go no longer has what this test changes: update the test", slug)
	}
	if err := os.MkdirAll(filepath.Join(root, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "work"), ".variant-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
