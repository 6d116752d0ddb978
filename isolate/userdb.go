package isolate

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The container's user database: its /etc/passwd and /etc/group (passwd(5), group(5)), which
// give a process without HOME its home directory, and the quick form's --user NAME its ids.
// They are the image's files, which may be anything, and the runtime reads them as root with
// every capability. So a file is found inside the root it belongs to, with no magic link on
// the way (openat2(2) RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS: /proc/PID/root/x of a host
// process, in a container that shares the host's pid namespace, would be a host file), and
// looked at first through an O_PATH fd: it is opened and read only if it is a regular file of
// an ordinary filesystem, at most userDBLimit of it. Opening a fifo or a device has effects of its own (a
// created container's exec.fifo would start it), and procfs's "regular" files are the
// kernel's (reading /proc/kmsg, with init's CAP_SYSLOG, would drain the host's log).

// userDBLimit bounds how much of a passwd or group file is read.
const userDBLimit = 4 << 20

// readUserDB reads the file name (passwd or group, relative to root) of the root
// filesystem open on rootfd.
func readUserDB(rootfd int, name string) (string, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+name), "/")
	look, err := unix.Openat2(rootfd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolveInRoot})
	if err != nil {
		return "", &pathError{"openat2", name, err}
	}
	defer unix.Close(look)
	seen, err := ordinaryFile(look, name)
	if err != nil {
		return "", err
	}
	// Opened again to read, the same way (/proc/self/fd, which would reopen the fd itself,
	// is not there for the exec stage, outside the container's pid namespace), and taken only
	// if it is still the file looked at.
	fd, err := unix.Openat2(rootfd, rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC, Resolve: resolveInRoot})
	if err != nil {
		return "", &pathError{"openat2", name, err}
	}
	defer unix.Close(fd)
	now, err := ordinaryFile(fd, name)
	if err != nil {
		return "", err
	}
	if now != seen {
		return "", fmt.Errorf("%s: changed while it was being opened", name)
	}
	return readUpTo(fd, name, userDBLimit)
}

// readUpTo reads the file open on fd to its end, or its first limit bytes. It reads with
// read(2) itself: an *os.File of a non-blocking fd would start Go's poller (epoll_create1(2),
// an eventfd and their registration) in an init that has no other use for it, only to learn
// that a regular file cannot be polled.
func readUpTo(fd int, name string, limit int) (string, error) {
	var data []byte
	buf := make([]byte, 4096)
	for len(data) < limit {
		n, err := unix.Read(fd, buf[:min(len(buf), limit-len(data))])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &pathError{"read", name, err}
		}
		if n == 0 {
			break
		}
		data = append(data, buf[:n]...)
	}
	return string(data), nil
}

// readFileUpTo reads the file at path to its end, or its first limit bytes, with read(2) (see
// readUpTo): for the kernel's small files in /proc and /sys, which an os.ReadFile would wrap in
// an *os.File, registered with Go's poller, for one read.
func readFileUpTo(path string, limit int) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &pathError{"open", path, err}
	}
	defer unix.Close(fd)
	return readUpTo(fd, path, limit)
}

// ordinaryFile checks that fd is a regular file outside procfs and sysfs, and returns its
// device and inode numbers.
func ordinaryFile(fd int, name string) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return [2]uint64{}, &pathError{"stat", name, err}
	}
	kind, err := fsType(fd, name)
	if err != nil {
		return [2]uint64{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || kind == unix.PROC_SUPER_MAGIC || kind == unix.SYSFS_MAGIC {
		return [2]uint64{}, fmt.Errorf("%s: not a regular file of an ordinary filesystem", name)
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}

// passwdHome returns the home directory of uid in the passwd file at path, as this process
// sees it (init's, after pivot_root: the container's).
func passwdHome(path string, uid uint32) (string, bool) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(root)
	passwd, err := readUserDB(root, path)
	if err != nil {
		return "", false
	}
	return homeInPasswd(passwd, uid)
}

// homeInPasswd returns the directory of uid's entry; "/" when the entry has none.
func homeInPasswd(passwd string, uid uint32) (string, bool) {
	e, ok := findPasswd(passwd, func(e passwdEntry) bool { return e.uid == uid })
	if !ok {
		return "", false
	}
	if e.home == "" {
		return "/", true
	}
	return e.home, true
}

// passwdEntry is a line of passwd(5): name:password:UID:GID:GECOS:directory:shell.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// findPasswd returns the first entry that match accepts, as getpwuid(3) and getpwnam(3) do.
// Comments and lines that are not entries (too few fields, ids that are not numbers) are
// skipped.
func findPasswd(passwd string, match func(passwdEntry) bool) (passwdEntry, bool) {
	for line := range strings.Lines(passwd) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
		if len(f) < 7 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if e := (passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]}); match(e) {
			return e, true
		}
	}
	return passwdEntry{}, false
}

