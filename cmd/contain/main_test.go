package main

// End-to-end tests: they build the real contain and probe binaries, run containers as root,
// and read what the kernel shows from inside with `probe report`. They run one at a time,
// because each one checks that it left nothing behind (mounts, state, links, processes).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/internal/testenv"
	"github.com/containkit/contain/rootfs"
)

var (
	binDir     string // contain and probe, built by TestMain
	containBin string
	probeBin   string
	testRootfs string // a busybox rootfs shared by tests that do not change it
	stateRoot  string // --root for every test container
	setupErr   error
	// noBusybox is why the test rootfs cannot be built: the host has no static busybox, a
	// missing prerequisite like a missing root, so the tests that need it skip.
	noBusybox string
)

func TestMain(m *testing.M) {
	if os.Getenv(denyPtraceEnv) != "" {
		execWithoutPtrace() // TestDirectStartFallsBackToInit's contain; does not return
	}
	testenv.RunSandboxed(func() int {
		dir, err := os.MkdirTemp("", "contain-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(dir)
		setupErr = setup(dir)
		return m.Run()
	})
}

// setup builds the binaries and a rootfs under dir. Failures are reported by each root test,
// so that pure tests still run.
func setup(dir string) error {
	binDir = filepath.Join(dir, "bin")
	containBin, probeBin = filepath.Join(binDir, "contain"), filepath.Join(binDir, "probe")
	stateRoot = filepath.Join(dir, "state")
	build := func(out, pkg string) error {
		cmd := exec.Command("go", "build", "-buildvcs=false", "-tags", "urfave_cli_no_docs", "-o", out, pkg) // as the Makefile
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		return nil
	}
	if prebuilt := os.Getenv("CONTAIN_TEST_BINDIR"); prebuilt != "" {
		// A machine without Go (the pure cgroup v2 host of the cgroups proof) runs this test
		// binary, built with `go test -c`, with binaries built elsewhere.
		containBin, probeBin = filepath.Join(prebuilt, "contain"), filepath.Join(prebuilt, "probe")
	} else {
		if err := build(containBin, "."); err != nil {
			return err
		}
		if err := build(probeBin, "../probe"); err != nil {
			return err
		}
	}
	testRootfs = filepath.Join(dir, "rootfs")
	err := rootfs.Build(testRootfs, rootfs.Options{From: "busybox", Probe: probeBin})
	if errors.Is(err, rootfs.ErrNoBusybox) {
		noBusybox = "the test rootfs: " + err.Error()
		return nil
	}
	return err
}

// needContainer gates a test that runs containers: root, a working setup, a leak check.
func needContainer(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	if setupErr != nil {
		t.Fatalf("setup: %v", setupErr)
	}
	if noBusybox != "" {
		testenv.Skip(t, noBusybox)
	}
	testenv.CheckLeaks(t, stateRoot, "/run/contain")
}

// result is what a contain command did.
type result struct {
	stdout, stderr string
	code           int
}

// contain runs the contain binary with --root set and stdin from the given string.
func contain(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := containCmd(args...)
	cmd.Stdin = strings.NewReader(stdin)
	return runResult(t, cmd)
}

// runResult runs a contain command (for at most 30 s) and collects what it did.
func runResult(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := runWithTimeout(t, cmd, 30*time.Second)
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return result{out.String(), errOut.String(), code}
}

func containCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(containBin, append([]string{"--root", stateRoot}, args...)...)
	cmd.Env = append(os.Environ(), "CONTAIN_PROBE="+probeBin)
	return cmd
}

// runWithTimeout runs cmd, killing it (by pid, only it) if it outlives d.
func runWithTimeout(t *testing.T, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		return err
	}
	timer := time.AfterFunc(d, func() {
		t.Errorf("%s: still running after %v, killing it", strings.Join(cmd.Args, " "), d)
		cmd.Process.Kill()
	})
	defer timer.Stop()
	return cmd.Wait()
}

// mustRun runs a container command that must succeed, and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := contain(t, "", args...)
	if r.code != 0 {
		t.Fatalf("contain %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// report runs `probe report` in a quick-form container with the given contain run flags.
func report(t *testing.T, flags ...string) probe.Report {
	t.Helper()
	args := append(append([]string{"run", "--rootfs", testRootfs}, flags...), "--", "/bin/probe", "report")
	return decodeReport(t, mustRun(t, args...))
}

func decodeReport(t *testing.T, out string) probe.Report {
	t.Helper()
	var r probe.Report
	decodeProbe(t, out, &r)
	return r
}

// decodeProbe decodes what a probe command printed (JSON) into v.
func decodeProbe(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decode probe output: %v\n%s", err, out)
	}
}

// probeAction runs `probe ACTION ARGS...` in a quick-form container and decodes its JSON.
func probeAction(t *testing.T, v any, action ...string) {
	t.Helper()
	out := mustRun(t, append([]string{"run", "--rootfs", testRootfs, "--", "/bin/probe"}, action...)...)
	decodeProbe(t, out, v)
}

// hostReport is probe's view of the test process itself, to compare with a container's.
func hostReport(t *testing.T) *probe.Report {
	t.Helper()
	r, err := probe.Collect()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newBundle makes a bundle dir with its own busybox rootfs and the default config, changed
// by edit. The rootfs is built per bundle, so tests may change it.
func newBundle(t *testing.T, edit func(spec map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	if err := rootfs.Build(filepath.Join(dir, "rootfs"), rootfs.Options{From: "busybox", Probe: probeBin}); err != nil {
		t.Fatal(err)
	}
	mustRunCLI(t, "spec", "--bundle", dir)
	if edit != nil {
		editSpec(t, dir, edit)
	}
	return dir
}

// editSpec changes dir/config.json through generic JSON, the way a person edits the file.
func editSpec(t *testing.T, dir string, edit func(spec map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	edit(spec)
	if data, err = json.MarshalIndent(spec, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustRunCLI runs a contain command that is not a container.
func mustRunCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := containCmd(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("contain %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// obj and list make editing generic JSON specs shorter.
type obj = map[string]any
type list = []any

func process(spec obj) obj { return spec["process"].(obj) }

// dropNamespace removes the namespace of type kind from a spec's list: the container shares
// the runtime's (or joins one by path, added after).
func dropNamespace(spec obj, kind string) {
	var kept list
	for _, ns := range linux(spec)["namespaces"].([]any) {
		if ns.(obj)["type"] != kind {
			kept = append(kept, ns)
		}
	}
	linux(spec)["namespaces"] = kept
}
func linux(spec obj) obj { return spec["linux"].(obj) }
