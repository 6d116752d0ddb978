package checks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/isolate/cgroups"
)

// Step 10's program runs the container in a cgroup with the limits its flags ask for. Each
// check gives it a small limit, runs an attack or a load inside, and reads the cgroup's
// counters from the host while the container waits (the program removes its cgroup when it
// exits). The checks find the cgroup from /proc/PID/cgroup of the container's first process,
// on cgroup v2 (one tree at /sys/fs/cgroup) or v1 (one per controller), and demand that it is
// not the program's own: a limit written to a cgroup the container is not in limits nothing.

// cgroupRoot is where the host mounts its cgroups.
const cgroupRoot = "/sys/fs/cgroup"

// heldMarker is the line the container prints when it is done and waits to be let go.
const heldMarker = "probe-held"

// onV1 ends the hints of the limits' checks: on a v1 host the exercise's limits code does not
// run, and the part left to write is the child's joining.
const onV1 = " (on a cgroup v1 host the limits are written for you, by the v1 code the step already has: " +
	"there, the child must join its cgroup, writing 0 to each hierarchy's cgroup.procs)"

func init() {
	caveats[10] = func() string {
		if cgroups.IsV2(cgroupRoot) {
			return ""
		}
		return "this host's cgroup controllers are v1, so the program took its v1 path (makeCgroupV1 and the child's join), " +
			"and the TODOs for cgroup v2, the limits' files and CLONE_INTO_CGROUP, did not run: nothing above checked them. " +
			"Check them on a cgroup v2 host, such as the workshop VM"
	}
	register(10,
		Check{
			Name: "the container runs in a cgroup of its own, with the limits asked for",
			Hint: "the parent writes pids.max, memory.max and cpu.max (\"QUOTA PERIOD\") into the new cgroup's directory, and starts the child inside it (SysProcAttr.UseCgroupFD and CgroupFD; on v1 the child writes 0 to each cgroup.procs)",
			Run: func(e *Env) error {
				_, err := runHeld(e, []string{"--pids", "16", "--memory", "48M", "--cpu", "0.3"}, ":", func(h *held) error {
					var problems []string
					expect := func(ctrl, file, want string) {
						if got, err := h.cg.read(ctrl, file); err != nil {
							problems = append(problems, err.Error())
						} else if got != want {
							problems = append(problems, fmt.Sprintf("%s is %q, want %q", file, got, want))
						}
					}
					var cpu float64
					var err error
					if h.cg.v2 {
						expect("", "pids.max", "16")
						expect("", "memory.max", "50331648")
						if _, err := os.Stat(h.cg.file("", "memory.swap.max")); err == nil {
							expect("", "memory.swap.max", "0")
						}
						cpu, err = h.cg.cpuV2()
					} else {
						expect("pids", "pids.max", "16")
						expect("memory", "memory.limit_in_bytes", "50331648")
						cpu, err = h.cg.cpuV1()
					}
					if err != nil {
						problems = append(problems, err.Error())
					} else if math.Abs(cpu-0.3) > 0.001 {
						problems = append(problems, fmt.Sprintf("the CPU quota is %g CPUs, want 0.3", cpu))
					}
					if len(problems) > 0 {
						return fmt.Errorf("in the container's cgroup %s: %s", h.cg.path(), strings.Join(problems, "; "))
					}
					return nil
				})
				return err
			},
		},
		Check{
			Name: "a fork bomb stops at pids.max",
			Hint: "write --pids to pids.max in the container's cgroup; every process and thread in the cgroup counts, and clone(2) fails with EAGAIN at the limit" + onV1,
			Run: func(e *Env) error {
				_, err := runHeld(e, []string{"--pids", "16"}, "/bin/probe forkn 64", func(h *held) error {
					var res probe.ForkResult
					if err := h.result("forkn", &res); err != nil {
						return err
					}
					if res.OK || res.Errno != "EAGAIN" || res.Started >= 16 {
						return fmt.Errorf("with --pids 16, probe forkn 64 started %d processes (%s): want it stopped with EAGAIN before 16", res.Started, resultText(res.Result))
					}
					ctrl := h.cg.ctrl("pids")
					n, err := h.cg.counter(ctrl, "pids.events", "max")
					if err != nil {
						return err
					}
					if n == 0 {
						return fmt.Errorf("forkn got EAGAIN, but pids.events of the container's cgroup %s counts no fork refused at its pids.max", h.cg.path())
					}
					return nil
				})
				return err
			},
		},
		Check{
			Name: "a memory hog is killed inside, and the program outside lives on",
			Hint: "write --memory to memory.max (and 0 to memory.swap.max) in the container's cgroup: the OOM killer then picks a process in that cgroup, not on the host" + onV1,
			Run: func(e *Env) error {
				out, err := runHeld(e, []string{"--memory", "32M"}, `/bin/probe memhog 256 >/dev/null; echo "memhog status $?"`, func(h *held) error {
					if !h.printed("memhog status 137") {
						return fmt.Errorf("with --memory 32M, probe memhog 256 was not killed by SIGKILL (status 137): the container printed %q", strings.Join(h.lines, "; "))
					}
					var kills int64
					var err error
					if h.cg.v2 {
						kills, err = h.cg.counter("", "memory.events", "oom_kill")
					} else if kills, err = h.cg.counter("memory", "memory.oom_control", "oom_kill"); err == nil && kills == 0 {
						kills, err = h.cg.number("memory", "memory.failcnt")
					}
					if err != nil {
						return err
					}
					if kills == 0 {
						return fmt.Errorf("memhog was killed, but the container's cgroup %s counts no OOM kill", h.cg.path())
					}
					return nil
				})
				if err == nil && out.Code != 0 {
					return fmt.Errorf("the program exited %d after the OOM kill inside, want 0: the shell in the container and the program outside must live on (%s)", out.Code, firstLine(out.Stderr))
				}
				return err
			},
		},
		Check{
			Name: "a busy loop is throttled to the CPU quota",
			Hint: "write \"QUOTA PERIOD\" to cpu.max in the container's cgroup: --cpu 0.1 is 10000 100000, a tenth of a CPU" + onV1,
			Run: func(e *Env) error {
				_, err := runHeld(e, []string{"--cpu", "0.1"}, "/bin/probe spin 0.5", func(h *held) error {
					var res probe.SpinResult
					if err := h.result("spin", &res); err != nil {
						return err
					}
					ctrl := h.cg.ctrl("cpu")
					throttled, err := h.cg.counter(ctrl, "cpu.stat", "nr_throttled")
					if err != nil {
						return fmt.Errorf("%w: is the cpu controller enabled for the container's cgroup (cgroup.subtree_control above it)?", err)
					}
					if throttled == 0 || res.CPUMs*2 > res.WallMs {
						return fmt.Errorf("with --cpu 0.1, probe spin got %d ms of CPU in %d ms, and cpu.stat of the container's cgroup %s says it was throttled %d times: want it held to about a tenth",
							res.CPUMs, res.WallMs, h.cg.path(), throttled)
					}
					return nil
				})
				return err
			},
		},
		Check{
			Name: "the cgroup is removed when the container exits",
			Hint: "after the child exits, rmdir(2) the cgroup's directory (v2), or Destroy it (v1); rmdir fails with EBUSY while processes are still in it",
			Run: func(e *Env) error {
				var dirs []string
				out, err := runHeld(e, nil, ":", func(h *held) error {
					dirs = h.cg.dirs()
					return nil
				})
				if err != nil {
					return err
				}
				var left []string
				for _, d := range dirs {
					if _, err := os.Stat(d); err == nil {
						left = append(left, d)
					}
				}
				if len(left) > 0 {
					return fmt.Errorf("after the program exited (status %d), its cgroup is still there: %s", out.Code, strings.Join(left, ", "))
				}
				return nil
			},
		},
	)
}

