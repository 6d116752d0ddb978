package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/internal/testenv"
	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// The sandbox must really be shared, or the propagation tests below prove nothing.
func TestSandboxIsShared(t *testing.T) {
	testenv.RequireRoot(t)
	if !testenv.InSandbox() {
		testenv.Skip(t, "not running in the test sandbox")
	}
	root := slices.IndexFunc(hostReport(t).Mounts, func(m probe.Mount) bool { return m.MountPoint == "/" })
	if root < 0 {
		t.Fatal("no / in the sandbox's mount table")
	}
	if m := hostReport(t).Mounts[root]; !slices.ContainsFunc(m.Optional, func(o string) bool { return strings.HasPrefix(o, "shared:") }) {
		t.Fatalf("/ in the sandbox is not shared: %+v", m)
	}
}

func TestRunIsolation(t *testing.T) {
	needContainer(t)
	// A SysV object of the host's that the container must not see: without one, an IPC
	// namespace shared with the host would look empty too.
	shm, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatalf("shmget: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(shm, unix.IPC_RMID, nil) })
	host := hostReport(t)
	if host.IPC.Shm == 0 {
		t.Fatalf("the host's report shows no shared memory segment, after shmget made %d", shm)
	}
	hostName, _ := os.Hostname()
	r := report(t, "--hostname", "box1")

	if r.PID != 1 {
		t.Errorf("pid = %d, want 1", r.PID)
	}
	if !slices.Equal(r.Pids, []int{1}) {
		t.Errorf("/proc shows pids %v, want only [1]", r.Pids)
	}
	if r.Hostname != "box1" {
		t.Errorf("hostname = %q, want box1", r.Hostname)
	}
	if now, _ := os.Hostname(); now != hostName {
		t.Errorf("the host's hostname changed from %q to %q", hostName, now)
	}
	for _, ns := range []string{"pid", "mnt", "uts", "ipc", "net"} {
		if r.Namespaces[ns] == 0 || r.Namespaces[ns] == host.Namespaces[ns] {
			t.Errorf("%s namespace %d, host's %d: want a new one", ns, r.Namespaces[ns], host.Namespaces[ns])
		}
	}
	if len(r.Links) != 1 || r.Links[0].Name != "lo" || !r.Links[0].Up {
		t.Errorf("links = %+v, want only lo, up", r.Links)
	}
	want, _ := os.ReadDir(testRootfs)
	var names []string
	for _, e := range want {
		names = append(names, e.Name())
	}
	if !slices.Equal(r.Root, names) {
		t.Errorf("/ lists %v, want the rootfs's %v", r.Root, names)
	}
	// The container's mounts are its root and what the runtime put under /proc, /dev and
	// /sys; a host mount (/run, /boot, /tmp...) in the table would mean the old root stayed.
	if len(r.Mounts) == 0 || r.Mounts[0].MountPoint != "/" {
		t.Errorf("mount table %+v: want it to start at /", r.Mounts)
	}
	for _, m := range r.Mounts[1:] {
		if !slices.ContainsFunc([]string{"/proc", "/dev", "/sys"}, func(top string) bool {
			return m.MountPoint == top || strings.HasPrefix(m.MountPoint, top+"/")
		}) {
			t.Errorf("mount at %s (%s): a host mount visible in the container?", m.MountPoint, m.FSType)
		}
	}
	if r.IPC.Shm+r.IPC.Sem+r.IPC.Msg != 0 {
		t.Errorf("SysV IPC objects visible: %+v", r.IPC)
	}
	// The default mounts with their flags, as the container sees them: a world-writable
	// /dev/shm that allowed devices or programs, or a /proc that honoured setuid bits, would
	// look the same to every other check.
	for path, want := range map[string]struct {
		fstype string
		opts   []string
	}{
		"/proc":       {"proc", []string{"nosuid", "nodev", "noexec"}},
		"/dev":        {"tmpfs", []string{"nosuid"}},
		"/dev/pts":    {"devpts", []string{"nosuid", "noexec"}},
		"/dev/shm":    {"tmpfs", []string{"nosuid", "nodev", "noexec"}},
		"/dev/mqueue": {"mqueue", []string{"nosuid", "nodev", "noexec"}},
		"/sys":        {"sysfs", []string{"ro", "nosuid", "nodev", "noexec"}},
	} {
		m := mountAt(t, r, path)
		have := strings.Split(m.Options, ",")
		for _, o := range want.opts {
			if m.FSType != want.fstype || !slices.Contains(have, o) {
				t.Errorf("%s is %s %s, want %s with %s", path, m.FSType, m.Options, want.fstype, strings.Join(want.opts, ","))
				break
			}
		}
	}
}

func TestRunCapabilitiesAndNoNewPrivs(t *testing.T) {
	needContainer(t)
	r := report(t)
	want := slices.Clone(isolate.DefaultCapabilities)
	slices.Sort(want)
	for _, set := range []string{"effective", "permitted", "bounding"} {
		if !slices.Equal(r.Caps[set], want) {
			t.Errorf("%s = %v, want Docker's defaults %v", set, r.Caps[set], want)
		}
	}
	for _, set := range []string{"inheritable", "ambient"} {
		if len(r.Caps[set]) != 0 {
			t.Errorf("%s = %v, want empty", set, r.Caps[set])
		}
	}
	if r.NoNewPrivs != 1 {
		t.Errorf("NoNewPrivs = %d, want 1", r.NoNewPrivs)
	}
}

func TestRunProcessFlags(t *testing.T) {
	needContainer(t)
	r := report(t, "-e", "GREETING=a,b c", "--cwd", "/tmp/work", "--user", "1000:1001")
	if !slices.Contains(r.Env, "GREETING=a,b c") {
		t.Errorf("env %v lacks GREETING=a,b c", r.Env)
	}
	if r.Cwd != "/tmp/work" {
		t.Errorf("cwd = %q, want /tmp/work", r.Cwd)
	}
	if r.UID[0] != 1000 || r.UID[1] != 1000 || r.GID[0] != 1001 || len(r.Groups) != 0 {
		t.Errorf("uid %v gid %v groups %v, want 1000, 1001, none", r.UID, r.GID, r.Groups)
	}
	if len(r.Caps["effective"]) != 0 {
		t.Errorf("a non-root user kept effective capabilities %v", r.Caps["effective"])
	}
	if r.Rlimits["RLIMIT_NOFILE"].Soft != 1024 {
		t.Errorf("RLIMIT_NOFILE = %+v, want 1024", r.Rlimits["RLIMIT_NOFILE"])
	}
	// The caller's supplementary groups stay outside: a contain started by a service or an
	// engine with groups (here 4 and 27) gives the container only those the spec names, none.
	for _, user := range [][]string{nil, {"--user", "1000:1001"}} {
		cmd := containCmd(append(append([]string{"run", "--rootfs", testRootfs}, user...), "--", "/bin/probe", "report")...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{4, 27}}}
		res := runResult(t, cmd)
		if res.code != 0 {
			t.Fatalf("contain run %v with groups 4 and 27: exit %d %s", user, res.code, res.stderr)
		}
		if g := decodeReport(t, res.stdout).Groups; len(g) != 0 {
			t.Errorf("run %v from a caller in groups 4 and 27: the container has groups %v, want none", user, g)
		}
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	needContainer(t)
	// Every path of the default lists that this kernel has, from the container's mount table
	// (reading or writing each one would touch the host's /proc/sysrq-trigger and the like):
	// a masked file is a bind of the null device, a masked directory a read-only tmpfs, and a
	// read-only path a read-only mount.
	r := report(t)
	mountAt := func(path string) *probe.Mount {
		var last *probe.Mount // the one on top
		for i := range r.Mounts {
			if r.Mounts[i].MountPoint == path {
				last = &r.Mounts[i]
			}
		}
		return last
	}
	readOnly := func(m *probe.Mount) bool { return slices.Contains(strings.Split(m.Options, ","), "ro") }
	spec := isolate.DefaultSpec()
	// The lists are Docker's defaults (moby's oci/defaults.go), which docker run users expect:
	// none of those may go missing from them.
	for _, want := range []string{"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/sys/firmware", "/proc/scsi", "/sys/devices/virtual/powercap"} {
		if !slices.Contains(spec.Linux.MaskedPaths, want) {
			t.Errorf("the default masked paths lack %s", want)
		}
	}
	for _, want := range []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"} {
		if !slices.Contains(spec.Linux.ReadonlyPaths, want) {
			t.Errorf("the default read-only paths lack %s", want)
		}
	}
	for _, path := range spec.Linux.MaskedPaths {
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		m := mountAt(path)
		switch {
		case m == nil:
			t.Errorf("masked path %s: no mount there", path)
		case fi.IsDir() && (m.FSType != "tmpfs" || !readOnly(m)):
			t.Errorf("masked directory %s: %s %s, want a read-only tmpfs", path, m.FSType, m.Options)
		case !fi.IsDir() && !strings.HasSuffix(m.Root, "/null"):
			t.Errorf("masked file %s: %s of %s, want a bind of the null device", path, m.FSType, m.Root)
		}
	}
	for _, path := range spec.Linux.ReadonlyPaths {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		if m := mountAt(path); m == nil || !readOnly(m) {
			t.Errorf("read-only path %s: mount %+v, want one with ro", path, m)
		}
	}
	for _, path := range []string{"/proc/keys", "/proc/interrupts"} {
		var masked probe.CatResult
		probeAction(t, &masked, "cat", path)
		if masked.OK && masked.Content != "" {
			t.Errorf("%s is readable: %q", path, masked.Content)
		}
	}
	var firmware probe.LsResult
	probeAction(t, &firmware, "ls", "/sys/firmware")
	if len(firmware.Names) != 0 {
		t.Errorf("/sys/firmware lists %v, want nothing", firmware.Names)
	}
	// /proc/sys is read-only. The write target is namespaced (this container's own
	// hostname), so even a broken runtime could not change the host with it.
	var write probe.PathResult
	probeAction(t, &write, "write", "/proc/sys/kernel/hostname", "changed")
	if write.OK || write.Errno != "EROFS" {
		t.Errorf("write /proc/sys/kernel/hostname: ok=%v errno=%s, want EROFS", write.OK, write.Errno)
	}
	var sys probe.PathResult
	probeAction(t, &sys, "write", "/sys/kernel/probe-test")
	if sys.OK || sys.Errno != "EROFS" {
		t.Errorf("create in /sys: ok=%v errno=%s, want EROFS", sys.OK, sys.Errno)
	}
	// A masked directory is an empty read-only tmpfs: nothing can be put there either (a
	// writable one would take files below the mask). The ones this kernel has.
	for _, dir := range []string{"/proc/acpi", "/sys/firmware"} {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		var mask probe.PathResult
		probeAction(t, &mask, "write", dir+"/probe-test")
		if mask.OK || mask.Errno != "EROFS" {
			t.Errorf("create in the masked %s: ok=%v errno=%s, want EROFS", dir, mask.OK, mask.Errno)
		}
	}
}

