package isolate

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultStateRoot is where containers' state lives unless --root says otherwise.
const DefaultStateRoot = "/run/contain"

// State is the runtime-spec state of a container (runtime.md, "State"), plus its creation time,
// root filesystem and owner, which runc's state and list show too.
type State struct {
	specs.State
	Created time.Time `json:"created"`
	// Rootfs is the container's root filesystem, absolute: the spec's root.path resolved
	// against the bundle. A state written by an older contain has none (""), and still loads.
	Rootfs string `json:"rootfs"`
	// Owner is the user who owns the state directory, by name, or "#UID" when the user
	// database has no such user, as runc shows it. Never stored: LoadState reads it from the
	// directory each time, so it always says who owns the directory now.
	Owner string `json:"owner,omitempty"`
	// InitStart is the init's start time (proc(5), /proc/PID/stat field 22): with the pid, it
	// tells our init from a later process that got the same pid.
	InitStart uint64 `json:"init_start,omitempty"`
	// Poststart and Poststop are the spec's hooks that `start` and `delete` run, after the
	// `create` that read the spec is gone.
	Poststart []specs.Hook `json:"poststart,omitempty"`
	Poststop  []specs.Hook `json:"poststop,omitempty"`
	// Cgroup is the container's cgroup, recorded before it is made.
	Cgroup *CgroupRecord `json:"cgroup,omitempty"`
	// Process is the spec's process: what `exec` starts from unless given a whole process,
	// as runc does. LoadState leaves it out (its environment may hold secrets).
	Process *specs.Process `json:"process,omitempty"`
	// Devices are the spec's linux.devices, which `update` keeps allowed, as create did.
	Devices []specs.LinuxDevice `json:"devices,omitempty"`
	// NoNewKeyring: the container was made with --no-new-keyring, so the processes exec
	// starts in it keep their caller's session keyring too, as runc's do.
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	// KeyringRules: what the spec's linux.seccomp says of the keyring calls, which the
	// processes exec starts get too (see keyrings.go).
	KeyringRules []keyringRule `json:"keyring_rules,omitempty"`
}

// stateDir is one container's directory under the state root: /run/contain/<id>. It is
// reserved (created) before any other resource, so that a container that exists in any form
// can always be found, and removed, by its id.
type stateDir struct {
	path  string
	state State
	// cg is the cgroup's manager when this process opened it already (create, run): no
	// second look at the host's hierarchies to remove it.
	cg cgroups.Manager
}

// newState is the state of a container being created, whose rootfs is the absolute path
// checkRootfs returned.
func newState(id, bundle, rootfs string, annotations map[string]string) State {
	return State{
		State: specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating,
			Bundle: bundle, Annotations: annotations},
		Created: time.Now().UTC(),
		Rootfs:  rootfs,
	}
}

// reserveState creates the container's state directory and writes st, which holds what the
// container will make (see planCgroup), into it; it fails if the id is taken.
func reserveState(root string, st State) (*stateDir, error) {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("create state root: %w", err)
	}
	if err := checkStateRoot(root); err != nil {
		return nil, err
	}
	path := filepath.Join(root, st.ID)
	if err := os.Mkdir(path, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, errContainerExists(st.ID, path)
		}
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	s := &stateDir{path: path, state: st}
	if err := s.save(); err != nil {
		os.RemoveAll(path)
		return nil, err
	}
	return s, nil
}

