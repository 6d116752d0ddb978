package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// The drivers write plain files, so these tests point them at a temporary directory laid out
// like a cgroup mount: each directory holds the control files the kernel would show.

// fixture makes dir with the given control files (name=content).
func fixture(t *testing.T, dir string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name, content, _ := strings.Cut(f, "=")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func expectFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for name, value := range want {
		got, err := readFile(dir, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
}

// asMadeByMkdir moves the fixture directories aside and makes mkdir(2) of each bring it back,
// control files and all, as the kernel makes a cgroup's files at mkdir: Create must find the
// cgroup itself missing (ErrExists otherwise).
func asMadeByMkdir(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.Rename(d, d+".kernel"); err != nil {
			t.Fatal(err)
		}
	}
	real := mkdir
	mkdir = func(dir string) error {
		if !pathExists(dir + ".kernel") {
			return real(dir)
		}
		if pathExists(dir) {
			return unix.EEXIST
		}
		return unix.Rename(dir+".kernel", dir)
	}
	t.Cleanup(func() { mkdir = real })
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func yes() *bool           { b := true; return &b }

func TestResolve(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"", "/contain/c1", ""},
		{"/mygroup/c1", "/mygroup/c1", ""},
		{"/a//b/", "/a/b", ""},
		{"rel/c1", "/contain/rel/c1", ""},
		{"/a/../b", "", `".." is not allowed`},
		{"../x", "", `".." is not allowed`},
		{"..", "", `".." is not allowed`},
		{"/", "", "root cgroup"},
		{"/contain", "", "parent of every container's cgroup"},
		{"/contain/", "", "parent of every container's cgroup"},
		{".", "", "parent of every container's cgroup"},
		{"system.slice:contain:c1", "", "--cgroup-manager cgroupfs"},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.in, "c1")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSharesWeight(t *testing.T) {
	tests := []struct{ shares, weight uint64 }{{2, 1}, {1024, 39}, {262144, 10000}, {0, 0}}
	for _, tt := range tests {
		if got := SharesToWeight(tt.shares); got != tt.weight {
			t.Errorf("SharesToWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
	for _, w := range []uint64{1, 39, 100, 5000, 10000} {
		if got := SharesToWeight(WeightToShares(w)); got != w {
			t.Errorf("SharesToWeight(WeightToShares(%d)) = %d", w, got)
		}
	}
}

func v2Fixture(t *testing.T) (mount string) {
	mount = t.TempDir()
	controllers := "cgroup.controllers=cpuset cpu memory pids hugetlb"
	fixture(t, mount, controllers, "cgroup.subtree_control=")
	fixture(t, filepath.Join(mount, "contain"), controllers, "cgroup.subtree_control=cpu")
	fixture(t, filepath.Join(mount, "contain", "c1"), "memory.max=max", "memory.swap.max=max",
		"memory.low=0", "pids.max=50", "cpu.weight=100", "cpu.max=max 100000", "cpuset.cpus=",
		"cpuset.mems=", "hugetlb.2MB.max=max", "cgroup.procs=", "cgroup.freeze=0",
		"cgroup.events=populated 0\nfrozen 0", "memory.oom.group=0")
	return mount
}

func TestV2Create(t *testing.T) {
	mount := v2Fixture(t)
	c := NewV2(mount, "/contain/c1")
	asMadeByMkdir(t, c.Dir())
	warnings, err := c.Create(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20),
			DisableOOMKiller: yes()},
		Pids:           &specs.LinuxPids{Limit: i64(100)},
		CPU:            &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Cpus: "0-1", Mems: "0"},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"memory.oom.group": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c.Dir(), map[string]string{
		"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "33554432",
		"pids.max": "100", "cpu.weight": "39", "cpu.max": "50000 100000", "cpuset.cpus": "0-1",
		"cpuset.mems": "0", "hugetlb.2MB.max": "4194304", "memory.oom.group": "1",
	})
	// Each level enables what it may: the root gains all, /contain the ones it lacked.
	expectFiles(t, mount, map[string]string{"cgroup.subtree_control": "+cpuset +cpu +memory +pids +hugetlb"})
	expectFiles(t, filepath.Join(mount, "contain"), map[string]string{"cgroup.subtree_control": "+cpuset +memory +pids +hugetlb"})
	if len(warnings) != 1 || !strings.Contains(warnings[0], "disableOOMKiller") {
		t.Errorf("warnings = %q, want one about disableOOMKiller", warnings)
	}
	// On v2 a process joins by being cloned into the cgroup: nothing to write.
	if c.CloneDir() != c.Dir() || c.TaskFiles() != nil || c.JoinFiles() != nil {
		t.Errorf("CloneDir %q, TaskFiles %q, JoinFiles %q: want Dir and none", c.CloneDir(), c.TaskFiles(), c.JoinFiles())
	}
}

func TestV2Update(t *testing.T) {
	mount := v2Fixture(t)
	c := NewV2(mount, "/contain/c1")
	fixture(t, c.Dir(), "cpu.max=20000 50000")
	if _, err := c.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(30000)}}); err != nil {
		t.Fatal(err)
	}
	// Only the quota changes: the period stays what it was.
	expectFiles(t, c.Dir(), map[string]string{"cpu.max": "30000 50000", "pids.max": "50"}) // pids untouched: not asked
	if _, err := c.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}, CPU: &specs.LinuxCPU{Quota: i64(-1)}}); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c.Dir(), map[string]string{"cpu.max": "max 50000", "pids.max": "max"})
	// 0 is "not set", as runc 1.1 reads it (TestZeroIsNotSet): the limit stays as it was.
	if _, err := c.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(40)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c.Dir(), map[string]string{"pids.max": "40"})
}

