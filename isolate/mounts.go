package isolate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MakeMountsPrivate stops mount events from crossing between this mount namespace and the
// one it was copied from: without it, on a host whose / is shared (every systemd host), the
// container's mounts would appear on the host. See mount_namespaces(7).
// Taught in steps/03-mount-ns.
func MakeMountsPrivate() error {
	return setPropagation("/", unix.MS_REC|unix.MS_PRIVATE)
}

func setPropagation(path string, flags uintptr) error {
	if err := unix.Mount("", path, "", flags, ""); err != nil {
		return &pathError{"mount", path, fmt.Errorf("set propagation: %w", err)}
	}
	return nil
}

// rootfsPropagation maps linux.rootfsPropagation to mount flags; private by default.
func rootfsPropagation(value string) uintptr {
	if value == "" {
		return unix.MS_REC | unix.MS_PRIVATE
	}
	return propagationOptions[value]
}

// rootBaseline is the propagation every mount of the new mount namespace gets before the
// container's are made (mount_namespaces(7)). Private by default (runc starts from rslave):
// no mount event crosses between the host and the container. A rootfsPropagation of slave makes the
// copied mounts slaves of the host's: the host's events reach the container
// (config-linux.md), and none go back, since a slave sends nothing to its master. Shared
// keeps them in the host's peer groups, so that a bind mount of a shared host directory
// sends the container's mounts below it to the host (what Kubernetes' Bidirectional
// volumes ask for); the rootfs itself is bound from a private mount (see
// makeParentMountPrivate), so the container's own mounts stay its own.
func rootBaseline(value string) uintptr {
	switch value {
	case "slave", "rslave":
		return unix.MS_REC | unix.MS_SLAVE
	case "shared", "rshared":
		return unix.MS_REC | unix.MS_SHARED
	}
	return unix.MS_REC | unix.MS_PRIVATE
}

// makeParentMountPrivate makes the mount that holds rootfs private: pivot_root(2) refuses a
// new root whose parent mount is shared (EINVAL), and the bind of the rootfs onto itself
// copies that mount's propagation.
func makeParentMountPrivate(rootfs string) error {
	point, err := mountPointOf(rootfs)
	if err != nil {
		return err
	}
	return setPropagation(point, unix.MS_PRIVATE)
}

// mountPointOf finds where the mount that holds path is mounted: the highest of path's
// ancestors on the same mount (statx(2) STATX_MNT_ID), so no mountinfo needs parsing.
func mountPointOf(path string) (string, error) {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	id, err := mountID(path)
	if err != nil {
		return "", err
	}
	for path != "/" {
		parentID, err := mountID(filepath.Dir(path))
		if err != nil {
			return "", err
		}
		if parentID != id {
			break
		}
		path = filepath.Dir(path)
	}
	return path, nil
}

// mountID is the id of the mount that holds path, as mountinfo numbers it.
func mountID(path string) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, &pathError{"statx", path, err}
	}
	return stx.Mnt_id, nil
}

// BindRootfs bind-mounts the rootfs onto itself: pivot_root(2) needs the new root to be a
// mount point, and a directory is not one until something is mounted on it.
// Taught in steps/05-pivot-root.
func BindRootfs(rootfs string) error {
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return &pathError{"mount", rootfs, fmt.Errorf("bind onto itself: %w", err)}
	}
	return nil
}

// mounter mounts a spec's mounts inside the rootfs, before pivot_root.
type mounter struct {
	rootfd int    // the rootfs, after BindRootfs
	bundle string // relative bind sources are relative to the bundle
	spec   *specs.Spec
	// devFS is the device number (st_dev) of the filesystem last mounted on /dev, which
	// makeDevices checks its directories against; 0 when no filesystem was mounted there.
	devFS uint64
	// cgroupPath is the container's cgroup in every hierarchy, from the runtime (cgroupMount).
	cgroupPath string
	// readOnlyLater are the read-only tmpfs and /dev mounts, made writable until
	// finishReadOnly: see fsMount.
	readOnlyLater []laterReadOnly
	// later, for a direct start, takes the mounts that must be made from inside the
	// container's pid or cgroup namespace, resolved and unmounted (see resolveLater and
	// direct.go).
	later *laterMounts
}

// laterReadOnly is a mount that finishReadOnly makes read-only: an O_PATH fd of its root, and
// whether every mount below it goes read-only too ("rro").
type laterReadOnly struct {
	fd        int
	dest      string
	recursive bool
}

