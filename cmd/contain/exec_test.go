package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containkit/contain/isolate"
)

// runningContainer creates and starts container id from a fresh bundle whose process is args
// (edit, if not nil, changes the spec further); delete --force removes it when the test ends.
func runningContainer(t *testing.T, id string, edit func(spec obj), args ...any) string {
	t.Helper()
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list(args)
		if edit != nil {
			edit(spec)
		}
	})
	createContainer(t, bundle, id)
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", id) })
	mustRunCLI(t, "start", id)
	return bundle
}

// nsInode reads the inode of a process's namespace from its /proc/PID/ns link, "net:[4026531840]".
func nsInode(t *testing.T, pid int, name string) uint64 {
	t.Helper()
	link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(link[strings.IndexByte(link, '[')+1:], "]"), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", link, err)
	}
	return n
}

// exec joins every namespace of the container, and starts from the container's own process:
// its capabilities, no_new_privs, environment and rlimits.
func TestExecJoinsTheContainer(t *testing.T) {
	needContainer(t)
	runningContainer(t, "ex", nil, "/bin/probe", "sleep", "60")
	init := state(t, "ex").Pid
	r := decodeReport(t, mustRun(t, "exec", "ex", "/bin/probe", "report"))
	for _, ns := range []string{"pid", "mnt", "uts", "ipc", "net", "cgroup"} {
		if want := nsInode(t, init, ns); r.Namespaces[ns] != want {
			t.Errorf("%s namespace %d, want the container's %d", ns, r.Namespaces[ns], want)
		}
	}
	if r.PID == 1 || !slices.Contains(r.Pids, 1) || !slices.Contains(r.Pids, r.PID) {
		t.Errorf("pid %d, /proc shows %v: want a new pid beside the container's 1", r.PID, r.Pids)
	}
	if r.Hostname != "contain" || r.Cwd != "/" || r.UID[0] != 0 {
		t.Errorf("hostname %q cwd %q uid %v: want the container's", r.Hostname, r.Cwd, r.UID)
	}
	want := slices.Clone(isolate.DefaultCapabilities)
	slices.Sort(want)
	for _, set := range []string{"effective", "permitted", "bounding"} {
		if !slices.Equal(r.Caps[set], want) {
			t.Errorf("%s = %v, want the container's %v", set, r.Caps[set], want)
		}
	}
	if r.NoNewPrivs != 1 || r.Rlimits["RLIMIT_NOFILE"].Soft != 1024 {
		t.Errorf("no_new_privs %d, RLIMIT_NOFILE %+v: want the container's process's", r.NoNewPrivs, r.Rlimits["RLIMIT_NOFILE"])
	}
	for _, fd := range r.FDs {
		if fd.FD > 2 {
			t.Errorf("fd %d (%s) reached the exec'd process", fd.FD, fd.Target)
		}
	}

	r = decodeReport(t, mustRun(t, "exec", "--user", "1000:1001", "--cwd", "/tmp", "-e", "GREETING=hi there", "ex", "/bin/probe", "report"))
	if r.UID[0] != 1000 || r.GID[0] != 1001 || r.Cwd != "/tmp" || !slices.Contains(r.Env, "GREETING=hi there") {
		t.Errorf("uid %v gid %v cwd %q env %v: want 1000, 1001, /tmp, GREETING", r.UID, r.GID, r.Cwd, r.Env)
	}
	// -e adds to the container's environment; it does not replace it (runc's exec).
	if !slices.ContainsFunc(r.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		t.Errorf("exec -e GREETING=...: env %v lost the container's PATH", r.Env)
	}
	if len(r.Caps["effective"]) != 0 {
		t.Errorf("a non-root user kept effective capabilities %v", r.Caps["effective"])
	}
}