func TestV2Refuses(t *testing.T) {
	mount := v2Fixture(t)
	c := NewV2(mount, "/contain/c1")
	tests := []struct {
		name string
		r    specs.LinuxResources
		err  string
	}{
		{"swap below limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}}, "below"},
		{"swap without limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(50)}}, "needs memory.limit"},
		{"unified path", specs.LinuxResources{Unified: map[string]string{"../x": "1"}}, "not a resource control file"},
		{"unified cgroup.procs", specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, "not a resource control file"},
		{"missing controller", specs.LinuxResources{Unified: map[string]string{"io.max": "8:0 rbps=1"}}, "not enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Update(&tt.r); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Update error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestV2Freeze(t *testing.T) {
	mount := v2Fixture(t)
	c := NewV2(mount, "/contain/c1")
	// The fake kernel: cgroup.events already says frozen, as the real one does once done.
	fixture(t, c.Dir(), "cgroup.events=populated 1\nfrozen 1")
	if err := c.Freeze(true); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c.Dir(), map[string]string{"cgroup.freeze": "1"})
	if frozen, err := c.Frozen(); err != nil || !frozen {
		t.Errorf("Frozen() = %v, %v, want true", frozen, err)
	}
}

// A container is paused when its own cgroup is frozen: one frozen by a parent (a systemd
// unit's freeze) reads "frozen 1" in cgroup.events, and is not paused.
func TestV2FrozenByAParentIsNotPaused(t *testing.T) {
	mount := v2Fixture(t)
	c := NewV2(mount, "/contain/c1")
	fixture(t, c.Dir(), "cgroup.events=populated 1\nfrozen 1", "cgroup.freeze=0")
	if frozen, err := c.Frozen(); err != nil || frozen {
		t.Errorf("Frozen() = %v, %v under a frozen parent, want false", frozen, err)
	}
}

func v1Fixture(t *testing.T) (*V1, string) {
	root := t.TempDir()
	h := map[string]string{}
	for _, name := range []string{"memory", "pids", "cpu,cpuacct", "cpuset", "devices", "freezer", "blkio"} {
		dir := filepath.Join(root, name)
		for _, ctrl := range strings.Split(name, ",") {
			h[ctrl] = dir
		}
	}
	leaf := "/contain/c1"
	fixture(t, h["memory"], "memory.memsw.limit_in_bytes=9223372036854771712")
	fixture(t, filepath.Join(h["memory"], leaf), "memory.limit_in_bytes=", "memory.memsw.limit_in_bytes=",
		"memory.soft_limit_in_bytes=", "memory.oom_control=", "memory.swappiness=")
	fixture(t, filepath.Join(h["pids"], leaf), "pids.max=50") // so that "max" must be written
	fixture(t, filepath.Join(h["cpu"], leaf), "cpu.shares=", "cpu.cfs_quota_us=", "cpu.cfs_period_us=")
	fixture(t, h["cpuset"], "cpuset.cpus=0-3", "cpuset.mems=0")
	fixture(t, filepath.Join(h["cpuset"], "contain"), "cpuset.cpus=", "cpuset.mems=", "cgroup.clone_children=0")
	fixture(t, filepath.Join(h["cpuset"], leaf), "cpuset.cpus=", "cpuset.mems=")
	fixture(t, filepath.Join(h["devices"], leaf), "devices.allow=", "devices.deny=")
	fixture(t, filepath.Join(h["freezer"], leaf), "freezer.state=FROZEN")
	fixture(t, filepath.Join(h["blkio"], leaf), "blkio.bfq.weight=")
	unified := filepath.Join(root, "unified")
	// hugetlb is available at the cgroup2 root but enabled nowhere, as on the development VM.
	fixture(t, unified, "cgroup.controllers=hugetlb", "cgroup.subtree_control=")
	fixture(t, filepath.Join(unified, "contain"), "cgroup.controllers=", "cgroup.subtree_control=")
	fixture(t, filepath.Join(unified, leaf), "hugetlb.2MB.max=max", "cgroup.procs=")
	return NewV1(h, unified, leaf), root
}

func TestV1Create(t *testing.T) {
	c, root := v1Fixture(t)
	var leaves []string
	for _, mount := range c.mounts() {
		leaves = append(leaves, filepath.Join(mount, c.path))
	}
	asMadeByMkdir(t, leaves...)
	warnings, err := c.Create(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20),
			DisableOOMKiller: yes(), Swappiness: u64(10)},
		Pids:           &specs.LinuxPids{Limit: i64(-1)},
		CPU:            &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "1", Mems: "0"},
		BlockIO:        &specs.LinuxBlockIO{Weight: u16(300)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
	})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Create: %v, warnings %q", err, warnings)
	}
	leaf := func(ctrl string) string { return filepath.Join(root, ctrl, "contain", "c1") }
	expectFiles(t, leaf("memory"), map[string]string{
		"memory.limit_in_bytes": "67108864", "memory.memsw.limit_in_bytes": "100663296",
		"memory.soft_limit_in_bytes": "33554432", "memory.oom_control": "1", "memory.swappiness": "10",
	})
	expectFiles(t, leaf("pids"), map[string]string{"pids.max": "max"})
	expectFiles(t, leaf("cpu,cpuacct"), map[string]string{"cpu.shares": "512", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"})
	expectFiles(t, leaf("cpuset"), map[string]string{"cpuset.cpus": "1", "cpuset.mems": "0"})
	// The parent had no CPUs yet (another container just made it): it got the root's, and
	// from now on the kernel fills its new children in (clone_children).
	expectFiles(t, filepath.Join(root, "cpuset", "contain"), map[string]string{"cpuset.cpus": "0-3", "cpuset.mems": "0",
		"cgroup.clone_children": "1"})
	expectFiles(t, leaf("blkio"), map[string]string{"blkio.bfq.weight": "300"})
	expectFiles(t, leaf("unified"), map[string]string{"hugetlb.2MB.max": "4194304"}) // hybrid: hugetlb is cgroup2's
	// ... whose files a cgroup2 directory has only when its parent enabled the controller.
	expectFiles(t, filepath.Join(root, "unified"), map[string]string{"cgroup.subtree_control": "+hugetlb"})
	if got := len(c.JoinFiles()); got != 8 { // seven hierarchies (cpu,cpuacct is one) and cgroup2
		t.Errorf("JoinFiles: %d files, want 8: %q", got, c.JoinFiles())
	}
	// Init is cloned into the cgroup2 part and moves its thread into the seven others.
	if got, want := c.CloneDir(), leaf("unified"); got != want {
		t.Errorf("CloneDir = %q, want %q", got, want)
	}
	tasks := c.TaskFiles()
	if len(tasks) != 7 || !slices.Contains(tasks, filepath.Join(leaf("cpu,cpuacct"), "tasks")) || slices.Contains(tasks, filepath.Join(leaf("unified"), "tasks")) {
		t.Errorf("TaskFiles = %q, want the tasks files of the seven v1 hierarchies", tasks)
	}
}

func TestV1Devices(t *testing.T) {
	c, root := v1Fixture(t)
	_, err := c.Update(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"},
		{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// One write(2) per rule, the two allow rules through one open: a temporary file holds
	// them back to back, where the kernel parses each write as a rule.
	expectFiles(t, filepath.Join(root, "devices", "contain", "c1"), map[string]string{
		"devices.deny": "a *:* rwm", "devices.allow": "c 1:3 rwc 136:* rwm",
	})
	if got := deviceRule(specs.LinuxDeviceCgroup{Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}); got != "c 1:3 rw" {
		t.Errorf("deviceRule = %q", got)
	}
}

// Type "a" (or none) with numbers is those numbers of any type, a "b" and a "c" line: the v1
// controller reads any "a" line as every device, so a narrow allow granted all of them, and a
// narrow deny took back every allow before it. The kernel's reading (kernelDevices) of what is
// written must allow what the spec allows, and nothing more.
func TestV1DevicesOfAnyTypeWithNumbers(t *testing.T) {
	c, root := v1Fixture(t)
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"},
		{Allow: true, Type: "a", Major: i64(1), Minor: i64(3), Access: "r"},
		{Allow: true, Major: i64(8), Access: "w"},
		{Allow: false, Type: "a", Major: i64(10), Minor: i64(200), Access: "m"},
	}
	if _, err := c.Update(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, filepath.Join(root, "devices", "contain", "c1"), map[string]string{
		"devices.allow": "c 10:200 rwmb 1:3 rc 1:3 rb 8:* wc 8:* w",
	})
	k := &kernelDevices{ex: map[string]string{}}
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		for _, line := range deviceRules(r) {
			k.write(file, line)
		}
	}
	if k.allowAll {
		t.Fatalf("the rules as written reset the cgroup to allow every device: %q", k.list())
	}
	for dev, want := range map[string]map[string]bool{
		"c 1:3": {"r": true, "w": false}, "b 1:3": {"r": true, "m": false}, "c 1:5": {"r": false},
		"b 8:0": {"w": true, "r": false}, "c 10:200": {"rw": true, "m": false}, "c 4:9": {"w": false, "r": false},
	} {
		for access, allowed := range want {
			if got := k.allows(dev, access); got != allowed {
				t.Errorf("%s %s: allowed=%v, want %v (list %q)", dev, access, got, allowed, k.list())
			}
		}
	}
}

func TestV1UnifiedNeedsCgroup2(t *testing.T) {
	c, _ := v1Fixture(t)
	c.unified = ""
	if _, err := c.Update(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}); err == nil {
		t.Error("unified resources on a v1-only host: no error")
	}
}

