// Package cgroups puts a container in a control group and sets its resource limits.
//
// Two drivers sit behind one small interface, [Manager]:
//
//   - v2: one unified hierarchy (Documentation/admin-guide/cgroup-v2.rst). A container is one
//     directory; limits are files such as memory.max and pids.max; a process is started
//     directly inside with clone3(CLONE_INTO_CGROUP), so nothing it does escapes the limits.
//   - v1: one hierarchy per controller (cgroups(7), "Cgroups version 1"). A container is one
//     directory in each (memory, pids, cpu, ...); the process joins each before it execs. On a
//     hybrid host the cgroup2 hierarchy mounted beside them (/sys/fs/cgroup/unified) is one
//     more place to join, and the home of controllers that live only there (hugetlb here).
//
// [Open] picks the driver by looking at the host: the filesystem type of /sys/fs/cgroup
// (statfs(2): cgroup2 means pure v2) and, on v1, which hierarchies are mounted under it. The
// drivers take their mount directories as parameters, so their file writes are tested
// against a temporary directory, no root and no global test switch needed.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where the host mounts its cgroup hierarchies.
const DefaultRoot = "/sys/fs/cgroup"

// DefaultParent holds the cgroups of containers whose spec names no cgroupsPath, and is the
// base of relative ones (runtime-spec config-linux.md: "the runtime MAY interpret the path
// relative to a runtime-determined location"). It is the runtime's own cgroup, like the state
// root /run/contain: made by the first container and then kept, empty, so that each
// container costs one mkdir and one rmdir per hierarchy, not two of each (a cgroup mkdir
// builds a state for every controller; on a v1 host that is 11 hierarchies). `workshop
// reset` removes it.
const DefaultParent = "/contain"

// Manager is one container's cgroup.
type Manager interface {
	// Version is 1 or 2.
	Version() int
	// Path is the cgroup's path inside each hierarchy, such as /contain/ID.
	Path() string
	// Missing lists the cgroup and its ancestors that do not exist yet, parents first: what
	// Create will make and the container owns (DefaultParent, kept, is left out). Recording
	// it first lets a later Destroy remove exactly that. exists reports that the cgroup
	// itself is there already, in any hierarchy: one pass of look-ups answers both.
	Missing() (missing []string, exists bool)
	// Create makes the cgroup and applies r. On failure it removes what it made. The
	// warnings name settings this host cannot apply and that the runtime skipped.
	Create(r *specs.LinuxResources) (warnings []string, err error)
	// Update applies r to an existing cgroup; only the fields r sets change.
	Update(r *specs.LinuxResources) (warnings []string, err error)
	// Dir is the cgroup's directory on v2, where a process joins by being cloned into it
	// (CLONE_INTO_CGROUP), or "" on v1, where it joins by writing to JoinFiles.
	Dir() string
	// JoinFiles are the cgroup.procs files a process writes "0" into to join, beyond Dir.
	JoinFiles() []string
	// CloneDir is the cgroup2 directory a new process can be cloned into: Dir on v2, the
	// cgroup's part in the cgroup2 hierarchy of a hybrid host, "" on a pure v1 host.
	CloneDir() string
	// TaskFiles are the v1 "tasks" files a thread writes "0" into to move itself, alone, into
	// the cgroup of each v1 hierarchy (see JoinSelf); none on v2.
	TaskFiles() []string
	// Pids lists the processes in the cgroup.
	Pids() ([]int, error)
	// Freeze stops every process in the cgroup (freeze true) or lets them run again.
	Freeze(freeze bool) error
	// Frozen reports whether the cgroup is frozen (the container paused); on v2 by its own
	// cgroup.freeze, not a parent's.
	Frozen() (bool, error)
	// Kill sends SIGKILL to every process in the cgroup.
	Kill() error
	// Destroy removes the cgroup once its processes are gone, then those of owned (paths
	// from Missing) that are empty. A cgroup that does not exist is not an error.
	Destroy(owned []string) error
	// Exists reports whether the cgroup's directory exists.
	Exists() bool
	// Stats reads what the cgroup's processes have used (see [Stats]).
	Stats() (*Stats, error)
	// WatchOOM starts watching for the OOM killer's kills in the cgroup (see [OOMWatch]).
	WatchOOM() (*OOMWatch, error)
	// LimitCounts reads what the memory and pids controllers counted in the cgroup (see
	// [LimitCounts]).
	LimitCounts() (LimitCounts, error)
}

