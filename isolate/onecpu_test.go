package isolate

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/containkit/contain/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestCountCPUs(t *testing.T) {
	for list, want := range map[string]int{
		"0":          1,
		"0-1":        2,
		"0-3,8":      5,
		"0,2,4-7,16": 7,
		"":           unreadableCPUs,
		"0-":         unreadableCPUs,
		"3-1":        unreadableCPUs,
		"a":          unreadableCPUs,
	} {
		if got := countCPUs(list); got != want {
			t.Errorf("countCPUs(%q) = %d, want %d", list, got, want)
		}
	}
}

func TestKeepsToOneCPUOnlyOnATwoCPUMachine(t *testing.T) {
	for n, want := range map[int]bool{0: false, 1: false, 2: true, 3: false, 4: false, 16: false, 256: false} {
		if got := keepsToOneCPU(n); got != want {
			t.Errorf("keepsToOneCPU(%d) = %v, want %v", n, got, want)
		}
	}
}

// KeepToOneCPU keeps this test process's threads to one CPU on a machine of two CPUs, and
// leaves them every CPU on a larger one.
func TestKeepToOneCPU(t *testing.T) {
	all := needEveryCPU(t)
	want := testenv.CPUsAllowed(t, "self") // every CPU, as a list: "0-1"
	KeepToOneCPU()
	t.Cleanup(func() {
		keepThreadsOn(&all)
		onOneCPU = false
	})
	threads := threadCPUs(t)
	switch {
	case all.Count() <= smallMachineCPUs && (!onOneCPU || len(threads) != 1 || firstKey(threads) == want):
		t.Errorf("with %d CPUs, after KeepToOneCPU (kept: %v) the threads may run on %v, want one CPU for all", all.Count(), onOneCPU, threads)
	case all.Count() > smallMachineCPUs && (onOneCPU || len(threads) != 1 || firstKey(threads) != want):
		t.Errorf("with %d CPUs, after KeepToOneCPU (kept: %v) the threads may run on %v, want every CPU, %q", all.Count(), onOneCPU, threads, want)
	}
}

// Kept to one CPU, as on a machine of two, this test process starts a process through
// asCaller and through WithEveryCPU: each gets every CPU, and every thread of the test process
// is on the one CPU again after.
func TestProcessesStartedOnOneCPUGetEveryCPU(t *testing.T) {
	all := needEveryCPU(t)
	want := testenv.CPUsAllowed(t, "self")
	var first unix.CPUSet
	first.Set(0)
	onOneCPU = keepThreadsOn(&first) // what KeepToOneCPU does on a machine of two
	t.Cleanup(func() {
		keepThreadsOn(&all)
		onOneCPU = false
	})
	if !onOneCPU {
		t.Fatal("keepThreadsOn set no thread's CPUs")
	}
	one := threadCPUs(t)
	if len(one) != 1 || firstKey(one) != "0" {
		t.Fatalf("after keepThreadsOn the threads may run on %v, want CPU 0 for all", one)
	}
	started := func() string {
		out, err := exec.Command("/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(strings.TrimPrefix(string(out), "Cpus_allowed_list:"))
	}
	var got string
	asCaller(func() error { got = started(); return nil })
	if got != want {
		t.Errorf("asCaller: the process may run on CPUs %q, want every CPU, %q", got, want)
	}
	WithEveryCPU(func() error { got = started(); return nil })
	if got != want {
		t.Errorf("WithEveryCPU: the process may run on CPUs %q, want every CPU, %q", got, want)
	}
	if after := threadCPUs(t); len(after) != 1 || firstKey(after) != firstKey(one) {
		t.Errorf("after them the threads may run on %v, want %v again", after, one)
	}
}

// needEveryCPU skips a test unless the test process may run on every CPU of the machine, two
// or more, none offline, and returns them.
func needEveryCPU(t *testing.T) unix.CPUSet {
	t.Helper()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 || !allCPUsOnline(all.Count()) {
		t.Skip("needs two CPUs or more, all online, and a test process that may run on every one")
	}
	return all
}

// threadCPUs collects the Cpus_allowed_list of every thread of this process.
func threadCPUs(t *testing.T) map[string]int {
	t.Helper()
	runtime.Gosched()
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string]int{}
	for _, e := range entries {
		lists[testenv.CPUsAllowed(t, "self/task/"+e.Name())]++
	}
	return lists
}

// firstKey is a key of m, "" when it has none.
func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}