// groupEntry is a line of group(5): name:password:GID:member,member...
type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// groupEntries returns the entries of a group file, skipping what is not one.
func groupEntries(group string) []groupEntry {
	var out []groupEntry
	for line := range strings.Lines(group) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{name: f[0], gid: uint32(gid), members: members})
	}
	return out
}

// LookupUser turns the quick form's --user USER[:GROUP] into ids, as `docker run --user`
// does, from the /etc/passwd and /etc/group of the root filesystem rootfs (a path on the
// host; its symlinks are resolved inside it). A number is that id, whether or not the files
// have it, and a USER given as a number without GROUP is also its GID. A USER given by name
// has its passwd entry's GID, unless GROUP is given, and the groups that list it as a member
// as additional groups.
func LookupUser(rootfs, spec string) (specs.User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	var u specs.User
	var members []uint32 // the groups that list a user given by name
	uid, uidErr := parseID(userPart)
	if uidErr == nil {
		u.UID, u.GID = uid, uid
	} else {
		passwd, err := readRootfsUserDB(rootfs, "etc/passwd")
		if err != nil {
			return u, fmt.Errorf("--user %q: %w", spec, err)
		}
		e, ok := findPasswd(passwd, func(e passwdEntry) bool { return e.name == userPart })
		if !ok {
			return u, fmt.Errorf("--user %q: no user %q in %s", spec, userPart, filepath.Join(rootfs, "etc/passwd"))
		}
		u.UID, u.GID, members = e.uid, e.gid, memberOf(rootfs, e.name)
	}
	if hasGroup {
		gid, err := lookupGroup(rootfs, spec, groupPart)
		if err != nil {
			return u, err
		}
		u.GID = gid
	}
	// Every group that lists the user, but the one it runs as: a group named after the colon
	// takes the passwd entry's place and leaves the user's memberships as they are.
	u.AdditionalGids = slices.DeleteFunc(members, func(g uint32) bool { return g == u.GID })
	return u, nil
}

// lookupGroup reads the GROUP of --user USER:GROUP (spec): a number, or a name in rootfs's
// /etc/group.
func lookupGroup(rootfs, spec, groupPart string) (uint32, error) {
	if gid, err := parseID(groupPart); err == nil {
		return gid, nil
	}
	group, err := readRootfsUserDB(rootfs, "etc/group")
	if err != nil {
		return 0, fmt.Errorf("--user %q: %w", spec, err)
	}
	for _, g := range groupEntries(group) {
		if g.name == groupPart {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("--user %q: no group %q in %s", spec, groupPart, filepath.Join(rootfs, "etc/group"))
}

// parseID reads a uid or gid, a decimal number (validateProcess checks its range).
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

// memberOf returns the gids of the groups that list user as a member. No
// group file is no additional group, as getgrouplist(3) has it.
func memberOf(rootfs, user string) []uint32 {
	group, err := readRootfsUserDB(rootfs, "etc/group")
	if err != nil {
		return nil
	}
	var gids []uint32
	for _, g := range groupEntries(group) {
		if slices.Contains(g.members, user) {
			gids = append(gids, g.gid)
		}
	}
	return gids
}

// readRootfsUserDB reads rootfs's passwd or group file, name relative to rootfs, found and
// read as readUserDB does (an absolute symlink such as etc/passwd -> /etc/passwd stays in
// the image, never reaches the host's).
func readRootfsUserDB(rootfs, name string) (string, error) {
	rootfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &pathError{"open", rootfs, err}
	}
	defer unix.Close(rootfd)
	data, err := readUserDB(rootfd, name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", rootfs, err)
	}
	return data, nil
}