// finishReadOnly makes the mounts fsMount left writable read-only, once everything below them
// is made (mount points, devices, the working directory), and closes their fds.
func (m *mounter) finishReadOnly() error {
	defer m.closeReadOnlyLater()
	for _, l := range m.readOnlyLater {
		if err := setAttrAt(l.fd, l.dest, readOnly, l.recursive); err != nil {
			return err
		}
	}
	return nil
}

// closeReadOnlyLater closes the fds finishReadOnly did not get to.
func (m *mounter) closeReadOnlyLater() {
	for _, l := range m.readOnlyLater {
		unix.Close(l.fd)
	}
	m.readOnlyLater = nil
}

// mountAll mounts the spec's mounts in order, with a fresh tmpfs on /dev first when the spec
// has no /dev of its own: the runtime owns /dev and never trusts the image's.
func (m *mounter) mountAll() error {
	mounts := m.spec.Mounts
	if !hasMount(mounts, "/dev") {
		devMount := specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}}
		mounts = append([]specs.Mount{devMount}, mounts...)
	}
	for _, mnt := range mounts {
		mnt.Destination = mountDestination(mnt)
		if err := m.mount(mnt); err != nil {
			return err
		}
	}
	return nil
}

// mountPoint makes mnt's destination exist inside the rootfs (a directory, or a file for a
// bind of a file) and returns an O_PATH handle on it, refusing one that landed on the
// container's root (see isRoot), inside its /proc (see procDestination), or in its /sys
// through the image's symlinks (see sysDestination).
func (m *mounter) mountPoint(mnt specs.Mount, dir bool) (int, error) {
	fd, err := ensureInRoot(m.rootfd, mnt.Destination, dir)
	if err != nil {
		return -1, err
	}
	if m.isRoot(fd) {
		unix.Close(fd)
		return -1, errors.New("the destination is the container's root, through the image's symlinks: refused (a mount there would become the root, and hide the runtime's /proc, /sys and /dev and every mask)")
	}
	if kernelFS(mnt) && !m.namedAsIs(fd, mountDestination(mnt)) {
		// The check in mount, again on the very fd: a process that shares a volume on the
		// way could have made a component a symlink since.
		unix.Close(fd)
		return -1, errors.New("the destination is a symlink in the image, or leads through one (refused)")
	}
	if err := m.procDestination(fd, mnt); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := m.sysDestination(fd, mnt); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// kernelFS says whether mnt puts the kernel's files in the container: a proc or sysfs mount,
// or any mount (a bind of a procfs, as podman's -v /proc:/proc) on /proc or /sys.
func kernelFS(mnt specs.Mount) bool {
	dest := mountDestination(mnt)
	return mnt.Type == "proc" || mnt.Type == "sysfs" || dest == "/proc" || dest == "/sys"
}

// isRoot says whether fd is the rootfs's top directory. Validate refuses "/" as a destination,
// but an image's symlink (/data -> /, or ../..) leads there too; mounted on, the new
// filesystem would be what pivot_root makes the root, and the mounts made before it, and
// the masks and read-only paths after, would miss the container's view.
func (m *mounter) isRoot(fd int) bool { return sameFile(fd, m.rootfd) }

// sameFile says whether fds a and b hold the same file.
func sameFile(a, b int) bool {
	var sa, sb unix.Stat_t
	return unix.Fstat(a, &sa) == nil && unix.Fstat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// procMountable are the files in /proc a mount may cover: those lxcfs emulates, which runc
// allows too (its checkProcMount).
var procMountable = []string{"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
	"/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
	"/proc/sys/kernel/ns_last_pid"}

// procDestination refuses a mount whose destination, resolved, is inside a proc filesystem
// already mounted in the container, as runc does: the image's symlinks decide where a
// destination leads (an image's /data -> /proc/sys/kernel with a volume at /data), and a
// mount there would put files of the container's choosing where the runtime later writes
// (sysctls) and masks (maskedPaths). A proc mount on /proc itself is let be, and so are the
// files lxcfs covers, named as they are, with no symlink on the way.
func (m *mounter) procDestination(fd int, mnt specs.Mount) error {
	if m.later != nil {
		return m.laterProcDestination(fd, mnt)
	}
	if kind, err := fsType(fd, mnt.Destination); err != nil || kind != unix.PROC_SUPER_MAGIC {
		return err
	}
	dest := mountDestination(mnt)
	if dest == "/proc" && mnt.Type == "proc" || slices.Contains(procMountable, dest) && m.namedAsIs(fd, dest) {
		return nil
	}
	return fmt.Errorf("the destination is inside the container's /proc: refused (only the files lxcfs covers may be mounted over, as in runc: %s)", strings.Join(procMountable, ", "))
}

// laterProcDestination is procDestination for a direct start, whose /proc is mounted last
// (see direct.go): a destination at or below a proc mount point met before it in the
// spec's order, where init would find procfs, is refused. The proc mount itself is let be;
// no other mount is named inside /proc on a direct start (directStartRefusal).
func (m *mounter) laterProcDestination(fd int, mnt specs.Mount) error {
	var procs []unix.Stat_t
	for _, l := range *m.later {
		var st unix.Stat_t
		if l.mnt.Type == "proc" && unix.Fstat(l.fd, &st) == nil {
			procs = append(procs, st)
		}
	}
	if len(procs) == 0 || mnt.Type == "proc" && mountDestination(mnt) == "/proc" {
		return nil
	}
	in, err := below(fd, m.rootfd, procs)
	if err != nil {
		return &pathError{"open", mnt.Destination + "/..", err}
	}
	if in {
		return errors.New("the destination is inside the container's /proc: refused (it leads there through the image's symlinks)")
	}
	return nil
}

// below says whether the file fd holds is one of dirs or inside one, walking up through
// ".." to the root open on root.
func below(fd, root int, dirs []unix.Stat_t) (bool, error) {
	cur, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer func() { unix.Close(cur) }()
	for range 4096 { // deeper than any path a mount takes
		var st unix.Stat_t
		if err := unix.Fstat(cur, &st); err != nil {
			return false, err
		}
		for _, d := range dirs {
			if st.Dev == d.Dev && st.Ino == d.Ino {
				return true, nil
			}
		}
		if sameFile(cur, root) {
			return false, nil
		}
		parent, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return false, err
		}
		top := sameFile(parent, cur) // the filesystem's root: nowhere further up
		unix.Close(cur)
		cur = parent
		if top {
			return false, nil
		}
	}
	return false, nil
}

// sysDestination refuses a mount whose destination leads into the container's /sys through
// the image's symlinks (an image's /data -> /sys/kernel/mm with a volume or a tmpfs at /data):
// a tmpfs with tmpcopyup there is filled by init, which still holds every capability, with
// what the host's sysfs shows such a reader, and the container gets a writable copy of a part
// of /sys. A destination the spec names inside /sys as it is (/sys/fs/cgroup) is the spec's
// to give.
func (m *mounter) sysDestination(fd int, mnt specs.Mount) error {
	if kind, err := fsType(fd, mnt.Destination); err != nil || kind != unix.SYSFS_MAGIC {
		return err
	}
	if m.namedAsIs(fd, mountDestination(mnt)) {
		return nil
	}
	return errors.New("the destination leads into the container's /sys through the image's symlinks: refused")
}

// namedAsIs says whether path, resolved inside the rootfs without following any symlink, is
// the file fd holds.
func (m *mounter) namedAsIs(fd int, path string) bool {
	rel := strings.TrimPrefix(filepath.Clean(path), "/")
	direct, err := unix.Openat2(m.rootfd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return false
	}
	defer unix.Close(direct)
	return sameFile(fd, direct)
}

// mountDestination is a mount's destination as an absolute path: config.md still allows a
// relative one (deprecated), taken as relative to "/".
func mountDestination(m specs.Mount) string {
	return filepath.Join("/", m.Destination)
}

func hasMount(mounts []specs.Mount, dest string) bool {
	for _, m := range mounts {
		if mountDestination(m) == dest {
			return true
		}
	}
	return false
}

// mount performs one spec mount.
func (m *mounter) mount(mnt specs.Mount) error {
	opts, err := parseMountOptions(mnt.Options)
	if err != nil {
		return fmt.Errorf("mount %s: %w", mnt.Destination, err)
	}
	if kernelFS(mnt) {
		// A /proc that is a symlink could send the kernel's files anywhere in the image, where
		// maskedPaths would no longer cover them. runc and crun refuse it too. Checked first,
		// before anything is made on the way; mountPoint checks again, on the fd it mounts on.
		link, err := isSymlinkInRoot(m.rootfd, mnt.Destination)
		if err != nil {
			return err
		}
		if link {
			return fmt.Errorf("mount %s on %s: the destination is a symlink in the image (refused)", mnt.Type, mnt.Destination)
		}
	}
	if mnt.Type == "bind" || opts.bind {
		return m.bindMount(mnt, opts)
	}
	switch mnt.Type {
	case "cgroup", "cgroup2":
		return m.cgroupMount(mnt, opts)
	}
	return m.fsMount(mnt, opts)
}

// fsMount mounts a filesystem by type: proc, sysfs, tmpfs, devpts, mqueue, ...
func (m *mounter) fsMount(mnt specs.Mount, opts mountOptions) error {
	if m.later != nil && m.mountsLater(mnt) {
		return m.resolveLater(mnt, opts)
	}
	// A directory made here has nothing to copy up, and no owner or mode the tmpfs should take
	// over from it: tmpfs's own (1777, or mode=) stand, as in runc. /dev: see mountWarnings.
	copyingUp := opts.tmpcopyup && mnt.Type == "tmpfs" && mountDestination(mnt) != "/dev" && m.existsInRoot(mnt.Destination)
	fd, err := m.mountPoint(mnt, true)
	if err != nil {
		return fmt.Errorf("mount %s: %w", mnt.Destination, err)
	}
	defer unix.Close(fd)
	parent, base, err := entryOf(fd, mnt.Destination)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	covered := -1
	if copyingUp {
		// Opened before the mount, this fd still reads the directory the tmpfs will cover.
		if covered, err = unix.Open(fdPath(fd), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return &pathError{"open", mnt.Destination, fmt.Errorf("tmpcopyup: %w", err)}
		}
		defer unix.Close(covered)
	}
	// A read-only tmpfs, or /dev, still takes what goes below it: the copy of what it covers
	// (tmpcopyup), the mount points of later mounts (a ro tmpfs on /run with a bind on
	// /run/secrets), /dev's devices, pts and shm, the working directory. It is made read-only
	// once those are in (finishReadOnly), as runc does in finalizeRootfs.
	later := opts.endsReadOnly() && (mnt.Type == "tmpfs" || mountDestination(mnt) == "/dev")
	if err := mountOn(fd, mnt, opts, later); err != nil {
		return err
	}
	top, err := mountedAt(parent, base, mnt.Destination)
	if err != nil {
		return err
	}
	defer unix.Close(top)
	if covered >= 0 {
		if err := copyUp(covered, top, mnt.Destination, opts); err != nil {
			return err
		}
	}
	return m.finishFSMount(top, mnt, opts, later)
}

// mountsLater says whether a direct start makes mnt once the container's first process
// exists (see direct.go): a procfs shows the pid namespace it is mounted for, a cgroup
// filesystem the cgroup namespace of whoever mounts it.
func (m *mounter) mountsLater(mnt specs.Mount) bool {
	cgroupFS := mnt.Type == "cgroup" || mnt.Type == "cgroup2"
	return mnt.Type == "proc" || cgroupFS && hasNewNamespace(m.spec, specs.CgroupNamespace)
}

// resolveLater does what fsMount does before the mount, and leaves the mount to a direct
// start's thread in the container's namespaces.
func (m *mounter) resolveLater(mnt specs.Mount, opts mountOptions) error {
	fd, err := m.mountPoint(mnt, true)
	if err != nil {
		return fmt.Errorf("mount %s: %w", mnt.Destination, err)
	}
	parent, base, err := entryOf(fd, mnt.Destination)
	if err != nil {
		unix.Close(fd)
		return err
	}
	*m.later = append(*m.later, laterMount{mnt: mnt, opts: opts, fd: fd, parent: parent, base: base})
	return nil
}

// existsInRoot says whether path is there in the container's root already.
func (m *mounter) existsInRoot(path string) bool {
	fd, err := openPathInRoot(m.rootfd, path)
	if err == nil {
		unix.Close(fd)
	}
	return err == nil
}

// mountOn mounts the filesystem of mnt on the mount point open on fd, writable still when it
// is to be made read-only later.
func mountOn(fd int, mnt specs.Mount, opts mountOptions, later bool) error {
	flags := opts.flags
	if later {
		flags &^= unix.MS_RDONLY
	}
	data := strings.Join(opts.data, ",")
	if err := unix.Mount(mnt.Source, fdPath(fd), mnt.Type, flags, data); err != nil {
		hint := ""
		if err == unix.EINVAL && data != "" {
			hint = fmt.Sprintf(" (is one of the options %q unknown to %s?)", data, mnt.Type)
		}
		return &pathError{"mount", mnt.Destination, fmt.Errorf("type %s: %w%s", mnt.Type, err, hint)}
	}
	return nil
}

// finishFSMount does what follows a filesystem's mount, on its top mount: /dev's device
// number noted (see makeDevices), a read-only one kept for finishReadOnly, the recursive and
// plain attributes, the propagation.
func (m *mounter) finishFSMount(top int, mnt specs.Mount, opts mountOptions, later bool) error {
	if mnt.Destination == "/dev" {
		var st unix.Stat_t
		if err := unix.Fstat(top, &st); err != nil {
			return &pathError{"stat", "/dev", err}
		}
		m.devFS = st.Dev
	}
	rAttr, plain := opts.rAttr(), opts.attr()
	if later {
		keep, err := unix.FcntlInt(uintptr(top), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return &pathError{"dup", mnt.Destination, err}
		}
		m.readOnlyLater = append(m.readOnlyLater, laterReadOnly{keep, mnt.Destination, opts.rAttrSet&unix.MOUNT_ATTR_RDONLY != 0})
		rAttr.Attr_set &^= unix.MOUNT_ATTR_RDONLY
		plain.Attr_set &^= unix.MOUNT_ATTR_RDONLY
	}
	if opts.recAttr {
		if err := setAttrAt(top, mnt.Destination, rAttr, true); err != nil {
			return err
		}
		// Then the plain options again on the top mount, as bindMount orders them: "rrw,ro"
		// leaves the top read-only (a read-only one waits for finishReadOnly).
		if plain.Attr_set != 0 || plain.Attr_clr != 0 {
			if err := setAttrAt(top, mnt.Destination, plain, false); err != nil {
				return err
			}
		}
	}
	if opts.propagation != 0 {
		return setPropagation(fdPath(top), opts.propagation)
	}
	return nil
}

// entryOf returns the directory that holds the destination open on fd, and its name there,
// checked to be that very destination. After the mount, mountedAt looks the name up in that
// directory, where it leads into the new mount, and nowhere else: the destination is not
// looked up again from the root, where a process that shares a volume on the way could have
// swapped a directory for a symlink, and the flags set next (recursive ones, propagation,
// tmpcopyup's read-only) would go to whatever mount that leads to.
func entryOf(fd int, dest string) (parent int, base string, err error) {
	where, err := os.Readlink(fdPath(fd))
	if err != nil {
		return -1, "", &pathError{"readlink", dest, err}
	}
	base = filepath.Base(where)
	if parent, err = unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return -1, "", &pathError{"open", dest + "/..", err}
	}
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Fstatat(parent, base, &b, unix.AT_SYMLINK_NOFOLLOW) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		unix.Close(parent)
		return -1, "", fmt.Errorf("mount %s: the destination moved while it was being mounted on: refused", dest)
	}
	return parent, base, nil
}

