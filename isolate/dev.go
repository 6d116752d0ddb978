package isolate

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are the nodes every container gets, as in the runtime-spec's
// "Default Devices" (config-linux.md).
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devSymlinks are the links a process expects in /dev (the runtime-spec's list plus ptmx).
var devSymlinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"pts/ptmx", "/dev/ptmx"},
}

// deviceMode returns the mknod(2) mode bits of a spec device: its type and permissions.
func deviceMode(d specs.LinuxDevice) (uint32, error) {
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		return unix.S_IFCHR | perm, nil
	case "b":
		return unix.S_IFBLK | perm, nil
	case "p":
		return unix.S_IFIFO | perm, nil
	}
	return 0, fmt.Errorf("config: linux.devices %s: unknown type %q (want c, b, u or p)", d.Path, d.Type)
}

// makeDevices creates the default device nodes and the spec's, then the /dev symlinks, inside
// the fresh /dev tmpfs. The image's own /dev is never used: its null could be a regular file
// or a symlink to a host path. devFS, when not 0, is the device number of the filesystem
// the runtime mounted on /dev (mounter.devFS): every directory below /dev a node goes in must
// be on it. /dev is looked up again here, and the image's symlinks decide where it leads:
// an image whose /dev links to /data/dev, with a volume mounted on /data after /dev, would
// send the nodes onto the volume, where whoever shares it could use them or swap them.
func makeDevices(rootfd int, extra []specs.LinuxDevice, devFS uint64) error {
	devices := append(append([]specs.LinuxDevice(nil), defaultDevices...), extra...)
	// Each directory is made or opened once, however many nodes go in it (all of the
	// default ones go in /dev).
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			unix.Close(fd)
		}
	}()
	openDir := func(dir string) (int, error) {
		if fd, ok := dirs[dir]; ok {
			return fd, nil
		}
		fd, err := mkdirAllInRoot(rootfd, dir)
		if err != nil {
			return -1, err
		}
		if err := onDevFS(fd, dir, devFS); err != nil {
			unix.Close(fd)
			return -1, err
		}
		dirs[dir] = fd
		return fd, nil
	}
	made := map[string]bool{} // the nodes made here: a spec's entry replaces a default one
	for _, d := range devices {
		path := filepath.Clean(d.Path)
		parent, err := openDir(filepath.Dir(path))
		if err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
		madeNow, err := mknodAt(parent, d, made[path])
		if err != nil {
			return err
		}
		made[path] = made[path] || madeNow
	}
	devfd, err := openDir("/dev")
	if err != nil {
		return err
	}
	for _, link := range devSymlinks {
		err := unix.Symlinkat(link[0], devfd, filepath.Base(link[1]))
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return &pathError{"symlink", link[1], err}
		}
	}
	return nil
}

// onDevFS checks that dir, open on fd, is on the filesystem devFS, if dir is /dev or below it
// and devFS is known.
func onDevFS(fd int, dir string, devFS uint64) error {
	if devFS == 0 || dir != "/dev" && !strings.HasPrefix(dir, "/dev/") {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &pathError{"stat", dir, err}
	}
	if st.Dev != devFS {
		return fmt.Errorf("%s is not on the filesystem the runtime mounted on /dev (the image's /dev leads elsewhere, into a mount made after it?): refused", dir)
	}
	return nil
}

// mknodAt creates one device node in the directory parent. replace: the name holds a node
// made by this runtime a moment ago (a default device the spec lists again), which goes.
// Anything else already there is the image's: kept if it is the very device asked for, and
// otherwise an error, as config-linux.md wants ("If a file already exists at path that does
// not match the requested device, the runtime MUST generate an error"). An image's file is
// never unlinked: with a device path outside /dev, that would delete it from the rootfs.
// made reports whether it made a node (false: it kept the image's).
func mknodAt(parent int, d specs.LinuxDevice, replace bool) (made bool, err error) {
	mode, err := deviceMode(d)
	if err != nil {
		return false, err
	}
	name := filepath.Base(d.Path)
	if replace {
		err := unix.Unlinkat(parent, name, 0)
		if errors.Is(err, unix.EBUSY) { // a host node bound there (bindHostDevice): unbind first
			err = detachAt(parent, name)
			if err == nil {
				err = unix.Unlinkat(parent, name, 0)
			}
		}
		var named *pathError
		switch {
		case errors.As(err, &named):
			return false, fmt.Errorf("%s: %w", d.Path, err) // detachAt's, which names its call
		case err != nil && !errors.Is(err, unix.ENOENT):
			return false, &pathError{"unlink", d.Path, err}
		}
	}
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknodat(parent, name, mode, int(dev)); err != nil {
		switch {
		case errors.Is(err, unix.EEXIST):
			return false, existingDevice(parent, name, d, mode, dev)
		case errors.Is(err, unix.EPERM) && mode&unix.S_IFMT != unix.S_IFIFO:
			return true, bindHostDevice(parent, name, d, mode, dev, err)
		}
		return false, &pathError{"mknod", d.Path, err}
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	// mknod(2) applies the umask; set the exact mode and owner the spec asked for, on the node
	// just made and on nothing else: the directory may be one another process can write to (a
	// /dev on a volume), where the name could be swapped for a symlink in between, and this
	// runs before pivot_root, where a symlink's target is the host's. So the node is opened
	// without following a link, checked to be the device made, and changed through that fd.
	fd, err := unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, &pathError{"open", d.Path, err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return true, &pathError{"stat", d.Path, err}
	}
	if st.Mode&unix.S_IFMT != mode&unix.S_IFMT || (mode&unix.S_IFMT != unix.S_IFIFO && st.Rdev != dev) {
		return true, fmt.Errorf("device %s: replaced while it was being made: refused", d.Path)
	}
	if err := unix.Chmod(fdPath(fd), mode&0o7777); err != nil {
		return true, &pathError{"chmod", d.Path, err}
	}
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return true, &pathError{"chown", d.Path, err}
	}
	return true, nil
}

