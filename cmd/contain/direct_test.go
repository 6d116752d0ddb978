package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/isolate"
	"golang.org/x/sys/unix"
)

// directBundle is a bundle a run starts without init (isolate/direct.go): the default spec,
// with what init would otherwise set on itself before its execve: rlimits, oom_score_adj,
// sysctls of the container's network and ipc namespaces, a hostname.
func directBundle(t *testing.T, args ...string) string {
	t.Helper()
	if !isolate.HostStartsDirectly() {
		// Not a skip that CONTAIN_TESTS=require fails: such a host runs everything through
		// init, which every other test covers.
		t.Skip("this host starts no run directly (a kernel before 6.18, or ptrace restricted)")
	}
	return newBundle(t, func(spec obj) {
		process(spec)["args"] = toList(args)
		process(spec)["oomScoreAdj"] = 123
		process(spec)["rlimits"] = list{obj{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}}
		spec["hostname"] = "direct"
		linux(spec)["sysctl"] = obj{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1000"}
	})
}

// runBothWays runs the bundle's container once started directly and once through init
// (isolate.NoDirectStartEnv), checks from the debug log that each went the way it should,
// and returns both results.
func runBothWays(t *testing.T, bundle string) (direct, viaInit result) {
	t.Helper()
	for _, throughInit := range []bool{false, true} {
		log := filepath.Join(t.TempDir(), "log")
		cmd := containCmd("--debug", "--log", log, "run", "--bundle", bundle, "both-ways")
		if throughInit {
			cmd.Env = append(cmd.Env, isolate.NoDirectStartEnv+"=1")
		}
		r := runResult(t, cmd)
		data, _ := os.ReadFile(log)
		started := strings.Contains(string(data), "started without init")
		if started == throughInit {
			t.Fatalf("through init %v, but the log says %q", throughInit, data)
		}
		if throughInit {
			viaInit = r
		} else {
			direct = r
		}
	}
	return direct, viaInit
}

// checkStartedDirectly checks that contain's --debug log says the run started without init.
func checkStartedDirectly(t *testing.T, log string) {
	t.Helper()
	if data, _ := os.ReadFile(log); !strings.Contains(string(data), "started without init") {
		t.Fatalf("not started directly: %s", data)
	}
}

// A direct start makes the container init makes: probe sees the same from inside, but for
// what numbers each container anew (namespaces, mount ids).
func TestDirectStartMakesTheContainerInitMakes(t *testing.T) {
	needContainer(t)
	direct, viaInit := runBothWays(t, directBundle(t, "/bin/probe", "report"))
	a, b := comparable(t, direct), comparable(t, viaInit)
	if a != b {
		t.Errorf("the containers differ:\n%s", lineDiff(a, b))
	}
}

// comparable is a probe report of a run, without what differs from one container to the next.
func comparable(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep probe.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	rep.Namespaces = nil
	for i := range rep.FDs {
		rep.FDs[i].Target = "" // the test's pipes
	}
	for i := range rep.Mounts {
		m := &rep.Mounts[i]
		m.ID, m.Parent, m.Minor = 0, 0, 0
	}
	// /proc is mounted last in a direct start (once the container's first process exists):
	// the same mounts, in another order.
	slices.SortFunc(rep.Mounts, func(x, y probe.Mount) int {
		return strings.Compare(x.MountPoint+" "+x.FSType, y.MountPoint+" "+y.FSType)
	})
	data, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// lineDiff shows the lines of a that b lacks (-) and those of b that a lacks (+).
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// What a direct start sets on the program from outside, or before its execve, holds: the
// rlimit and oom_score_adj by prlimit(2) and /proc/PID, the sysctls in its namespaces, its
// own /proc (only its processes), and no tracer left once it runs.
func TestDirectStartSetsWhatInitSets(t *testing.T) {
	needContainer(t)
	script := `ulimit -n; cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; ` +
		`hostname; grep TracerPid /proc/self/status; ls /proc | grep -c '^[0-9]'; echo $$`
	direct, viaInit := runBothWays(t, directBundle(t, "/bin/sh", "-c", script))
	want := "512\n123\n1\n1000\ndirect\nTracerPid:\t0\n3\n1\n" // sh, ls and grep; sh is pid 1
	for name, r := range map[string]result{"direct": direct, "through init": viaInit} {
		if r.code != 0 || r.stdout != want {
			t.Errorf("%s: exit %d, output %q, want %q (stderr %q)", name, r.code, r.stdout, want, r.stderr)
		}
	}
}

// The program's exit status comes back as through init.
func TestDirectStartExitStatus(t *testing.T) {
	needContainer(t)
	direct, viaInit := runBothWays(t, directBundle(t, "/bin/sh", "-c", "exit 7"))
	if direct.code != 7 || viaInit.code != 7 {
		t.Errorf("exit %d directly, %d through init; want 7", direct.code, viaInit.code)
	}
}

// A foreground container started directly dies with contain, as init's does: its
// parent-death signal belongs to the thread that started it, which lives as long as the run.
func TestDirectStartDiesWithContain(t *testing.T) {
	needContainer(t)
	runDirectUntilKilled(t)
}

// A program started directly and killed by a signal makes contain exit 128+N, as through init.
func TestDirectStartKilledProgram(t *testing.T) {
	needContainer(t)
	runDirectUntilKilled(t)
}

// runDirectUntilKilled runs `probe trap` started directly, then kills contain (or, for
// TestDirectStartKilledProgram, the program) and checks what follows.
func runDirectUntilKilled(t *testing.T) {
	bundle := directBundle(t, "/bin/probe", "trap", "60")
	dir := t.TempDir()
	pidFile, log := filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	r := startContainer(t, "--debug", "--log", log, "run", "--bundle", bundle, "--pid-file", pidFile, "orphan")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "orphan") })
	checkStartedDirectly(t, log)
	pid := readPidFile(t, pidFile)
	if status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); !strings.Contains(string(status), "TracerPid:\t0\n") {
		t.Errorf("the program is traced still:\n%s", status)
	}
	r.signal(t, syscall.SIGUSR1, "SIGUSR1") // contain relays it, as through init
	if t.Name() == "TestDirectStartKilledProgram" {
		unix.Kill(pid, unix.SIGKILL) // the container's program, started by this test
		if r.cmd.Wait(); r.cmd.ProcessState.ExitCode() != 128+9 {
			t.Errorf("contain exited %d, want %d", r.cmd.ProcessState.ExitCode(), 128+9)
		}
		return
	}
	r.cmd.Process.Kill() // contain, started by this test
	r.cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); isolate.Alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the container's program %d still runs 5 s after contain was killed", pid)
		}
	}
}

