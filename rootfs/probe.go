package rootfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath identifies this repository's go.mod when looking for the module root.
const modulePath = "github.com/containkit/contain"

// errNoProbe is the hint every FindProbe failure ends with.
var errNoProbe = errors.New("probe binary not found: run 'make build' or set CONTAIN_PROBE")

// FindProbe locates the static probe binary: $CONTAIN_PROBE; then "probe" next to the running
// executable; then bin/probe in the module root (found by walking up from the working
// directory and from the executable's directory); then, with `go` on PATH and the module root
// known, it builds ./cmd/probe (CGO_ENABLED=0) into <user cache dir>/contain/probe.
func FindProbe() (string, error) {
	if p := os.Getenv("CONTAIN_PROBE"); p != "" {
		if !isFile(p) {
			return "", fmt.Errorf("CONTAIN_PROBE=%s: not a file: %w", p, errNoProbe)
		}
		return filepath.Abs(p)
	}
	exeDir := executableDir()
	if p := filepath.Join(exeDir, "probe"); exeDir != "" && isFile(p) {
		return p, nil
	}
	root := findModuleRoot(exeDir)
	if root == "" {
		return "", errNoProbe
	}
	if p := filepath.Join(root, "bin", "probe"); isFile(p) {
		return p, nil
	}
	return buildProbe(root)
}

// executableDir is the directory of the running executable, or "".
func executableDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Dir(exe)
}

// findModuleRoot walks up from the working directory, then from exeDir, to this module's
// go.mod, or returns "".
func findModuleRoot(exeDir string) string {
	starts := []string{exeDir}
	if wd, err := os.Getwd(); err == nil {
		starts = []string{wd, exeDir}
	}
	for _, start := range starts {
		if root := moduleRootAbove(start); root != "" {
			return root
		}
	}
	return ""
}

// moduleRootAbove returns the first directory at or above start whose go.mod declares this
// module, or "".
func moduleRootAbove(start string) string {
	if start == "" {
		return ""
	}
	for dir := filepath.Clean(start); ; dir = filepath.Dir(dir) {
		if moduleOf(filepath.Join(dir, "go.mod")) == modulePath {
			return dir
		}
		if dir == filepath.Dir(dir) {
			return ""
		}
	}
}

// moduleOf reads the module line of a go.mod file, or returns "".
func moduleOf(gomod string) string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], "\"`")
		}
	}
	return ""
}

// buildProbe builds ./cmd/probe of the module at root into the user cache directory.
func buildProbe(root string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", errNoProbe
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w (no cache dir to build it in: %v)", errNoProbe, err)
	}
	out := filepath.Join(cache, "contain", "probe")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("%w (%v)", errNoProbe, err)
	}
	cmd := exec.Command(gobin, "build", "-o", out, "./cmd/probe")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w (go build ./cmd/probe in %s: %v: %s)", errNoProbe, root, err, lastLine(msg))
	}
	return out, nil
}

// lastLine is the last non-empty line of a command's output.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