// bindHostDevice is mknodAt without CAP_MKNOD (contain itself in a container, or a service
// that lacks it): the host's node at the device's path is bound instead, as runc does, when
// it is that very device (the same type and numbers; a symlink there is not followed). Its
// mode and owner stay the host's: changing them through the bind would change the host's
// node. This runs before pivot_root, where "/" is still the host's. mknodErr is mknod's.
func bindHostDevice(parent int, name string, d specs.LinuxDevice, mode uint32, dev uint64, mknodErr error) error {
	src, err := unix.Open(d.Path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"mknod", d.Path, fmt.Errorf("%w, and the host has no such device to bind: %w", mknodErr, err)}
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return &pathError{"stat", d.Path + " (the host's)", err}
	}
	if st.Mode&unix.S_IFMT != mode&unix.S_IFMT || st.Rdev != dev {
		return &pathError{"mknod", d.Path, fmt.Errorf("%w, and the host's %s is another device than %d:%d", mknodErr, d.Path, d.Major, d.Minor)}
	}
	dst, err := unix.Openat(parent, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"create", d.Path, err}
	}
	defer unix.Close(dst)
	if err := unix.Mount(fdPath(src), fdPath(dst), "", unix.MS_BIND, ""); err != nil {
		return &pathError{"mount", d.Path, fmt.Errorf("bind of the host's node (no CAP_MKNOD to make one): %w", err)}
	}
	return nil
}

// detachAt unmounts what is mounted on the name in the directory parent.
func detachAt(parent int, name string) error {
	fd, err := unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", name, err}
	}
	defer unix.Close(fd)
	if err := unix.Unmount(fdPath(fd), unix.MNT_DETACH); err != nil {
		return &pathError{"umount2", name, err}
	}
	return nil
}

// existingDevice accepts what the image has at a device's path only if it is that device: the
// same type and numbers (a symlink, never followed, is not).
func existingDevice(parent int, name string, d specs.LinuxDevice, mode uint32, dev uint64) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &pathError{"stat", d.Path, err}
	}
	if st.Mode&unix.S_IFMT == mode&unix.S_IFMT && (mode&unix.S_IFMT == unix.S_IFIFO || st.Rdev == dev) {
		return nil
	}
	return fmt.Errorf("config: linux.devices %s: the rootfs already has a file there that is not this device (type %s, %d:%d): refused", d.Path, d.Type, d.Major, d.Minor)
}

// devIsOurs reports whether the spec lets the runtime make /dev: the /dev the container sees,
// the last mount there (mounts are made in order, each over the one before), is not a bind
// of somebody's directory, such as the host's /dev, where nodes must not be made.
func devIsOurs(spec *specs.Spec) bool {
	m := devMount(spec)
	if m == nil {
		return true // mountAll adds a tmpfs
	}
	opts, _ := parseMountOptions(m.Options)
	return m.Type != "bind" && !opts.bind
}

// devMount is the last mount of the spec on /dev, or nil.
func devMount(spec *specs.Spec) *specs.Mount {
	var last *specs.Mount
	for i, m := range spec.Mounts {
		if mountDestination(m) == "/dev" {
			last = &spec.Mounts[i]
		}
	}
	return last
}

// MakeDev gives the root filesystem at rootfs a /dev of its own: a fresh tmpfs with the
// device nodes every program expects (null, zero, full, random, urandom, tty) and the links
// to /proc/self/fd. The image's own /dev is hidden, never trusted. See mknod(2).
// Taught in steps/04-chroot.
func MakeDev(rootfs string) error {
	rootfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", rootfs, err}
	}
	defer unix.Close(rootfd)
	devfd, err := ensureInRoot(rootfd, "/dev", true)
	if err != nil {
		return err
	}
	err = unix.Mount("tmpfs", fdPath(devfd), "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k")
	unix.Close(devfd)
	if err != nil {
		return &pathError{"mount", filepath.Join(rootfs, "dev"), fmt.Errorf("tmpfs: %w", err)}
	}
	return makeDevices(rootfd, nil, 0)
}
