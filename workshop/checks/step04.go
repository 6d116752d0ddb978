package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containkit/contain/internal/probe"
)

func init() {
	register(4,
		Check{
			Name: "the container's root directory is the rootfs",
			Hint: "the child must chroot(2) into the rootfs (unix.Chroot), then chdir(\"/\"); \"probe not found\" means the command still looks for it among the host's files",
			Run: func(e *Env) error {
				r, err := e.Report(4)
				if err != nil {
					return err
				}
				if err := rootIsRootfs(e, "/", r.Root); err != nil {
					return err
				}
				return cwdIsRoot(r)
			},
		},
		Check{
			Name: "a directory on the host is out of sight",
			Hint: "after chroot(2) every absolute path starts at the rootfs: the child must chroot before it execs the command",
			Run: func(e *Env) error {
				marker, err := hostMarker(e)
				if err != nil {
					return err
				}
				defer os.RemoveAll(filepath.Dir(marker))
				var ls probe.LsResult
				if err := e.Action(4, &ls, "ls", filepath.Dir(marker)); err != nil {
					return err
				}
				if ls.OK {
					return fmt.Errorf("the command lists %s, a directory made on the host: it sees the host's files", filepath.Dir(marker))
				}
				return nil
			},
		},
		Check{
			Name: "the container's proc lists only its own processes, and is mounted nosuid, nodev, noexec",
			Hint: "mount a fresh proc on /proc after the chroot (unix.Mount(\"proc\", \"/proc\", \"proc\", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, \"\")): " +
				"procfs shows the pid namespace of whoever mounts it, and needs no setuid program, device or executable",
			Run: func(e *Env) error {
				r, err := e.Report(4)
				if err != nil {
					return err
				}
				if err := onlyPid1(r); err != nil {
					return err
				}
				return mountedWith(r, "/proc", "nosuid", "nodev", "noexec")
			},
		},
		Check{
			Name: "the null device works (a character device, not a file)",
			Hint: "isolate.MakeDev(rootfs) must run before the root changes: it mounts a tmpfs on ROOTFS/dev and makes the nodes",
			Run:  nullDeviceWorks,
		},
		Check{
			Name: "the chroot breakout reaches the host (chroot is not a wall)",
			Hint: "this is the lesson, not a bug: chroot(2) changes the root of one process, not the mount namespace, so the host's tree is still mounted " +
				"and a root process can chroot deeper and walk \"..\" back out; step 05 closes this with pivot_root(2)",
			Run: func(e *Env) error {
				res, marker, err := chrootEscape(e, 4)
				if err != nil {
					return err
				}
				if !res.Escaped {
					return fmt.Errorf("after the breakout %s is not visible: / holds %s; with chroot(2) it should be", marker, strings.Join(res.Root, " "))
				}
				return nil
			},
		},
	)
}

// rootfsNames lists the top-level names of the check's rootfs as it was built, which the
// container's / should show: a program that leaves something there (pivot_root's put_old
// directory, say) shows it in / and in the rootfs alike, and a look at the rootfs now would
// not tell.
func rootfsNames(e *Env) ([]string, error) {
	if e.rootNames != nil {
		return e.rootNames, nil
	}
	return listNames(e.Rootfs)
}

// listNames lists the names in dir, sorted.
func listNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, entry := range entries {
		names = append(names, entry.Name())
	}
	return names, nil
}

// rootIsRootfs checks that names (a listing of the container's path) are the rootfs's own.
func rootIsRootfs(e *Env, path string, names []string) error {
	want, err := rootfsNames(e)
	if err != nil {
		return err
	}
	if !slices.Equal(names, want) {
		return fmt.Errorf("%s inside holds %s; the rootfs holds %s", path, strings.Join(names, " "), strings.Join(want, " "))
	}
	return nil
}

// nullDeviceWorks checks that /dev/null inside is the null device: a write to a plain file there
// would land in the image.
func nullDeviceWorks(e *Env) error {
	out, err := e.Run("", "/bin/sh", "-c", "[ -c /dev/null ] && echo x >/dev/null && echo ok")
	if err != nil {
		return err
	}
	if out.Stdout != "ok\n" {
		return fmt.Errorf("sh -c '[ -c /dev/null ] && echo x >/dev/null && echo ok' printed %q (exit %d, stderr: %s)",
			out.Stdout, out.Code, firstLine(out.Stderr))
	}
	return nil
}

// mountedWith checks that the last mount on path inside (the one the container sees) has each
// of the per-mount options want ("ro", "nosuid", ...): the flags a lesson asks for.
func mountedWith(r *probe.Report, path string, want ...string) error {
	for _, m := range slices.Backward(r.Mounts) {
		if m.MountPoint != path {
			continue
		}
		have := strings.Split(m.Options, ",")
		var missing []string
		for _, o := range want {
			if !slices.Contains(have, o) {
				missing = append(missing, o)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s (%s) is mounted %s: it lacks %s", path, m.FSType, m.Options, strings.Join(missing, ", "))
		}
		return nil
	}
	return fmt.Errorf("nothing is mounted on %s inside", path)
}

// cwdIsRoot checks that the command starts in its new root. chroot(2) and pivot_root(2) leave
// the working directory of the caller alone: without chdir("/") after them it stays on the
// host, where getcwd(2) shows it as "(unreachable)/..." and ".." walks the host's tree.
func cwdIsRoot(r *probe.Report) error {
	if r.Cwd != "/" {
		return fmt.Errorf("the command starts in %q, not in / of the rootfs: its working directory is still the host's (chdir(\"/\") after the root changes)", r.Cwd)
	}
	return nil
}

// onlyPid1 checks that /proc in the container lists exactly one process, the command, as pid 1.
func onlyPid1(r *probe.Report) error {
	switch {
	case len(r.Pids) == 0:
		return fmt.Errorf("/proc lists no process: nothing is mounted on the rootfs's /proc")
	case !slices.Equal(r.Pids, []int{1}):
		return fmt.Errorf("/proc lists %d processes (%v...): want only the command, pid 1", len(r.Pids), r.Pids[:min(len(r.Pids), 5)])
	}
	return nil
}

// hostMarker makes a file on the host, outside the rootfs, in a directory of its own (the
// caller removes it), and returns its path.
func hostMarker(e *Env) (string, error) {
	dir, err := os.MkdirTemp(e.Dir, "host-only-")
	if err != nil {
		return "", err
	}
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte("on the host\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return marker, nil
}

// chrootEscape runs `probe chroot-escape` through the step, aimed at a marker file made on the
// host, and fails when the attempt could not be made at all.
func chrootEscape(e *Env, step int) (probe.EscapeResult, string, error) {
	var res probe.EscapeResult
	marker, err := hostMarker(e)
	if err != nil {
		return res, "", err
	}
	defer os.RemoveAll(filepath.Dir(marker))
	if err := e.Action(step, &res, "chroot-escape", marker); err != nil {
		return res, marker, err
	}
	if !res.OK || !res.Chrooted {
		return res, marker, fmt.Errorf("probe chroot-escape could not try the breakout: %s", res.Error)
	}
	return res, marker, nil
}