// mountedAt opens the root of the mount just made on base in parent (see entryOf), and checks
// that it is the root of a mount: a name swapped for a symlink or another directory is not.
func mountedAt(parent int, base, dest string) (int, error) {
	top, err := unix.Openat(parent, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &pathError{"open", dest, err}
	}
	var stx unix.Statx_t
	if err := unix.Statx(top, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &stx); err != nil {
		unix.Close(top)
		return -1, &pathError{"statx", dest, err}
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		unix.Close(top)
		return -1, fmt.Errorf("mount %s: the destination is not the mount just made (moved while it was being mounted on): refused", dest)
	}
	return top, nil
}

// setAttrAt changes the flags of the mount whose root fd holds (and below it when recursive).
func setAttrAt(fd int, dest string, attr *unix.MountAttr, recursive bool) error {
	at := unix.AT_EMPTY_PATH
	if recursive {
		at |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(fd, "", uint(at), attr); err != nil {
		return &pathError{"mount_setattr", dest, err}
	}
	return nil
}

// bindMount binds a host path into the rootfs with the flags its options name. The bind is
// made detached first (open_tree(2) OPEN_TREE_CLONE, recursive for rbind), its flags are set
// there with mount_setattr(2), and only then is it attached at the destination's fd
// (move_mount(2)); propagation is set through the same fd. Nothing is looked up by path
// after the destination was resolved: were the flags applied to "the mount now at the
// destination", a process that shares the volume the destination lies on could swap it for
// a symlink in between, and a read-only bind would stay writable while the flag went
// elsewhere (runc's CVE-2021-30465 class). mount_setattr also changes every mount of an
// rbind, where a remount would change only the top one. The flags no option names stay as
// the source has them.
func (m *mounter) bindMount(mnt specs.Mount, opts mountOptions) error {
	source := mnt.Source
	if !filepath.IsAbs(source) {
		source = filepath.Join(m.bundle, source)
	}
	info, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("bind mount %s: %w", mnt.Destination, err)
	}
	at := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if opts.recursive {
		at |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, source, at)
	if err != nil {
		return &pathError{"open_tree", source, fmt.Errorf("bind mount %s: %w", mnt.Destination, err)}
	}
	defer unix.Close(tree)
	if filepath.Join("/", mnt.Destination) == "/proc" { // a procfs alone (see validateMounts)
		t, err := fsType(tree, source)
		if err != nil {
			return err
		}
		if t != unix.PROC_SUPER_MAGIC {
			return fmt.Errorf("bind mount %s: %s is not a proc filesystem (f_type %#x)", mnt.Destination, source, t)
		}
	}
	// The recursive options first, then the plain ones on the top mount: "rro,rw" leaves the
	// top writable and everything below it read-only.
	if opts.recAttr {
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, opts.rAttr()); err != nil {
			return &pathError{"mount_setattr", mnt.Destination, err}
		}
	}
	if opts.attrSet != 0 || opts.attrClr != 0 {
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, opts.attr()); err != nil {
			return &pathError{"mount_setattr", mnt.Destination, err}
		}
	}
	fd, err := m.mountPoint(mnt, info.IsDir())
	if err != nil {
		return fmt.Errorf("bind mount %s: %w", mnt.Destination, err)
	}
	err = unix.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	unix.Close(fd)
	if err != nil {
		return &pathError{"move_mount", mnt.Destination, fmt.Errorf("bind %s: %w", source, err)}
	}
	if opts.propagation != 0 {
		return setPropagation(fdPath(tree), opts.propagation) // tree: the mount, attached now
	}
	return nil
}

