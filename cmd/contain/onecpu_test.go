package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/containkit/contain/internal/testenv"
	"golang.org/x/sys/unix"
)

// On a machine of two CPUs contain keeps its own processes on one (isolate.KeepToOneCPU):
// every thread of a foreground run's runtime, and of a created container's init, on the same
// one CPU, also after a thread of theirs was given every CPU to start a hook (the runtime's
// prestart and createRuntime, init's createContainer). On a larger machine they keep every
// CPU.
func TestRuntimeAndInitKeepToOneCPU(t *testing.T) {
	needContainer(t)
	needSeveralCPUs(t)
	hook := list{obj{"path": "/bin/true"}}
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "trap", "20"}
		spec["hooks"] = obj{"prestart": hook, "createRuntime": hook, "createContainer": hook}
	})
	c := startContainer(t, "run", "--bundle", bundle, "one-cpu")
	checkRuntimeThreads(t, "contain run", c.cmd.Process.Pid)
	c.signal(t, 15, "SIGTERM")
	c.wait(t)
	created := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "sleep", "60"}
		spec["hooks"] = obj{"createContainer": hook}
	})
	createContainer(t, created, "one-cpu-init")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "one-cpu-init") })
	checkRuntimeThreads(t, "init", state(t, "one-cpu-init").Pid)
}

// What the container runs is never held to the runtime's one CPU: the program (run, and
// create then start), a process that exec adds, and the hooks that the runtime and init start
// get every CPU of contain's caller, as they would if contain kept to none.
func TestContainerGetsTheCallersCPUs(t *testing.T) {
	needContainer(t)
	needSeveralCPUs(t)
	want := ownCPUs(t)
	if r := report(t); r.CPUs != want {
		t.Errorf("run: the container's program may run on CPUs %q, want the caller's %q", r.CPUs, want)
	}
	runningContainer(t, "cpus", nil, "/bin/probe", "sleep", "60")
	if got := cpusOf(t, state(t, "cpus").Pid); got != want {
		t.Errorf("create and start: the container's program may run on CPUs %q, want %q", got, want)
	}
	if r := decodeReport(t, mustRun(t, "exec", "cpus", "/bin/probe", "report")); r.CPUs != want {
		t.Errorf("exec: the process may run on CPUs %q, want %q", r.CPUs, want)
	}
	// Every hook writes the CPUs it may run on: on the host for the runtime's hooks and
	// createContainer, into the rootfs for startContainer, which runs in the container.
	dir := t.TempDir()
	names := []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
	hooks := obj{}
	for _, name := range names {
		out := dir + "/" + name
		if name == "startContainer" {
			out = "/" + name
		}
		hooks[name] = list{obj{"path": "/bin/sh", "args": list{"sh", "-c", "grep Cpus_allowed_list /proc/self/status > " + out}}}
	}
	bundle := newBundle(t, func(spec obj) {
		spec["hooks"] = hooks
		process(spec)["args"] = list{"true"}
	})
	mustRun(t, "run", "--bundle", bundle, "cpus-hooks")
	for _, name := range names {
		file := filepath.Join(dir, name)
		if name == "startContainer" {
			file = filepath.Join(bundle, "rootfs", name)
		}
		data, err := os.ReadFile(file)
		if got := strings.TrimSpace(strings.TrimPrefix(string(data), "Cpus_allowed_list:")); err != nil || got != want {
			t.Errorf("the %s hook may run on CPUs %q (%v), want the caller's %q", name, got, err, want)
		}
	}
}

// A caller held to fewer CPUs than the machine has keeps them: contain leaves its affinity
// alone, its own threads included, and the container gets the caller's CPUs.
func TestCallerOnFewerCPUsKeepsThem(t *testing.T) {
	needContainer(t)
	needSeveralCPUs(t)
	last := lastCPU(t)
	onThreadWithCPU(t, last)
	want := strconv.Itoa(last)
	if r := report(t); r.CPUs != want {
		t.Errorf("run under CPU %d alone: the container's program may run on CPUs %q, want %q", last, r.CPUs, want)
	}
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "trap", "20"} })
	c := startContainer(t, "run", "--bundle", bundle, "fewer-cpus")
	for _, task := range threadsOf(t, c.cmd.Process.Pid) {
		if got := cpusOf(t, task); got != want {
			t.Errorf("contain run's thread %d may run on CPUs %q, want its caller's %q", task, got, want)
		}
	}
	c.signal(t, 15, "SIGTERM")
	c.wait(t)
}

