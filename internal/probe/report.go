// Package probe observes a process from the inside: what the kernel shows it about its
// identity, namespaces, mounts, network, limits and privileges (the Report), and small
// attacks and stress actions whose results prove what a container allows.
//
// It is the library behind cmd/probe, the static binary that every check of the toolkit
// runs inside containers. The JSON names of Report and of the action results are a contract
// that the tests read; see "The probe" in DESIGN.md.
package probe

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Report is what a process sees of itself and its container; see proc(5).
type Report struct {
	PID          int                 `json:"pid"`
	PPID         int                 `json:"ppid"`
	UID          []int               `json:"uid"` // real, effective, saved set, filesystem
	GID          []int               `json:"gid"` // real, effective, saved set, filesystem
	Groups       []int               `json:"groups"`
	UIDMap       string              `json:"uid_map"` // raw /proc/self/uid_map
	GIDMap       string              `json:"gid_map"` // raw /proc/self/gid_map
	Hostname     string              `json:"hostname"`
	Domainname   string              `json:"domainname"`
	Namespaces   map[string]uint64   `json:"namespaces"` // name -> inode of /proc/self/ns/<name>
	Pids         []int               `json:"pids"`       // the numeric entries of /proc, sorted
	Mounts       []Mount             `json:"mounts"`
	Root         []string            `json:"root"`          // names in "/", sorted
	Cgroup       []string            `json:"cgroup"`        // lines of /proc/self/cgroup
	CgroupLimits map[string]string   `json:"cgroup_limits"` // limit file of its cgroup -> value; see cgroupLimits
	Links        []Link              `json:"links"`
	IPC          IPC                 `json:"ipc"`
	Caps         map[string][]string `json:"caps"`     // set -> sorted capability names
	CapsHex      map[string]string   `json:"caps_hex"` // set -> raw hex mask
	NoNewPrivs   int                 `json:"no_new_privs"`
	Seccomp      int                 `json:"seccomp"` // 0 off, 1 strict, 2 filter
	Rlimits      map[string]Rlimit   `json:"rlimits"`
	FDs          []FD                `json:"fds"`
	Cwd          string              `json:"cwd"`
	Umask        string              `json:"umask"`
	OOMScoreAdj  int                 `json:"oom_score_adj"`
	TimerSlackNS int                 `json:"timer_slack_ns"` // prctl(2) PR_GET_TIMERSLACK, inherited like rlimits
	CPUs         string              `json:"cpus"`           // the CPUs it may run on, /proc/self/status Cpus_allowed_list
	// SessionKeyring describes the session keyring, keyctl(2) KEYCTL_DESCRIBE:
	// "keyring;UID;GID;PERM;NAME". A container must not get the caller's.
	SessionKeyring string   `json:"session_keyring"`
	Env            []string `json:"env"`
	TTY            TTY      `json:"tty"`
	Errors         []string `json:"errors,omitempty"` // what could not be read, and why
}

// Mount is one line of /proc/self/mountinfo; see proc_pid_mountinfo(5).
type Mount struct {
	ID           int      `json:"id"`
	Parent       int      `json:"parent"`
	Major        int      `json:"major"`
	Minor        int      `json:"minor"`
	Root         string   `json:"root"` // the directory of the filesystem mounted here
	MountPoint   string   `json:"mount_point"`
	Options      string   `json:"options"`  // per-mount options
	Optional     []string `json:"optional"` // propagation: "shared:12", "master:3", ...
	FSType       string   `json:"fstype"`
	Source       string   `json:"source"`
	SuperOptions string   `json:"super_options"` // per-superblock options
}

// Link is a network interface.
type Link struct {
	Name     string `json:"name"`
	Index    int    `json:"index"`
	Up       bool   `json:"up"`
	Loopback bool   `json:"loopback"`
}

// IPC counts the System V IPC objects and lists the POSIX message queues the process can see;
// see sysvipc(7) and mq_overview(7).
type IPC struct {
	Shm     int      `json:"shm"`
	Sem     int      `json:"sem"`
	Msg     int      `json:"msg"`
	MQueues []string `json:"mqueues"` // names in /dev/mqueue when an mqueue fs is mounted there
}

// Rlimit is a resource limit; RLIM_INFINITY is 18446744073709551615.
type Rlimit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// FD is an open file descriptor and what it points to.
type FD struct {
	FD     int    `json:"fd"`
	Target string `json:"target"`
}

// TTY tells which standard streams are terminals, and the terminal size.
type TTY struct {
	Stdin  bool `json:"stdin"`
	Stdout bool `json:"stdout"`
	Stderr bool `json:"stderr"`
	Rows   int  `json:"rows"`
	Cols   int  `json:"cols"`
}