// cgroupMount shows the container its own cgroups, read-only when the spec says ro. With
// its own cgroup namespace the container gets fresh cgroup mounts, made inside that namespace
// and so rooted at its own cgroup: one cgroup2 mount on a pure v2 host, a tmpfs with one mount
// per hierarchy on a v1 or hybrid one.
//
// Without one (podman's default on v1), the host's directory of the container's cgroup is
// bound in, in each hierarchy, as runc and crun do: /sys/fs/cgroup/memory/memory.limit_in_bytes
// is the container's limit, as scripts that size a heap read it, and no other cgroup on the
// host is seen. The host's whole tree, bound instead, cost a millisecond less a container on
// the development VM (eleven binds against one) but gave the host's root values at those
// paths and showed every other container's cgroups and counters; bound writable, it would
// let the container change any cgroup on the host, or move itself out of its own.
func (m *mounter) cgroupMount(mnt specs.Mount, opts mountOptions) error {
	if hasNewNamespace(m.spec, specs.CgroupNamespace) { // init made it first: see enterCgroup
		if isCgroup2Only() {
			mnt.Type, mnt.Source = "cgroup2", "cgroup2"
			return m.fsMount(mnt, opts)
		}
		return m.cgroupV1Mounts(mnt, opts, "")
	}
	// The path the runtime made, not /proc/self/cgroup: read in a cgroup namespace joined by
	// path, that is relative to the namespace's root ("/../other"), and the bind would climb
	// out of the container's cgroup.
	own := m.cgroupPath
	if !filepath.IsAbs(own) || filepath.Clean(own) != own || own == "/" {
		return fmt.Errorf("mount %s: no cgroup of the container's to bind (%q)", mnt.Destination, own)
	}
	if isCgroup2Only() {
		return m.bindCgroup(mnt.Destination, filepath.Join("/sys/fs/cgroup", own), opts)
	}
	return m.cgroupV1Mounts(mnt, opts, own)
}