// runc's exec flags: --cap adds a capability, --no-new-privs, --additional-gids add theirs;
// --apparmor and --process-label are warned about; --cgroup and --ignore-paused are refused.
// An exec that fails exits 255, as runc's, not 1, which a program may exit with.
func TestExecRuncFlags(t *testing.T) {
	needContainer(t)
	runningContainer(t, "exflags", func(spec obj) { process(spec)["noNewPrivileges"] = false }, "/bin/probe", "sleep", "60")
	r := decodeReport(t, mustRun(t, "exec", "--cap", "CAP_SYS_ADMIN", "--cap", "net_admin", "--no-new-privs",
		"--additional-gids", "7", "--additional-gids", "8", "exflags", "/bin/probe", "report"))
	for _, set := range []string{"effective", "permitted", "bounding"} {
		if !slices.Contains(r.Caps[set], "CAP_SYS_ADMIN") || !slices.Contains(r.Caps[set], "CAP_NET_ADMIN") {
			t.Errorf("exec --cap CAP_SYS_ADMIN --cap net_admin: %s = %v", set, r.Caps[set])
		}
	}
	if r.NoNewPrivs != 1 || !slices.Contains(r.Groups, 7) || !slices.Contains(r.Groups, 8) {
		t.Errorf("--no-new-privs --additional-gids 7 and 8: no_new_privs %d, groups %v", r.NoNewPrivs, r.Groups)
	}
	if r := contain(t, "", "exec", "--apparmor", "p", "--process-label", "l", "exflags", "/bin/probe", "sleep", "0"); r.code != 0 ||
		!strings.Contains(r.stderr, "apparmorProfile is not supported yet and is ignored") || !strings.Contains(r.stderr, "selinuxLabel is not supported yet and is ignored") {
		t.Errorf("exec --apparmor --process-label: exit %d, %q: want it run, with two warnings", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "--cap", "CAP_NOPE", "exflags", "true"}, "no such capability"},
		{[]string{"exec", "--cgroup", "sub", "exflags", "true"}, "--cgroup"},
		{[]string{"exec", "--ignore-paused", "exflags", "true"}, "--ignore-paused"},
		{[]string{"exec", "exflags", "/no/such/program"}, "/no/such/program"},
		{[]string{"exec", "exflags-missing", "true"}, "does not exist"},
		{[]string{"exec", "bad/id", "true"}, "invalid container id"},
	} {
		if r := contain(t, "", tc.args...); r.code != 255 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("contain %s: exit %d, %q: want 255 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	if r := contain(t, "", "exec", "exflags", "sh", "-c", "exit 1"); r.code != 1 {
		t.Errorf("a program's own exit 1: exit %d", r.code)
	}
}

// exec --user changes only what it names, as runc's does: the container's gid without a GID,
// its additional groups and umask always.
func TestExecUserKeepsTheRestOfTheContainersUser(t *testing.T) {
	needContainer(t)
	runningContainer(t, "exuser", func(spec obj) {
		process(spec)["user"] = obj{"uid": 1000, "gid": 1000, "additionalGids": list{5, 6}, "umask": 0o27}
	}, "/bin/probe", "sleep", "60")
	r := decodeReport(t, mustRun(t, "exec", "--user", "12", "exuser", "/bin/probe", "report"))
	if r.UID[0] != 12 || r.GID[0] != 1000 || !slices.Equal(r.Groups, []int{5, 6}) || r.Umask != "0027" {
		t.Errorf("exec --user 12: uid %v gid %v groups %v umask %s; want 12, the container's 1000, [5 6], 0027", r.UID, r.GID, r.Groups, r.Umask)
	}
	r = decodeReport(t, mustRun(t, "exec", "--user", "0:0", "exuser", "/bin/probe", "report"))
	if r.UID[0] != 0 || r.GID[0] != 0 || !slices.Equal(r.Groups, []int{5, 6}) {
		t.Errorf("exec --user 0:0: uid %v gid %v groups %v; want 0, 0, [5 6]", r.UID, r.GID, r.Groups)
	}
}

