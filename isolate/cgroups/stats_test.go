package cgroups

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The counters of a v2 cgroup, as the kernel writes its files, in runc's units.
func TestStatsV2(t *testing.T) {
	mount := t.TempDir()
	fixture(t, filepath.Join(mount, "c"),
		"cpu.stat=usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\nnr_bursts 0\n",
		"memory.current=1048576\n", "memory.max=max\n", "memory.peak=2097152\n",
		"memory.events=low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
		"memory.swap.current=4096\n", "memory.swap.max=8192\n", "memory.swap.events=high 0\nmax 5\nfail 0\n",
		"memory.stat=anon 100\nfile 200\n",
		"pids.current=3\n", "pids.max=20\n",
		"io.stat=8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
		"hugetlb.2MB.current=4194304\n", "hugetlb.2MB.max=max\n", "hugetlb.2MB.events=max 4\n", "hugetlb.2MB.rsvd.current=0\n",
		"cpu.pressure=some avg10=1.50 avg60=0.25 avg300=0.05 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"memory.pressure=some avg10=0.00 avg60=0.00 avg300=0.00 total=7\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n",
		"io.pressure=some avg10=12.34 avg60=5.00 avg300=1.00 total=99\nfull avg10=10.00 avg60=4.00 avg300=0.50 total=88\n")
	got, err := NewV2(mount, "/c").Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPUStats{Usage: CPUUsage{Total: 1500000, User: 1000000, Kernel: 500000},
			Throttling: Throttling{Periods: 10, ThrottledPeriods: 2, ThrottledTime: 300000},
			PSI:        &PSIStats{Some: PSIData{Avg10: 1.5, Avg60: 0.25, Avg300: 0.05, Total: 123456}}},
		Memory: MemoryStats{Cache: 200, Raw: map[string]uint64{"anon": 100, "file": 200},
			Usage: MemoryEntry{Usage: 1048576, Max: 2097152, Limit: math.MaxUint64, Failcnt: 3},
			Swap:  MemoryEntry{Usage: 1048576 + 4096, Limit: math.MaxUint64, Failcnt: 5},
			PSI:   &PSIStats{Some: PSIData{Total: 7}, Full: PSIData{Total: 3}}},
		Pids: PidsStats{Current: 3, Limit: 20},
		Blkio: BlkioStats{
			IoServiceBytesRecursive: []BlkioEntry{{8, 0, "Read", 10}, {8, 0, "Write", 20}, {8, 0, "Discard", 0}},
			IoServicedRecursive:     []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}, {8, 0, "Discard", 0}},
			PSI: &PSIStats{Some: PSIData{Avg10: 12.34, Avg60: 5, Avg300: 1, Total: 99},
				Full: PSIData{Avg10: 10, Avg60: 4, Avg300: 0.5, Total: 88}}},
		Hugetlb: map[string]HugetlbStats{"2MB": {Usage: 4194304, Failcnt: 4}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
}

// A controller that is not enabled for the cgroup has no files: its counters read zero. A
// cgroup that is gone, or a file that does not hold a number, is an error.
func TestStatsV2MissingAndDamaged(t *testing.T) {
	mount := t.TempDir()
	fixture(t, filepath.Join(mount, "c"), "cpu.stat=usage_usec 7\n")
	got, err := NewV2(mount, "/c").Stats()
	if err != nil || got.CPU.Usage.Total != 7000 || got.Memory.Usage != (MemoryEntry{}) || got.Pids != (PidsStats{}) ||
		got.CPU.PSI != nil || got.Memory.PSI != nil || got.Blkio.PSI != nil {
		t.Errorf("only cpu.stat: %+v %v, want the CPU time, zeros and no pressure", got, err)
	}
	if _, err := NewV2(mount, "/gone").Stats(); err == nil {
		t.Error("stats of a cgroup that is not there: no error")
	}
	fixture(t, filepath.Join(mount, "c"), "pids.current=lots\n")
	if _, err := NewV2(mount, "/c").Stats(); err == nil {
		t.Error("pids.current \"lots\": no error")
	}
	fixture(t, filepath.Join(mount, "d"), "cpu.pressure=some avg10=high avg60=0.00 avg300=0.00 total=1\n")
	if _, err := NewV2(mount, "/d").Stats(); err == nil {
		t.Error("cpu.pressure avg10=high: no error")
	}
}