// bindOwnCgroup binds the host's directory of the container's cgroup in one hierarchy, own,
// at name in the cgroup tmpfs open on dir, with attr. The tmpfs is the one cgroupV1Mounts
// just made (and checked), where nothing of the image's is: no path in it needs resolving, and
// the four calls here are all a bind takes (the general bind, for mounts where the image
// decides what is on the way, made a cgroup mount cost 2.8 ms more than one bind of the host's
// whole tree on the development VM). A hierarchy the container has no cgroup in (open_tree's
// ENOENT) shows nothing.
func bindOwnCgroup(dir int, name, own string, attr *unix.MountAttr, dest string) error {
	tree, err := unix.OpenTree(unix.AT_FDCWD, own, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &pathError{"open_tree", own, err}
	}
	defer unix.Close(tree)
	if attr.Attr_set != 0 || attr.Attr_clr != 0 {
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return &pathError{"mount_setattr", dest, err}
		}
	}
	if err := unix.Mkdirat(dir, name, 0o755); err != nil {
		return &pathError{"mkdirat", dest, err}
	}
	if err := unix.MoveMount(tree, "", dir, name, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &pathError{"move_mount", dest, err}
	}
	return nil
}

// bindCgroup binds the host's cgroup directory dir at dest, with opts' flags.
func (m *mounter) bindCgroup(dest, dir string, opts mountOptions) error {
	opts.bind, opts.recursive = true, true
	return m.bindMount(specs.Mount{Destination: dest, Type: "bind", Source: dir}, opts)
}