func TestInheritCpuset(t *testing.T) {
	parent := t.TempDir()
	fixture(t, parent, "cpuset.cpus=0-3", "cpuset.mems=0")
	child := filepath.Join(parent, "c")
	fixture(t, child, "cpuset.cpus=", "cpuset.mems=")
	if err := inheritCpuset(child); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, child, map[string]string{"cpuset.cpus": "0-3", "cpuset.mems": "0"})
}

// A cgroup the kernel filled in (its parent has clone_children) needs nothing more: no level
// above it is read or written.
func TestInheritCpusetsFilledByKernel(t *testing.T) {
	mount := t.TempDir()
	fixture(t, mount, "cpuset.cpus=0-3", "cpuset.mems=0")
	fixture(t, filepath.Join(mount, "contain"), "cpuset.cpus=", "cpuset.mems=", "cgroup.clone_children=0")
	fixture(t, filepath.Join(mount, "contain", "c1"), "cpuset.cpus=0-1", "cpuset.mems=0")
	if err := inheritCpusets(mount, "/contain/c1"); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, filepath.Join(mount, "contain"), map[string]string{"cpuset.cpus": "", "cgroup.clone_children": "0"})
	expectFiles(t, filepath.Join(mount, "contain", "c1"), map[string]string{"cpuset.cpus": "0-1", "cpuset.mems": "0"})

	// Half filled in (mems missing): every level is seen to, and DefaultParent gets the flag.
	fixture(t, filepath.Join(mount, "contain", "c2"), "cpuset.cpus=0-1", "cpuset.mems=")
	if err := inheritCpusets(mount, "/contain/c2"); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, filepath.Join(mount, "contain"), map[string]string{"cpuset.cpus": "0-3", "cpuset.mems": "0", "cgroup.clone_children": "1"})
	expectFiles(t, filepath.Join(mount, "contain", "c2"), map[string]string{"cpuset.cpus": "0-1", "cpuset.mems": "0"})
}

