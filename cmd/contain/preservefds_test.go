package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containkit/contain/internal/probe"
)

// containFDs runs contain with extra as its fds 3 and up, and returns its stdout; it must
// succeed.
func containFDs(t *testing.T, extra []*os.File, args ...string) string {
	t.Helper()
	cmd := containCmd(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = &out, &errOut, extra
	if err := runWithTimeout(t, cmd, 30*time.Second); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
		t.Fatalf("contain %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// preservable opens two files for fds 3 and 4: the first holds marker.
func preservable(t *testing.T, marker string) []*os.File {
	t.Helper()
	dir := t.TempDir()
	var files []*os.File
	for _, name := range []string{"preserved", "not-preserved"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(marker), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	return files
}

// catFD3 decodes `probe cat /proc/self/fd/3`.
func catFD3(t *testing.T, out string) probe.CatResult {
	t.Helper()
	var r probe.CatResult
	decodeProbe(t, out, &r)
	return r
}

// --preserve-fds N: the caller's fds 3 to 3+N-1 reach the container's process under the same
// numbers, and no other fd does; without the flag, none does.
func TestPreserveFDsRun(t *testing.T) {
	needContainer(t)
	const marker = "preserved marker\n"
	fds := preservable(t, marker)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "report"} })
	r := decodeReport(t, containFDs(t, fds, "run", "--bundle", bundle, "--preserve-fds", "1", "pf-run"))
	var got []int
	for _, fd := range r.FDs {
		got = append(got, fd.FD)
	}
	if len(got) != 4 || got[3] != 3 || !strings.HasSuffix(r.FDs[3].Target, "/preserved") {
		t.Errorf("the container has fds %+v: want 0-2 and 3, the preserved file, only", r.FDs)
	}
	cat := []string{"--", "/bin/probe", "cat", "/proc/self/fd/3"}
	quick := []string{"run", "--rootfs", testRootfs}
	if c := catFD3(t, containFDs(t, fds, append(append(quick, "--preserve-fds", "1"), cat...)...)); c.Content != marker {
		t.Errorf("cat /proc/self/fd/3 with --preserve-fds 1: %+v", c)
	}
	// Without the flag: only stdio (a cat of fd 3 could open the probe's own fd 3).
	r = decodeReport(t, containFDs(t, fds, append(quick, "--", "/bin/probe", "report")...))
	if len(r.FDs) != 3 {
		t.Errorf("without --preserve-fds the container has fds %+v: want 0-2 only", r.FDs)
	}
	if r := contain(t, "", append(append(quick, "--preserve-fds", "3"), cat...)...); r.code == 0 || !strings.Contains(r.stderr, "fd 3") {
		t.Errorf("--preserve-fds 3 with no fd 3 to 5: exit %d, %q", r.code, r.stderr)
	}
}

// create --preserve-fds: the fds wait with init until start; exec --preserve-fds too.
func TestPreserveFDsCreateAndExec(t *testing.T) {
	needContainer(t)
	const marker = "preserved marker\n"
	fds := preservable(t, marker)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"sh", "-c", "/bin/probe cat /proc/self/fd/3; exec /bin/probe sleep 60"}
	})
	out := detached(t, fds, "create", "--bundle", bundle, "--preserve-fds", "1", "pf")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "pf") })
	mustRunCLI(t, "start", "pf")
	var data []byte
	waitFor(t, func() bool { data, _ = os.ReadFile(out); return bytes.Contains(data, []byte("\n")) })
	if c := catFD3(t, string(data)); c.Content != marker {
		t.Errorf("create --preserve-fds 1, then start: cat fd 3: %+v", c)
	}
	if st := state(t, "pf"); st.Status != specs.StateRunning {
		t.Fatalf("container is %s", st.Status)
	}
	if c := catFD3(t, containFDs(t, fds, "exec", "--preserve-fds", "1", "pf", "/bin/probe", "cat", "/proc/self/fd/3")); c.Content != marker {
		t.Errorf("exec --preserve-fds 1: cat fd 3: %+v", c)
	}
	// With the flag, the preserved fd and nothing else: no fd of the exec stage's (its config
	// pipe once reached the process, beside fd 3).
	r := decodeReport(t, containFDs(t, fds, "exec", "--preserve-fds", "1", "pf", "/bin/probe", "report"))
	if len(r.FDs) != 4 || r.FDs[3].FD != 3 || !strings.HasSuffix(r.FDs[3].Target, "/preserved") {
		t.Errorf("exec --preserve-fds 1: the process has fds %+v, want 0-2 and 3, the preserved file, only", r.FDs)
	}
	r = decodeReport(t, containFDs(t, fds, "exec", "pf", "/bin/probe", "report"))
	for _, fd := range r.FDs {
		if fd.FD > 2 {
			t.Errorf("exec without --preserve-fds passed fd %d (%s)", fd.FD, fd.Target)
		}
	}
}
