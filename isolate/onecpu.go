package isolate

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// One CPU for the runtime's own processes. A container's start is a relay between two
// processes, each with its Go threads: the runtime hands init its config, init says it is
// ready, the runtime says go, init execs, the runtime waits. Every hand-over wakes a thread
// that sleeps, and the scheduler wakes it where it slept last. On the 2-CPU development VM
// that is often the other CPU, idle, and an idle virtual CPU is halted in the hypervisor,
// which must run it again before the thread can: each such wake-up waits there. Kept on the
// CPU the runtime started on, the woken thread runs where its waker is about to go to sleep.
//
// Measured in turns against the build before (tests/turns-bench.sh, docs/performance.md):
// single runs 1.29 and 0.92 ms faster (the build before lower in 97 of 300 and 273 of 1000);
// doing it only when Run begins gained 0.9 ms, and placing init on the other CPU than the
// runtime's nothing. Both processes mostly wait for each other, so one CPU costs them little
// parallelism. With 50 containers at once, each runtime keeps to the CPU the scheduler chose
// for it at its execve(2), and the batches took as long as before.
//
// What the container runs never inherits it: the processes the runtime and init start (the
// program, hooks, the exec stage's program) are started from a thread that has every CPU
// back (everyCPU), as if from contain's caller. It is done only when the caller has every
// online CPU: then "every CPU" is what the caller gave, and the container's cpuset, if it
// has one, narrows it as it would the caller's. (Since Linux 6.2 the kernel remembers a mask
// set with sched_setaffinity(2) and narrows later cpuset changes by it; every CPU narrows
// nothing.) A caller held to fewer CPUs (taskset, a cpuset) keeps them, and contain leaves
// its affinity alone.

// onOneCPUEnv is set in the environment of init and of the exec stage when the runtime
// started them on its one CPU: they give every CPU back to what they start.
const onOneCPUEnv = "CONTAIN_ON_ONE_CPU"

// onOneCPU is set once this process keeps to one CPU (KeepToOneCPU), or was started so.
var onOneCPU bool

// startedOnOneCPU notes, in init and the exec stage, that the runtime started this process on
// its one CPU (onOneCPUEnv).
func startedOnOneCPU() {
	onOneCPU = os.Getenv(onOneCPUEnv) == "1"
}

// KeepToOneCPU keeps every thread of this process on the CPU the calling thread is on. The
// commands that start a container's process (run, create, exec) call it first thing, from
// the package initialiser that relaxes Go's monitor thread (see RelaxMonitor). A new thread
// gets the CPUs of the thread that starts it, and the Go threads started later are all
// started by threads kept so. It does nothing when the caller does not have every online CPU,
// or when /proc is not this process's (see keepThreadsOn).
func KeepToOneCPU() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var mine unix.CPUSet
	if unix.SchedGetaffinity(0, &mine) != nil || mine.Count() < 2 || mine.Count() < onlineCPUs() {
		return
	}
	var cpu, node uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0); errno != 0 {
		return
	}
	var one unix.CPUSet
	one.Set(int(cpu))
	onOneCPU = keepThreadsOn(&one)
}

// keepThreadsOn sets the CPUs of every thread of this process, and says whether it set any.
// Thread ids come from /proc/self/task, which names them in the pid namespace of /proc's
// mount: where that is not this process's (gettid(2) says another number than
// /proc/thread-self), they could name another process's threads, and it does nothing.
func keepThreadsOn(set *unix.CPUSet) bool {
	runtime.LockOSThread() // the calling thread is one: it must stay one
	defer runtime.UnlockOSThread()
	self, err := os.Readlink("/proc/thread-self") // PID/task/TID
	if err != nil || self[strings.LastIndexByte(self, '/')+1:] != strconv.Itoa(unix.Gettid()) {
		return false
	}
	changed := false
	eachThread(func(tid string) {
		if id, err := strconv.Atoi(tid); err == nil && unix.SchedSetaffinity(id, set) == nil {
			changed = true
		}
	})
	return changed
}

// everyCPU gives the calling thread every CPU back, as far as its cpuset allows, before it
// starts a process (see the top of this file). Every set bit that names no CPU, or one outside
// the cpuset, is ignored by sched_setaffinity(2).
func everyCPU() error {
	if !onOneCPU {
		return nil
	}
	all := allCPUs()
	if err := unix.SchedSetaffinity(0, &all); err != nil {
		return os.NewSyscallError("sched_setaffinity (every CPU, for what the container runs)", err)
	}
	return nil
}

// allCPUs is a set of every CPU a CPUSet can name.
func allCPUs() unix.CPUSet {
	var all unix.CPUSet
	for i := range 8 * int(unsafe.Sizeof(all)) {
		all.Set(i)
	}
	return all
}

// onlineCPUs counts the CPUs in /sys/devices/system/cpu/online, or returns a number no
// affinity reaches when it cannot.
func onlineCPUs() int {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return unreadableCPUs
	}
	return countCPUs(strings.TrimSpace(string(data)))
}

// unreadableCPUs is what onlineCPUs says when it cannot tell.
const unreadableCPUs = 1 << 20

// countCPUs counts the CPUs of a kernel's CPU list, "0-3,8" (five), or says unreadableCPUs.
func countCPUs(list string) int {
	n := 0
	for r := range strings.SplitSeq(list, ",") {
		first, last, isRange := strings.Cut(r, "-")
		lo, err := strconv.Atoi(first)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(last)
		}
		if err != nil || lo < 0 || hi < lo {
			return unreadableCPUs
		}
		n += hi - lo + 1
	}
	return n
}

// WithEveryCPU runs f with every thread of this process given every CPU back, and keeps them
// on one CPU again after. The quick form builds the default rootfs in it: the programs a
// build runs (go build, busybox, a decompressor) are started by os/exec from whatever thread,
// and must not be held to one CPU.
func WithEveryCPU(f func() error) error {
	if !onOneCPU {
		return f()
	}
	var one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &one); err != nil {
		return f()
	}
	all := allCPUs()
	keepThreadsOn(&all)
	defer keepThreadsOn(&one)
	return f()
}