// Open returns the manager for the cgroup at path (see [Resolve]) under the host's
// hierarchies mounted at root, with the driver the host calls for.
func Open(root, cgPath string) (Manager, error) {
	fs, err := fsType(root)
	if err != nil {
		return nil, err
	}
	if fs == unix.CGROUP2_SUPER_MAGIC {
		return NewV2(root, cgPath), nil
	}
	hierarchies, unified, err := findHierarchies(root)
	if err != nil {
		return nil, err
	}
	if len(hierarchies) == 0 {
		return nil, fmt.Errorf("%s: no cgroup hierarchy mounted (neither cgroup2 nor v1 controllers)", root)
	}
	return NewV1(hierarchies, unified, cgPath), nil
}

// findHierarchies lists the v1 hierarchies mounted in root's subdirectories, by controller
// name (the directory cpu,cpuacct serves both cpu and cpuacct; name=systemd is "systemd"),
// and the cgroup2 mount beside them on a hybrid host.
func findHierarchies(root string) (map[string]string, string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, "", err
	}
	hierarchies := map[string]string{}
	unified := ""
	for _, e := range entries {
		if !e.IsDir() { // symlinks such as cpu -> cpu,cpuacct name the same hierarchy again
			continue
		}
		dir := filepath.Join(root, e.Name())
		fs, err := fsType(dir)
		if err != nil {
			continue
		}
		switch fs {
		case unix.CGROUP_SUPER_MAGIC:
			for _, c := range strings.Split(e.Name(), ",") {
				hierarchies[c] = dir
			}
		case unix.CGROUP2_SUPER_MAGIC:
			unified = dir
		}
	}
	return hierarchies, unified, nil
}

// IsV2 reports whether root is a pure cgroup v2 mount.
func IsV2(root string) bool {
	fs, err := fsType(root)
	return err == nil && fs == unix.CGROUP2_SUPER_MAGIC
}

// Resolve turns a spec's cgroupsPath into the cgroup path the container gets: the path
// itself when absolute, DefaultParent/cgroupsPath when relative, DefaultParent/ID when
// empty. Any ".." is refused, so that no path lands outside the cgroup mount, as is the
// systemd "slice:prefix:name" form, which needs the systemd driver this runtime lacks.
func Resolve(cgroupsPath, id string) (string, error) {
	if cgroupsPath == "" {
		return path.Join(DefaultParent, id), nil
	}
	for _, elem := range strings.Split(cgroupsPath, "/") {
		if elem == ".." {
			return "", fmt.Errorf("linux.cgroupsPath %q: \"..\" is not allowed", cgroupsPath)
		}
	}
	if strings.Count(cgroupsPath, ":") == 2 && !strings.HasPrefix(cgroupsPath, "/") {
		return "", fmt.Errorf("linux.cgroupsPath %q is a systemd slice:prefix:name path (give a cgroupfs path such as /mygroup/%s): %w", cgroupsPath, id, ErrNoSystemdDriver)
	}
	if !path.IsAbs(cgroupsPath) {
		cgroupsPath = path.Join(DefaultParent, cgroupsPath)
	}
	p := path.Clean(cgroupsPath)
	if p == "/" {
		return "", fmt.Errorf("linux.cgroupsPath %q: the root cgroup cannot be a container's", cgroupsPath)
	}
	if p == DefaultParent {
		// Every container with no cgroupsPath of its own lives below it: owning it, one
		// container's limits would cap them all, its pause freeze them, its delete kill them.
		return "", fmt.Errorf("linux.cgroupsPath %q: %s is the parent of every container's cgroup, never one container's", cgroupsPath, DefaultParent)
	}
	return p, nil
}

// create is both drivers' Create: make the directories, then apply r; on a failure, remove
// the cgroup again (its new ancestors are the caller's, who recorded them: see Missing).
func create(c Manager, makeDirs func() error, r *specs.LinuxResources) ([]string, error) {
	err := makeDirs()
	var warnings []string
	if err == nil {
		warnings, err = c.Update(r)
	}
	if errors.Is(err, ErrExists) {
		return nil, err // makeDirs undid its own mkdirs; the directory there is not ours
	}
	if err != nil {
		if derr := c.Destroy(nil); derr != nil {
			err = errors.Join(err, fmt.Errorf("and the cgroup it made stays: %w", derr))
		}
		return nil, err
	}
	return warnings, nil
}