func TestExitStatus(t *testing.T) {
	needContainer(t)
	for _, code := range []int{0, 1, 42, 255} {
		r := contain(t, "", "run", "--rootfs", testRootfs, "--", "/bin/probe", "exit", strconv.Itoa(code))
		if r.code != code {
			t.Errorf("probe exit %d: contain exited %d (stderr %q)", code, r.code, r.stderr)
		}
	}
	// A program's own status of 128+N, the shell's report of a child a signal killed, passes
	// through as it is. (A container whose program a signal killed exits 128+N too: the
	// program is the namespace's init, which no signal from inside ends, so that is
	// TestKilledContainerExitsWith128PlusSignal's, with a kill from outside.)
	r := contain(t, "", "run", "--rootfs", testRootfs, "--", "sh", "-c", `sh -c 'kill -KILL $$'; exit $?`)
	if r.code != 137 {
		t.Errorf("killed child: exit %d, want 137", r.code)
	}
	// A program that cannot run: the quick form exits as docker run does, 127 when it is not
	// there, 126 when it is but cannot be executed; the OCI form as runc does, 1.
	for _, tc := range []struct {
		program string
		want    int
	}{{"nosuchprogram", 127}, {"/no/such/program", 127}, {"/etc/passwd", 126}, {"/etc", 126}} {
		r := contain(t, "", "run", "--rootfs", testRootfs, "--", tc.program)
		if r.code != tc.want || !strings.Contains(r.stderr, "exec "+tc.program) {
			t.Errorf("run -- %s: exit %d, stderr %q; want %d", tc.program, r.code, r.stderr, tc.want)
		}
	}
	bundle := newBundle(t, nil)
	editSpec(t, bundle, func(s obj) { process(s)["args"] = list{"nosuchprogram"} })
	if r := contain(t, "", "run", "--bundle", bundle, "c1"); r.code != 1 {
		t.Errorf("run --bundle, program not found: exit %d, want runc's 1 (stderr %q)", r.code, r.stderr)
	}
	// contain's own failure in the quick form: docker run's 125, never the command's 1; the
	// OCI form keeps runc's 1.
	if r := contain(t, "", "run", "--rootfs", "/no/such/rootfs", "--", "true"); r.code != 125 {
		t.Errorf("run --rootfs /no/such/rootfs: exit %d, want 125 (stderr %q)", r.code, r.stderr)
	}
	if r := contain(t, "", "run", "--bundle", "/no/such/bundle", "c1"); r.code != 1 {
		t.Errorf("run --bundle /no/such/bundle: exit %d, want 1 (stderr %q)", r.code, r.stderr)
	}
}

