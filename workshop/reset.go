package workshop

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
)

// Reset removes what the toolkit left behind on this machine, saying each thing it removes:
//   - mounts under isolate.WorkshopRunDir, overlays mounted under the repository's work/ and
//     whatever is mounted beneath them (umount2 with MNT_DETACH, deepest first);
//   - the steps' run directories in isolate.WorkshopRunDir, then the directory itself, once
//     nothing is mounted under it;
//   - network links named like the workshop's veths: ct<digits>h and ct<digits>c;
//   - the containers in isolate.DefaultStateRoot in which nothing runs any more (init dead
//     or never made, no process in their cgroup): deleted as `contain delete` deletes them
//     (cgroup, state, poststop hooks), whoever made them (isolate.DeleteLeftover). An engine
//     that runs contain (podman) may have a stopped container there that it has yet to
//     delete; on such a machine, look at `workshop reset --dry-run` first;
//   - empty cgroups named contain or workshop (alone or followed by "-", "_" or "."), in v1
//     and v2 hierarchies (rmdir only), such as step 10's contain-workshop/10-cgroups-<pid>,
//     unless that pid still runs.
//
// It never kills a process. What belongs to a program still running is left, and said so:
// a container whose init lives, a step's run directory or veth named after a live pid.
func Reset(w io.Writer) error { return reset(w, realRoots(), false) }

// ResetPlan prints what Reset would remove, and removes nothing.
func ResetPlan(w io.Writer) error { return reset(w, realRoots(), true) }

// resetRoots are the places reset looks at and the calls that change things, so that tests
// can point reset at temporary directories and record instead of unmounting.
type resetRoots struct {
	mountinfo  string // /proc/self/mountinfo
	runDir     string // isolate.WorkshopRunDir
	workDir    string // the repository's work/; "" when the repository is unknown
	stateRoot  string // isolate.DefaultStateRoot
	netDir     string // /sys/class/net
	cgroupRoot string // /sys/fs/cgroup

	unmount    func(path string) error // umount2(path, MNT_DETACH)
	deleteLink func(name string) error // RTM_DELLINK
	alive      func(pid int) bool      // isolate.Alive
	now        func() time.Time
}

func realRoots() resetRoots {
	r := resetRoots{
		mountinfo:  "/proc/self/mountinfo",
		runDir:     isolate.WorkshopRunDir,
		stateRoot:  isolate.DefaultStateRoot,
		netDir:     "/sys/class/net",
		cgroupRoot: "/sys/fs/cgroup",
		unmount:    func(p string) error { return unix.Unmount(p, unix.MNT_DETACH) },
		deleteLink: deleteLink,
		alive:      pidAlive,
		now:        time.Now,
	}
	if repo := repoDir(); repo != "." {
		r.workDir = filepath.Join(repo, "work")
	}
	return r
}

// resetter carries one run of reset: where it writes, whether it only plans, what it did.
type resetter struct {
	w       io.Writer
	r       resetRoots
	dryRun  bool
	live    map[string]int // run directories of steps still running: their pids
	removed int
	errs    []error
}

func reset(w io.Writer, r resetRoots, dryRun bool) error {
	rs := &resetter{w: w, r: r, dryRun: dryRun}
	rs.liveRuns()
	rs.unmountAll()
	rs.removeRunDir()
	rs.deleteLinks()
	rs.removeStaleState()
	rs.removeCgroups()
	if rs.removed == 0 && len(rs.errs) == 0 {
		fmt.Fprintln(w, "nothing to reset: contain left no mounts, directories, links, state or cgroups")
	}
	return errors.Join(rs.errs...)
}

// do removes one thing and says so: "removed X", or "would remove X" in a plan.
func (rs *resetter) do(verb, past, what string, act func() error) {
	if rs.dryRun {
		fmt.Fprintf(rs.w, "would %s %s\n", verb, what)
		rs.removed++
		return
	}
	if err := act(); err != nil {
		rs.fail(fmt.Errorf("%s %s: %w", verb, what, err))
		return
	}
	fmt.Fprintf(rs.w, "%s %s\n", past, what)
	rs.removed++
}

// log is where the deletes of containers say their warnings (a poststop hook that failed).
func (rs *resetter) log() *slog.Logger {
	return slog.New(slog.NewTextHandler(rs.w, nil))
}

func (rs *resetter) fail(err error) {
	fmt.Fprintf(rs.w, "failed: %v\n", err)
	rs.errs = append(rs.errs, err)
}

// --- mounts ---------------------------------------------------------------------------------