// owned drops DefaultParent from the directories a container will make: the container
// makes it when it is missing but does not own it (see DefaultParent).
func owned(missing []string) []string {
	return slices.DeleteFunc(missing, func(p string) bool { return p == DefaultParent })
}

// missingDirs lists cgPath and its ancestors that do not exist under mount, parents first.
// DefaultParent, never owned, is not looked at: every look-up in a cgroup hierarchy waits
// while another container's mkdir or rmdir there holds the hierarchy's lock (kernfs).
func missingDirs(mount, cgPath string) []string {
	var missing []string
	for p := cgPath; p != "/" && p != "."; p = path.Dir(p) {
		if p == DefaultParent && p != cgPath {
			break
		}
		if pathExists(filepath.Join(mount, p)) {
			break
		}
		missing = append([]string{p}, missing...)
	}
	return missing
}

// ErrNoSystemdDriver is the answer to an engine that drives its runtimes' cgroups through
// systemd (runc's --systemd-cgroup, and slice:prefix:name paths): this runtime makes them
// itself, in cgroupfs, which such an engine does not expect, so it says how to switch the
// engine over rather than make a cgroup behind systemd's back.
var ErrNoSystemdDriver = errors.New("contain has no systemd cgroup driver, it makes cgroups in cgroupfs: " +
	"run the engine with its cgroupfs driver (podman: --cgroup-manager cgroupfs, or cgroup_manager = \"cgroupfs\" " +
	"in containers.conf; containerd: SystemdCgroup = false)")

// ErrExists says that a container's own cgroup directory was there already when Create made
// it: another container's, made between the caller's look (Missing) and this mkdir, as when
// two creates name one linux.cgroupsPath. Nothing of it is the caller's to kill or remove.
var ErrExists = errors.New("cgroup exists already: is another container using it?")

// mkdirAll makes cgPath, which must not exist (ErrExists), and its missing ancestors under
// mount, which may. A concurrent Destroy of another container may remove a shared empty
// parent between two mkdirs; a retry makes it again. It returns the directories it made,
// parents first, also on an error, for the caller to take back (unmake): DefaultParent,
// which every container shares and none owns, is never among them.
func mkdirAll(mount, cgPath string) ([]string, error) {
	var made []string
	var err error
	for try := 0; try < 5; try++ {
		if made, err = mkdirPath(mount, cgPath, true, made); !errors.Is(err, os.ErrNotExist) {
			return made, err
		}
	}
	return made, err
}

// mkdirPath tries the mkdir first and makes the parent only when it is missing (ENOENT):
// the parent is there almost always, and no stat before each mkdir means fewer look-ups in
// the hierarchy (see missingDirs). An existing directory is an error only when exclusive.
// It appends to made each directory it made.
func mkdirPath(mount, cgPath string, exclusive bool, made []string) ([]string, error) {
	dir := filepath.Join(mount, cgPath)
	err := mkdir(dir)
	if err == unix.ENOENT {
		if parent := path.Dir(cgPath); parent != "/" && parent != "." {
			var perr error
			if made, perr = mkdirPath(mount, parent, false, made); perr != nil {
				return made, perr
			}
			err = mkdir(dir)
		}
	}
	switch {
	case err == nil:
		if cgPath != DefaultParent {
			made = append(made, dir)
		}
	case err == unix.EEXIST && exclusive:
		return made, &os.PathError{Op: "mkdir", Path: dir, Err: ErrExists}
	case err != unix.EEXIST:
		return made, &os.PathError{Op: "mkdir", Path: dir, Err: hint("mkdir", err)}
	}
	return made, nil
}

// unmake takes back the directories a Create made (mkdirAll's list), deepest first, when the
// cgroup turned out to be another container's (ErrExists). A directory another container
// has made a cgroup in since is not empty, and stays.
func unmake(made []string) {
	for i := len(made) - 1; i >= 0; i-- {
		rmdir(made[i])
	}
}

// removeDirs removes the cgroup directories of one container in one hierarchy: the cgroup
// itself (waiting for exiting processes), then each owned ancestor that is empty, deepest
// first.
func removeDirs(mount, cgPath string, made []string) error {
	if err := rmdirWait(filepath.Join(mount, cgPath)); err != nil {
		return err
	}
	for i := len(made) - 1; i >= 0; i-- {
		if made[i] == cgPath || made[i] == DefaultParent || !strings.HasPrefix(cgPath, made[i]+"/") {
			continue
		}
		// Busy or not empty means another container still uses it: leave it.
		rmdir(filepath.Join(mount, made[i]))
	}
	return nil
}