// Missing answers both "what will Create make" and "is the cgroup there already" with one
// look-up per level; on v1 a cgroup that exists in any one hierarchy exists.
func TestMissingReportsExisting(t *testing.T) {
	mount := t.TempDir()
	fixture(t, filepath.Join(mount, "contain"))
	if missing, exists := NewV2(mount, "/contain/c1/sub").Missing(); exists || strings.Join(missing, ",") != "/contain/c1,/contain/c1/sub" {
		t.Errorf("v2, new cgroup: missing %q, exists %v", missing, exists)
	}
	fixture(t, filepath.Join(mount, "contain", "c1"))
	if missing, exists := NewV2(mount, "/contain/c1").Missing(); !exists || len(missing) != 0 {
		t.Errorf("v2, existing cgroup: missing %q, exists %v", missing, exists)
	}
	root := t.TempDir()
	h := map[string]string{"memory": filepath.Join(root, "memory"), "pids": filepath.Join(root, "pids")}
	fixture(t, h["memory"])
	fixture(t, filepath.Join(h["pids"], "contain", "c2")) // left behind in one hierarchy only
	if missing, exists := NewV1(h, "", "/contain/c2").Missing(); !exists || strings.Join(missing, ",") != "/contain/c2" {
		t.Errorf("v1, cgroup in one hierarchy of two: missing %q, exists %v", missing, exists)
	}
	if missing, exists := NewV1(h, "", "/contain/c3").Missing(); exists || strings.Join(missing, ",") != "/contain/c3" {
		t.Errorf("v1, new cgroup: missing %q, exists %v", missing, exists)
	}
}