// held is a container that has run its script and waits to be let go.
type held struct {
	lines []string   // what it printed
	cg    *cgroupsOf // its cgroup, as the host sees it
}

// printed reports whether the container printed line.
func (h *held) printed(line string) bool {
	for _, l := range h.lines {
		if l == line {
			return true
		}
	}
	return false
}

// result decodes the JSON line a probe action printed.
func (h *held) result(action string, v any) error {
	for _, l := range h.lines {
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), v) == nil {
			return nil
		}
	}
	return fmt.Errorf("probe %s inside printed no result: %q", action, strings.Join(h.lines, "; "))
}

// runHeld runs the program with flags and, as its command, a shell that runs script, prints
// heldMarker and waits for its stdin to close. It calls during while the container waits,
// then lets it go and returns what the program did.
func runHeld(e *Env, flags []string, script string, during func(*held) error) (Output, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	args := append(append([]string{}, flags...), "--", "/bin/sh", "-c", script+"; echo "+heldMarker+"; read line; exit 0")
	cmd := e.Command(ctx, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Output{}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Output{}, err
	}
	defer r.Close()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		return Output{}, err
	}
	duringErr := func() error {
		r.SetReadDeadline(time.Now().Add(e.Timeout))
		h := &held{}
		sc := bufio.NewScanner(r)
		for {
			if !sc.Scan() {
				return errors.New("the container ended before its command was done (no cgroup to look at)")
			}
			if sc.Text() == heldMarker {
				break
			}
			h.lines = append(h.lines, sc.Text())
		}
		ctPid, err := childOf(cmd.Process.Pid)
		if err != nil {
			return err
		}
		if h.cg, err = containerCgroup(cgroupRoot, cmd.Process.Pid, ctPid); err != nil {
			return err
		}
		return during(h)
	}()
	stdin.Close()
	cmd.Wait()
	out := Output{Stderr: stderr.String(), Pid: cmd.Process.Pid, Code: exitCode(cmd.ProcessState)}
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("still running after %v: killed (is the child waiting for something?)", e.Timeout)
	case duringErr != nil && stderr.Len() > 0:
		return out, fmt.Errorf("%w (the program said: %s)", duringErr, firstLine(stderr.String()))
	}
	return out, duringErr
}