// Only fds 0-2 reach a program started directly: the runtime's own fds, and what its caller
// left open (here a file as fd 7 and a directory as fd 8), stay out. The thread that starts
// the program shares the runtime's fds, so the runtime marks its caller's close-on-exec.
func TestDirectStartPassesOnlyStdio(t *testing.T) {
	needContainer(t)
	extra, dir := callerFDs(t)
	log := filepath.Join(dir, "log")
	cmd := containCmd("--debug", "--log", log, "run", "--bundle", directBundle(t, "/bin/probe", "report"), "fds")
	cmd.ExtraFiles = extra
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("contain run: %v", err)
	}
	checkStartedDirectly(t, log)
	checkOnlyStdio(t, out, dir)
}

// --preserve-fds N on a direct start: the caller's fds 3 to 3+N-1 reach the program under
// the same numbers, and no other fd does.
func TestDirectStartPreservesFDs(t *testing.T) {
	needContainer(t)
	fds := preservable(t, "preserved marker\n")
	bundle := directBundle(t, "/bin/probe", "report")
	log := filepath.Join(t.TempDir(), "log")
	r := decodeReport(t, containFDs(t, fds, "--debug", "--log", log, "run", "--bundle", bundle, "--preserve-fds", "1", "pf-direct"))
	checkStartedDirectly(t, log)
	if len(r.FDs) != 4 || r.FDs[3].FD != 3 || !strings.HasSuffix(r.FDs[3].Target, "/preserved") {
		t.Errorf("the container has fds %+v: want 0-2 and 3, the preserved file, only", r.FDs)
	}
}