func TestMissingAndRemove(t *testing.T) {
	mount := t.TempDir()
	fixture(t, filepath.Join(mount, "a"))
	if got := missingDirs(mount, "/a/b/c"); strings.Join(got, ",") != "/a/b,/a/b/c" {
		t.Fatalf("missingDirs = %q", got)
	}
	if made, err := mkdirAll(mount, "/a/b/c"); err != nil || strings.Join(made, ",") != filepath.Join(mount, "a/b")+","+filepath.Join(mount, "a/b/c") {
		t.Fatalf("mkdirAll(/a/b/c) made %q, %v: want /a/b and /a/b/c", made, err)
	}
	// DefaultParent is never the container's: not listed, even while missing, yet made.
	if got := missingDirs(mount, DefaultParent+"/x/y"); strings.Join(got, ",") != DefaultParent+"/x,"+DefaultParent+"/x/y" {
		t.Errorf("missingDirs under a missing DefaultParent = %q", got)
	}
	if made, err := mkdirAll(mount, DefaultParent+"/x/y"); err != nil || slices.Contains(made, filepath.Join(mount, DefaultParent)) {
		t.Fatalf("mkdirAll(%s/x/y) made %q, %v: DefaultParent is no container's to take back", DefaultParent, made, err)
	}
	if _, err := os.Stat(filepath.Join(mount, DefaultParent, "x", "y")); err != nil {
		t.Errorf("mkdirAll did not make the missing parents: %v", err)
	}
	// A cgroup that is DefaultParent itself is looked at like any other.
	if got := missingDirs(mount, DefaultParent); len(got) != 0 {
		t.Errorf("missingDirs(%s), which exists = %q", DefaultParent, got)
	}
	// /a existed before: it is not ours and stays; /a/b was made for the container and goes.
	if err := removeDirs(mount, "/a/b/c", []string{"/a/b", "/a/b/c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mount, "a", "b")); !os.IsNotExist(err) {
		t.Errorf("/a/b still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mount, "a")); err != nil {
		t.Errorf("/a removed: %v", err)
	}
}

// TestPathsUnderTheRootGoThroughItsFD: a path under DefaultRoot is reached relative to one
// fd of DefaultRoot (see hostRoot), any other path as it is. A prefix match that took
// /sys/fs/cgroupX for a path under /sys/fs/cgroup would open the wrong file.
func TestPathsUnderTheRootGoThroughItsFD(t *testing.T) {
	if _, err := os.Stat(DefaultRoot); err != nil {
		testenv.Skip(t, fmt.Sprintf("no %s on this host: %v", DefaultRoot, err))
	}
	for _, tc := range []struct{ path, rel string }{
		{DefaultRoot, "."},
		{DefaultRoot + "/pids/contain/x", "pids/contain/x"},
		{DefaultRoot + "/cgroup.procs", "cgroup.procs"},
	} {
		fd, rel := at(tc.path)
		if rel != tc.rel {
			t.Errorf("at(%q) = %q, want %q", tc.path, rel, tc.rel)
		}
		if target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err != nil || target != DefaultRoot {
			t.Errorf("at(%q): fd %d is %q (%v), want %s", tc.path, fd, target, err, DefaultRoot)
		}
	}
	tmp := t.TempDir()
	for _, p := range []string{DefaultRoot + "x/pids", "/sys/fs", tmp, filepath.Join(tmp, "cgroup.procs")} {
		if fd, rel := at(p); fd != unix.AT_FDCWD || rel != p {
			t.Errorf("at(%q) = %d, %q; want AT_FDCWD and the path itself", p, fd, rel)
		}
	}
}

// TestReadFileReadsItAll: control files can be longer than one read, as cgroup.procs with
// many processes is.
func TestReadFileReadsItAll(t *testing.T) {
	dir := t.TempDir()
	var procs []string
	for pid := 1000; pid < 3000; pid++ {
		procs = append(procs, strconv.Itoa(pid))
	}
	fixture(t, dir, "cgroup.procs="+strings.Join(procs, "\n")+"\n")
	pids, err := readPids(dir)
	if err != nil || len(pids) != 2000 || pids[0] != 1000 || pids[1999] != 2999 {
		t.Fatalf("readPids = %d pids (first %v), %v; want 1000..2999", len(pids), pids[:min(len(pids), 1)], err)
	}
	if _, err := readFile(dir, "missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readFile of a missing file: %v, want ErrNotExist", err)
	}
}

// TestJoinSelfLeavesNoFD: init and the exec stage call JoinSelf just before they enter the
// container, where no fd of the host's may be open. A "tasks" file outside DefaultRoot is a
// plain file here: JoinSelf writes "0" into it, as it would to move the thread.
func TestJoinSelfLeavesNoFD(t *testing.T) {
	dir := t.TempDir()
	fixture(t, dir, "tasks=")
	before := openFDs(t)
	if err := JoinSelf([]string{filepath.Join(dir, "tasks")}); err != nil {
		t.Fatal(err)
	}
	if after := openFDs(t); !slices.Equal(before, after) {
		t.Errorf("fds before JoinSelf %v, after %v", before, after)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "tasks")); string(data) != "0" {
		t.Errorf("tasks = %q, want 0", data)
	}
}

// openFDs lists this process's open fds, with what each one is.
func openFDs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds = append(fds, e.Name()+" "+target)
	}
	return fds
}