// liveRuns finds the run directories whose step program still runs. The steps name them
// <step>-<pid of the program> (06-overlay-4242); reset leaves those, and their mounts, alone.
func (rs *resetter) liveRuns() {
	rs.live = map[string]int{}
	entries, _ := os.ReadDir(rs.r.runDir)
	for _, e := range entries {
		if pid, ok := ownerPid(e.Name()); ok && rs.r.alive(pid) {
			dir := filepath.Join(rs.r.runDir, e.Name())
			rs.live[dir] = pid
			fmt.Fprintf(rs.w, "left %s: its step is still running (pid %d)\n", dir, pid)
		}
	}
}

// ownerPid reads the pid at the end of a run directory's name: "06-overlay-4242" is 4242.
func ownerPid(name string) (int, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(name[i+1:])
	return pid, err == nil && pid > 0
}

func (rs *resetter) unmountAll() {
	all, err := rs.mounts()
	if err != nil {
		rs.fail(err)
		return
	}
	for _, m := range ourMounts(all, rs.r.runDir, rs.r.workDir) {
		if rs.touchesLiveRun(m.point) {
			continue
		}
		rs.do("unmount", "unmounted", fmt.Sprintf("%s (%s)", m.point, m.fstype), func() error { return rs.r.unmount(m.point) })
	}
	if p := stepThreeLeak(all); p != "" {
		fmt.Fprintf(rs.w, "left %s: a tmpfs there may be the mount that step 03's exercise leaked without MS_PRIVATE; if you did not mount it, run: sudo umount %s\n", p, p)
	}
}

func (rs *resetter) mounts() ([]mountEntry, error) {
	data, err := os.ReadFile(rs.r.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	return parseMountinfo(data), nil
}

// touchesLiveRun reports whether path is in a live run's directory or holds one.
func (rs *resetter) touchesLiveRun(path string) bool {
	for dir := range rs.live {
		if isUnder(path, dir) || isUnder(dir, path) {
			return true
		}
	}
	return false
}

// ourMounts picks the toolkit's mounts, in the order to unmount them: the deepest mount point
// first, and the most recent mount first among mounts stacked on one point. Ours are those
// under runDir (or on it), the overlays under workDir, and whatever lies beneath those overlays.
func ourMounts(all []mountEntry, runDir, workDir string) []mountEntry {
	var overlays []string
	for _, m := range all {
		if workDir != "" && m.fstype == "overlay" && isUnder(m.point, workDir) {
			overlays = append(overlays, m.point)
		}
	}
	var ours []mountEntry
	for _, m := range all {
		if isUnder(m.point, runDir) || slices.ContainsFunc(overlays, func(o string) bool { return isUnder(m.point, o) }) {
			ours = append(ours, m)
		}
	}
	slices.SortStableFunc(ours, func(a, b mountEntry) int {
		if d := depth(b.point) - depth(a.point); d != 0 {
			return d
		}
		return b.id - a.id
	})
	return ours
}

// isUnder reports whether path is dir or lies below it. Both are clean absolute paths.
func isUnder(path, dir string) bool {
	dir = filepath.Clean(dir)
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

func depth(path string) int { return strings.Count(filepath.Clean(path), "/") }

// stepThreeLeak returns "/mnt" when a tmpfs is mounted there: reset cannot know whose it is.
func stepThreeLeak(all []mountEntry) string {
	for _, m := range all {
		if m.point == "/mnt" && m.fstype == "tmpfs" {
			return m.point
		}
	}
	return ""
}

// --- the run directory ----------------------------------------------------------------------

// removeRunDir removes the run directories of steps no longer running, then runDir itself
// once it is empty. Nothing is removed while something is still mounted in it: removing
// through a mount would delete what the mount shows.
func (rs *resetter) removeRunDir() {
	entries, err := os.ReadDir(rs.r.runDir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		rs.fail(fmt.Errorf("list %s: %w", rs.r.runDir, err))
		return
	}
	for _, e := range entries {
		dir := filepath.Join(rs.r.runDir, e.Name())
		if _, live := rs.live[dir]; live || rs.stillMounted(dir) {
			continue
		}
		rs.do("remove", "removed", dir, func() error { return os.RemoveAll(dir) })
	}
	if len(rs.live) > 0 || rs.stillMounted(rs.r.runDir) {
		return
	}
	rs.do("remove", "removed", rs.r.runDir, func() error { return os.Remove(rs.r.runDir) })
}

// stillMounted reports (and counts as a failure) a mount left on or under dir. A plan has
// unmounted nothing, so it does not ask.
func (rs *resetter) stillMounted(dir string) bool {
	if rs.dryRun {
		return false
	}
	all, err := rs.mounts()
	if err != nil {
		rs.fail(err)
		return true
	}
	for _, m := range all {
		if isUnder(m.point, dir) {
			rs.fail(fmt.Errorf("left %s: %s is still mounted", dir, m.point))
			return true
		}
	}
	return false
}

// --- network links --------------------------------------------------------------------------

// vethName matches the workshop's veth pairs: ct<n>h on the host, ct<n>c in the container.
var vethName = regexp.MustCompile(`^ct[0-9]+[hc]$`)

func (rs *resetter) deleteLinks() {
	entries, err := os.ReadDir(rs.r.netDir)
	if err != nil {
		rs.fail(fmt.Errorf("list links: %w", err))
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !vethName.MatchString(name) || !rs.isVirtualLink(name) {
			continue
		}
		// The number in the name is the pid of the step that made the pair.
		if pid, _ := strconv.Atoi(name[2 : len(name)-1]); pid > 0 && rs.r.alive(pid) {
			fmt.Fprintf(rs.w, "left link %s: its step is still running (pid %d)\n", name, pid)
			continue
		}
		// Deleting one end of a veth pair deletes its peer: the peer may be gone by now.
		if _, err := os.Lstat(filepath.Join(rs.r.netDir, name)); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(rs.w, "link %s went with its peer\n", name)
			continue
		}
		rs.do("delete link", "deleted link", name, func() error { return rs.r.deleteLink(name) })
	}
}

// isVirtualLink reports whether a link has no device behind it (a veth, not a network card):
// sysfs gives real hardware a "device" entry.
func (rs *resetter) isVirtualLink(name string) bool {
	_, err := os.Stat(filepath.Join(rs.r.netDir, name, "device"))
	return errors.Is(err, fs.ErrNotExist)
}

// deleteLink deletes a network link with an RTM_DELLINK request on a NETLINK_ROUTE socket,
// what `ip link del NAME` sends; see rtnetlink(7).
func deleteLink(name string) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	const seq = 1
	if err := rtnetlink(delLinkRequest(seq, int32(ifi.Index)), seq); err != nil {
		return fmt.Errorf("rtm_dellink %s: %w", name, err)
	}
	return nil
}

