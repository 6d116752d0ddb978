package probe

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCgroupLimits reads limits from cgroup trees made of temporary files, mounted the ways a
// container sees them.
func TestCgroupLimits(t *testing.T) {
	base := t.TempDir()
	write := func(dir string, files map[string]string) string {
		t.Helper()
		dir = filepath.Join(base, dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, value := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(value+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	v2 := map[string]string{"memory.max": "33554432", "memory.swap.max": "0", "pids.max": "20",
		"cpu.max": "20000 100000", "cpu.weight": "100", "cpuset.cpus.effective": "0-1", "cgroup.procs": "1"}
	want2 := maps.Clone(v2)
	delete(want2, "cgroup.procs") // not a limit

	// A cgroup namespace: the container's cgroup is mounted on /sys/fs/cgroup and is "/".
	ns := write("ns", v2)
	mounts := []Mount{{MountPoint: ns, Root: "/", FSType: "cgroup2"}}
	if got := cgroupLimits([]string{"0::/"}, mounts); !maps.Equal(got, want2) {
		t.Errorf("cgroup namespace: got %v, want %v", got, want2)
	}

	// No cgroup namespace, the host's tree bound in: the full path under the mount point.
	host := write("host", map[string]string{"cgroup.procs": ""})
	write("host/contain/box", v2)
	mounts = []Mount{{MountPoint: host, Root: "/", FSType: "cgroup2"}}
	if got := cgroupLimits([]string{"0::/contain/box"}, mounts); !maps.Equal(got, want2) {
		t.Errorf("host tree: got %v, want %v", got, want2)
	}
	// Only the container's own directory bound in: its root is the cgroup's path.
	mounts = []Mount{{MountPoint: ns, Root: "/contain/box", FSType: "cgroup2"}}
	if got := cgroupLimits([]string{"0::/contain/box"}, mounts); !maps.Equal(got, want2) {
		t.Errorf("own directory bound: got %v, want %v", got, want2)
	}
	// A cgroup outside the mounted part of the tree cannot be read; nor one with no mount.
	mounts = []Mount{{MountPoint: ns, Root: "/contain/other", FSType: "cgroup2"}}
	if got := cgroupLimits([]string{"0::/contain/box"}, mounts); len(got) != 0 {
		t.Errorf("cgroup outside the mount: got %v, want nothing", got)
	}
	if got := cgroupLimits([]string{"0::/"}, nil); len(got) != 0 {
		t.Errorf("no cgroup mount: got %v, want nothing", got)
	}

	// Hybrid v1: one hierarchy per controller, each file read where its controller is.
	write("v1/memory/box", map[string]string{"memory.limit_in_bytes": "33554432", "memory.memsw.limit_in_bytes": "33554432"})
	write("v1/pids/box", map[string]string{"pids.max": "20"})
	write("v1/cpu,cpuacct/box", map[string]string{"cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "100000", "cpu.shares": "1024",
		"cpuset.cpus": "not the cpuset hierarchy: ignored"})
	write("v1/cpuset", map[string]string{"cpuset.cpus": "0-3"})
	write("v1/unified/box", map[string]string{"memory.max": "1"}) // hybrid's cgroup2: read as v2
	mounts = []Mount{
		{MountPoint: filepath.Join(base, "v1/memory"), Root: "/", FSType: "cgroup", SuperOptions: "rw,memory"},
		{MountPoint: filepath.Join(base, "v1/pids"), Root: "/", FSType: "cgroup", SuperOptions: "rw,pids"},
		{MountPoint: filepath.Join(base, "v1/cpu,cpuacct"), Root: "/", FSType: "cgroup", SuperOptions: "rw,cpu,cpuacct"},
		{MountPoint: filepath.Join(base, "v1/cpuset"), Root: "/", FSType: "cgroup", SuperOptions: "rw,cpuset"},
		{MountPoint: filepath.Join(base, "v1/unified"), Root: "/", FSType: "cgroup2", SuperOptions: "rw"},
	}
	lines := []string{"9:name=systemd:/box", "8:pids:/box", "4:memory:/box", "3:cpuset:/", "2:cpu,cpuacct:/box", "0::/box"}
	want1 := map[string]string{"memory.limit_in_bytes": "33554432", "memory.memsw.limit_in_bytes": "33554432", "pids.max": "20",
		"cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "100000", "cpu.shares": "1024", "cpuset.cpus": "0-3", "memory.max": "1"}
	if got := cgroupLimits(lines, mounts); !maps.Equal(got, want1) {
		t.Errorf("v1: got %v, want %v", got, want1)
	}
}

func TestCgroupMountPrefersSysFsCgroup(t *testing.T) {
	mounts := []Mount{
		{ID: 1, MountPoint: "/mnt/cg", Root: "/", FSType: "cgroup2"},
		{ID: 2, MountPoint: "/sys/fs/cgroup", Root: "/", FSType: "cgroup2"},
		{ID: 3, MountPoint: "/sys/fs/cgroup", Root: "/", FSType: "cgroup2"}, // on top of 2
		{ID: 4, MountPoint: "/elsewhere", Root: "/", FSType: "cgroup2"},
		{ID: 5, MountPoint: "/sys/fs/cgroup/memory", Root: "/", FSType: "cgroup", SuperOptions: "rw,memory"},
	}
	if m, ok := cgroupMount(mounts, ""); !ok || m.ID != 3 {
		t.Errorf("cgroupMount v2 = %+v, %v; want mount 3", m, ok)
	}
	if m, ok := cgroupMount(mounts, "memory"); !ok || m.ID != 5 {
		t.Errorf("cgroupMount memory = %+v, %v; want mount 5", m, ok)
	}
	if _, ok := cgroupMount(mounts, "pids"); ok {
		t.Error("cgroupMount found a pids hierarchy that is not mounted")
	}
}

func TestCgroupLimitText(t *testing.T) {
	for _, tt := range []struct{ file, value, want string }{
		{"memory.max", "max", "unlimited"},
		{"memory.max", "33554432", "33554432 (32 MiB)"},
		{"memory.swap.max", "0", "0"},
		{"memory.limit_in_bytes", "9223372036854771712", "unlimited"},
		{"cpu.cfs_quota_us", "-1", "unlimited"},
		{"cpu.max", "20000 100000", "20000 100000 (0.2 CPU)"},
		{"cpu.max", "max 100000", "max 100000 (unlimited)"},
		{"pids.max", "20", "20"},
		{"pids.max", "max", "unlimited"},
	} {
		if got := cgroupLimitText(tt.file, tt.value); got != tt.want {
			t.Errorf("cgroupLimitText(%q, %q) = %q, want %q", tt.file, tt.value, got, tt.want)
		}
	}
}

func TestHumanCgroupLimits(t *testing.T) {
	r := &Report{Cgroup: []string{"0::/"}, CgroupLimits: map[string]string{"pids.max": "20", "memory.max": "33554432"}}
	var b bytes.Buffer
	r.WriteHuman(&b)
	out := b.String()
	i, j := strings.Index(out, "memory.max"), strings.Index(out, "pids.max")
	if !strings.Contains(out, "CGROUP LIMITS") || i < 0 || j < i || !strings.Contains(out, "(32 MiB)") {
		t.Errorf("human report, CGROUP LIMITS with memory.max before pids.max:\n%s", out)
	}
}

func TestSpin(t *testing.T) {
	res := Spin(50 * time.Millisecond)
	if !res.OK || res.WallMs < 50 || res.CPUMs <= 0 || res.CPUMs > res.WallMs+20 {
		t.Errorf("Spin(50ms) = %+v", res)
	}
}

// Each limit shows once in the human report, pids.max too (a v1 and a v2 name).
func TestCgroupLimitOrderHasEachFileOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range cgroupLimitOrder {
		if seen[f] {
			t.Errorf("%s twice in cgroupLimitOrder", f)
		}
		seen[f] = true
	}
}