func TestSwappinessAndWhatIsNotApplied(t *testing.T) {
	has := func(string) bool { return true }
	current := func(string) string { return "" }
	bad := &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(200)}}
	if _, err := v1Limits(bad, has); err == nil || !strings.Contains(err.Error(), "swappiness 200: must be 0 to 100") {
		t.Errorf("v1: swappiness 200 gave %v, want it refused", err)
	}
	if _, err := v2Limits(bad, current); err == nil || !strings.Contains(err.Error(), "must be 0 to 100") {
		t.Errorf("v2: swappiness 200 gave %v, want it refused", err)
	}
	// Docker's -1, "the kernel's default", is neither refused nor written.
	l, err := v1Limits(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(math.MaxUint64)}}, has)
	if err != nil || len(l.writes) != 0 {
		t.Errorf("v1: swappiness -1 gave %v and writes %v, want neither", err, l.writes)
	}
	leaf := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{CheckBeforeUpdate: yes()},
		BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{LeafWeight: u16(10)}}},
	}
	l, err = v2Limits(leaf, current)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(l.warnings, "\n")
	for _, want := range []string{"checkBeforeUpdate is not supported", "leafWeight does not exist on cgroup v2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("v2 warnings %q do not say %q", joined, want)
		}
	}
}

// A cgroup that exists when Create makes it is another container's (two creates with one
// cgroupsPath, both past the look before): ErrExists, and nothing of it touched.
func TestCreateRefusesAnExistingCgroup(t *testing.T) {
	mount := v2Fixture(t)
	v2 := NewV2(mount, "/contain/c1")
	if _, err := v2.Create(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}}); !errors.Is(err, ErrExists) {
		t.Errorf("v2 Create of an existing cgroup: %v, want ErrExists", err)
	}
	expectFiles(t, v2.Dir(), map[string]string{"pids.max": "50"}) // the other container's, untouched

	v1, root := v1Fixture(t)
	// The first hierarchy (blkio, in sorted order) is free, the second taken: the first
	// mkdir is taken back.
	blkio := filepath.Join(root, "blkio", "contain", "c1")
	os.RemoveAll(blkio)
	if _, err := v1.Create(nil); !errors.Is(err, ErrExists) {
		t.Errorf("v1 Create of an existing cgroup: %v, want ErrExists", err)
	}
	if pathExists(blkio) {
		t.Error("v1 Create left the directory it made in the free hierarchy")
	}
	expectFiles(t, filepath.Join(root, "pids", "contain", "c1"), map[string]string{"pids.max": "50"})

	// A cgroupsPath whose parent is missing in the first hierarchy (made there by this
	// Create) and whose cgroup exists in a later one: the parent made goes back too.
	team := NewV1(v1.hierarchies, v1.unified, "/team/c1")
	fixture(t, filepath.Join(root, "cpu,cpuacct", "team", "c1"), "cpu.shares=")
	if _, err := team.Create(nil); !errors.Is(err, ErrExists) {
		t.Errorf("v1 Create of /team/c1, taken in cpu,cpuacct: %v, want ErrExists", err)
	}
	if made := filepath.Join(root, "blkio", "team"); pathExists(made) {
		t.Errorf("v1 Create left %s, which it made, behind", made)
	}
}

// v1 writes what its kernels take: useHierarchy false (refused since Linux 5.11) and a
// leafWeight without CFQ's files are warnings, cpu.idle 0 is written (it un-idles), and
// unified's cgroup.freeze on a hybrid host is refused (pause goes by the v1 freezer there).
func TestV1LimitsForTodaysKernels(t *testing.T) {
	has := func(what string) bool { return what != "blkio.leaf_weight" && what != "blkio.weight" }
	zero, no := int64(0), false
	l, err := v1Limits(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{UseHierarchy: &no},
		CPU:     &specs.LinuxCPU{Idle: &zero},
		BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(500), WeightDevice: []specs.LinuxWeightDevice{{LeafWeight: u16(10)}}},
	}, has)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(l.writes, write{"cpu", "cpu.idle", "0"}) || len(l.writes) != 1 {
		t.Errorf("writes %q, want cpu.idle 0 alone", l.writes)
	}
	joined := strings.Join(l.warnings, "\n")
	for _, want := range []string{"useHierarchy false", "blockIO.leafWeight", "weightDevice 0:0 leafWeight"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no warning about %s in %q", want, joined)
		}
	}
	if _, err := v1Limits(&specs.LinuxResources{Unified: map[string]string{"cgroup.freeze": "1"}}, has); err == nil || !strings.Contains(err.Error(), "contain pause") {
		t.Errorf("unified cgroup.freeze on a hybrid host: %v, want it refused", err)
	}
	limit, swap := int64(64<<20), int64(32<<20)
	for _, limits := range []func(*specs.LinuxResources) (*limits, error){
		func(r *specs.LinuxResources) (*limits, error) { return v1Limits(r, has) },
		func(r *specs.LinuxResources) (*limits, error) { return v2Limits(r, func(string) string { return "" }) },
	} {
		if _, err := limits(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap}}); err == nil || !strings.Contains(err.Error(), "below memory.limit") {
			t.Errorf("swap below the limit: %v, want it refused before any write", err)
		}
	}
}