// rtnetlink sends one request that asks for an acknowledgement (NLM_F_ACK) to the kernel
// and waits for the answer to seq.
func rtnetlink(req []byte, seq uint32) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("socket netlink_route: %w", err)
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sendto netlink_route: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("recvfrom netlink_route: %w", err)
		}
		if done, err := parseAck(buf[:n], seq); done {
			return err
		}
	}
}

// delLinkRequest is a struct nlmsghdr and a struct ifinfomsg naming the link by its index,
// asking for an acknowledgement.
func delLinkRequest(seq uint32, index int32) []byte {
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))                  // nlmsg_len
	ne.PutUint16(req[4:], unix.RTM_DELLINK)                  // nlmsg_type
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK) // nlmsg_flags
	ne.PutUint32(req[8:], seq)                               // nlmsg_seq
	req[unix.SizeofNlMsghdr] = unix.AF_UNSPEC                // ifi_family
	ne.PutUint32(req[unix.SizeofNlMsghdr+4:], uint32(index)) // ifi_index
	return req
}

// parseAck finds the NLMSG_ERROR answering seq: done, with nil for an acknowledgement.
func parseAck(b []byte, seq uint32) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofNlMsghdr {
		size := int(ne.Uint32(b[0:]))
		if size < unix.SizeofNlMsghdr || size > len(b) {
			return true, errors.New("parse netlink message: bad nlmsg_len")
		}
		if ne.Uint16(b[4:]) == unix.NLMSG_ERROR && ne.Uint32(b[8:]) == seq {
			payload := b[unix.SizeofNlMsghdr:size]
			if len(payload) < 4 {
				return true, errors.New("parse netlink message: truncated nlmsgerr")
			}
			if code := int32(ne.Uint32(payload)); code != 0 {
				return true, syscall.Errno(-code)
			}
			return true, nil
		}
		b = b[min((size+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b)):]
	}
	return false, nil
}

// --- container state ------------------------------------------------------------------------

// neverStarted is how long a state without a pid may be "being created" before it is stale.
const neverStarted = time.Minute

func (rs *resetter) removeStaleState() {
	entries, err := os.ReadDir(rs.r.stateRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		rs.fail(fmt.Errorf("list state: %w", err))
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(rs.r.stateRoot, e.Name())
		if isolate.IsRemovedState(e.Name()) {
			rs.do("remove", "removed", dir+" (what a stopped contain delete left)", func() error { return os.RemoveAll(dir) })
			continue
		}
		st, ok := readState(dir, e.Name())
		if !ok {
			continue // not a container's state: not ours to judge
		}
		switch {
		case st.Pid > 0 && rs.r.alive(st.Pid):
			fmt.Fprintf(rs.w, "left %s: container %s is running (init pid %d): reset never stops one\n", dir, st.ID, st.Pid)
		case st.Pid == 0 && rs.r.now().Sub(st.Created) < neverStarted:
			fmt.Fprintf(rs.w, "left %s: container %s is being created\n", dir, st.ID)
		default:
			// As `contain delete` does it (its cgroup and poststop hooks go with it), whoever
			// made it, but only when nothing of it runs: checked again under its lock.
			id := st.ID
			what := fmt.Sprintf("container %s (%s, %s), as contain delete does", id, dir, deadWhy(st.Pid))
			if rs.dryRun {
				rs.do("delete", "deleted", what, nil)
				continue
			}
			err := isolate.DeleteLeftover(rs.r.stateRoot, id, rs.log())
			if errors.Is(err, isolate.ErrStillRuns) {
				fmt.Fprintf(rs.w, "left %s: %v: reset never stops one\n", dir, err)
				continue
			}
			rs.do("delete", "deleted", what, func() error { return err })
		}
	}
}

