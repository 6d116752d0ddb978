package main

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/probe"
)

// fileSum is the SHA-256 of a file.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// exeAttack runs `probe exe-write SECONDS ARGS...` detached in container id and returns its
// result once it is done; before that, during(…) runs.
func exeAttack(t *testing.T, id, seconds string, during func(), args ...string) probe.ExeWriteResult {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "attacker.pid")
	out := execDetached(t, append([]string{"--pid-file", pidFile, id, "/bin/probe", "exe-write", seconds}, args...)...)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(data))
	during()
	waitFor(t, func() bool { return gone(pid) })
	var res probe.ExeWriteResult
	if data, err = os.ReadFile(out); err != nil || json.Unmarshal(data, &res) != nil {
		t.Fatalf("exe-write: no result: %v\n%s", err, data)
	}
	return res
}

// CVE-2019-5736: while `contain exec` enters the container again and again, a process inside
// tries to open the runtime's binary for writing through /proc/PID/exe of every process that
// runs it, and keeps handles to reopen once they exit. One exec is the `#!/proc/self/exe`
// trick, which makes the runtime's binary the container's own program, dumpable, as the
// container's root: the attacker holds it while it waits on a FIFO, releases it, and reopens
// its executable after it exited, when nothing runs the binary any more (so ETXTBSY no longer
// protects it). Every attempt must fail, the last one on the read-only mount (EROFS), and the
// binary must be unchanged.
func TestExecCannotOverwriteRuntime(t *testing.T) {
	needContainer(t)
	bundle := runningContainer(t, "cve", nil, "/bin/probe", "sleep", "60")
	rootfs := filepath.Join(bundle, "rootfs")
	// --log opens the FIFO for writing: the runtime blocks there until the attacker reads.
	if err := os.WriteFile(filepath.Join(rootfs, "evil"), []byte("#!/proc/self/exe --log=/hold\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(rootfs, "hold"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, containBin)
	res := exeAttack(t, "cve", "4", func() {
		for i := 0; i < 5; i++ {
			mustRun(t, "exec", "cve", "/bin/probe", "exit", "0")
		}
		execDetached(t, "cve", "/evil") // detached: no contain runs the binary when it exits
	}, "/hold")
	if fileSum(t, containBin) != before || res.Written != 0 {
		t.Fatalf("the runtime's binary was changed from inside the container (%d bytes): %+v", res.Written, res)
	}
	if !res.OK {
		t.Fatalf("exe-write failed: %+v", res)
	}
	tried := false
	for _, target := range res.Targets {
		for _, errno := range append(slices.Clone(target.OpenErrors), target.ReopenErrors...) {
			if !slices.Contains([]string{"ETXTBSY", "EROFS", "EACCES"}, errno) {
				t.Errorf("pid %d: writing its executable failed with %s, want ETXTBSY, EROFS or EACCES", target.PID, errno)
			}
		}
		tried = tried || (target.Held && target.Exited && slices.Contains(target.ReopenErrors, "EROFS"))
	}
	if !tried {
		t.Errorf("the attack never reopened the runtime's binary after its process exited (so it proves nothing): %+v", res.Targets)
	}
}

// Init runs the runtime's binary in the container until start: it is not dumpable, so a
// process exec'd into the created container cannot even read /proc/1/exe.
func TestCreatedInitIsNotDumpable(t *testing.T) {
	needContainer(t)
	createdInit(t, "nodump")
	res := exeAttack(t, "nodump", "0.5", func() {})
	i := slices.IndexFunc(res.Targets, func(x probe.ExeTarget) bool { return x.PID == 1 })
	if i < 0 || res.Targets[i].Refused != "EACCES" || res.Written != 0 {
		t.Errorf("init (pid 1) while created: %+v, want /proc/1/exe refused with EACCES", res)
	}
}

// A created container's init says what it is in ps(1), rather than the "17" of the fd it was
// executed by (the exec stage names itself the same way, contain:exec, but lives too briefly
// to look at).
func TestRuntimeProcessesSayWhatTheyAre(t *testing.T) {
	needContainer(t)
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(createdInit(t, "named")) + "/comm")
	if err != nil || string(comm) != "contain:init\n" {
		t.Errorf("created init's comm: %q, %v; want contain:init", comm, err)
	}
}

// exec's working directory is resolved inside the container: a magic link cannot put the
// program in a host directory, from where ".." reaches the host's tree (runc's
// CVE-2024-21626). Two ways in: /proc/PID/cwd of a host process, which a container without a
// pid namespace of its own sees (through a symlink of its own, or named directly), and an fd
// that exec's caller left open (/proc/self/fd/N).
func TestExecCwdCannotLeaveTheContainer(t *testing.T) {
	needContainer(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "host-marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "60")
	sleeper.Dir = host
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	runningContainer(t, "cwdleak", func(spec obj) { dropNamespace(spec, "pid") }, "/bin/probe", "sleep", "60")
	hostCwd := "/proc/" + strconv.Itoa(sleeper.Process.Pid) + "/cwd"
	mustRunCLI(t, "exec", "cwdleak", "ln", "-s", hostCwd, "/hostcwd")
	dir, err := os.Open(host)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	for _, cwd := range []string{"/hostcwd", hostCwd, "/proc/self/fd/7"} {
		cmd := containCmd("exec", "--cwd", cwd, "cwdleak", "ls")
		cmd.ExtraFiles = []*os.File{nil, nil, nil, nil, dir} // fd 7 in contain exec
		r := runResult(t, cmd)
		if r.code == 0 || strings.Contains(r.stdout, "host-marker") {
			t.Errorf("exec --cwd %s: exit %d, %q %q; want it refused, never the host's directory", cwd, r.code, r.stdout, r.stderr)
		}
	}
}
