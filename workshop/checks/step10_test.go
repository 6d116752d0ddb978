package checks

import (
	"slices"
	"testing"
)

// The cgroup files step 10's checks read, from /proc/PID/cgroup on either cgroup version.
func TestParseProcCgroup(t *testing.T) {
	v1 := "9:name=systemd:/x\n8:pids:/contain-workshop/10-cgroups-7\n4:memory:/contain-workshop/10-cgroups-7\n" +
		"2:cpu,cpuacct:/contain-workshop/10-cgroups-7\n0::/contain-workshop/10-cgroups-7\n"
	c := parseProcCgroup("/sys/fs/cgroup", false, v1)
	if c.v2 || len(c.paths) != 3 || c.ctrl("cpu") != "cpu,cpuacct" || c.ctrl("pids") != "pids" {
		t.Fatalf("v1: %+v, cpu in %q", c, c.ctrl("cpu"))
	}
	if got := c.file(c.ctrl("cpu"), "cpu.stat"); got != "/sys/fs/cgroup/cpu,cpuacct/contain-workshop/10-cgroups-7/cpu.stat" {
		t.Errorf("v1 cpu.stat at %s", got)
	}
	if got := c.path(); got != "/contain-workshop/10-cgroups-7 (v1)" {
		t.Errorf("v1 path %q", got)
	}

	c = parseProcCgroup("/sys/fs/cgroup", true, "0::/contain-workshop/10-cgroups-7\n")
	if !c.v2 || c.ctrl("pids") != "" || c.file("", "pids.max") != "/sys/fs/cgroup/contain-workshop/10-cgroups-7/pids.max" {
		t.Errorf("v2: %+v", c)
	}
	if dirs := c.dirs(); !slices.Equal(dirs, []string{"/sys/fs/cgroup/contain-workshop/10-cgroups-7"}) {
		t.Errorf("v2 dirs %v", dirs)
	}
	// The root cgroup is nobody's to remove.
	if dirs := parseProcCgroup("/sys/fs/cgroup", true, "0::/\n").dirs(); len(dirs) != 0 {
		t.Errorf("root cgroup dirs %v, want none", dirs)
	}
}