func TestStdioIsByteExact(t *testing.T) {
	needContainer(t)
	data := make([]byte, 1<<20)
	rand.Read(data)
	r := contain(t, string(data), "run", "--rootfs", testRootfs, "--", "cat")
	if r.code != 0 || !bytes.Equal([]byte(r.stdout), data) {
		t.Errorf("cat: exit %d, %d bytes out of %d, equal=%v", r.code, len(r.stdout), len(data), r.stdout == string(data))
	}
	r = contain(t, string(data), "run", "--rootfs", testRootfs, "--", "sh", "-c", "cat >&2")
	if r.stderr != string(data) || r.stdout != "" {
		t.Errorf("cat >&2: %d bytes on stderr, %d on stdout", len(r.stderr), len(r.stdout))
	}
	sum := sha256.Sum256(data)
	r = contain(t, string(data), "run", "--rootfs", testRootfs, "--", "/bin/probe", "stdin-sum")
	if !strings.Contains(r.stdout, hex.EncodeToString(sum[:])) {
		t.Errorf("stdin-sum = %s, want sha256 %x", r.stdout, sum)
	}
}

// Only fds 0-2 reach the container, whatever contain's caller leaves open.
func TestOnlyStdioFDsReachTheContainer(t *testing.T) {
	needContainer(t)
	extra, dir := callerFDs(t)
	cmd := containCmd("run", "--rootfs", testRootfs, "--", "/bin/probe", "report")
	cmd.ExtraFiles = extra
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("contain run: %v", err)
	}
	checkOnlyStdio(t, out, dir)
}