// checkStateRoot refuses a state root that a user other than root could change, or that sits
// in a directory such a user could change: every verb trusts what it finds there (delete runs
// the poststop hooks a state records, kill signals its pid, delete empties its cgroup), so a
// state root that another user can write to, or whose parent they can rename it in, would let
// them run anything as root. The root and every directory above it, before and after its
// symlinks resolve, must be owned by root (or this process's user) and not writable by group
// or others; an ancestor may be if it is sticky (/tmp), where a user cannot rename or remove
// what is not theirs. The default, /run/contain, always passes. A root that does not exist is
// left to the caller.
func checkStateRoot(root string) error {
	abs, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state root %s: %w", root, err)
	}
	paths := []string{resolved}
	if abs != resolved {
		paths = append(paths, abs) // the way there too: a symlink on it others could change
	}
	for _, p := range paths {
		for d := p; ; d = filepath.Dir(d) {
			var st unix.Stat_t
			if err := unix.Lstat(d, &st); err != nil {
				return &pathError{"lstat", d, err}
			}
			if err := trustedForState(root, d, &st, d == resolved); err != nil {
				return err
			}
			if d == "/" {
				break
			}
		}
	}
	return nil
}

// trustedForState is checkStateRoot's test of one entry on the way to the state root (isRoot:
// the state root itself, where not even a sticky directory will do: anyone could add a
// container's directory to it).
func trustedForState(root, path string, st *unix.Stat_t, isRoot bool) error {
	if st.Uid != 0 && st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("state root %s: %s belongs to uid %d, who could change the containers' state: give a --root that only root can change, in directories only root can change", root, path, st.Uid)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil // only its owner can change it; where it leads is checked on the resolved path
	}
	if st.Mode&0o022 != 0 && (isRoot || st.Mode&unix.S_ISVTX == 0) {
		return fmt.Errorf("state root %s: %s is writable by group or others (mode %04o), who could change the containers' state: give a --root that only root can change", root, path, st.Mode&0o7777)
	}
	return nil
}

// ownerOf names the user who owns the state directory at path, as runc's list does: by name
// from the host's user database (os/user), or "#UID" when it has no such user or cannot be
// read. A directory gone meanwhile is a container deleted meanwhile.
func ownerOf(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if err == unix.ENOENT {
			return "", fmt.Errorf("container %q: %w", filepath.Base(path), ErrNotExist)
		}
		return "", &pathError{"stat", path, err}
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(uid); err == nil {
		return u.Username, nil
	}
	return "#" + uid, nil
}

func errContainerExists(id, path string) error {
	return fmt.Errorf("container %q already exists (state in %s)", id, path)
}

// noteInit notes init's pid and start time, which the next update writes ("created" or, for
// run, "running"). No write of its own: a runtime killed before that one leaves a state that
// names the cgroup, recorded before the fork, and `delete --force` kills what is in it, init
// included (in its cgroup from its first step); an init whose runtime died also fails at its
// next message on the sync socket, or gets its parent-death signal.
//
// An init that failed at once may have exited, and even been reaped, by now: that is no error
// here. Its own error comes next on the sync socket, and no state is written without init
// saying it is ready.
func (s *stateDir) noteInit(pid int) error {
	start, _, err := readStart(pid)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("init %d: %w", pid, err)
	}
	s.state.Pid, s.state.InitStart = pid, start
	return nil
}

// update records a new status (and pid) atomically: write a temporary file, then rename(2).
func (s *stateDir) update(status specs.ContainerState, pid int) error {
	s.state.Status, s.state.Pid = status, pid
	return s.save()
}

func (s *stateDir) save() error {
	data, err := encodeJSON(s.state)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(s.path, stateFileName), data, 0o600)
}

// stateFileName is the state's file in the container's state directory.
const stateFileName = "state.json"

// remove deletes the container's cgroup, then the state directory: the last thing a
// container's cleanup does. A cgroup that cannot be removed keeps the state, so that a later
// `delete --force` can try again.
func (s *stateDir) remove() error {
	if err := s.removeCgroup(); err != nil {
		return err
	}
	return s.removeDir()
}

// removeOrWarn removes the container, as remove does, where a failure cannot change what the
// caller returns (a run that ended, a create that failed): it is said, with the way out,
// rather than leaving a cgroup or a state directory behind unseen.
func (s *stateDir) removeOrWarn(log *slog.Logger) {
	if err := s.remove(); err != nil {
		log.Warn(fmt.Sprintf("container %q not wholly removed: %v (retry with `contain delete --force %s`)", s.state.ID, err, s.state.ID))
	}
}

