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
// Only on a machine of two CPUs (smallMachineCPUs). On a 16-CPU host (the device machine of
// docs/performance.md, also a virtual one), one CPU gained single runs nothing, with 2, 4, 8
// or 16 CPUs to the caller (from +0.42 to -0.22 ms a run, paired, 300 runs each), and it
// cost batches of 50 at once: +5.2 and +12.0 ms with 16 CPUs (in about 50; slower in 9 and 12
// of 12 rounds), +11.4 ms with 8 (in 84; 7 of 8), +22.8 ms with 4 (in 131; 5 of 8). Each
// runtime stays where the scheduler put it at its execve(2), while it was placing dozens at
// once, and can no longer be moved off a crowded CPU to an idle one. With two CPUs there is
// no third to move to, and the batches on the development VM took as long as before.
//
// What the container runs never inherits it: the processes the runtime and init start (the
// program, hooks, the exec stage's program) are started from a thread that has every CPU
// back (everyCPU), as if from contain's caller. It is done only when the caller has every
// CPU the machine has, none offline (allCPUsOnline): then "every CPU" is what the caller
// gave, and the container's cpuset, if it has one, narrows it as it would the caller's.
// (Since Linux 6.2 the kernel remembers a mask set with sched_setaffinity(2) and narrows
// later cpuset changes by it; every CPU narrows nothing.) A caller held to fewer CPUs
// (taskset, a cpuset) keeps them, and contain leaves its affinity alone.

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
// gets the CPUs of the thread that starts it, so the Go threads started later are kept too;
// asCaller, which gives a thread every CPU to start a process, keeps it again after. It does
// nothing unless the caller has every CPU of a machine of two (see allCPUsOnline and
// smallMachineCPUs), or when /proc is not this process's (see keepThreadsOn).
func KeepToOneCPU() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var mine unix.CPUSet
	if unix.SchedGetaffinity(0, &mine) != nil || !keepsToOneCPU(mine.Count()) || !allCPUsOnline(mine.Count()) {
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

// smallMachineCPUs is the most CPUs a machine may have for contain to keep to one of them
// (see the top of this file).
const smallMachineCPUs = 2

// keepsToOneCPU says whether a caller with n CPUs, every CPU of the machine, gets contain's
// processes kept to one: with two or more, up to smallMachineCPUs.
func keepsToOneCPU(n int) bool {
	return n >= 2 && n <= smallMachineCPUs
}

// keepThreadsOn sets the CPUs of every thread of this process, and says whether it set any.
// Thread ids come from /proc/self/task, which names them in the pid namespace of /proc's
// mount: where that is not this process's (getpid(2) and gettid(2) say other numbers than
// /proc/self and /proc/thread-self), they could name another process's threads, and it does
// nothing. A thread that one not yet set starts meanwhile is not in the list read: the list
// is read again until it shows no thread it did not.
func keepThreadsOn(set *unix.CPUSet) bool {
	runtime.LockOSThread() // the calling thread is one: it must stay one
	defer runtime.UnlockOSThread()
	tid, err1 := procTID()
	pid, err2 := os.Readlink("/proc/self")
	if err1 != nil || err2 != nil || pid != strconv.Itoa(unix.Getpid()) || tid != strconv.Itoa(unix.Gettid()) {
		return false
	}
	changed := false
	seen := map[string]bool{}
	for pass, fresh := 0, true; fresh && pass < 4; pass++ {
		fresh = false
		eachThread(func(tid string) {
			if seen[tid] {
				return
			}
			seen[tid], fresh = true, true
			if id, err := strconv.Atoi(tid); err == nil && unix.SchedSetaffinity(id, set) == nil {
				changed = true
			}
		})
	}
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

// withEveryCPU runs start, which starts a process, on a thread given every CPU (everyCPU),
// and keeps that thread on this process's one CPU again after: Go goes on running the
// runtime's work on it. The caller has locked the goroutine to its thread.
func withEveryCPU(start func() error) error {
	if !onOneCPU {
		return start()
	}
	var one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &one); err != nil {
		return os.NewSyscallError("sched_getaffinity", err)
	}
	if err := everyCPU(); err != nil {
		return err
	}
	defer unix.SchedSetaffinity(0, &one)
	return start()
}

// allCPUs is a set of every CPU a CPUSet can name.
func allCPUs() unix.CPUSet {
	var all unix.CPUSet
	for i := range 8 * int(unsafe.Sizeof(all)) {
		all.Set(i)
	}
	return all
}

// allCPUsOnline says whether n, the count of the caller's CPUs, is every CPU the machine can
// have: the online ones (/sys/devices/system/cpu/online), with none offline that could come
// online later (/sys/devices/system/cpu/possible). Then "every CPU" is what the caller had;
// where a CPU is offline, a caller held to the online ones (taskset) would not want its
// container on it once it comes back, and contain keeps to no CPU.
func allCPUsOnline(n int) bool {
	online, err1 := readFileUpTo("/sys/devices/system/cpu/online", cpuListLimit)
	possible, err2 := readFileUpTo("/sys/devices/system/cpu/possible", cpuListLimit)
	return err1 == nil && err2 == nil && online == possible &&
		countCPUs(strings.TrimSpace(online)) == n
}

// cpuListLimit bounds what is read of a kernel's CPU list (the longest, every other one of
// 8192 CPUs, "0,2,4,...", is about 20 KB).
const cpuListLimit = 64 << 10

// unreadableCPUs is what countCPUs says of a list it cannot read: more CPUs than any caller has.
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
// on the one CPU again after. The quick form builds the default rootfs in it: the programs a
// build runs (go build, busybox, a decompressor) are started by os/exec from whatever thread,
// and must not be held to one CPU.
func WithEveryCPU(f func() error) error {
	if !onOneCPU {
		return f()
	}
	runtime.LockOSThread()
	var one unix.CPUSet
	err := unix.SchedGetaffinity(0, &one)
	runtime.UnlockOSThread()
	if err != nil {
		return f()
	}
	all := allCPUs()
	keepThreadsOn(&all)
	defer keepThreadsOn(&one)
	return f()
}