// cgroupV1Mounts lays out dest like the host's /sys/fs/cgroup: a tmpfs holding one mount per
// v1 hierarchy (named by its controllers, as cpu,cpuacct), the cgroup2 one of a hybrid host,
// and the host's symlinks between them (cpu -> cpu,cpuacct). Each is a fresh cgroup mount
// when own is "", else a bind of the host's directory of the cgroup own in that hierarchy.
func (m *mounter) cgroupV1Mounts(mnt specs.Mount, opts mountOptions, own string) error {
	tmpfs := specs.Mount{Destination: mnt.Destination, Type: "tmpfs", Source: "cgroup"}
	// A read-only tmpfs is made read-only through its own fd once the hierarchies' mount
	// points are in it (fsMount, finishReadOnly).
	readOnly := opts.endsReadOnly() // "rro" too: every hierarchy is below the mount
	base := mountOptions{flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, data: []string{"mode=755"}}
	if readOnly {
		base.flags |= unix.MS_RDONLY
	}
	if err := m.fsMount(tmpfs, base); err != nil {
		return err
	}
	dir, err := openPathInRoot(m.rootfd, mnt.Destination)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	// Found again by its path: it must still be that tmpfs, whose top no one else can change.
	var fs unix.Statfs_t
	var stx unix.Statx_t
	if unix.Fstatfs(dir, &fs) != nil || fs.Type != unix.TMPFS_MAGIC ||
		unix.Statx(dir, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &stx) != nil || stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return fmt.Errorf("mount %s: the cgroup tmpfs just mounted there is not what the path leads to", mnt.Destination)
	}
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return err
	}
	flags := mountOptions{flags: opts.flags, attrSet: opts.attrSet, attrClr: opts.attrClr}
	if readOnly {
		flags.flags |= unix.MS_RDONLY
		flags.attrSet, flags.attrClr = flags.attrSet|unix.MOUNT_ATTR_RDONLY, flags.attrClr&^unix.MOUNT_ATTR_RDONLY
	}
	for _, e := range entries {
		host, dest := filepath.Join("/sys/fs/cgroup", e.Name()), filepath.Join(mnt.Destination, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			if err := m.symlink(host, dest); err != nil {
				return err
			}
			continue
		}
		var st unix.Statfs_t
		if unix.Statfs(host, &st) != nil {
			continue
		}
		data := []string{e.Name()} // the controllers, as mount -o wants them
		if e.Name() == "systemd" {
			data = []string{"none", "name=systemd"}
		}
		switch {
		case own != "" && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC):
			err = bindOwnCgroup(dir, e.Name(), filepath.Join(host, own), flags.attr(), dest)
		case st.Type == unix.CGROUP_SUPER_MAGIC:
			hierarchy := flags
			hierarchy.data = data
			err = m.fsMount(specs.Mount{Destination: dest, Type: "cgroup", Source: "cgroup"}, hierarchy)
		case st.Type == unix.CGROUP2_SUPER_MAGIC:
			err = m.fsMount(specs.Mount{Destination: dest, Type: "cgroup2", Source: "cgroup2"}, flags)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readOnly is the mount_setattr(2) change that makes a mount read-only.
var readOnly = &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}

