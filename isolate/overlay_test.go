package isolate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
