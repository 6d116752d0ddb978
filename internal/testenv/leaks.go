package testenv

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// snapshot is what a root test could leave behind: mounts, state directories, cgroups,
// network links and processes.
type snapshot struct {
	mounts    []string // "mountpoint fstype source" from /proc/self/mountinfo
	cgroups   []string // every cgroup directory, in every hierarchy
	state     []string // entries of the state roots
	links     []string // interfaces in /proc/net/dev
	processes []string // "pid comm" of our descendants
}

// CheckLeaks takes a snapshot now and, when the test ends, fails it if a mount, a state
// directory under any of stateRoots, a cgroup, a network link or a descendant process appeared and did
// not go away within a grace period (the kernel reaps asynchronously).
func CheckLeaks(t testing.TB, stateRoots ...string) {
	t.Helper()
	before := takeSnapshot(stateRoots)
	t.Cleanup(func() {
		var leaks []string
		for deadline := time.Now().Add(3 * time.Second); ; {
			leaks = before.leaks(takeSnapshot(stateRoots))
			if len(leaks) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, l := range leaks {
			t.Errorf("leak: %s", l)
		}
	})
}

func takeSnapshot(stateRoots []string) snapshot {
	var s snapshot
	s.mounts = mounts()
	for _, root := range stateRoots {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			s.state = append(s.state, filepath.Join(root, e.Name()))
		}
	}
	s.cgroups = cgroupDirs("/sys/fs/cgroup")
	s.links = links()
	s.processes = descendants(leakRoot())
	return s
}

func (before snapshot) leaks(after snapshot) []string {
	var out []string
	diff := func(kind string, b, a []string) {
		for _, x := range a {
			if !slices.Contains(b, x) {
				out = append(out, kind+" "+x)
			}
		}
	}
	diff("mount", before.mounts, after.mounts)
	diff("state", before.state, after.state)
	diff("cgroup", before.cgroups, after.cgroups)
	diff("link", before.links, after.links)
	diff("process", before.processes, after.processes)
	return out
}

func mounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s", fields[4], fields[sep+1], fields[sep+2]))
	}
	return out
}

// cgroupDirs lists the directories under the cgroup mounts in root: each one is a cgroup
// (the tmpfs of a v1 host holds only the hierarchies' mount points). The runtime's parent
// cgroup, "contain" (cgroups.DefaultParent), is kept by design and left out; what is in it
// is listed.
func cgroupDirs(root string) []string {
	var fsys unix.Statfs_t
	unified := unix.Statfs(root, &fsys) == nil && fsys.Type == unix.CGROUP2_SUPER_MAGIC
	var out []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && !isDefaultParent(root, path, unified) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// isDefaultParent reports whether path is the runtime's parent cgroup: "contain" at the top
// of the cgroup2 mount that root is on a unified host (root/contain), or at the top of a
// hierarchy mounted in root's tmpfs on a v1 or hybrid one (root/HIERARCHY/contain). Any other
// "contain" is listed: a container of that name (root/contain/contain on a unified host), or
// a cgroup of that name further down.
func isDefaultParent(root, path string, unified bool) bool {
	if unified {
		return path == filepath.Join(root, "contain")
	}
	return filepath.Base(path) == "contain" && filepath.Dir(filepath.Dir(path)) == filepath.Clean(root)
}

// keepDefaultParentsAsFound runs run, then removes the runtime's parent cgroups that run
// made. contain keeps them between containers by design (cgroups.DefaultParent); a test run
// still leaves the machine's cgroups as it found them. rmdir only: one that is not empty
// holds a leak, which the leak checks report.
func keepDefaultParentsAsFound(run func() int) int {
	parents := func() []string {
		found, _ := filepath.Glob("/sys/fs/cgroup/contain")
		nested, _ := filepath.Glob("/sys/fs/cgroup/*/contain")
		return append(found, nested...)
	}
	before := parents()
	code := run()
	for _, dir := range parents() {
		if !slices.Contains(before, dir) {
			os.Remove(dir)
		}
	}
	return code
}

func links() []string {
	data, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			out = append(out, strings.TrimSpace(name))
		}
	}
	return out
}

// descendants lists the processes whose parent chain leads to pid. The leak check asks for
// those of the sandbox's outer process (see RunSandboxed), a child subreaper: a process a
// test's child left behind when it exited (a container's init once `contain create` is gone,
// or anything the runtime started and did not end) goes to it, not to pid 1, and stays in the
// list. Outside the sandbox (not root) it asks for the test process's own.
func descendants(pid int) []string {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := ReadProcStat(p); ok {
			parent[p], comm[p] = st.PPid, st.Comm
		}
	}
	var out []string
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, fmt.Sprintf("%d %s", p, comm[p]))
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// ProcStat is what tests read of a process's /proc/PID/stat.
type ProcStat struct {
	Comm  string
	State string // R, S, D, T, Z...
	PPid  int
}

// ReadProcStat reads /proc/PID/stat, "pid (comm) state ppid ...", whose comm may hold spaces
// and parentheses; ok is false for a process that is gone.
func ReadProcStat(pid int) (ProcStat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, false
	}
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return ProcStat{}, false
	}
	rest := strings.Fields(s[close+1:])
	if len(rest) < 2 {
		return ProcStat{}, false
	}
	ppid, _ := strconv.Atoi(rest[1])
	return ProcStat{Comm: s[open+1 : close], State: rest[0], PPid: ppid}, true
}

// Children lists the processes whose parent is pid.
func Children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := ReadProcStat(p); ok && st.PPid == pid {
			out = append(out, p)
		}
	}
	return out
}

// leakRoot is the process whose descendants the leak check lists: the sandbox's subreaper,
// this test binary's parent, when the tests run in the sandbox.
func leakRoot() int {
	if InSandbox() {
		return os.Getppid()
	}
	return os.Getpid()
}