// callerFDs are what a caller of contain leaves open for ExtraFiles: a file as fd 7 and a
// directory, dir, as fd 8.
func callerFDs(t *testing.T) (extra []*os.File, dir string) {
	t.Helper()
	dir = t.TempDir()
	file, err := os.Create(filepath.Join(dir, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return []*os.File{nil, nil, nil, nil, file, d}, dir
}

// checkOnlyStdio checks that probe's report (out) shows no fd above 2 and nothing of dir.
func checkOnlyStdio(t *testing.T, out []byte, dir string) {
	t.Helper()
	for _, fd := range decodeReport(t, string(out)).FDs {
		if fd.FD > 2 || strings.Contains(fd.Target, dir) {
			t.Errorf("fd %d (%s) reached the container", fd.FD, fd.Target)
		}
	}
}

func TestChrootBreakoutFails(t *testing.T) {
	needContainer(t)
	marker := hostMarker(t)
	var r probe.EscapeResult
	probeAction(t, &r, "chroot-escape", marker)
	checkNoEscape(t, r, marker)
	want, _ := os.ReadDir(testRootfs)
	if len(r.Root) != len(want) {
		t.Errorf("after the attempt / lists %v: want the container's own root", r.Root)
	}
	// A path that the container's own root has too is not taken for an escape.
	probeAction(t, &r, "chroot-escape", "/etc/passwd")
	if !r.Chrooted || r.Escaped {
		t.Errorf("chroot-escape /etc/passwd: chrooted %v escaped %v, want an attempt that did not get out", r.Chrooted, r.Escaped)
	}
}

// checkNoEscape checks `probe chroot-escape`'s result: tried, and never at the host's marker.
func checkNoEscape(t *testing.T, r probe.EscapeResult, marker string) {
	t.Helper()
	if !r.OK || !r.Chrooted {
		t.Fatalf("the breakout was not attempted (CAP_SYS_CHROOT is granted by default): %+v", r)
	}
	if r.Escaped {
		t.Errorf("chroot breakout reached the host: %s is visible; root %v", marker, r.Root)
	}
}

// A foreground run's own Go runtime is relaxed too, from its package initialisers on
// (cmd/contain/internal/relax): while the container runs, every thread of contain but the main
// one has the 10 ms timer slack, and the main one, which starts processes, the caller's.
func TestRuntimesGoThreadsAreRelaxed(t *testing.T) {
	needContainer(t)
	const slack = 123_457 // ns
	onThreadWithSlack(t, slack)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "trap", "20"} })
	c := startContainer(t, "run", "--bundle", bundle, "runtime-relaxed")
	checkThreadsRelaxed(t, "contain", c.cmd.Process.Pid, slack)
	c.signal(t, 15, "SIGTERM")
	c.wait(t)
}