// symlink copies the host symlink host to dest inside the rootfs.
func (m *mounter) symlink(host, dest string) error {
	target, err := os.Readlink(host)
	if err != nil {
		return err
	}
	dir, err := ensureInRoot(m.rootfd, filepath.Dir(dest), true)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := unix.Symlinkat(target, dir, filepath.Base(dest)); err != nil && err != unix.EEXIST {
		return &pathError{"symlink", dest, err}
	}
	return nil
}

// isCgroup2Only reports whether /sys/fs/cgroup is a cgroup2 filesystem (a pure v2 host).
func isCgroup2Only() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// readonlyRoot makes the container's / read-only (root.readonly), after everything is mounted.
// mount_setattr(2) sets that one attribute: a bind remount (MS_BIND|MS_REMOUNT|MS_RDONLY)
// sets every flag it names and clears the others, and would take away the nosuid, nodev or
// noexec the rootfs's mount had on the host.
func readonlyRoot() error {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, attr); err != nil {
		return &pathError{"mount_setattr", "/", fmt.Errorf("read-only: %w", err)}
	}
	return nil
}

// maskPaths hides kernel files the container should not read: a directory gets an empty
// read-only tmpfs over it, a file gets /dev/null bound over it. Missing paths are skipped.
func maskPaths(paths []string) error {
	null := -1
	defer func() {
		if null >= 0 {
			unix.Close(null)
		}
	}()
	for _, p := range paths {
		info, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
		if info.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0")
		} else {
			if null < 0 {
				if null, err = openNull(); err != nil {
					return fmt.Errorf("mask %s: %w", p, err)
				}
			}
			err = bindOver(null, p)
		}
		if err != nil {
			return &pathError{"mount", p, fmt.Errorf("mask: %w", err)}
		}
	}
	return nil
}