// exitCode is the status as a shell reports it: 128+N when signal N killed the process.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws := ps.Sys().(syscall.WaitStatus); ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// cgroupsOf is a process's cgroup on the host: one directory on v2, one per hierarchy on v1.
type cgroupsOf struct {
	root  string
	v2    bool
	paths map[string]string // v1: hierarchy directory name ("pids", "cpu,cpuacct") -> path; v2: "" -> path
}

// containerCgroup reads the cgroup of the container's first process (pid ct) and checks that
// it is not the program's (pid program) for the controllers the step limits.
func containerCgroup(root string, program, ct int) (*cgroupsOf, error) {
	mine, err := readProcCgroup(root, ct)
	if err != nil {
		return nil, err
	}
	theirs, err := readProcCgroup(root, program)
	if err != nil {
		return nil, err
	}
	controllers := []string{""}
	if !mine.v2 {
		controllers = []string{"pids", "memory", "cpu"}
	}
	for _, c := range controllers {
		k := mine.ctrl(c)
		if _, ok := mine.paths[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/cgroup names no cgroup for the %s controller", ct, c)
		}
		if mine.paths[k] == theirs.paths[k] {
			what := "cgroup"
			if c != "" {
				what = c + " cgroup"
			}
			return nil, fmt.Errorf("the container is in the program's own %s, %s: the child must start inside the new cgroup (or, on v1, join it)", what, mine.paths[k])
		}
	}
	if !mine.v2 {
		if err := joinedEverywhere(root, ct, mine.paths[mine.ctrl("pids")]); err != nil {
			return nil, err
		}
	}
	return mine, nil
}

// joinedEverywhere checks, on a v1 or hybrid host, that process ct is in the cgroup path in
// every hierarchy where the step made it, the cgroup2 one of a hybrid host included: a
// process left out of one is out of reach of what that hierarchy tracks and kills.
func joinedEverywhere(root string, ct int, path string) error {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ct))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		dir := strings.TrimPrefix(parts[1], "name=")
		if dir == "" {
			dir = "unified" // the cgroup2 hierarchy of a hybrid host
		}
		if _, err := os.Stat(filepath.Join(root, dir, path)); err != nil {
			continue // the step made no cgroup in this hierarchy
		}
		if parts[2] != path {
			return fmt.Errorf("in the %s hierarchy the container is in %s, not in %s: it must join the cgroup in every hierarchy (write 0 to each cgroup.procs in files)", dir, parts[2], path)
		}
	}
	return nil
}