// A container's cpuset decides what it gets, whichever CPU the runtime kept to: a cpuset of
// the two first CPUs gives both (the program does not keep the runtime's one), and each of
// the two single-CPU cpusets gives its CPU, one of them without the runtime's CPU in it.
func TestCpusetNarrowsTheContainersCPUs(t *testing.T) {
	needContainer(t)
	needSeveralCPUs(t)
	for _, cpus := range []string{"0-1", "0", "1"} {
		bundle := newBundle(t, func(spec obj) {
			linux(spec)["resources"] = obj{"cpu": obj{"cpus": cpus}}
			process(spec)["args"] = list{"/bin/probe", "report"}
		})
		if r := decodeReport(t, mustRun(t, "run", "--bundle", bundle, "cpuset-"+strings.ReplaceAll(cpus, "-", ""))); r.CPUs != cpus {
			t.Errorf("with cpuset.cpus %s, the container's program may run on CPUs %q", cpus, r.CPUs)
		}
	}
}

// needSeveralCPUs skips a test of the one-CPU rule where contain keeps to no CPU: with one
// CPU, a CPU offline, or a test process held to fewer CPUs than are online.
func needSeveralCPUs(t *testing.T) {
	t.Helper()
	online, err1 := os.ReadFile("/sys/devices/system/cpu/online")
	possible, err2 := os.ReadFile("/sys/devices/system/cpu/possible")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	all := strings.TrimSpace(string(online))
	if own := ownCPUs(t); own == "0" || own != all || all != strings.TrimSpace(string(possible)) {
		t.Skipf("the test process may run on CPUs %q, %q online of %q: contain keeps to one CPU only when its caller has them all, two, none offline",
			own, all, strings.TrimSpace(string(possible)))
	}
}

// ownCPUs is the test process's Cpus_allowed_list ("0-1").
func ownCPUs(t *testing.T) string {
	t.Helper()
	return cpusOf(t, os.Getpid())
}

// cpusOf is the Cpus_allowed_list of the process or thread id.
func cpusOf(t *testing.T, id int) string {
	t.Helper()
	return testenv.CPUsAllowed(t, strconv.Itoa(id))
}

// threadsOf lists the thread ids of process pid.
func threadsOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	var tids []int
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// checkRuntimeThreads checks that every thread of the Go process pid (what, for messages)
// may run on the same CPUs, one on a machine of two CPUs, every one on a larger machine, and
// that it has threads beside its main one.
func checkRuntimeThreads(t *testing.T, what string, pid int) {
	t.Helper()
	tids := threadsOf(t, pid)
	if len(tids) < 2 {
		t.Fatalf("%s has %d threads, want its Go runtime's too", what, len(tids))
	}
	first := cpusOf(t, tids[0])
	if n := runtime.NumCPU(); n == 2 {
		if _, err := strconv.Atoi(first); err != nil {
			t.Errorf("%s's thread %d may run on CPUs %q, want one CPU on a machine of two", what, tids[0], first)
		}
	} else if all := ownCPUs(t); first != all {
		t.Errorf("%s's thread %d may run on CPUs %q, want every CPU (%q) on a machine of %d", what, tids[0], first, all, n)
	}
	for _, tid := range tids[1:] {
		if got := cpusOf(t, tid); got != first {
			t.Errorf("%s's thread %d may run on CPUs %q, its thread %d on %q: want the same CPUs for all", what, tid, got, tids[0], first)
		}
	}
}

// lastCPU is the highest CPU the test process may run on.
func lastCPU(t *testing.T) int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(os.Getpid(), &set); err != nil {
		t.Fatal(err)
	}
	last := -1
	for cpu := range 8 * int(unsafe.Sizeof(set)) {
		if set.IsSet(cpu) {
			last = cpu
		}
	}
	return last
}

// onThreadWithCPU locks the test to its thread and holds the thread to one CPU, the caller's
// CPUs for the contain commands the test runs (Go forks from the calling thread); both are
// undone at the end.
func onThreadWithCPU(t *testing.T, cpu int) {
	t.Helper()
	runtime.LockOSThread()
	var old, one unix.CPUSet
	err := unix.SchedGetaffinity(0, &old)
	if err == nil {
		one.Set(cpu)
		err = unix.SchedSetaffinity(0, &one)
	}
	t.Cleanup(func() { // in the test's goroutine, so on the locked thread
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	})
	if err != nil {
		t.Fatal(err)
	}
}