// A created container's init waits with the threads of its Go runtime relaxed (a 10 ms timer
// slack, so that its monitor thread's naps wake it rarely), sysmon from its first nap on: the
// runtime starts init from a relaxed thread. Init's own thread, which will start the
// container's program, has the caller's slack.
func TestInitsGoThreadsAreRelaxed(t *testing.T) {
	needContainer(t)
	const slack = 123_457 // ns
	onThreadWithSlack(t, slack)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	createContainer(t, bundle, "relaxed")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "relaxed") })
	checkThreadsRelaxed(t, "init", state(t, "relaxed").Pid, slack)
}

// checkThreadsRelaxed checks that every thread of the Go process pid (what, for messages) has
// the relaxed timer slack of isolate.RelaxMonitor (10 ms), and its main thread callerSlack.
func checkThreadsRelaxed(t *testing.T, what string, pid, callerSlack int) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 2 {
		t.Fatalf("%s has %d threads, want its Go runtime's too", what, len(tasks))
	}
	for _, task := range tasks {
		data, err := os.ReadFile("/proc/" + task.Name() + "/timerslack_ns")
		if err != nil {
			t.Fatal(err)
		}
		want := "10000000"
		if task.Name() == strconv.Itoa(pid) {
			want = strconv.Itoa(callerSlack)
		}
		if got := strings.TrimSpace(string(data)); got != want {
			t.Errorf("%s's thread %s has a timer slack of %s ns, want %s", what, task.Name(), got, want)
		}
	}
}

