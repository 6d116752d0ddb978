package isolate

import (
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// monitorSlack is the timer slack (PR_SET_TIMERSLACK in prctl(2)) RelaxMonitor gives the Go
// runtime's own threads: the kernel may end their naps up to this much late.
const monitorSlack = 10_000_000 // ns; the longest nap Go's monitor thread takes is 10 ms

// callerSlack is the timer slack this process started with, once RelaxMonitor has run.
var callerSlack int

// onOneThread is set in init, which runs on the main thread for good (see Init): there
// locking the goroutine to its thread would only start the runtime's template thread.
var onOneThread bool

// RelaxMonitor lets the kernel stretch the naps of Go's monitor thread (sysmon). The commands
// that start a process (run, create, exec) call it first thing, from a package initialiser
// (cmd/contain/internal/relax) that runs before the command line is parsed. Init and the exec
// stage are started relaxed instead (withMonitorSlack, relaxedFromStart), and do its work only
// where they were not.
//
// Sysmon sleeps 20 µs at a time until it has found nothing to do fifty times in a row, and
// starts over whenever it has done something (taken a P from a thread in a system call, woken
// from its deep sleep). Each nap is a nanosleep(2): a context switch out, and one back in when
// the timer fires. A runtime command or an init lives a few milliseconds and mostly makes
// system calls, so its sysmon naps on the 20 µs all its life: with 50 containers started at
// once on two CPUs, its naps were half of all context switches. With a timer slack, the kernel
// ends each nap at the next timer interrupt due within the slack rather than on its own one.
// Nothing sysmon does here is urgent: init has no GC and one goroutine; the runtime's
// goroutines wait in Go's poller, which needs no sysmon, except a terminal's (undoRelaxMonitor).
// The other commands leave it: a Go timer that a relaxed thread waits for fires up to
// monitorSlack late, and `delete --force` polls for the container's end every 5 ms.
//
// Timer slack belongs to a thread; a new thread or process inherits its creator thread's. So
// this changes every thread the Go runtime has started by now (sysmon is its first, started
// before any package's init), the calling thread excepted, and whoever starts a process
// (asCaller) first sets its own thread back: the container's program, a hook, the
// exec stage all get the slack of the caller of contain, as /proc/PID/timerslack_ns shows.
// Writing another thread's slack needs CAP_SYS_NICE; without it nothing changes.
func RelaxMonitor() {
	slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || slack >= monitorSlack {
		return
	}
	// asCaller will need PR_SET_TIMERSLACK (a seccomp filter could refuse it): set
	// this thread's to what it is.
	if unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0) != nil {
		return
	}
	callerSlack = slack
	setThreadsSlack(monitorSlack, true)
}

// undoRelaxMonitor gives every thread the caller's timer slack back. A runtime that relays a
// terminal lives on, and waits for the user's keys in a blocking read(2) that holds its one P
// until sysmon takes it: each key's echo waits for sysmon, which must be prompt again.
func undoRelaxMonitor() {
	if callerSlack != 0 {
		setThreadsSlack(callerSlack, false)
	}
}

// setThreadsSlack sets the timer slack of every thread of this process, or of every other
// thread than the calling one, where it may.
func setThreadsSlack(ns int, exceptCaller bool) {
	if !onOneThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	self, err := procTID()
	if err != nil {
		return
	}
	if !exceptCaller {
		self = ""
	}
	value := []byte(strconv.Itoa(ns))
	eachThread(func(tid string) {
		if tid != self {
			writeIgnoringErrors("/proc/"+tid+"/timerslack_ns", value) // not in /proc/PID/task/TID
		}
	})
}

// procTID is the calling thread's id as /proc counts, from /proc/thread-self: in a new pid
// namespace that is not what gettid(2) returns.
func procTID() (string, error) {
	self, err := os.Readlink("/proc/thread-self") // PID/task/TID
	if err != nil {
		return "", err
	}
	return self[strings.LastIndexByte(self, '/')+1:], nil
}

// eachThread calls f with the id of every thread of this process, as /proc/self/task names it.
func eachThread(f func(tid string)) {
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(dir)
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil || n <= 0 {
			return
		}
		_, _, tids := unix.ParseDirent(buf[:n], -1, nil)
		for _, tid := range tids {
			f(tid)
		}
	}
}

// callerSlackEnv is set in the environment of init and of the exec stage, which the runtime
// starts from a relaxed thread (withMonitorSlack), to the timer slack of contain's caller.
const callerSlackEnv = "CONTAIN_CALLER_SLACK"

// withMonitorSlack runs start, which starts init or the exec stage, on a thread that has the
// relaxed timer slack, so that the new process starts with it, and with it every thread its
// Go runtime starts before its own code runs: sysmon first. The process then takes back the
// caller's slack for its own thread (relaxedFromStart), the one that will start the
// container's program, and needs none of RelaxMonitor's work in /proc: per init, a readlink,
// a directory read and an open and a write for each thread, on procfs files that are looked
// up afresh each time. Setting the calling thread's own slack needs no privilege.
//
// What it saves is mostly the naps before that: sysmon starts before any package's init and
// naps at 20 µs through the rest of Go's start-up, which under load waits long for a CPU.
// 50 containers at once on two CPUs, in turns with the code before (20 and 16 rounds): 399.6
// to 371.0 ms and 385.6 to 357.1 ms, 7% less busy CPU, 1800 to 2000 fewer context switches.
func withMonitorSlack(start func() error) error {
	if callerSlack == 0 {
		return start() // not relaxed here: the process relaxes itself, if it can
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	was, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return start()
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, monitorSlack, 0, 0, 0); err != nil {
		return start()
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(was), 0, 0, 0)
	return start()
}

// relaxedFromStart is RelaxMonitor for init and the exec stage: when the runtime started this
// process relaxed (withMonitorSlack), its Go threads have the relaxed slack already, and the
// calling thread takes the caller's back; otherwise RelaxMonitor does the work.
func relaxedFromStart() {
	slack, err := strconv.Atoi(os.Getenv(callerSlackEnv))
	if err != nil || slack <= 0 {
		RelaxMonitor()
		return
	}
	// Only a seccomp filter could refuse it, and none is installed yet.
	if unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0) == nil {
		callerSlack = slack
	}
}

// asCaller runs start, which starts a process, on a thread that has what contain's caller
// gave: the timer slack this process started with (see RelaxMonitor), and every CPU (see
// onecpu.go). The new process inherits both from that thread, which keeps the slack and goes
// back to this process's one CPU.
func asCaller(start func() error) error {
	if callerSlack == 0 && !onOneCPU {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if callerSlack != 0 {
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(callerSlack), 0, 0, 0); err != nil {
			return os.NewSyscallError("prctl PR_SET_TIMERSLACK", err)
		}
	}
	return withEveryCPU(start)
}

// writeIgnoringErrors writes data to the file at path, if it can.
func writeIgnoringErrors(path string, data []byte) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	unix.Write(fd, data)
	unix.Close(fd)
}