// Exit status, death by signal (128+N) and stdio, byte-exact, as with run.
func TestExecStatusAndStdio(t *testing.T) {
	needContainer(t)
	runningContainer(t, "exs", nil, "/bin/probe", "sleep", "60")
	for _, code := range []int{0, 42} {
		if r := contain(t, "", "exec", "exs", "/bin/probe", "exit", strconv.Itoa(code)); r.code != code {
			t.Errorf("probe exit %d: contain exited %d (stderr %q)", code, r.code, r.stderr)
		}
	}
	if r := contain(t, "", "exec", "exs", "sh", "-c", "kill -KILL $$"); r.code != 137 {
		t.Errorf("killed by SIGKILL: exit %d, want 137", r.code)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	r := contain(t, string(data), "exec", "exs", "cat")
	if r.code != 0 || !bytes.Equal([]byte(r.stdout), data) {
		t.Errorf("cat: exit %d, %d bytes back of %d", r.code, len(r.stdout), len(data))
	}
	r = contain(t, string(data), "exec", "exs", "sh", "-c", "cat >&2")
	if r.stderr != string(data) || r.stdout != "" {
		t.Errorf("cat >&2: %d bytes on stderr, %d on stdout", len(r.stderr), len(r.stdout))
	}
	if r := contain(t, "", "exec", "exs", "no-such-program"); r.code == 0 || !strings.Contains(r.stderr, "no-such-program") {
		t.Errorf("a missing program: exit %d, %q", r.code, r.stderr)
	}
}

// Signals sent to a foreground `contain exec` reach the process.
func TestExecForwardsSignals(t *testing.T) {
	needContainer(t)
	runningContainer(t, "exsig", nil, "/bin/probe", "sleep", "60")
	c := startContainer(t, "exec", "exsig", "/bin/probe", "trap", "20")
	c.signal(t, syscall.SIGUSR1, "SIGUSR1")
	c.signal(t, syscall.SIGINT, "SIGINT")
	c.signal(t, syscall.SIGTERM, "SIGTERM")
	if code := c.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
}

// --process FILE is the whole process, as engines send it: user, all five capability sets,
// no_new_privs, rlimits, env and cwd come from it alone; AppArmor, a scheduler and a member
// the spec does not know are each named in a warning, as in a config.json.
func TestExecProcessFile(t *testing.T) {
	needContainer(t)
	runningContainer(t, "exp", nil, "/bin/probe", "sleep", "60")
	caps := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"}
	p := specs.Process{
		Args: []string{"/bin/probe", "report"}, Env: []string{"PATH=/bin", "FROM=file"}, Cwd: "/tmp",
		User: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{7}},
		Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps,
			Inheritable: caps, Ambient: caps},
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 512}},
		ApparmorProfile: "unconfined-please",
		Scheduler:       &specs.Scheduler{Policy: specs.SchedIdle},
	}
	file := filepath.Join(t.TempDir(), "process.json")
	data, _ := json.Marshal(p)
	data = append([]byte(`{"argz": ["typo"], `), data[1:]...)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	res := contain(t, "", "exec", "--process", file, "exp")
	if res.code != 0 {
		t.Fatalf("exec --process: exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"process.apparmorProfile is not supported yet", "process.scheduler is not supported yet",
		`process.json: unknown field "argz": ignored`} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("no warning %q in %q", want, res.stderr)
		}
	}
	r := decodeReport(t, res.stdout)
	for _, set := range []string{"effective", "permitted", "inheritable", "ambient", "bounding"} {
		if !slices.Equal(r.Caps[set], caps) {
			t.Errorf("%s = %v, want %v", set, r.Caps[set], caps)
		}
	}
	if r.UID[0] != 1000 || !slices.Equal(r.Groups, []int{7}) || r.Cwd != "/tmp" || r.NoNewPrivs != 0 {
		t.Errorf("uid %v groups %v cwd %q no_new_privs %d: want the file's", r.UID, r.Groups, r.Cwd, r.NoNewPrivs)
	}
	// And a HOME, which the file has not: uid 1000 has no entry in the image's /etc/passwd.
	if !slices.Equal(r.Env, append(p.Env, "HOME=/")) || r.Rlimits["RLIMIT_NOFILE"].Soft != 512 {
		t.Errorf("env %v RLIMIT_NOFILE %+v: want the file's, and HOME=/", r.Env, r.Rlimits["RLIMIT_NOFILE"])
	}
	// A flag beside the file would be dropped without a word: each is refused.
	for _, flag := range [][]string{{"--user", "0"}, {"--cap", "CAP_SYS_ADMIN"}, {"--no-new-privs"}, {"--cwd", "/"},
		{"--env", "A=1"}, {"--additional-gids", "5"}} {
		args := append(append([]string{"exec", "--process", file}, flag...), "exp")
		if r := contain(t, "", args...); r.code != 255 || !strings.Contains(r.stderr, "with --process, the process file says it all") {
			t.Errorf("exec --process FILE %s: exit %d, %q; want it refused", strings.Join(flag, " "), r.code, r.stderr)
		}
	}
}

