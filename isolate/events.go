package isolate

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/containkit/contain/isolate/cgroups"
	"golang.org/x/sys/unix"
)

// Event is one line of `contain events`, in the shape of runc's: {"type": "stats", "id": ID,
// "data": {...}} or {"type": "oom", "id": ID}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Stats reads what a container that has not stopped has used, from its cgroup.
func Stats(root, id string) (Event, error) {
	ev := Event{Type: "stats", ID: id}
	err := withCgroup(root, id, nil, func(_ *stateDir, cg cgroups.Manager) error {
		stats, err := cg.Stats()
		ev.Data = stats
		return err
	})
	return ev, err
}

// Events writes a container's events to out, a JSON object a line, until the container's
// init exits: its cgroup's stats at once and then every interval, and an "oom" event for each
// process the OOM killer kills in it. The state lock is held only while the container is
// looked up: kill and delete go on while this watches.
func Events(root, id string, interval time.Duration, out io.Writer, log logger) error {
	var w *eventWatch
	err := withCgroup(root, id, nil, func(s *stateDir, cg cgroups.Manager) error {
		var err error
		w, err = watchContainer(s, cg, log)
		return err
	})
	if err != nil {
		return err
	}
	defer w.close()
	return w.run(interval, json.NewEncoder(out))
}

// eventWatch is what Events watches: the container's cgroup, and its init through a pidfd,
// which poll(2) reports readable when init exits.
type eventWatch struct {
	id    string
	cg    cgroups.Manager
	pidfd int
	oom   *cgroups.OOMWatch // nil where the host cannot tell
	log   logger
}

func watchContainer(s *stateDir, cg cgroups.Manager, log logger) (*eventWatch, error) {
	pidfd, err := openInit(s.state.Pid, s.state.InitStart, fmt.Sprintf("container %q", s.state.ID))
	if err != nil {
		return nil, err
	}
	w := &eventWatch{id: s.state.ID, cg: cg, pidfd: pidfd, log: log}
	if w.oom, err = cg.WatchOOM(); err != nil {
		log.Warn(fmt.Sprintf("no oom events for container %q: %v", s.state.ID, err))
		w.oom = nil
	}
	return w, nil
}

func (w *eventWatch) close() {
	unix.Close(w.pidfd)
	if w.oom != nil {
		w.oom.Close()
	}
}

// run writes events until init exits; an error writing one (the reader left) ends it too.
func (w *eventWatch) run(interval time.Duration, enc *json.Encoder) error {
	for next := time.Now(); ; {
		if !time.Now().Before(next) {
			if err := w.reportStats(enc); err != nil {
				return err
			}
			next = time.Now().Add(interval)
		}
		fds := []unix.PollFd{{Fd: int32(w.pidfd), Events: unix.POLLIN}}
		wait := time.Until(next)
		recheck := false
		if w.oom != nil {
			fds = append(fds, unix.PollFd{Fd: int32(w.oom.FD()), Events: unix.POLLIN})
			var soon time.Duration
			if soon, recheck = w.oom.Recheck(); recheck {
				wait = min(wait, soon)
			}
		}
		if _, err := unix.Poll(fds, pollTimeout(wait)); err != nil && err != unix.EINTR {
			return fmt.Errorf("poll: %w", err)
		}
		exited := fds[0].Revents != 0
		if w.oom != nil && (recheck || fds[1].Revents != 0 || exited) {
			// On init's exit too: the kill that ended it may not have been read yet.
			if err := w.reportOOMKills(enc); err != nil && !exited {
				return err
			}
		}
		if exited {
			return nil
		}
	}
}

// pollTimeout is poll(2)'s timeout for a wait of d: rounded up to the next millisecond, and
// never negative, which poll takes for "forever" (a wait already overdue, after a stall
// longer than the interval, or an OOM recheck due by now, is 0: return at once).
func pollTimeout(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// reportStats writes a "stats" event, and an "oom" event for a kill no notice has told of
// yet (one long after its v1 notice). A cgroup that cannot be read is a warning, as in runc,
// and the next interval tries again; one that is gone went with the container.
func (w *eventWatch) reportStats(enc *json.Encoder) error {
	stats, err := w.cg.Stats()
	if err != nil {
		if !w.initExited() {
			w.log.Warn(fmt.Sprintf("container %q: stats: %v", w.id, err))
		}
		return nil
	}
	if err := enc.Encode(Event{Type: "stats", ID: w.id, Data: stats}); err != nil {
		return err
	}
	if w.oom != nil {
		return w.reportOOMKills(enc)
	}
	return nil
}

// reportOOMKills writes an "oom" event for each kill since the last look.
func (w *eventWatch) reportOOMKills(enc *json.Encoder) error {
	kills, err := w.oom.Kills()
	if err != nil {
		if w.initExited() {
			return nil
		}
		return err
	}
	for range kills {
		if err := enc.Encode(Event{Type: "oom", ID: w.id}); err != nil {
			return err
		}
	}
	return nil
}

// initExited reports whether the container's init has exited (its pidfd is readable).
func (w *eventWatch) initExited() bool {
	fds := []unix.PollFd{{Fd: int32(w.pidfd), Events: unix.POLLIN}}
	n, _ := unix.Poll(fds, 0)
	return n > 0
}
