package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// OOMWatch tells when the kernel's OOM killer kills a process of a cgroup. FD becomes
// readable when the cgroup's memory events change, and Kills then says how many kills there
// were since its last call. The notice is the kernel's own, so a watcher sleeps in poll(2)
// rather than reading files on a timer:
//
//   - v2: inotify(7) on memory.events, which the kernel marks modified at each event
//     (cgroup-v2.rst: "a value change in this file generates a file modified event").
//   - v1: an eventfd(2) registered for memory.oom_control through cgroup.event_control
//     (cgroup-v1/memory.rst, "OOM Control"), which the kernel also signals when the cgroup is
//     removed.
//
// Both count from memory.events' or memory.oom_control's "oom_kill" (Linux 4.13), so one
// kill is one kill however many notices it caused.
type OOMWatch struct {
	fd    int    // inotify or eventfd, non-blocking
	dir   string // the memory controller's directory
	file  string // where "oom_kill" is counted
	kills uint64 // the count at the last look
	// v1's notice comes when the cgroup runs out of memory, before the OOM killer has picked
	// its victim, and the kill sends none of its own: after a notice that found no kill
	// counted, Recheck asks for more looks until recheckUntil. On v2 the kill itself changes
	// memory.events, which is a notice of its own.
	rechecks     bool
	recheckUntil time.Time
}

// recheckFor is how long after a v1 notice the count is looked at again.
const recheckFor = time.Second

// WatchOOM watches the cgroup's memory.events.
func (c *V2) WatchOOM() (*OOMWatch, error) {
	w := &OOMWatch{dir: c.Dir(), file: "memory.events"}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	w.fd = fd
	path := filepath.Join(w.dir, w.file)
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		w.Close()
		return nil, &os.PathError{Op: "inotify_add_watch", Path: path, Err: err}
	}
	return w, w.start()
}

// WatchOOM registers an eventfd for the memory hierarchy's memory.oom_control.
func (c *V1) WatchOOM() (*OOMWatch, error) {
	dir, ok := c.dir("memory")
	if !ok {
		return nil, errors.New("this host mounts no memory cgroup hierarchy")
	}
	w := &OOMWatch{dir: dir, file: "memory.oom_control", rechecks: true}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	w.fd = fd
	control := filepath.Join(dir, w.file)
	cfd, err := openFile(control, unix.O_RDONLY)
	if err != nil {
		w.Close()
		return nil, &os.PathError{Op: "open", Path: control, Err: err}
	}
	// "<eventfd> <fd of the file to watch>": the kernel takes its own references to both.
	err = writeFile(dir, "cgroup.event_control", strconv.Itoa(fd)+" "+strconv.Itoa(cfd))
	unix.Close(cfd)
	if err != nil {
		w.Close()
		return nil, err
	}
	return w, w.start()
}

// start reads the kill count there is already: kills before the watch are not news.
func (w *OOMWatch) start() error {
	kills, err := w.count()
	if err != nil {
		w.Close()
		return err
	}
	w.kills = kills
	return nil
}

// count reads "oom_kill" from the watched file.
func (w *OOMWatch) count() (uint64, error) {
	f := &statFiles{dir: w.dir}
	kills, ok := f.keyed(w.file)["oom_kill"]
	if f.err != nil {
		return 0, f.err
	}
	if !ok {
		return 0, fmt.Errorf("%s: no oom_kill count (Linux 4.13 or newer has one)", filepath.Join(w.dir, w.file))
	}
	return kills, nil
}

// FD is the descriptor to poll for POLLIN.
func (w *OOMWatch) FD() int { return w.fd }

// Kills takes the pending notices and returns the number of OOM kills since the last call.
// An error means the cgroup is gone, or its files cannot be read.
//
// On v1, a notice with no kill counted yet makes Recheck ask for another look soon.
func (w *OOMWatch) Kills() (uint64, error) {
	buf := make([]byte, 4096) // whole inotify events, or the eventfd's 8-byte counter
	for {
		if _, err := unix.Read(w.fd, buf); err != nil {
			break // EAGAIN: nothing more pending
		}
	}
	kills, err := w.count()
	if err != nil {
		return 0, err
	}
	n := kills - w.kills
	if kills < w.kills {
		n = 0
	}
	w.kills = kills
	switch {
	case !w.rechecks:
	case n > 0:
		w.recheckUntil = time.Time{}
	case w.recheckUntil.IsZero():
		w.recheckUntil = time.Now().Add(recheckFor)
	case time.Now().After(w.recheckUntil):
		w.recheckUntil = time.Time{} // out of memory, and nothing killed (oom_kill_disable)
	}
	return n, nil
}

// Recheck says whether Kills should be called again without a notice, and how soon.
func (w *OOMWatch) Recheck() (time.Duration, bool) {
	if w.recheckUntil.IsZero() {
		return 0, false
	}
	return 10 * time.Millisecond, true
}

// Close stops the watch.
func (w *OOMWatch) Close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// LimitCounts is what a cgroup's memory and pids controllers counted since the cgroup was
// made: what tells a process that died of a limit from one that died of something else, after
// the fact (one that died before anything watched, such as a container's init).
type LimitCounts struct {
	MemoryLimit uint64 // bytes; math.MaxUint64 when the cgroup has none of its own
	// MemoryLimitHits counts the charges that met the limit: memory.events "max" on v2,
	// memory.failcnt on v1 (which Linux 6.18 leaves at 0: count on OOMKills there).
	MemoryLimitHits uint64
	OOMKills        uint64 // the processes the OOM killer killed in the cgroup ("oom_kill")
	PidsLimit       uint64 // tasks; math.MaxUint64 when the cgroup has none of its own
	PidsLimitHits   uint64 // the forks refused for a pids limit (pids.events "max")
}

// LimitCounts reads memory.max, memory.events, pids.max and pids.events. A cgroup without
// one of the controllers has none of its files: it counts nothing there.
func (c *V2) LimitCounts() (LimitCounts, error) {
	f := &statFiles{dir: c.Dir()}
	f.mustExist()
	memory := f.keyed("memory.events")
	n := LimitCounts{MemoryLimit: f.number("memory.max"), MemoryLimitHits: memory["max"], OOMKills: memory["oom_kill"],
		PidsLimit: f.number("pids.max"), PidsLimitHits: f.keyed("pids.events")["max"]}
	return n, f.err
}

// LimitCounts reads memory.limit_in_bytes, memory.failcnt and memory.oom_control in the memory
// hierarchy, pids.max and pids.events in the pids one.
func (c *V1) LimitCounts() (LimitCounts, error) {
	var n LimitCounts
	var errs []error
	if dir, ok := c.dir("memory"); ok {
		f := &statFiles{dir: dir}
		f.mustExist()
		n.MemoryLimit, n.MemoryLimitHits = f.number("memory.limit_in_bytes"), f.number("memory.failcnt")
		n.OOMKills = f.keyed("memory.oom_control")["oom_kill"]
		if n.MemoryLimit >= v1Unlimited {
			n.MemoryLimit = math.MaxUint64
		}
		errs = append(errs, f.err)
	}
	if dir, ok := c.dir("pids"); ok {
		f := &statFiles{dir: dir}
		f.mustExist()
		n.PidsLimit, n.PidsLimitHits = f.number("pids.max"), f.keyed("pids.events")["max"]
		errs = append(errs, f.err)
	}
	return n, errors.Join(errs...)
}