// A process file without rlimits or capabilities gets the container's, as in runc: the
// caller's rlimits are the host's, and no capabilities would be none at all. -t does not make
// a terminal of a process file that says none (runc reads -t only without a file).
func TestExecProcessFileTakesTheContainersLimits(t *testing.T) {
	needContainer(t)
	var bounding []any
	runningContainer(t, "exlim", func(spec obj) {
		process(spec)["rlimits"] = []any{map[string]any{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 777}}
		bounding = process(spec)["capabilities"].(obj)["bounding"].([]any)
	}, "/bin/probe", "sleep", "60")
	file := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(file, []byte(`{"args": ["/bin/probe", "report"], "cwd": "/", "terminal": false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := contain(t, "", "exec", "-t", "--process", file, "exlim")
	if res.code != 0 {
		t.Fatalf("exec --process: exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "--tty is not used with --process") {
		t.Errorf("no warning that -t goes unused in %q", res.stderr)
	}
	r := decodeReport(t, res.stdout)
	if nofile := r.Rlimits["RLIMIT_NOFILE"]; nofile.Soft != 777 || nofile.Hard != 777 {
		t.Errorf("RLIMIT_NOFILE %+v, want the container's 777", nofile)
	}
	if len(r.Caps["bounding"]) != len(bounding) || len(bounding) == 0 {
		t.Errorf("bounding set %v, want the container's %v", r.Caps["bounding"], bounding)
	}
	if r.TTY.Stdout {
		t.Error("the process got a terminal, which its file does not ask for")
	}
}

// --detach returns once the process runs; --pid-file names it (a host pid, in the container's
// namespaces and cgroups).
func TestExecDetach(t *testing.T) {
	needContainer(t)
	runningContainer(t, "exd", nil, "/bin/probe", "sleep", "60")
	pidFile := filepath.Join(t.TempDir(), "pid")
	execDetached(t, "--pid-file", pidFile, "exd", "/bin/probe", "sleep", "60")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(data))
	init := state(t, "exd").Pid
	if gone(pid) || nsInode(t, pid, "pid") != nsInode(t, init, "pid") || nsInode(t, pid, "mnt") != nsInode(t, init, "mnt") {
		t.Fatalf("pid file names %d, not a live process in the container", pid)
	}
	if ours, theirs := procFile(t, pid, "cgroup"), procFile(t, init, "cgroup"); ours != theirs {
		t.Errorf("the exec'd process is in cgroups\n%s\nthe container's init in\n%s", ours, theirs)
	}
	// A pid file that cannot be written fails the exec, and the program with it: nothing
	// would know its pid.
	before := mustRunCLI(t, "ps", "--format", "json", "exd") // the pids
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "pid")
	if r := contain(t, "", "exec", "--detach", "--pid-file", bad, "exd", "/bin/probe", "sleep", "60"); r.code == 0 || !strings.Contains(r.stderr, filepath.Dir(bad)) {
		t.Errorf("exec --pid-file %s: exit %d, %q, want a failure that names its directory", bad, r.code, r.stderr)
	}
	after := ""
	for range 100 {
		if after = mustRunCLI(t, "ps", "--format", "json", "exd"); after == before {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after != before {
		t.Errorf("processes before the exec: %s, after its failure: %s, want the same", before, after)
	}
	mustRunCLI(t, "delete", "--force", "exd")
	waitFor(t, func() bool { return gone(pid) })
}

// execDetached runs `contain exec --detach ARGS...` (see detached).
func execDetached(t *testing.T, args ...string) string {
	t.Helper()
	return detached(t, nil, append([]string{"exec", "--detach"}, args...)...)
}

// detached runs a contain command that leaves a process behind (create, exec --detach) with
// stdout and stderr on a file, whose path it returns, and extra as fds 3 and up. The process
// keeps contain's stdio: a pipe there would keep its reader waiting until the process exits.
func detached(t *testing.T, extra []*os.File, args ...string) string {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := containCmd(args...)
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = out, out, extra
	if err := runWithTimeout(t, cmd, 30*time.Second); err != nil {
		msg, _ := os.ReadFile(out.Name())
		t.Fatalf("contain %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return out.Name()
}

// procFile reads /proc/PID/NAME.
func procFile(t *testing.T, pid int, name string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Only a container whose init lives can be entered; the errors are runc's words.
func TestExecRefusesStoppedAndUnknown(t *testing.T) {
	needContainer(t)
	runningContainer(t, "exstop", nil, "/bin/probe", "exit", "0")
	waitFor(t, func() bool { return state(t, "exstop").Status == specs.StateStopped })
	if r := contain(t, "", "exec", "exstop", "/bin/probe", "exit", "0"); r.code == 0 || !strings.Contains(r.stderr, "container not running") {
		t.Errorf("exec in a stopped container: exit %d, %q", r.code, r.stderr)
	}
	// A flag's mistake names the flag.
	if r := contain(t, "", "exec", "--cwd", "tmp", "exstop", "true"); r.code != 255 || !strings.Contains(r.stderr, "--cwd tmp: want an absolute path") {
		t.Errorf("exec --cwd tmp: exit %d, %q", r.code, r.stderr)
	}
	if r := contain(t, "", "exec", "no-such-box", "/bin/probe", "exit", "0"); r.code == 0 || !strings.Contains(r.stderr, "container does not exist") {
		t.Errorf("exec in an unknown container: exit %d, %q", r.code, r.stderr)
	}
	if r := contain(t, "", "exec", "../x", "true"); r.code == 0 {
		t.Error("exec accepted the id ../x")
	}
}

// exec -t: an interactive shell on a pty of the container's own devpts, and its status.
func TestExecTerminal(t *testing.T) {
	needContainer(t)
	runningContainer(t, "ext", nil, "/bin/probe", "sleep", "60")
	master, slave := openPty(t)
	kept := termiosKept(t, slave)
	cmd := containCmd("exec", "-t", "ext", "sh")
	cmd.Env = append(cmd.Env, "TERM=dumb")
	out, done := onPty(t, cmd, master, slave)
	pos := out.waitText(t, 0, "# ")
	master.Write([]byte("tty; echo $((6*7)) T=$TERM\r"))
	pos = out.waitText(t, pos, "/dev/pts/")
	out.waitText(t, pos, "42 T=dumb") // the caller's TERM, as run -t gives it
	master.Write([]byte("exit 3\r"))
	if err := <-done; cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("exit %v, want the shell's 3", err)
	}
	kept("exec -t")
	// And when the program cannot start.
	_, done = onPty(t, containCmd("exec", "-t", "ext", "/no/such/program"), master, slave)
	mustFail(t, done, "exec -t of a missing program")
	kept("a failed exec -t")
}
