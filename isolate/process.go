package isolate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rlimitByName maps the spec's rlimit names to setrlimit(2) resources.
var rlimitByName = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// setRlimits applies process.rlimits. It goes through the syscall package on purpose: Go raises
// its own RLIMIT_NOFILE at start and restores the old value at exec unless syscall.Setrlimit
// was told otherwise, which would silently undo the spec's value.
func setRlimits(limits []specs.POSIXRlimit) error {
	for _, l := range limits {
		r := syscall.Rlimit{Cur: l.Soft, Max: l.Hard}
		if err := syscall.Setrlimit(rlimitByName[l.Type], &r); err != nil {
			return &pathError{"setrlimit", l.Type, err}
		}
	}
	return nil
}

// setOOMScoreAdj writes process.oomScoreAdj, which the exec'd program inherits.
func setOOMScoreAdj(adj *int) error {
	if adj == nil {
		return nil
	}
	return writeOOMScoreAdj("/proc/self/oom_score_adj", *adj)
}

// writeOOMScoreAdj writes adj to a process's oom_score_adj file.
func writeOOMScoreAdj(path string, adj int) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(adj)), 0); err != nil {
		hint := ""
		if errors.Is(err, unix.EACCES) {
			hint = " (a value below the caller's needs CAP_SYS_RESOURCE: is the runtime itself confined?)"
		}
		return fmt.Errorf("write oom_score_adj %d: %w%s", adj, err, hint)
	}
	return nil
}

// switchUser becomes the spec's user: supplementary groups, then gid, then uid (after setuid
// we could no longer change groups). PR_SET_KEEPCAPS keeps the permitted capabilities across
// setuid so that applyCapabilities can still grant them, as capabilities(7) describes.
//
// The raw system calls are deliberate: Go's syscall.Setuid changes every thread of the
// process, but only this thread matters, because it is the one that calls execve(2).
//
// A change of ids clears the parent-death signal (prctl(2) PR_SET_PDEATHSIG; the kernel's
// commit_creds): set again after it, or a foreground run's container with a user other than
// root would outlive a `contain run` that was killed. A parent that died in between closed
// the sync socket, which ends init before it execs (waitForStart).
func switchUser(u specs.User) error {
	var deathSignal int
	if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&deathSignal)), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_GET_PDEATHSIG: %w", err)
	}
	if err := setIDs(u); err != nil {
		return err
	}
	if deathSignal != 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(deathSignal), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_SET_PDEATHSIG: %w", err)
		}
	}
	return nil
}

// setIDs sets the groups, the gid and the uid, in that order (see switchUser).
func setIDs(u specs.User) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	groups := u.AdditionalGids
	var ptr unsafe.Pointer
	if len(groups) > 0 {
		ptr = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(ptr), 0); e != 0 {
		return fmt.Errorf("setgroups %v: %w", groups, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", u.UID, e)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	if u.Umask != nil {
		unix.Umask(int(*u.Umask))
	}
	return nil
}

// setNoNewPrivs stops execve(2) from granting privileges (setuid bits, file capabilities).
// See prctl(2) PR_SET_NO_NEW_PRIVS.
func setNoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
	}
	return nil
}

// joinNewSessionKeyring gives the process a session keyring of its own, an anonymous one
// (keyctl(2) KEYCTL_JOIN_SESSION_KEYRING with no name): it would otherwise keep its caller's,
// and the container could read, add and unlink the keys of whoever ran contain (keyrings(7)).
// A kernel built without keys has no keyrings to share.
func joinNewSessionKeyring() error {
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 && errno != unix.ENOSYS {
		return fmt.Errorf("keyctl KEYCTL_JOIN_SESSION_KEYRING: %w", errno)
	}
	return nil
}

// uniqueEnv keeps one entry per variable: the last value, where the first one stood. That is
// how `-e PATH=/x` overrides the spec's PATH.
func uniqueEnv(env []string) []string {
	out := make([]string, 0, len(env))
	at := make(map[string]int, len(env))
	for _, kv := range env {
		key, _, _ := strings.Cut(kv, "=")
		if i, ok := at[key]; ok {
			out[i] = kv
			continue
		}
		at[key] = len(out)
		out = append(out, kv)
	}
	return out
}

// withHome gives the process a HOME when it has none, or an empty one, as runc does: the
// user's home directory in passwd (the container's /etc/passwd), or "/" when the user has no
// entry there. Engines set HOME themselves; a bundle's config.json, the quick form and `exec
// --user` leave it to the runtime, and programs that keep files under $HOME need it. It runs
// as root, before the switch to the user, who may not be able to read the file.
func withHome(env []string, uid uint32, passwd string) []string {
	at := -1
	for i, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			if kv != "HOME=" {
				return env
			}
			at = i
		}
	}
	home := "/"
	if dir, ok := passwdHome(passwd, uid); ok {
		home = dir
	}
	if at >= 0 {
		env[at] = "HOME=" + home
		return env
	}
	return append(env, "HOME="+home)
}

// lookPath finds the program the way execvp(3) would, using the container's PATH, and checks
// it can be executed by the current (already switched) user.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, checkExecutable(file)
	}
	path := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[len("PATH="):]
		}
	}
	if path == "" {
		path = strings.TrimPrefix(DefaultPath, "PATH=")
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, file)
		err := checkExecutable(candidate)
		if err == nil {
			return candidate, nil
		}
		denied = denied || errors.Is(err, unix.EACCES)
	}
	if denied {
		return "", &pathError{"exec", file, unix.EACCES}
	}
	return "", &pathError{"exec", file, errNotInPath}
}

var errNotInPath = errors.New("executable file not found in $PATH")

func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return &pathError{"exec", path, errnoOf(err)}
	}
	if info.IsDir() {
		return &pathError{"exec", path, unix.EACCES}
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return &pathError{"exec", path, err}
	}
	return nil
}

// errnoOf unwraps an *os.PathError to its errno, so hints can match it.
func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