// removeDir removes the state directory. It first renames it, in one step, to a name no
// container id can have (ids start with a letter or a digit): a `state` or `list` meanwhile
// finds the container whole or not at all. Emptied in place, the directory without its state
// file read as a container being created, for a moment, or for good when the delete was
// killed in between (podman takes "creating" for a status it does not know). A delete killed
// after the rename leaves a hidden directory that no command sees: `workshop reset` removes
// it (IsRemovedState).
func (s *stateDir) removeDir() error {
	dir := removedName(s.path)
	switch err := unix.Rename(s.path, dir); err {
	case nil:
	case unix.ENOENT:
		return nil
	default:
		dir = s.path // where rename fails (another filesystem's quirk), in place
	}
	// The directory almost always holds the state file alone: two system calls. Whatever
	// else is there (an exec fifo, a temporary file a killed writer left) goes by RemoveAll,
	// which costs four more even then.
	unix.Unlink(filepath.Join(dir, stateFileName))
	if err := unix.Rmdir(dir); err == nil || err == unix.ENOENT {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	return nil
}

// removedPrefix starts the name removeDir gives a state directory before it empties it.
const removedPrefix = ".deleted-"

// removedName is the name removeDir renames the state directory path to. The id in it is cut
// to 64 bytes: a whole one of up to MaxIDLength, with the prefix and suffix, would pass
// NAME_MAX (255), and the rename would fail.
func removedName(path string) string {
	id := filepath.Base(path)
	return filepath.Join(filepath.Dir(path), removedPrefix+id[:min(len(id), 64)]+"-"+tempSuffix())
}

// IsRemovedState reports whether name, an entry of a state root, is a state directory that a
// delete renamed out of sight to empty it (removeDir), left there because that delete was
// killed in between. Such a directory holds files and nothing else (the container's cgroup
// went before the rename), so removing it stops nothing and frees nothing else.
func IsRemovedState(name string) bool { return strings.HasPrefix(name, removedPrefix) }

// writeFileAtomic replaces path with data so that readers see the old or the new content,
// never a part: write a new temporary file beside it, then rename(2) it over path. Plain
// syscalls, not os.File: every container start writes its state two or three times, and
// os.File's poller registration would add four syscalls to each.
//
// The temporary file is made with O_EXCL under a random name, never opened if it exists: a
// --pid-file may go to a directory that others write to (a container's volume, /tmp), and
// whatever they left at a name this process would use (a hard link to a file of theirs or
// to a block device, a fifo that hangs the open) must not be written through. A name taken
// is tried again with another; a file a killed writer left is removed with its directory
// (the state's) or stays, as runc's do.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	fd, tmp, err := createTemp(path, perm)
	if err != nil {
		return err
	}
	err = writeAll(fd, data)
	if err == nil {
		err = unix.Fchmod(fd, uint32(perm)) // the umask may have taken bits from open's mode
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlink(tmp)
		return &pathError{"write", tmp, err}
	}
	if err := unix.Rename(tmp, path); err != nil {
		unix.Unlink(tmp)
		return &pathError{"rename", path, err}
	}
	return nil
}

// tempSuffix names temporary files; a variable for the tests.
var tempSuffix = func() string { return strconv.FormatUint(rand.Uint64(), 36) }

// createTemp makes a new file beside path, named ".BASE.RANDOM", and opens it for writing.
func createTemp(path string, perm os.FileMode) (fd int, tmp string, err error) {
	for range 10 {
		tmp = filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+tempSuffix())
		fd, err = unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, uint32(perm))
		if err != unix.EEXIST {
			break
		}
	}
	if err != nil {
		return -1, "", &pathError{"open", tmp, err}
	}
	return fd, tmp, nil
}

// writeAll writes data to fd, continuing after short writes.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