// /proc as a symlink in the image is refused on a direct start too, where /proc is resolved
// before pivot_root and mounted after: the checks are mounter's, on the same path.
func TestDirectStartRefusesProcSymlink(t *testing.T) {
	needContainer(t)
	bundle := directBundle(t, "/bin/true")
	replaceWithSymlink(t, filepath.Join(bundle, "rootfs", "proc"), "/tmp")
	r := contain(t, "", "run", "--bundle", bundle, "link-proc")
	if r.code == 0 || !strings.Contains(r.stderr, "symlink") {
		t.Errorf("/proc as a symlink: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
}

// The classic chroot breakout lands in the container's root on a direct start too.
func TestDirectStartChrootBreakoutFails(t *testing.T) {
	needContainer(t)
	marker := hostMarker(t)
	direct, _ := runBothWays(t, directBundle(t, "/bin/probe", "chroot-escape", marker))
	var r probe.EscapeResult
	decodeProbe(t, direct.stdout, &r)
	checkNoEscape(t, r, marker)
}

// CVE-2019-5736's first step, a program that is a `#!/proc/self/exe` script, finds no
// runtime binary on a direct start: until the program's execve is done, its mount namespace
// has no procfs at all (its /proc is mounted at the stop after it), so the kernel finds no
// interpreter, where a child of the runtime would have found the runtime's own binary.
func TestDirectStartShebangFindsNoRuntime(t *testing.T) {
	needContainer(t)
	bundle := directBundle(t, "/evil")
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "evil"), []byte("#!/proc/self/exe --version\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := contain(t, "", "run", "--bundle", bundle, "shebang")
	if r.code == 0 || strings.Contains(r.stdout, "contain version") || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the exec refused, no such file", r.code, r.stdout, r.stderr)
	}
}

// denyPtraceEnv names the contain binary that TestMain execs, its arguments following, with a
// seccomp filter that refuses ptrace(2) with EPERM: a host that refuses what a direct start
// needs (a filter around the runtime, a security module).
const denyPtraceEnv = "CONTAIN_TEST_EXEC_WITHOUT_PTRACE"

// execWithoutPtrace installs that filter on this thread and execs the binary.
func execWithoutPtrace() {
	runtime.LockOSThread() // the filter is this thread's, which execve keeps
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.AUDIT_ARCH_X86_64, Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_PTRACE, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	if err == nil {
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
		if errno != 0 {
			err = errno
		}
	}
	if err == nil {
		bin := os.Getenv(denyPtraceEnv)
		err = syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), os.Environ())
	}
	fmt.Fprintln(os.Stderr, "exec without ptrace:", err)
	os.Exit(2)
}

// Where the host refuses the ptrace a direct start needs (EPERM at the fork), the run falls
// back to init, and the container runs all the same.
func TestDirectStartFallsBackToInit(t *testing.T) {
	needContainer(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the test's seccomp filter is amd64's")
	}
	log := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command(os.Args[0], "--root", stateRoot, "--debug", "--log", log,
		"run", "--bundle", directBundle(t, "/bin/probe", "report"), "fallback")
	cmd.Env = append(os.Environ(), denyPtraceEnv+"="+containBin)
	r := runResult(t, cmd)
	data, _ := os.ReadFile(log)
	if r.code != 0 || !strings.Contains(string(data), "refused a direct start") || strings.Contains(string(data), "started without init") {
		t.Fatalf("exit %d, stderr %q, log:\n%s\nwant a run through init after the refusal", r.code, r.stderr, data)
	}
	decodeReport(t, r.stdout)
}
