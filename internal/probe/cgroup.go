package probe

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The limit files the report reads from the process's own cgroup, by cgroup version; see the
// kernel's Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/. A v1 file is read in the
// hierarchy of the controller its name starts with.
var (
	cgroupV2Files = []string{"memory.max", "memory.swap.max", "pids.max", "cpu.max", "cpu.weight", "cpuset.cpus.effective"}
	cgroupV1Files = []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "pids.max",
		"cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares", "cpuset.cpus"}
)

// cgroupLimits reads the limit files of the cgroups that lines (from /proc/self/cgroup) name,
// in the cgroup filesystems among mounts. Each line is "hierarchy-ID:controllers:path"; the
// path is relative to the process's cgroup namespace, as is the root of each mount in
// mountinfo, so the cgroup's directory is the mount point plus the path below the mount's
// root. In a new cgroup namespace both are "/" and the directory is the mount point itself;
// with the host's tree bound in and no cgroup namespace, it is the full path under the mount.
// A file that does not exist (a controller not enabled, the root cgroup) is left out, and so
// is a cgroup mounted nowhere the process can see.
func cgroupLimits(lines []string, mounts []Mount) map[string]string {
	limits := map[string]string{}
	for _, line := range lines {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		controllers, path := parts[1], parts[2]
		m, ok := cgroupMount(mounts, controllers)
		if !ok {
			continue
		}
		dir, ok := cgroupDir(m, path)
		if !ok {
			continue
		}
		files := cgroupV2Files
		if controllers != "" {
			files = cgroupV1Files
		}
		for _, file := range files {
			ctrl, _, _ := strings.Cut(file, ".")
			if _, seen := limits[file]; seen || controllers != "" && !slices.Contains(strings.Split(controllers, ","), ctrl) {
				continue
			}
			if data, err := readFile(filepath.Join(dir, file)); err == nil {
				limits[file] = strings.TrimSpace(string(data))
			}
		}
	}
	return limits
}

// cgroupMount finds where the hierarchy of controllers is mounted: a cgroup2 filesystem for
// "" (the v2 line, "0::/path"), else the v1 cgroup filesystem whose options name those
// controllers. Mounts under /sys/fs/cgroup come first; among those, the last one (a later
// mount on the same point hides the earlier).
func cgroupMount(mounts []Mount, controllers string) (Mount, bool) {
	var found Mount
	ok, under := false, false
	for _, m := range mounts {
		if !isHierarchy(m, controllers) {
			continue
		}
		u := m.MountPoint == "/sys/fs/cgroup" || strings.HasPrefix(m.MountPoint, "/sys/fs/cgroup/")
		if ok && under && !u {
			continue
		}
		found, ok, under = m, true, u
	}
	return found, ok
}

func isHierarchy(m Mount, controllers string) bool {
	if controllers == "" {
		return m.FSType == "cgroup2"
	}
	if m.FSType != "cgroup" {
		return false
	}
	opts := strings.Split(m.SuperOptions, ",")
	for _, c := range strings.Split(controllers, ",") {
		if !slices.Contains(opts, c) {
			return false
		}
	}
	return true
}

// cgroupDir is the directory of the cgroup at path in mount m, if m shows it.
func cgroupDir(m Mount, path string) (string, bool) {
	root := strings.TrimSuffix(m.Root, "/")
	if path != root && !strings.HasPrefix(path, root+"/") {
		return "", false // the cgroup lies outside the part of the hierarchy mounted here
	}
	return filepath.Join(m.MountPoint, strings.TrimPrefix(path, root)), true
}

// cgroupLimitOrder is the order of the limits in the human report: v2's, then v1's, each file
// once (pids.max is both).
var cgroupLimitOrder = func() []string {
	order := append([]string{}, cgroupV2Files...)
	for _, f := range cgroupV1Files {
		if !slices.Contains(order, f) {
			order = append(order, f)
		}
	}
	return order
}()

// cgroupLimitText says a limit's value in words: "unlimited" for "max" (v2), -1 (v1 quota)
// or v1's page-rounded maximum; sizes in MiB; cpu.max as a number of CPUs.
func cgroupLimitText(file, value string) string {
	if value == "max" || value == "-1" {
		return "unlimited"
	}
	switch file {
	case "memory.max", "memory.swap.max", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes":
		n, err := strconv.ParseUint(value, 10, 64)
		switch {
		case err != nil:
		case n >= math.MaxInt64/2: // v1 says "no limit" with the largest page-aligned number
			return "unlimited"
		case n >= 1<<20:
			return fmt.Sprintf("%s (%s MiB)", value, strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64))
		}
	case "cpu.max":
		quota, period, ok := strings.Cut(value, " ")
		q, err1 := strconv.ParseFloat(quota, 64)
		p, err2 := strconv.ParseFloat(period, 64)
		if quota == "max" {
			return value + " (unlimited)"
		}
		if ok && err1 == nil && err2 == nil && p > 0 {
			return fmt.Sprintf("%s (%s CPU)", value, strconv.FormatFloat(q/p, 'f', -1, 64))
		}
	}
	return value
}