// stateFile is the part of isolate.State that reset reads.
type stateFile struct {
	ID      string    `json:"id"`
	Pid     int       `json:"pid"`
	Created time.Time `json:"created"`
}

// readState reads dir/state.json; ok only when it is a container's state for the id name.
func readState(dir, name string) (stateFile, bool) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return stateFile{}, false
	}
	var st stateFile
	if json.Unmarshal(data, &st) != nil || st.ID != name || st.Pid < 0 {
		return stateFile{}, false
	}
	return st, true
}

func deadWhy(pid int) string {
	if pid == 0 {
		return "never started"
	}
	return fmt.Sprintf("init pid %d is gone", pid)
}

// pidAlive reports whether a process pid exists and has not exited (isolate.Alive: a zombie
// that its parent has yet to reap is dead). A pid reused by another process counts as alive:
// reset errs on the side of leaving things. The pid is looked up in reset's own pid
// namespace, the one the workshop's containers and steps are started from; state written by
// a runtime inside another pid namespace would be misjudged.
func pidAlive(pid int) bool { return isolate.Alive(pid) }

// --- cgroups --------------------------------------------------------------------------------

// cgroupName matches the toolkit's cgroups: "contain" or "workshop", alone or followed by
// "-", "_" or "." and anything. Not "containerd" or "containers": those are someone else's.
var cgroupName = regexp.MustCompile(`^(contain|workshop)([-_.].*)?$`)

// maxCgroupDepth bounds the search: v1 puts controllers one level deeper than v2.
const maxCgroupDepth = 6

func (rs *resetter) removeCgroups() {
	var ours []string
	rs.findCgroups(rs.r.cgroupRoot, 0, &ours)
	for _, dir := range ours {
		rs.removeCgroupTree(dir)
	}
}

// findCgroups collects the directories under dir whose name is the toolkit's, without
// following symlinks (v1's cpu -> cpu,cpuacct aliases).
func (rs *resetter) findCgroups(dir string, level int, ours *[]string) {
	if level > maxCgroupDepth {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if cgroupName.MatchString(e.Name()) {
			*ours = append(*ours, path)
			continue
		}
		rs.findCgroups(path, level+1, ours)
	}
}

// removeCgroupTree rmdirs a cgroup of the toolkit's and its child cgroups, deepest first.
// rmdir(2) of a cgroup fails with EBUSY while it has processes: such a cgroup is left.
func (rs *resetter) removeCgroupTree(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	slices.SortStableFunc(dirs, func(a, b string) int { return depth(b) - depth(a) })
	for _, dir := range dirs {
		if pid, ok := stepCgroupPid(dir); ok && rs.r.alive(pid) {
			fmt.Fprintf(rs.w, "left cgroup %s: its step is still running (pid %d)\n", dir, pid)
			continue
		}
		if rs.dryRun {
			rs.do("remove cgroup", "removed cgroup", dir, nil)
			continue
		}
		err := unix.Rmdir(dir)
		switch {
		case err == nil:
			fmt.Fprintf(rs.w, "removed cgroup %s\n", dir)
			rs.removed++
		case errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST):
			fmt.Fprintf(rs.w, "left cgroup %s: it is not empty (processes or files in it)\n", dir)
		default:
			rs.fail(fmt.Errorf("rmdir cgroup %s: %w", dir, err))
		}
	}
}

// stepCgroup matches the cgroups the steps make in contain-workshop: <step>-<pid of the program>.
var stepCgroup = regexp.MustCompile(`^[0-9]{2}-[a-z0-9-]+-([0-9]+)$`)

// stepCgroupPid reads the pid in the name of a step's cgroup, /.../contain-workshop/10-cgroups-4242.
func stepCgroupPid(dir string) (int, bool) {
	m := stepCgroup.FindStringSubmatch(filepath.Base(dir))
	if m == nil || filepath.Base(filepath.Dir(dir)) != "contain-workshop" {
		return 0, false
	}
	pid, err := strconv.Atoi(m[1])
	return pid, err == nil && pid > 0
}