// cpuset's list format, cgroup-v1/cpusets.rst: ranges and single numbers, comma-separated.
func TestCPUSetLists(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string][]uint16{
		"0-3,8,10-11\n": {0, 1, 2, 3, 8, 10, 11},
		"1\n":           {1},
		"\n":            nil, // a cpuset not given any CPU yet
	} {
		fixture(t, dir, "cpuset.cpus="+content)
		f := &statFiles{dir: dir}
		if got := f.idList("cpuset.cpus"); !reflect.DeepEqual(got, want) || f.err != nil {
			t.Errorf("%q: %v %v, want %v", content, got, f.err, want)
		}
	}
	for _, bad := range []string{"3-1", "a", "1-", "0-70000", "70000", "1,,2", "-1"} {
		fixture(t, dir, "cpuset.cpus="+bad)
		f := &statFiles{dir: dir}
		if got := f.idList("cpuset.cpus"); got != nil || f.err == nil {
			t.Errorf("%q: %v %v, want an error", bad, got, f.err)
		}
	}
}

// On v1 each controller is read in its own hierarchy; cpuacct.stat counts USER_HZ ticks. On
// a hybrid host hugetlb and the pressure files come from the cgroup2 hierarchy.
func TestStatsV1(t *testing.T) {
	root := t.TempDir()
	h := map[string]string{}
	for _, ctrl := range []string{"cpuacct", "cpu", "memory", "pids", "blkio", "cpuset"} {
		h[ctrl] = filepath.Join(root, ctrl)
	}
	unified := filepath.Join(root, "unified")
	fixture(t, filepath.Join(h["cpuacct"], "c"), "cpuacct.usage=3000000000\n", "cpuacct.usage_percpu=1000000000 2000000000 \n",
		"cpuacct.usage_percpu_sys=100 200 \n", "cpuacct.usage_percpu_user=900 1800 \n", "cpuacct.stat=user 120\nsystem 30\n")
	fixture(t, filepath.Join(h["cpu"], "c"), "cpu.stat=nr_periods 4\nnr_throttled 1\nthrottled_time 500\n")
	fixture(t, filepath.Join(h["memory"], "c"), "memory.usage_in_bytes=4096\n", "memory.max_usage_in_bytes=8192\n",
		"memory.limit_in_bytes=33554432\n", "memory.failcnt=2\n", "memory.memsw.usage_in_bytes=4096\n",
		"memory.memsw.max_usage_in_bytes=8192\n", "memory.memsw.limit_in_bytes=33554432\n", "memory.memsw.failcnt=0\n",
		"memory.kmem.tcp.limit_in_bytes=9223372036854771712\n", "memory.kmem.tcp.failcnt=1\n", "memory.stat=cache 12\nrss 34\n")
	fixture(t, filepath.Join(h["pids"], "c"), "pids.current=2\n", "pids.max=max\n")
	fixture(t, filepath.Join(h["blkio"], "c"), "blkio.throttle.io_service_bytes_recursive=8:16 Read 4096\n8:16 Write 0\nTotal 4096\n",
		"blkio.throttle.io_serviced_recursive=Total 0\n")
	// Each flag file a value of its own, so that a flag read from the wrong file shows.
	fixture(t, filepath.Join(h["cpuset"], "c"), "cpuset.cpus=0-1\n", "cpuset.mems=0\n", "cpuset.cpu_exclusive=2\n",
		"cpuset.mem_exclusive=3\n", "cpuset.mem_hardwall=4\n", "cpuset.memory_migrate=5\n", "cpuset.memory_spread_page=6\n",
		"cpuset.memory_spread_slab=7\n", "cpuset.memory_pressure=8\n", "cpuset.sched_load_balance=9\n",
		"cpuset.sched_relax_domain_level=-1\n")
	fixture(t, filepath.Join(unified, "c"), "hugetlb.1GB.current=0\n", "hugetlb.1GB.events=max 0\n",
		"cpu.pressure=some avg10=0.50 avg60=0.10 avg300=0.02 total=4242\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	got, err := NewV1(h, unified, "/c").Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPUStats{Usage: CPUUsage{Total: 3e9, Percpu: []uint64{1e9, 2e9}, PercpuKernel: []uint64{100, 200},
			PercpuUser: []uint64{900, 1800}, User: 1.2e9, Kernel: 0.3e9},
			Throttling: Throttling{Periods: 4, ThrottledPeriods: 1, ThrottledTime: 500},
			PSI:        &PSIStats{Some: PSIData{Avg10: 0.5, Avg60: 0.1, Avg300: 0.02, Total: 4242}}}, // the hybrid host's cgroup2 directory
		Memory: MemoryStats{Cache: 12, Raw: map[string]uint64{"cache": 12, "rss": 34},
			Usage:     MemoryEntry{Usage: 4096, Max: 8192, Limit: 33554432, Failcnt: 2},
			Swap:      MemoryEntry{Usage: 4096, Max: 8192, Limit: 33554432},
			KernelTCP: MemoryEntry{Limit: 9223372036854771712, Failcnt: 1}},
		CPUSet: CPUSetStats{CPUs: []uint16{0, 1}, Mems: []uint16{0}, CPUExclusive: 2, MemExclusive: 3, MemHardwall: 4,
			MemoryMigrate: 5, MemorySpreadPage: 6, MemorySpreadSlab: 7, MemoryPressure: 8, SchedLoadBalance: 9,
			SchedRelaxDomainLevel: -1},
		Pids:    PidsStats{Current: 2}, // pids.max "max": 0, as runc reports it
		Blkio:   BlkioStats{IoServiceBytesRecursive: []BlkioEntry{{8, 16, "Read", 4096}, {8, 16, "Write", 0}}},
		Hugetlb: map[string]HugetlbStats{"1GB": {}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
}

