package isolate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate/cgroups"
)

// cgroupFiles makes a cgroup directory at mount/c with the given files, as the kernel shows
// them, for a manager to read.
func cgroupFiles(t *testing.T, mount string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(mount, "c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// What a process that died before the container's program says, from its wait status and its
// cgroup's counts: the v2 case is the one measured on a pure v2 host (`--memory 1k`: Go's fork
// child exits 253, the cgroup counts "max" events), the v1 one this hybrid host's (Linux 6.18:
// an OOM kill, and memory.failcnt left at 0).
func TestDiedInSetup(t *testing.T) {
	v2 := t.TempDir()
	cgroupFiles(t, v2, map[string]string{"memory.max": "0\n", "memory.events": "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n"})
	v2Untouched := t.TempDir()
	cgroupFiles(t, v2Untouched, map[string]string{"memory.max": "max\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"})
	v1 := t.TempDir()
	cgroupFiles(t, v1, map[string]string{"memory.limit_in_bytes": "4096\n", "memory.failcnt": "0\n", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"})
	v2Pids := t.TempDir() // a stage whose Go runtime could not start its threads
	cgroupFiles(t, v2Pids, map[string]string{"memory.max": "max\n", "memory.events": "max 0\noom_kill 0\n", "pids.max": "2\n", "pids.events": "max 5\n"})
	v1Parent := t.TempDir() // a parent's limit: this cgroup's reads the v1 "no limit"
	cgroupFiles(t, v1Parent, map[string]string{"memory.limit_in_bytes": "9223372036854771712\n", "memory.failcnt": "2\n", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"})
	var none cgroups.LimitCounts // a new cgroup, as init's
	exited := func(n int) unix.WaitStatus { return unix.WaitStatus(n << 8) }
	killed := unix.WaitStatus(unix.SIGKILL)
	for _, c := range []struct {
		name   string
		ws     unix.WaitStatus
		cg     cgroups.Manager
		want   string
		before cgroups.LimitCounts // what the cgroup had counted before
	}{
		{"v2 limit reached", exited(253), cgroups.NewV2(v2, "c"), "container init exited during setup (status 253): memory limit too small for it (the container's cgroup, limited to 0 bytes, reached it 3 times)", none},
		{"v1 limit reached", killed, cgroups.NewV1(map[string]string{"memory": v1}, "", "c"), "container init was killed (SIGKILL) during setup: memory limit too small for it (the container's cgroup, limited to 4096 bytes, counted 1 OOM kill)", none},
		{"v1 parent's limit", killed, cgroups.NewV1(map[string]string{"memory": v1Parent}, "", "c"), "(the container's cgroup, under a parent's limit, reached it 2 times and counted 1 OOM kill)", none},
		{"v1 no memory hierarchy", killed, cgroups.NewV1(map[string]string{"pids": v1}, "", "c"), "by the OOM killer", none},
		{"killed, limit never reached", killed, cgroups.NewV2(v2Untouched, "c"), "by the OOM killer (a memory limit too small for it) or a kill from outside", none},
		{"killed, no cgroup", killed, nil, "by the OOM killer", none},
		{"fork child failed", exited(253), nil, "the step between clone(2) and execve(2) failed, and the child could not report why", none},
		{"fork child failed, cgroup gone", exited(253), cgroups.NewV2(filepath.Join(v2, "gone"), "c"), "could not report why", none},
		{"an exit of its own", exited(1), cgroups.NewV2(v2Untouched, "c"), "container init exited during setup (status 1)", none},
		{"pids limit met", exited(2), cgroups.NewV2(v2Pids, "c"), "container init exited during setup (status 2): pids limit too small for it (the container's cgroup, limited to 2 tasks, refused 5 forks: Go's runtime needs threads of its own)", none},
		{"pids limit met before", exited(2), cgroups.NewV2(v2Pids, "c"), "container init exited during setup (status 2)", cgroups.LimitCounts{PidsLimitHits: 5}},
		{"memory limit met before, and since", killed, cgroups.NewV2(v2, "c"), "(the container's cgroup, limited to 0 bytes, reached it 1 time)", cgroups.LimitCounts{MemoryLimitHits: 2}},
	} {
		err := diedInSetup("container init", c.ws, c.cg, c.before)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.want)
		}
	}
	if err := diedInSetup("container init", exited(1), nil, cgroups.LimitCounts{}); err.Error() != "container init exited during setup (status 1)" {
		t.Errorf("an exit of its own, no cgroup: %q, want the status alone", err)
	}
	// "pids limit met before": the whole message, nothing blamed on the limit.
	if err := diedInSetup("exec stage", exited(2), cgroups.NewV2(v2Pids, "c"), cgroups.LimitCounts{PidsLimitHits: 5}); err.Error() != "exec stage exited during setup (status 2)" {
		t.Errorf("a pids limit met before the stage: %q, want the status alone", err)
	}
}