// namespaceNames are the entries of /proc/self/ns; see namespaces(7).
var namespaceNames = []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"}

// Collect observes the calling process. It is best-effort: a field that cannot be read is
// left empty and the reason is added to Report.Errors, so that a container without /proc,
// for instance, still gets a report. The returned error joins those reasons; the report is
// never nil.
func Collect() (*Report, error) {
	c := &collector{r: &Report{}}
	r := c.r
	// First: the fds as the process received them, before the probe opens any.
	r.FDs = c.fds()
	r.PID, r.PPID = os.Getpid(), os.Getppid()
	c.status()
	r.Groups = c.groups()
	r.UIDMap = c.text("/proc/self/uid_map")
	r.GIDMap = c.text("/proc/self/gid_map")
	c.uname()
	r.Namespaces = c.namespaces()
	r.Pids = c.pids()
	r.Mounts = c.mounts()
	r.Root = c.dir("/")
	r.Cgroup = c.lines("/proc/self/cgroup")
	r.CgroupLimits = cgroupLimits(r.Cgroup, r.Mounts)
	r.Links = c.links()
	r.IPC = c.ipc()
	r.Rlimits = c.rlimits()
	r.Cwd = c.cwd()
	r.OOMScoreAdj = c.oomScoreAdj()
	r.TimerSlackNS = c.timerSlack()
	r.SessionKeyring = c.sessionKeyring()
	r.Env = append([]string{}, os.Environ()...)
	r.TTY = readTTY()
	if len(r.Errors) == 0 {
		return r, nil
	}
	return r, errors.New(strings.Join(r.Errors, "; "))
}

// collector fills a Report and records what it could not read.
type collector struct{ r *Report }

func (c *collector) fail(err error) {
	if err != nil {
		c.r.Errors = append(c.r.Errors, err.Error())
	}
}

// status reads the ids, capabilities, no_new_privs, seccomp mode, umask and CPUs from
// /proc/self/status; see proc_pid_status(5).
func (c *collector) status() {
	r := c.r
	r.UID, r.GID = []int{}, []int{}
	r.Caps, r.CapsHex = map[string][]string{}, map[string]string{}
	data, err := readFile("/proc/self/status")
	if err != nil {
		c.fail(err)
		return
	}
	status := parseStatus(data)
	if ids, err := parseIDs(status["Uid"]); err != nil {
		c.fail(fmt.Errorf("/proc/self/status Uid: %w", err))
	} else {
		r.UID = ids
	}
	if ids, err := parseIDs(status["Gid"]); err != nil {
		c.fail(fmt.Errorf("/proc/self/status Gid: %w", err))
	} else {
		r.GID = ids
	}
	var capsErr error
	r.Caps, r.CapsHex, capsErr = parseCaps(status)
	c.fail(capsErr)
	r.NoNewPrivs, err = statusInt(status, "NoNewPrivs")
	c.fail(err)
	r.Seccomp, err = statusInt(status, "Seccomp")
	c.fail(err)
	r.Umask = status["Umask"]
	r.CPUs = status["Cpus_allowed_list"]
}

func (c *collector) groups() []int {
	groups, err := unix.Getgroups()
	if err != nil {
		c.fail(fmt.Errorf("getgroups: %w", err))
	}
	if groups == nil {
		groups = []int{}
	}
	return groups
}

// text returns the content of a small file, or "" and an error in the report.
func (c *collector) text(path string) string {
	data, err := readFile(path)
	c.fail(err)
	return string(data)
}

// lines returns the non-empty lines of a file.
func (c *collector) lines(path string) []string {
	lines := []string{}
	for line := range strings.SplitSeq(c.text(path), "\n") {
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

func (c *collector) dir(path string) []string {
	names, err := readDirNames(path)
	c.fail(err)
	return names
}

func (c *collector) uname() {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		c.fail(fmt.Errorf("uname: %w", err))
		return
	}
	c.r.Hostname = cString(u.Nodename[:])
	c.r.Domainname = cString(u.Domainname[:])
}

// namespaces returns the inode number of each namespace: two processes are in the same
// namespace exactly when these match. Kinds the kernel lacks are left out.
func (c *collector) namespaces() map[string]uint64 {
	inodes := map[string]uint64{}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns", &st); err != nil {
		c.fail(&os.PathError{Op: "stat", Path: "/proc/self/ns", Err: err})
		return inodes
	}
	for _, name := range namespaceNames {
		path := "/proc/self/ns/" + name
		err := unix.Stat(path, &st)
		switch {
		case err == nil:
			inodes[name] = st.Ino
		case err == unix.ENOENT:
			// This kernel has no such namespace.
		default:
			c.fail(&os.PathError{Op: "stat", Path: path, Err: err})
		}
	}
	return inodes
}