// A raised v1 limit keeps the swap allowed (memsw - limit); none, or one that would reach
// the unlimited value, is no memsw limit either.
func TestMemswFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		l, m, n int64
		want    string
	}{
		{64 * mib, 128 * mib, 256 * mib, strconv.Itoa(320 * mib)},
		{64 * mib, 64 * mib, 256 * mib, strconv.Itoa(256 * mib)}, // no swap allowed: none after
		{64 * mib, 128 * mib, -1, "-1"},
		{64 * mib, 128 * mib, v1Unlimited, "-1"},       // the file's "no limit", copied back
		{64 * mib, 128 * mib, v1Unlimited - mib, "-1"}, // the sum would pass it
		{1 << 30, 1<<30 + 1<<20, 1 << 62, strconv.FormatInt(1<<62+1<<20, 10)},
	} {
		if got := memswFor(tc.l, tc.m, tc.n); got != tc.want {
			t.Errorf("memswFor(limit %d, memsw %d, new %d) = %s, want %s", tc.l, tc.m, tc.n, got, tc.want)
		}
	}
}

// An idle group refuses shares or a weight: idle 0 is written before them, idle 1 after. A
// swap of 0 is no swap setting (runc's), and without swap accounting a swap below the limit
// is the warning that swap is not applied, not an error.
func TestCPUIdleOrderAndSwapZero(t *testing.T) {
	zero, one, limit, swap := int64(0), int64(1), int64(64<<20), int64(0)
	shares := uint64(512)
	for name, limits := range map[string]func(*specs.LinuxResources) (*limits, error){
		"v1": func(r *specs.LinuxResources) (*limits, error) { return v1Limits(r, func(string) bool { return true }) },
		"v2": func(r *specs.LinuxResources) (*limits, error) { return v2Limits(r, func(string) string { return "" }) },
	} {
		for _, idle := range []*int64{&zero, &one} {
			l, err := limits(&specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: idle, Shares: &shares}})
			if err != nil || len(l.writes) != 2 {
				t.Fatalf("%s idle %d with shares: %v %q", name, *idle, err, l.writes)
			}
			if first := l.writes[0].file == "cpu.idle"; first != (*idle == 0) {
				t.Errorf("%s idle %d with shares: writes %q, want idle %s", name, *idle, l.writes, map[bool]string{true: "first", false: "last"}[*idle == 0])
			}
		}
		l, err := limits(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap}})
		if err != nil || len(l.writes) != 1 {
			t.Errorf("%s swap 0 with a limit: %v %q, want the limit alone", name, err, l.writes)
		}
	}
	below := int64(32 << 20)
	l, err := v1Limits(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &below}}, func(what string) bool { return what != "memsw" })
	if err != nil || !strings.Contains(strings.Join(l.warnings, ""), "no swap accounting") {
		t.Errorf("v1 without memsw, swap below the limit: %v %q, want the not-applied warning", err, l.warnings)
	}
}

// A hugepageLimits pageSize becomes part of a file name: one that is not a page size is
// refused before any write, on both versions, and the writer refuses any name with a slash
// ("2MB.max/../../hugetlb.2MB" would otherwise be cleaned into the parent cgroup's file).
func TestHugepageSizesAreFileNames(t *testing.T) {
	has := func(string) bool { return true }
	for _, size := range []string{"2MB.max/../../hugetlb.2MB", "../2MB", "2M", "MB", "", "2TB", "-2MB", "2 MB"} {
		r := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: size, Limit: 1 << 21}}}
		if _, err := v1Limits(r, has); err == nil || !strings.Contains(err.Error(), "not a huge page size") {
			t.Errorf("v1, pageSize %q: %v, want it refused", size, err)
		}
		if _, err := v2Limits(r, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "not a huge page size") {
			t.Errorf("v2, pageSize %q: %v, want it refused", size, err)
		}
	}
	for _, size := range []string{"64KB", "2MB", "1GB"} {
		r := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: size, Limit: 1 << 21}}}
		if _, err := v2Limits(r, func(string) string { return "" }); err != nil {
			t.Errorf("pageSize %q: %v", size, err)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x/../../y", "../y", "..", ""} {
		if err := writeFile(filepath.Join(dir, "c"), name, "1"); err == nil || !strings.Contains(err.Error(), "not a control file") {
			t.Errorf("write to %q: %v, want it refused", name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the writes made %d entries, want none beside c", len(entries)-1)
	}
}

// A memory limit, a memory reservation and a pids limit of 0 are "not set", as runc 1.1 reads
// them, with a warning each: podman 4.3 sends pids.limit 0 for --pids-limit -1, and a memory
// limit of 0 written would kill init at once. On update they leave the cgroup as it is.
func TestZeroIsNotSet(t *testing.T) {
	zero := int64(0)
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &zero, Reservation: &zero}, Pids: &specs.LinuxPids{Limit: &zero}}
	for name, limits := range map[string]func(*specs.LinuxResources) (*limits, error){
		"v1": func(r *specs.LinuxResources) (*limits, error) { return v1Limits(r, func(string) bool { return true }) },
		"v2": func(r *specs.LinuxResources) (*limits, error) { return v2Limits(r, func(string) string { return "" }) },
	} {
		l, err := limits(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(l.writes) != 0 {
			t.Errorf("%s: writes %v, want none", name, l.writes)
		}
		joined := strings.Join(l.warnings, "\n")
		for _, field := range []string{"memory.limit 0", "memory.reservation 0", "pids.limit 0"} {
			if !strings.Contains(joined, field+" is taken as not set") {
				t.Errorf("%s: warnings %q, want one about %s", name, l.warnings, field)
			}
		}
	}
	if *r.Memory.Limit != 0 || *r.Memory.Reservation != 0 || r.Pids.Limit == nil {
		t.Errorf("the caller's spec was changed")
	}
}