// The v2 watch wakes on a change of memory.events (inotify works on the test's plain file
// as on the kernel's) and counts kills from oom_kill, not notices.
func TestWatchOOMV2(t *testing.T) {
	mount := t.TempDir()
	dir := filepath.Join(mount, "c")
	fixture(t, dir, "memory.events=oom 1\noom_kill 1\n")
	w, err := NewV2(mount, "/c").WatchOOM()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	notice := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		fds := []unix.PollFd{{Fd: int32(w.FD()), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 5000); n != 1 || err != nil {
			t.Fatalf("no notice for the change of memory.events: %d %v", n, err)
		}
	}
	notice("oom 2\noom_kill 1\n") // out of memory, nobody killed yet
	if n, err := w.Kills(); n != 0 || err != nil {
		t.Errorf("kills before the kill: %d %v, want 0 (the one before the watch is not news)", n, err)
	}
	if _, again := w.Recheck(); again {
		t.Error("a v2 notice without a kill: a recheck asked for (the kill will change memory.events itself)")
	}
	notice("oom 2\noom_kill 3\n")
	if n, err := w.Kills(); n != 2 || err != nil {
		t.Errorf("kills: %d %v, want 2", n, err)
	}
	if _, again := w.Recheck(); again {
		t.Error("recheck still asked for after the kills were counted")
	}
	os.RemoveAll(dir)
	if _, err := w.Kills(); err == nil {
		t.Error("kills of a cgroup that is gone: no error")
	}
}

// The JSON is runc's (types/events.go), name for name, so that a tool written against runc's
// events reads contain's: the pressure and cpuset fields spelled out, and those with
// omitempty left out when empty.
func TestStatsJSONNames(t *testing.T) {
	s := Stats{
		CPU: CPUStats{PSI: &PSIStats{Some: PSIData{Avg10: 1.5, Avg60: 2, Avg300: 3, Total: 4}, Full: PSIData{Total: 5}}},
		CPUSet: CPUSetStats{CPUs: []uint16{0, 1}, CPUExclusive: 1, Mems: []uint16{0}, MemHardwall: 2, MemExclusive: 3, MemoryMigrate: 4,
			MemorySpreadPage: 5, MemorySpreadSlab: 6, MemoryPressure: 7, SchedLoadBalance: 8, SchedRelaxDomainLevel: -1},
		Memory: MemoryStats{PSI: &PSIStats{}},
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu.psi.some.avg10": "1.5", "cpu.psi.some.avg60": "2", "cpu.psi.some.avg300": "3", "cpu.psi.some.total": "4",
		"cpu.psi.full.total": "5", "memory.psi.some.total": "0",
		"cpuset.cpus": "[0 1]", "cpuset.cpu_exclusive": "1", "cpuset.mems": "[0]", "cpuset.mem_hardwall": "2",
		"cpuset.mem_exclusive": "3", "cpuset.memory_migrate": "4", "cpuset.memory_spread_page": "5",
		"cpuset.memory_spread_slab": "6", "cpuset.memory_pressure": "7", "cpuset.sched_load_balance": "8",
		"cpuset.sched_relax_domain_level": "-1",
	}
	for path, value := range want {
		if v, ok := jsonAt(got, path); !ok || fmt.Sprint(v) != value {
			t.Errorf("%s: %v (there: %v), want %s in %s", path, v, ok, value, data)
		}
	}
	for _, absent := range []string{"blkio.psi", "cpu.psi.some.avg10x"} {
		if _, ok := jsonAt(got, absent); ok {
			t.Errorf("%s is there, want it left out: %s", absent, data)
		}
	}
	empty, _ := json.Marshal(Stats{})
	for _, absent := range []string{`"psi"`, `"cpus"`, `"mems"`} {
		if strings.Contains(string(empty), absent) {
			t.Errorf("empty stats have %s, want it left out: %s", absent, empty)
		}
	}
}

// jsonAt follows a dotted path through decoded JSON objects.
func jsonAt(v any, path string) (any, bool) {
	for _, key := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}
