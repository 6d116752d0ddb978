package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/isolate/cgroups"
)

// statsEvent is a "stats" line of contain events.
type statsEvent struct {
	Type string         `json:"type"`
	ID   string         `json:"id"`
	Data *cgroups.Stats `json:"data"`
}

func readStats(t *testing.T, id string) cgroups.Stats {
	t.Helper()
	out := mustRunCLI(t, "events", "--stats", id)
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("events --stats printed %q, want one line", out)
	}
	var ev statsEvent
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("events --stats: %v in %q", err, out)
	}
	if ev.Type != "stats" || ev.ID != id || ev.Data == nil {
		t.Fatalf("events --stats: %q, want a stats event of %s with data", out, id)
	}
	return *ev.Data
}

// events --stats reads the container's cgroup: its limits, its processes, and the CPU time a
// process of it spent, as runc's events --stats does.
func TestEventsStats(t *testing.T) {
	needContainer(t)
	runningContainer(t, "evstats", func(spec obj) {
		limit, pids := int64(64<<20), int64(40)
		linux(spec)["resources"] = specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, Pids: &specs.LinuxPids{Limit: &pids},
			CPU: &specs.LinuxCPU{Cpus: "0"}}
	}, "/bin/probe", "sleep", "60")
	before := readStats(t, "evstats")
	cg := openHostCgroup(t, "/contain/evstats")
	// The pressure files are in every cgroup2 directory of a kernel with PSI on (v2, and the
	// cgroup2 directory of a hybrid host); runc reads them on v2.
	if cg.has("cpu.pressure") {
		if before.CPU.PSI == nil || before.Memory.PSI == nil || before.Blkio.PSI == nil {
			t.Errorf("psi: cpu %v, memory %v, io %v: want all three, the cgroup has cpu.pressure", before.CPU.PSI, before.Memory.PSI, before.Blkio.PSI)
		}
	} else if before.CPU.PSI != nil {
		t.Errorf("cpu psi %+v, but the cgroup has no cpu.pressure", before.CPU.PSI)
	}
	// cpuset's lists on v1, as runc reports them; cgroup2 has no cpuset in runc's output.
	if cg.Version() == 1 && cg.has("cpuset.cpus") {
		if !slices.Equal(before.CPUSet.CPUs, []uint16{0}) || len(before.CPUSet.Mems) == 0 {
			t.Errorf("cpuset %+v, want cpus [0] as the spec asks, and the memory nodes", before.CPUSet)
		}
	}
	if before.Memory.Usage.Limit != 64<<20 || before.Memory.Usage.Usage == 0 {
		t.Errorf("memory %+v, want limit 64 MiB and some use", before.Memory.Usage)
	}
	if before.Pids.Limit != 40 || before.Pids.Current == 0 {
		t.Errorf("pids %+v, want limit 40 and its tasks counted", before.Pids)
	}
	var spin probe.SpinResult
	// However little CPU a loaded machine gives it, the process says how much it got, and
	// the cgroup must have counted that much (within getrusage's 10 ms of rounding).
	if err := json.Unmarshal([]byte(mustRunCLI(t, "exec", "evstats", "/bin/probe", "spin", "0.5")), &spin); err != nil || spin.CPUMs < 20 {
		t.Fatalf("probe spin 0.5 in the container: %+v %v, want 20 ms of CPU or more", spin, err)
	}
	after := readStats(t, "evstats")
	if got, want := after.CPU.Usage.Total-before.CPU.Usage.Total, uint64(spin.CPUMs-10)*1e6; got < want {
		t.Errorf("cpu total grew by %d ns while a process of the container spent %d ms, want %d or more", got, spin.CPUMs, want)
	}
	if after.CPU.Usage.User+after.CPU.Usage.Kernel == 0 {
		t.Errorf("cpu %+v: no user or kernel time", after.CPU.Usage)
	}
}

// events streams: stats at once, an "oom" line when the OOM killer kills a process of the
// container, and the end, exit 0, when the container stops.
func TestEventsStreamsOOMKillsUntilTheContainerStops(t *testing.T) {
	needContainer(t)
	runningContainer(t, "evoom", func(spec obj) {
		limit := int64(32 << 20)
		linux(spec)["resources"] = specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	}, "/bin/probe", "sleep", "60")
	cmd := containCmd("events", "--interval", "1h", "evoom")
	// A pipe of the test's own, not StdoutPipe: Wait would close that one, maybe before the
	// last lines were read, and they are what this test looks at.
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = w, &stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var waitErr error
	done := make(chan struct{}) // closed when events has exited, waitErr set
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("contain events (pid %d) not gone 10 s after SIGKILL", cmd.Process.Pid)
		}
	})
	lines := readLines(stdout)
	go func() { waitErr = cmd.Wait(); close(done) }()
	if line := nextLine(t, lines); !strings.HasPrefix(line, `{"type":"stats","id":"evoom","data":{`) {
		t.Fatalf("first event %q, want the stats", line)
	}
	if r := contain(t, "", "exec", "evoom", "/bin/probe", "memhog", "256"); r.code != 137 {
		t.Fatalf("memhog 256 under a 32 MiB limit: exit %d %s, want 137", r.code, r.stderr)
	}
	if line := nextLine(t, lines); line != `{"type":"oom","id":"evoom"}` {
		t.Fatalf("event after the OOM kill: %q, want an oom event (stderr %q)", line, stderr.String())
	}
	mustRunCLI(t, "kill", "evoom", "KILL")
	select {
	case <-done:
		if waitErr != nil {
			t.Errorf("events after the container stopped: %v %s, want exit 0", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events still running 10 s after the container stopped")
	}
	for line := range lines {
		t.Errorf("event after the container stopped: %q", line)
	}
}

// readLines sends each line of r to the channel, and closes it at r's end.
// events prints the stats again every --interval, not once: four lines in well under the
// 10 s a stall would take, at 200 ms apart.
func TestEventsRepeatsItsStats(t *testing.T) {
	needContainer(t)
	runningContainer(t, "evrep", nil, "/bin/probe", "sleep", "60")
	cmd := containCmd("events", "--interval", "200ms", "evrep")
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := readLines(stdout)
	start := time.Now()
	for i := 0; i < 4; i++ {
		if line := nextLine(t, lines); !strings.HasPrefix(line, `{"type":"stats","id":"evrep"`) {
			t.Fatalf("event %d: %q, want the stats", i, line)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("four stats lines at --interval 200ms took %v", took)
	}
}

func readLines(r io.Reader) <-chan string {
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(r)
		s.Buffer(nil, 1<<20)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	return lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("events ended early")
		}
		return line
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return ""
}

// events of a stopped container fails, as runc's, with the words engines match; a zero
// interval is refused.
func TestEventsOfAStoppedContainerFail(t *testing.T) {
	needContainer(t)
	runningContainer(t, "evstopped", nil, "true")
	waitFor(t, func() bool { return state(t, "evstopped").Status == specs.StateStopped })
	for _, args := range [][]string{{"events", "--stats", "evstopped"}, {"events", "evstopped"}} {
		if r := contain(t, "", args...); r.code == 0 || !strings.Contains(r.stderr, "not running") {
			t.Errorf("%v: exit %d %q, want a failure that says not running", args, r.code, r.stderr)
		}
	}
	if r := contain(t, "", "events", "--interval", "0s", "evstopped"); r.code == 0 || !strings.Contains(r.stderr, "--interval") {
		t.Errorf("events --interval 0s: exit %d %q, want it refused", r.code, r.stderr)
	}
}