// bindOver binds the file fd holds over path, following a symlink there as mount(2) would.
// open_tree(2) clones the bind from the fd itself, without /proc/self/fd, which a direct
// start's thread cannot use: the container's /proc has no pid of the runtime's.
func bindOver(fd int, path string) error {
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	return unix.MoveMount(tree, "", unix.AT_FDCWD, path, unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_SYMLINKS)
}

// openNull opens the container's /dev/null for masks to bind from, and checks that it is the
// null device (character 1:3), not followed through a symlink: what a mask binds over a
// kernel file is readable, and writable, where the file was. Were it a symlink or another
// file, put there by the image or by a process that shares a volume the container's /dev
// lies on, a mask of /proc/timer_list could bind /proc/sys/kernel/core_pattern writable in
// its place (runc's CVE-2025-31133). The mounts bind the checked fd itself.
func openNull() (int, error) {
	fd, err := unix.Open("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &pathError{"open", "/dev/null", err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &pathError{"stat", "/dev/null", err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		unix.Close(fd)
		return -1, fmt.Errorf("/dev/null is not the null device (mode %#o, %d:%d): refused", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return fd, nil
}

// readonlyPaths binds each path onto itself and makes the bind read-only, recursively. It runs
// after pivot_root, so a symlink on the way or at the end (an image's /etc/resolv.conf ->
// ../run/systemd/resolve/stub-resolv.conf) is followed inside the container's root, as runc
// follows it. Each path is looked up once: the bind is cloned from the fd that lookup gave,
// made read-only while detached, and attached where that fd is (open_tree(2), move_mount(2)),
// so the file made read-only is the file bound, and never writable in between.
func readonlyPaths(paths []string) error {
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return &pathError{"open", p, fmt.Errorf("read-only path: %w", err)}
		}
		err = bindReadOnly(fd, p)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// bindReadOnly binds the file or directory fd holds onto itself, read-only with every mount
// below it.
func bindReadOnly(fd int, p string) error {
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return &pathError{"open_tree", p, fmt.Errorf("read-only path: %w", err)}
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return &pathError{"mount_setattr", p, err}
	}
	if err := unix.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return &pathError{"move_mount", p, fmt.Errorf("read-only path: %w", err)}
	}
	return nil
}

// MountProc mounts a fresh proc filesystem on /proc. procfs shows the processes of the pid
// namespace of the process that mounts it: mounted from inside a new pid namespace, /proc
// lists the container's processes only (and `ps` stops showing the host's). See proc(5).
// Taught in steps/04-chroot.
func MountProc() error {
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return fmt.Errorf("mkdir /proc: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return &pathError{"mount", "/proc", fmt.Errorf("proc: %w", err)}
	}
	return nil
}

// MountMqueue mounts the POSIX message queue filesystem of the current ipc namespace on
// /dev/mqueue, where mq_overview(7) says programs look for it. Taught in steps/07-ipc.
func MountMqueue() error {
	if err := os.MkdirAll("/dev/mqueue", 0o755); err != nil {
		return fmt.Errorf("mkdir /dev/mqueue: %w", err)
	}
	if err := unix.Mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return &pathError{"mount", "/dev/mqueue", fmt.Errorf("mqueue: %w", err)}
	}
	return nil
}

// MountSysfs mounts a sysfs on /sys, read-only. A sysfs lists the network devices of the
// network namespace of the process that mounts it, so mounted from inside the container's,
// /sys/class/net stops listing the host's. Read-only, because most of sysfs is not namespaced
// and a write there would change the host. See sysfs(5). Taught in steps/08-net-ns.
func MountSysfs() error {
	if err := os.MkdirAll("/sys", 0o555); err != nil {
		return fmt.Errorf("mkdir /sys: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return &pathError{"mount", "/sys", fmt.Errorf("sysfs: %w", err)}
	}
	return nil
}
