package checks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containkit/contain/internal/probe"
)

func init() {
	register(5,
		Check{
			Name: "the container's root directory is the rootfs",
			Hint: "bind-mount the rootfs onto itself, chdir into it, pivot_root(\".\", \".\"), then unmount the old root (umount2 MNT_DETACH) and chdir(\"/\")",
			Run: func(e *Env) error {
				r, err := e.Report(5)
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
			Name: "the chroot breakout no longer reaches the host",
			Hint: "replace chroot(2) with pivot_root(2), and unmount the old root: while it is mounted, \"..\" still leads to the host's files",
			Run: func(e *Env) error {
				res, marker, err := chrootEscape(e, 5)
				if err != nil {
					return err
				}
				if res.Escaped {
					return fmt.Errorf("after the breakout %s, a file on the host, is visible: / holds %s", marker, strings.Join(res.Root, " "))
				}
				return rootIsRootfs(e, "/ after the breakout attempt", res.Root)
			},
		},
		Check{
			Name: "the host's old root is unmounted",
			Hint: "after pivot_root(\".\", \".\") the old root is mounted on top of the new one, where you stand: make it rslave, then unix.Unmount(\".\", unix.MNT_DETACH)",
			Run: func(e *Env) error {
				host, err := Host()
				if err != nil && host == nil {
					return err
				}
				r, err := e.Report(5)
				if err != nil {
					return err
				}
				return noHostMounts(e, host, r)
			},
		},
		Check{
			Name: "the container's proc lists only its own processes",
			Hint: "isolate.MountProc() must run after the root has changed, so that it mounts on the rootfs's /proc",
			Run: func(e *Env) error {
				r, err := e.Report(5)
				if err != nil {
					return err
				}
				return onlyPid1(r)
			},
		},
		hostnameCheck(5, "the container has its own hostname",
			"isolate.SetHostname(hostname) in the child, in a new uts namespace (step 01)"),
		Check{
			Name: "the null device works (the rootfs's /dev came along)",
			Hint: "bind-mount the rootfs onto itself with unix.MS_BIND|unix.MS_REC: without MS_REC the tmpfs that isolate.MakeDev mounted on ROOTFS/dev stays behind, and /dev is the image's own",
			Run:  nullDeviceWorks,
		},
	)
}

// noHostMounts checks the container's mount table for what the old root would leave: the host's
// root filesystem itself (the same device and directory as the host's "/" mount), or any mount
// on a path that the rootfs does not have (the host's /sys/fs/cgroup/..., or anything under a
// put_old directory). Mounts made inside the rootfs (/, /dev, /proc) are on paths it has.
func noHostMounts(e *Env, host, r *probe.Report) error {
	hostRoot, ok := rootMount(host.Mounts)
	if !ok {
		return errors.New("the host's mount table has no \"/\": cannot tell the host's root filesystem")
	}
	if len(r.Mounts) == 0 {
		return fmt.Errorf("the container's mount table is empty or unreadable (%s): is proc mounted on /proc?", strings.Join(r.Errors, "; "))
	}
	var foreign []string
	for _, m := range r.Mounts {
		if m.Major == hostRoot.Major && m.Minor == hostRoot.Minor && m.Root == hostRoot.Root {
			return fmt.Errorf("the host's root filesystem (%d:%d %s) is still mounted in the container, at %s", m.Major, m.Minor, m.Root, m.MountPoint)
		}
		if _, err := os.Lstat(filepath.Join(e.Rootfs, m.MountPoint)); err != nil {
			foreign = append(foreign, m.MountPoint)
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("%d mount(s) on paths the rootfs does not have, the host's: %s", len(foreign), strings.Join(foreign[:min(len(foreign), 5)], " "))
	}
	return nil
}

// rootMount is the mount the process sees as "/": of the mounts on "/", the one that no other
// is mounted on top of.
func rootMount(mounts []probe.Mount) (probe.Mount, bool) {
	for _, m := range mounts {
		if m.MountPoint != "/" {
			continue
		}
		covered := false
		for _, above := range mounts {
			covered = covered || (above.MountPoint == "/" && above.Parent == m.ID && above.ID != m.ID)
		}
		if !covered {
			return m, true
		}
	}
	return probe.Mount{}, false
}