// pids lists the processes visible in /proc, which shows the pid namespace of whoever
// mounted it.
func (c *collector) pids() []int {
	pids := []int{}
	for _, name := range c.dir("/proc") {
		if pid, err := strconv.Atoi(name); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

func (c *collector) mounts() []Mount {
	data, err := readFile("/proc/self/mountinfo")
	if err != nil {
		c.fail(err)
		return []Mount{}
	}
	mounts, err := ParseMountinfo(data)
	c.fail(err)
	return mounts
}

func (c *collector) links() []Link {
	links, errs := readLinks()
	for _, err := range errs {
		c.fail(err)
	}
	return links
}

// ipc counts the System V objects in /proc/sysvipc (one header line, then one line per
// object) and lists /dev/mqueue when an mqueue filesystem is mounted there.
func (c *collector) ipc() IPC {
	ipc := IPC{
		Shm:     c.countObjects("/proc/sysvipc/shm"),
		Sem:     c.countObjects("/proc/sysvipc/sem"),
		Msg:     c.countObjects("/proc/sysvipc/msg"),
		MQueues: []string{},
	}
	for _, m := range c.r.Mounts {
		if m.MountPoint == "/dev/mqueue" && m.FSType == "mqueue" {
			ipc.MQueues = c.dir("/dev/mqueue")
			break
		}
	}
	return ipc
}

func (c *collector) countObjects(path string) int {
	return max(len(c.lines(path))-1, 0)
}

func (c *collector) rlimits() map[string]Rlimit {
	limits, errs := readRlimits()
	for _, err := range errs {
		c.fail(err)
	}
	return limits
}

func (c *collector) fds() []FD {
	fds, err := readFDs()
	c.fail(err)
	return fds
}

// cwd asks getcwd(2) directly: unlike os.Getwd it does not trust $PWD, and it shows
// "(unreachable)/..." for a working directory outside the process's root (after a chroot).
func (c *collector) cwd() string {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Getcwd(buf)
	if err != nil {
		c.fail(fmt.Errorf("getcwd: %w", err))
		return ""
	}
	return cString(buf[:n])
}

func (c *collector) oomScoreAdj() int {
	text := strings.TrimSpace(c.text("/proc/self/oom_score_adj"))
	if text == "" {
		return 0
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		c.fail(fmt.Errorf("/proc/self/oom_score_adj: %w", err))
	}
	return n
}

// timerSlack is the calling thread's timer slack in ns, which every thread of the probe has:
// a thread inherits its creator's, and the first one the slack of the thread that exec'd it.
func (c *collector) timerSlack() int {
	slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		c.fail(os.NewSyscallError("prctl PR_GET_TIMERSLACK", err))
	}
	return slack
}

// sessionKeyring describes the session keyring without making one: a process that has none
// would otherwise get a new one just for looking (keyrings(7)).
func (c *collector) sessionKeyring() string {
	id, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		if err == unix.ENOKEY {
			return ""
		}
		c.fail(os.NewSyscallError("keyctl KEYCTL_GET_KEYRING_ID", err))
		return ""
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	if err != nil {
		c.fail(os.NewSyscallError("keyctl KEYCTL_DESCRIBE", err))
	}
	return desc
}

// readFDs lists the open file descriptors from /proc/self/fd with their readlink targets.
// It leaves out the fd used to read the directory, and every fd marked close-on-exec: such an
// fd cannot have crossed the execve into the probe, so the probe (or the Go runtime, whose
// epoll fd this is) opened it itself. What remains is what the container gave the process.
func readFDs() ([]FD, error) {
	fds := []FD{}
	names, dirfd, err := listDir("/proc/self/fd")
	if err != nil {
		return fds, err
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dirfd || closeOnExec(fd) {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + name)
		if err != nil {
			continue // closed since the listing
		}
		fds = append(fds, FD{FD: fd, Target: target})
	}
	slices.SortFunc(fds, func(a, b FD) int { return a.FD - b.FD })
	return fds, nil
}

// closeOnExec reports whether fd has FD_CLOEXEC set; see fcntl(2).
func closeOnExec(fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil && flags&unix.FD_CLOEXEC != 0
}

// readTTY checks each standard stream with the TCGETS ioctl, which only a terminal answers,
// and reads the window size of the first one that is a terminal; see ioctl_tty(2).
func readTTY() TTY {
	var t TTY
	isTTY := []*bool{&t.Stdin, &t.Stdout, &t.Stderr}
	sized := false
	for fd, out := range isTTY {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			continue
		}
		*out = true
		if !sized {
			if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
				t.Rows, t.Cols = int(ws.Row), int(ws.Col)
				sized = true
			}
		}
	}
	return t
}