// readProcCgroup reads /proc/PID/cgroup: "0::/path" on v2, "ID:controllers:/path" per
// hierarchy on v1, whose directory under root is named after its controllers.
func readProcCgroup(root string, pid int) (*cgroupsOf, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	return parseProcCgroup(root, cgroups.IsV2(root), string(data)), nil
}

func parseProcCgroup(root string, v2 bool, data string) *cgroupsOf {
	c := &cgroupsOf{root: root, v2: v2, paths: map[string]string{}}
	for _, line := range strings.Split(data, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || (parts[1] == "") != v2 || strings.HasPrefix(parts[1], "name=") {
			continue
		}
		c.paths[parts[1]] = parts[2]
	}
	return c
}

// ctrl is the key of controller's hierarchy: "" on v2; on v1 the directory that holds it
// ("cpu" may be in "cpu,cpuacct").
func (c *cgroupsOf) ctrl(controller string) string {
	if c.v2 {
		return ""
	}
	for k := range c.paths {
		for _, name := range strings.Split(k, ",") {
			if name == controller {
				return k
			}
		}
	}
	return controller
}

// path is the cgroup's path, for messages.
func (c *cgroupsOf) path() string {
	if c.v2 {
		return c.paths[""]
	}
	return c.paths[c.ctrl("pids")] + " (v1)"
}

// file is a control file of the cgroup, in the hierarchy of ctrl (a key from ctrl).
func (c *cgroupsOf) file(ctrl, name string) string {
	return filepath.Join(c.root, ctrl, c.paths[ctrl], name)
}

// dirs are the cgroup's directories in every hierarchy.
func (c *cgroupsOf) dirs() []string {
	var dirs []string
	for k, p := range c.paths {
		if p != "/" {
			dirs = append(dirs, filepath.Join(c.root, k, p))
		}
	}
	return dirs
}

// read returns a control file's content, trimmed.
func (c *cgroupsOf) read(ctrl, name string) (string, error) {
	data, err := os.ReadFile(c.file(ctrl, name))
	return strings.TrimSpace(string(data)), err
}

// number reads a control file that holds one number.
func (c *cgroupsOf) number(ctrl, name string) (int64, error) {
	s, err := c.read(ctrl, name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

// counter reads the value of key in a "key value" file such as pids.events or cpu.stat.
func (c *cgroupsOf) counter(ctrl, name, key string) (int64, error) {
	s, err := c.read(ctrl, name)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %q line", c.file(ctrl, name), key)
}

// cpuV2 reads cpu.max, "QUOTA PERIOD", as a number of CPUs.
func (c *cgroupsOf) cpuV2() (float64, error) {
	s, err := c.read("", "cpu.max")
	if err != nil {
		return 0, err
	}
	quota, period, _ := strings.Cut(s, " ")
	q, err1 := strconv.ParseFloat(quota, 64)
	p, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || p <= 0 {
		return 0, fmt.Errorf("cpu.max is %q: no quota", s)
	}
	return q / p, nil
}

// cpuV1 reads cpu.cfs_quota_us and cpu.cfs_period_us as a number of CPUs.
func (c *cgroupsOf) cpuV1() (float64, error) {
	ctrl := c.ctrl("cpu")
	q, err := c.number(ctrl, "cpu.cfs_quota_us")
	if err != nil {
		return 0, err
	}
	p, err := c.number(ctrl, "cpu.cfs_period_us")
	if err != nil || q < 0 || p <= 0 {
		return 0, fmt.Errorf("cpu.cfs_quota_us is %d: no quota", q)
	}
	return float64(q) / float64(p), nil
}

// resultText says a probe result in a few words.
func resultText(r probe.Result) string {
	if r.OK {
		return "all started"
	}
	return r.Error
}