// No memory limit and no swap named lifts the swap limit too, as v1's memsw follows memory
// (and runc reads it so); a kernel without swap accounting, which has no memory.swap.max, has
// no swap to limit: no error there.
func TestV2UnlimitedMemoryLiftsSwap(t *testing.T) {
	mount := v2Fixture(t)
	c := NewV2(mount, "/contain/c1")
	fixture(t, c.Dir(), "memory.max=67108864", "memory.swap.max=0")
	if _, err := c.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c.Dir(), map[string]string{"memory.max": "max", "memory.swap.max": "max"})
	if err := os.Remove(filepath.Join(c.Dir(), "memory.swap.max")); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*specs.LinuxMemory{{Limit: i64(-1)}, {Limit: i64(64 << 20), Swap: i64(-1)}} {
		if _, err := c.Update(&specs.LinuxResources{Memory: m}); err != nil {
			t.Errorf("update %+v without swap accounting: %v", m, err)
		}
	}
	if _, err := c.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20)}}); err == nil {
		t.Error("a swap limit without memory.swap.max was taken: it would not hold")
	}
}

// A freeze the kernel does not finish is undone: the container runs on, not half stopped,
// and a kill without cgroup.kill thaws what it froze even then.
func TestV2FreezeThatDoesNotFinishIsUndone(t *testing.T) {
	defer func(was time.Duration) { freezeTimeout = was }(freezeTimeout)
	freezeTimeout = 20 * time.Millisecond
	mount := v2Fixture(t)
	c := NewV2(mount, "/contain/c1")
	fixture(t, c.Dir(), "cgroup.events=populated 1\nfrozen 0") // a task that never freezes
	if err := c.Freeze(true); err == nil || !strings.Contains(err.Error(), "frozen 1") {
		t.Fatalf("Freeze(true) = %v, want a failure that says it did not freeze", err)
	}
	expectFiles(t, c.Dir(), map[string]string{"cgroup.freeze": "0"})
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c.Dir(), map[string]string{"cgroup.freeze": "0"})
}

// Block I/O weights go where the kernel reads them: io.bfq.weight, on blkio's scale, when the
// cgroup has BFQ's file (per device only where BFQ takes them), io.weight otherwise.
func TestV2IOWeightGoesToBFQWhereThereIsOne(t *testing.T) {
	w, dw := uint16(300), uint16(700)
	io := &specs.LinuxBlockIO{Weight: &w, WeightDevice: []specs.LinuxWeightDevice{{Weight: &dw}}}
	io.WeightDevice[0].Major, io.WeightDevice[0].Minor = 8, 0
	for _, tc := range []struct {
		bfq  string // the file's content; "" for none
		want map[string]string
	}{
		{"", map[string]string{"io.weight": "8:0 " + itoa(blkioToIOWeight(700))}},
		{"default 100", map[string]string{"io.bfq.weight": "8:0 700", "io.weight": "default 100"}},
		{"100", map[string]string{"io.bfq.weight": "300", "io.weight": "8:0 " + itoa(blkioToIOWeight(700))}},
	} {
		mount := v2Fixture(t)
		c := NewV2(mount, "/contain/c1")
		fixture(t, c.Dir(), "io.weight=default 100")
		if tc.bfq != "" {
			fixture(t, c.Dir(), "io.bfq.weight="+tc.bfq)
		}
		if _, err := c.Update(&specs.LinuxResources{BlockIO: io}); err != nil {
			t.Fatal(err)
		}
		expectFiles(t, c.Dir(), tc.want) // each file holds its last write
	}
}

// The hints fit the call: EBUSY from rmdir is about what is still in the cgroup, from a write
// about the "no internal processes" rule; EAGAIN from mkdir is a parent's limit on cgroups.
func TestHintsByCall(t *testing.T) {
	for _, c := range []struct {
		op    string
		errno unix.Errno
		want  string
	}{
		{"rmdir", unix.EBUSY, "cgroups below it"},
		{"write", unix.EBUSY, "no internal processes"},
		{"mkdir", unix.EAGAIN, "cgroup.max.descendants"},
		{"write", unix.EINVAL, "out of range"},
		{"write memsw", unix.EINVAL, "give linux.resources.memory.limit too"},
	} {
		if got := hint(c.op, c.errno).Error(); !strings.Contains(got, c.want) {
			t.Errorf("hint(%s, %v) = %q, want %q in it", c.op, c.errno, got, c.want)
		}
	}
}