// Init's Go runtime runs with one P, no GC and no heap profile (isolate's initEnv): the
// environment it started with says so, and Go reads them before any of init's code runs.
func TestInitsGoRuntimeHasOnePAndNoGC(t *testing.T) {
	needContainer(t)
	data, err := os.ReadFile("/proc/" + strconv.Itoa(createdInit(t, "onep")) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	for _, want := range []string{"GOMAXPROCS=1", "GOGC=off", "GODEBUG=memprofilerate=0"} {
		if !slices.Contains(env, want) {
			t.Errorf("init's environment is %q, want %s in it", env, want)
		}
	}
}

// contain gives the Go runtime's threads a large timer slack (isolate.RelaxMonitor); the
// container's processes, started by run, create and exec, still get the slack of the thread
// that ran contain, as they get its rlimits.
func TestContainerGetsTheCallersTimerSlack(t *testing.T) {
	needContainer(t)
	const slack = 123_457 // ns; the default is 50 000
	onThreadWithSlack(t, slack)

	if r := report(t); r.TimerSlackNS != slack {
		t.Errorf("run: the container's timer slack is %d ns, want %d", r.TimerSlackNS, slack)
	}
	runningContainer(t, "slack", nil, "/bin/probe", "sleep", "60")
	data, err := os.ReadFile("/proc/" + strconv.Itoa(state(t, "slack").Pid) + "/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != strconv.Itoa(slack) {
		t.Errorf("create: the container's timer slack is %s ns, want %d", got, slack)
	}
	if r := decodeReport(t, mustRun(t, "exec", "slack", "/bin/probe", "report")); r.TimerSlackNS != slack {
		t.Errorf("exec: the process's timer slack is %d ns, want %d", r.TimerSlackNS, slack)
	}
}

// onThreadWithSlack locks the test to its thread and gives the thread a timer slack of ns,
// the caller's slack for the contain commands the test runs; both are undone at the end.
func onThreadWithSlack(t *testing.T, ns int) {
	t.Helper()
	runtime.LockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err == nil {
		err = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(ns), 0, 0, 0)
	}
	t.Cleanup(func() { // in the test's goroutine, so on the locked thread
		unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		runtime.UnlockOSThread()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The default rootfs serves every quick run: what one run changes in it is gone for the next
// (a copy-on-write overlay), while a rootfs given with --rootfs is the caller's to change.
func TestQuickFormLeavesTheDefaultRootfsAsItWas(t *testing.T) {
	needContainer(t)
	dir := filepath.Join(t.TempDir(), "default")
	quick := func(args ...string) string {
		t.Helper()
		cmd := containCmd(append([]string{"run"}, args...)...)
		cmd.Env = append(cmd.Env, "CONTAIN_ROOTFS="+dir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("contain run %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	quick("--cwd", "/newdir", "--", "sh", "-c", "rm /bin/ls && touch /etc/newfile")
	quick("--rootfs", "", "--", "touch", "/etc/newfile") // "$ROOTFS" unset: the default, through its overlay too
	if out := quick("--", "sh", "-c", "ls /bin/ls; ls /etc/newfile /newdir 2>&1; true"); !strings.HasPrefix(out, "/bin/ls\n") || strings.Count(out, "No such file") != 2 {
		t.Errorf("the next run saw the last one's changes: %q", out)
	}
	for _, name := range []string{"newdir", "etc/newfile"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was written into the default rootfs", name)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "bin/ls")); err != nil {
		t.Errorf("bin/ls went from the default rootfs: %v", err)
	}
	// /etc/hostname follows --hostname, as docker's does, in the run's own copy only.
	if out := quick("--hostname", "box", "--", "cat", "/etc/hostname"); out != "box\n" {
		t.Errorf("/etc/hostname with --hostname box says %q", out)
	}
	if out, err := os.ReadFile(filepath.Join(dir, "etc/hostname")); err != nil || string(out) != "contain\n" {
		t.Errorf("the default rootfs's /etc/hostname says %q (%v), want contain", out, err)
	}
	own := t.TempDir()
	if err := rootfs.Build(filepath.Join(own, "r"), rootfs.Options{From: "busybox", Probe: probeBin}); err != nil {
		t.Fatal(err)
	}
	quick("--rootfs", filepath.Join(own, "r"), "--", "touch", "/kept")
	if _, err := os.Lstat(filepath.Join(own, "r", "kept")); err != nil {
		t.Errorf("a write into --rootfs DIR did not stay: %v", err)
	}
}

// runc's run takes the current directory for the bundle; so does contain's for a lone
// container ID with no quick-form flag. A quick-form flag keeps the quick form.
func TestRunInABundleDirectory(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"sh", "-c", "echo from-the-bundle"}
	})
	inBundle := func(args ...string) result {
		cmd := containCmd(args...)
		cmd.Dir = bundle
		return runResult(t, cmd)
	}
	if r := inBundle("run", "cwdrun"); r.code != 0 || r.stdout != "from-the-bundle\n" {
		t.Errorf("run ID in the bundle's directory: exit %d, %q %q, want the bundle's output", r.code, r.stdout, r.stderr)
	}
	if r := inBundle("run", "--rootfs", testRootfs, "hostname"); r.code != 0 || r.stdout != "contain\n" {
		t.Errorf("run --rootfs DIR hostname in a bundle's directory: exit %d, %q %q, want the quick form", r.code, r.stdout, r.stderr)
	}
	// "--" says a COMMAND follows, as the usage writes it: the quick form, on the default rootfs.
	cmd := containCmd("run", "--", "hostname")
	cmd.Dir = bundle
	cmd.Env = append(cmd.Env, "CONTAIN_ROOTFS="+filepath.Join(t.TempDir(), "default"))
	if r := runResult(t, cmd); r.code != 0 || r.stdout != "contain\n" {
		t.Errorf("run -- hostname in a bundle's directory: exit %d, %q %q, want the quick form", r.code, r.stdout, r.stderr)
	}
}

// Arguments and variables reach the program byte for byte, UTF-8 or not (a file name in
// Latin-1), spaces included, in run's quick form and in exec: the JSON of init's config pipe
// would replace every byte that is not UTF-8 with U+FFFD, and so would urfave/cli's copy of
// -e to --env; urfave/cli would trim the spaces. -e and --env go together, in order.
func TestArgsAndEnvThatAreNotUTF8(t *testing.T) {
	needContainer(t)
	const arg, val = "caf\xe9", "\xff\xfe"
	script := `printf '%s|%s|%s' "$1" "$RAW" "$SP" | od -An -tx1`
	want := []string{"63", "61", "66", "e9", "7c", "ff", "fe", "7c", "20", "78", "20"} // caf\xe9|\xff\xfe| x
	out := mustRun(t, "run", "--rootfs", testRootfs, "-e", "RAW="+val, "--env", "SP=no", "-e", "SP= x ", "--", "sh", "-c", script, "sh", arg)
	if got := strings.Fields(out); !slices.Equal(got, want) {
		t.Errorf("run: the program got %q, want %q", got, want)
	}
	bundle := runningContainer(t, "rawargs", nil, "/bin/probe", "sleep", "60")
	out = mustRun(t, "exec", "--env", "RAW="+val, "-e", "SP= x ", "rawargs", "sh", "-c", script, "sh", arg)
	if got := strings.Fields(out); !slices.Equal(got, want) {
		t.Errorf("exec: the program got %q, want %q", got, want)
	}
	// And a working directory by such a name.
	if err := os.Mkdir(filepath.Join(bundle, "rootfs", arg), 0o755); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "exec", "--cwd", "/"+arg, "rawargs", "sh", "-c", "pwd | od -An -tx1")
	if got, want := strings.Fields(out), []string{"2f", "63", "61", "66", "e9", "0a"}; !slices.Equal(got, want) {
		t.Errorf("exec --cwd /%q: pwd printed %q, want %q", arg, got, want)
	}
}

// The quick form's --user takes names, from the rootfs's /etc/passwd and /etc/group, as
// docker run -u does from the image's: the user's ids, its groups, and its HOME.
func TestQuickFormUserByName(t *testing.T) {
	needContainer(t)
	rootfs := filepath.Join(newBundle(t, nil), "rootfs")
	appendTo := func(name, line string) {
		f, err := os.OpenFile(filepath.Join(rootfs, name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("etc/passwd", "alice:x:1500:1600:Alice:/home/alice:/bin/sh\n")
	appendTo("etc/group", "staff:x:1600:\nwheel:x:10:bob,alice\n")
	var r probe.Report
	decodeProbe(t, mustRun(t, "run", "--rootfs", rootfs, "--user", "alice", "--", "/bin/probe", "report"), &r)
	if r.UID[0] != 1500 || r.GID[0] != 1600 || !slices.Equal(r.Groups, []int{10}) || !slices.Contains(r.Env, "HOME=/home/alice") {
		t.Errorf("--user alice: uid %v gid %v groups %v env %q; want 1500, 1600, [10], HOME=/home/alice", r.UID, r.GID, r.Groups, r.Env)
	}
	decodeProbe(t, mustRun(t, "run", "--rootfs", rootfs, "--user", "alice:wheel", "--", "/bin/probe", "report"), &r)
	if r.UID[0] != 1500 || r.GID[0] != 10 {
		t.Errorf("--user alice:wheel: uid %v gid %v, want 1500 and 10", r.UID, r.GID)
	}
	if res := contain(t, "", "run", "--rootfs", rootfs, "--user", "carol", "--", "true"); res.code == 0 || !strings.Contains(res.stderr, `no user "carol"`) {
		t.Errorf("--user carol (no such user): exit %d, %q", res.code, res.stderr)
	}
}
