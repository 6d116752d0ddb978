package isolate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containkit/contain/internal/testenv"
)

// A missing image is named as such, and nothing is made: overlayfs itself would say only
// ENOENT on the mount point, which exists (steps 07 to 10 with a mistyped -rootfs).
func TestOverlayNamesAMissingImage(t *testing.T) {
	base := t.TempDir()
	for _, lower := range []string{filepath.Join(base, "nope"), writeFile(t, filepath.Join(base, "file"))} {
		o := Overlay{Lower: lower, Dir: filepath.Join(base, "overlay")}
		err := o.Mount()
		if err == nil || !strings.Contains(err.Error(), lower) || !strings.Contains(err.Error(), "lowerdir") {
			t.Errorf("Mount with the image %s: %v, want an error naming it as the lowerdir", lower, err)
		}
		if _, err := os.Lstat(o.Dir); err == nil {
			t.Errorf("Mount with the image %s left %s behind", lower, o.Dir)
		}
	}
}

func writeFile(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A failed Mount removes what it made and nothing else: a Dir that was there, with an upper
// from an earlier run, keeps both (here the mount fails because the image is that upper:
// overlayfs refuses overlapping layers).
func TestOverlayFailureKeepsWhatWasThere(t *testing.T) {
	testenv.RequireRoot(t)
	o := Overlay{Dir: filepath.Join(t.TempDir(), "overlay")}
	o.Lower = o.Upper()
	if err := os.MkdirAll(o.Upper(), 0o755); err != nil {
		t.Fatal(err)
	}
	keep, written := writeFile(t, filepath.Join(o.Dir, "keep")), writeFile(t, filepath.Join(o.Upper(), "written"))
	if err := o.Mount(); err == nil {
		o.Remove()
		t.Fatal("Mount with the upper as its image succeeded; this test needs it to fail")
	}
	for _, path := range []string{keep, written} {
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("after a failed Mount, %s (there before) is gone: %v", path, err)
		}
	}
	for _, path := range []string{o.work(), o.Merged()} {
		if _, err := os.Lstat(path); err == nil {
			t.Errorf("after a failed Mount, %s (which it made) is still there", path)
		}
	}
}
