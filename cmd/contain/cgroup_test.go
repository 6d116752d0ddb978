package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/isolate/cgroups"
)

// These tests run on the host's cgroups as they are: v1 or hybrid here, pure v2 on the
// workshop VMs (and on the v2 machine the proof ran on). Every file is read through
// the same driver choice the runtime makes, so one test covers both.

// hostCgroup is a container's cgroup as the host sees it.
type hostCgroup struct {
	cgroups.Manager
	dirs []string // one per hierarchy
}

func openHostCgroup(t *testing.T, cgPath string) hostCgroup {
	t.Helper()
	cg, err := cgroups.Open(cgroups.DefaultRoot, cgPath)
	if err != nil {
		t.Fatal(err)
	}
	h := hostCgroup{Manager: cg}
	if cg.Dir() != "" {
		h.dirs = append(h.dirs, cg.Dir())
	}
	for _, f := range cg.JoinFiles() {
		h.dirs = append(h.dirs, filepath.Dir(f))
	}
	return h
}

// value reads a control file: v1's name in whichever hierarchy has it, or v2's.
func (h hostCgroup) value(t *testing.T, v1, v2 string) string {
	t.Helper()
	name := v2
	if h.Version() == 1 {
		name = v1
	}
	for _, dir := range h.dirs {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	t.Fatalf("no %s in %q", name, h.dirs)
	return ""
}

// has reports whether some hierarchy of the cgroup has the control file name.
func (h hostCgroup) has(name string) bool {
	for _, dir := range h.dirs {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

func (h hostCgroup) expectGone(t *testing.T) {
	t.Helper()
	for _, dir := range h.dirs {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s still exists", dir)
		}
	}
}

func limitsSpec(spec obj) {
	linux(spec)["resources"] = obj{
		"devices": list{obj{"allow": false, "access": "rwm"}},
		"memory":  obj{"limit": 64 << 20, "swap": 64 << 20, "reservation": 32 << 20},
		"pids":    obj{"limit": 50},
		"cpu":     obj{"shares": 512, "quota": 20000, "period": 100000, "cpus": "0"},
	}
}

// The limits are in the cgroup's files while the container exists; update, pause and resume
// act on them; delete removes the cgroup from every hierarchy.
func TestCgroupLifecycle(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "sleep", "60"}
		limitsSpec(spec)
	})
	createContainer(t, bundle, "cg")
	defer contain(t, "", "delete", "--force", "cg")
	cg := openHostCgroup(t, "/contain/cg")
	want := []struct{ v1, v2, value string }{
		{"memory.limit_in_bytes", "memory.max", "67108864"},
		{"pids.max", "pids.max", "50"},
		{"cpu.cfs_quota_us", "cpu.max", map[bool]string{true: "20000", false: "20000 100000"}[cg.Version() == 1]},
		{"cpu.shares", "cpu.weight", map[bool]string{true: "512", false: strconv.FormatUint(cgroups.SharesToWeight(512), 10)}[cg.Version() == 1]},
		{"cpuset.cpus", "cpuset.cpus", "0"},
	}
	for _, w := range want {
		if got := cg.value(t, w.v1, w.v2); got != w.value {
			t.Errorf("v%d %s = %q, want %q", cg.Version(), w.v2, got, w.value)
		}
	}
	// Init is in the cgroup of every hierarchy: cloned into the cgroup2 one, its thread
	// moved into each v1 one (cgroups.JoinSelf).
	for _, dir := range cg.dirs {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if got := strings.Fields(string(procs)); err != nil || len(got) != 1 || got[0] != strconv.Itoa(state(t, "cg").Pid) {
			t.Errorf("%s/cgroup.procs: %q (%v), want just init %d", dir, got, err, state(t, "cg").Pid)
		}
	}

	mustRunCLI(t, "update", "--pids-limit", "20", "cg")
	if got := cg.value(t, "pids.max", "pids.max"); got != "20" {
		t.Errorf("pids.max after update = %q, want 20", got)
	}
	// runc's other single-value flags reach the cgroup. A kernel without the file (no
	// proportional I/O scheduler, v2 without realtime groups) gets an error or a warning that
	// names it, never silence.
	for _, tc := range []struct {
		flag, value string
		v1, v2      string // the file, and what it must hold after the update
		v1Want      string
	}{
		{"--blkio-weight", "300", "blkio.weight blkio.bfq.weight", "io.weight", "300"}, // or io.bfq.weight, below
		{"--cpu-rt-period", "900000", "cpu.rt_period_us", "cpu.rt_period_us", "900000"},
		{"--cpu-rt-runtime", "10000", "cpu.rt_runtime_us", "cpu.rt_runtime_us", "10000"},
	} {
		r := contain(t, "", "update", tc.flag, tc.value, "cg")
		files := tc.v1
		if cg.Version() == 2 {
			files = tc.v2
		}
		switch {
		case r.code != 0 || strings.Contains(r.stderr, "warning"):
			named := strings.Contains(r.stderr, "realtime") // v2's warning names the spec's field
			for _, f := range strings.Fields(files) {
				named = named || strings.Contains(r.stderr, f)
			}
			if !named {
				t.Errorf("update %s %s: exit %d, %q: want an error or warning naming %s", tc.flag, tc.value, r.code, r.stderr, files)
			}
		case cg.Version() == 2 && tc.v2 == "io.weight" && cg.has("io.bfq.weight"):
			// BFQ is loaded: the weight goes to its file, on blkio's scale as it is (runc's
			// choice too), and io.weight keeps its default.
			if got := cg.value(t, "", "io.bfq.weight"); !strings.HasPrefix(got, "default "+tc.value+"\n") && got != "default "+tc.value {
				t.Errorf("update %s %s: io.bfq.weight = %q, want default %s", tc.flag, tc.value, got, tc.value)
			}
		case cg.Version() == 2:
			if got := cg.value(t, "", tc.v2); !strings.HasPrefix(got, "default ") || got == "default 100" {
				t.Errorf("update %s %s: %s = %q, want a weight other than the default", tc.flag, tc.value, tc.v2, got)
			}
		default:
			var got []string
			for _, f := range strings.Fields(tc.v1) {
				for _, dir := range cg.dirs {
					if data, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
						got = append(got, strings.TrimSpace(string(data)))
					}
				}
			}
			if !slices.Contains(got, tc.v1Want) {
				t.Errorf("update %s %s: %s hold %q, want %s", tc.flag, tc.value, tc.v1, got, tc.v1Want)
			}
		}
	}
	lastCPU := strconv.Itoa(runtime.NumCPU() - 1)
	// The docker-style flags each reach their file: a reservation, a weight in cgroup v2's
	// scale (converted to shares on v1), memory nodes, and --pids-limit 0 as docker's "no limit".
	for _, tc := range []struct {
		flags          []string
		v1, v2, v1Want string
		v2Want         string
	}{
		{[]string{"--memory-reservation", "32M"}, "memory.soft_limit_in_bytes", "memory.low", "33554432", "33554432"},
		{[]string{"--cpu-weight", "100"}, "cpu.shares", "cpu.weight", strconv.FormatUint(cgroups.WeightToShares(100), 10), "100"},
		{[]string{"--cpuset-mems", "0"}, "cpuset.mems", "cpuset.mems", "0", "0"},
		{[]string{"--pids-limit", "0"}, "pids.max", "pids.max", "max", "max"},
		// 0.29 * 100000 is 28999.999... in floating point: the quota is rounded, as docker's.
		{[]string{"--cpus", "0.29"}, "cpu.cfs_quota_us", "cpu.max", "29000", "29000 100000"},
		// runc's "0 to use system default": the period is left as it is.
		{[]string{"--cpu-period", "0"}, "cpu.cfs_period_us", "cpu.max", "100000", "29000 100000"},
		// A size as runc's update takes it: a fraction of a 1024-based unit.
		{[]string{"--memory", "1.5g"}, "memory.limit_in_bytes", "memory.max", "1610612736", "1610612736"},
		{[]string{"--cpu-quota", "30000"}, "cpu.cfs_quota_us", "cpu.max", "30000", "30000 100000"},
		{[]string{"--cpu-shares", "600"}, "cpu.shares", "cpu.weight", "600", strconv.FormatUint(cgroups.SharesToWeight(600), 10)},
		// The last CPU: the spec's limits gave the container CPU 0 already.
		{[]string{"--cpuset-cpus", lastCPU}, "cpuset.cpus", "cpuset.cpus", lastCPU, lastCPU},
	} {
		mustRunCLI(t, append(append([]string{"update"}, tc.flags...), "cg")...)
		want := map[bool]string{true: tc.v1Want, false: tc.v2Want}[cg.Version() == 1]
		if got := cg.value(t, tc.v1, tc.v2); got != want {
			t.Errorf("update %s: v%d %s = %q, want %q", strings.Join(tc.flags, " "), cg.Version(), tc.v2, got, want)
		}
	}
	cmd := containCmd("update", "--resources", "-", "cg")
	cmd.Stdin = strings.NewReader(`{"memory": {"limit": 134217728, "swap": 134217728}}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update --resources -: %v\n%s", err, out)
	}
	if got := cg.value(t, "memory.limit_in_bytes", "memory.max"); got != "134217728" {
		t.Errorf("memory limit after update = %q, want 134217728", got)
	}

	mustRunCLI(t, "start", "cg")
	mustRunCLI(t, "pause", "cg")
	if st := state(t, "cg").Status; st != isolate.StatePaused {
		t.Errorf("status after pause = %q, want paused", st)
	}
	if r := contain(t, "", "pause", "cg"); r.code == 0 {
		t.Error("pause of a paused container succeeded")
	}
	// A program exec'd into a frozen container would hang, frozen too: exec refuses. (Were it
	// let in, its frozen process would hold the output pipes: WaitDelay bounds the wait.)
	execPaused := containCmd("exec", "cg", "true")
	execPaused.WaitDelay = 2 * time.Second
	if r := runResult(t, execPaused); r.code == 0 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("exec into a paused container: exit %d, %q; want a refusal that says paused", r.code, r.stderr)
	}
	mustRunCLI(t, "resume", "cg")
	if st := state(t, "cg").Status; st != specs.StateRunning {
		t.Errorf("status after resume = %q, want running", st)
	}
	mustRunCLI(t, "pause", "cg") // delete --force must end a paused container too
	mustRunCLI(t, "delete", "--force", "cg")
	cg.expectGone(t)
}

// update says what it will not do: a member of --resources it does not know is a warning; an
// object that names nothing, anything after the object, --resources with limit flags beside it
// and a CPU weight out of range are errors that change nothing. A swap below the limit is
// refused before any write. On v1 a raised memory limit keeps the swap allowance.
func TestUpdateRefusesWhatItWouldDrop(t *testing.T) {
	needContainer(t)
	runningContainer(t, "upd", func(spec obj) {
		limit, swap := int64(64<<20), int64(128<<20)
		linux(spec)["resources"] = specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap}}
	}, "/bin/probe", "sleep", "60")
	cg := openHostCgroup(t, "/contain/upd")
	update := func(stdin string, args ...string) result {
		return contain(t, stdin, append(append([]string{"update"}, args...), "upd")...)
	}
	// No limit at all changes nothing, with a warning (runc takes it without one).
	for _, empty := range []string{`{}`, `null`} {
		if r := update(empty, "-r", "-"); r.code != 0 || !strings.Contains(r.stderr, "the resources name no limit: nothing changes") {
			t.Errorf("update -r with %s: exit %d %q, want success with a warning", empty, r.code, r.stderr)
		}
	}
	if r := update(`{"pids": {"limit": 9, "limt": 8}, "memroy": {}}`, "-r", "-"); r.code != 0 ||
		!strings.Contains(r.stderr, `unknown field "pids.limt"`) || !strings.Contains(r.stderr, `unknown field "memroy"`) {
		t.Errorf("update -r with unknown members: exit %d %q, want it applied with two warnings", r.code, r.stderr)
	}
	if got := cg.value(t, "pids.max", "pids.max"); got != "9" {
		t.Errorf("pids.max = %q, want 9", got)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{`{"pids": {"limit": 11}} xyz`, []string{"-r", "-"}, "invalid character"},
		{`{"pids": {"limit": 12}}{"pids": {"limit": 13}}`, []string{"-r", "-"}, "invalid character"},
		{`{"pids": {"limit": 14}}`, []string{"-r", "-", "--pids-limit", "15"}, "--resources and limit flags together"},
		{"", []string{"--cpu-weight", "20000"}, "--cpu-weight 20000: want 1 to 10000"},
		{"", []string{"--cpu-shares", "1"}, "--cpu-shares 1: want 2 to 262144"},
		{"", []string{"--memory", "96M", "--memory-swap", "32M", "--pids-limit", "16"}, "below memory.limit"},
	} {
		if r := update(tc.stdin, tc.args...); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("update %q with %q: exit %d %q, want an error with %q", tc.args, tc.stdin, r.code, r.stderr, tc.want)
		}
	}
	if got, limit := cg.value(t, "pids.max", "pids.max"), cg.value(t, "memory.limit_in_bytes", "memory.max"); got != "9" || limit != "67108864" {
		t.Errorf("after the refused updates: pids.max %q, memory limit %q, want 9 and 64 MiB as before", got, limit)
	}
	// On v1, only where the kernel accounts swap (memory.memsw.*).
	memsw := cg.Version() == 2 || cg.has("memory.memsw.limit_in_bytes")
	mustRunCLI(t, "update", "--memory", "256M", "upd")
	switch {
	case cg.Version() == 1 && memsw:
		if got := cg.value(t, "memory.memsw.limit_in_bytes", ""); got != strconv.Itoa(320<<20) {
			t.Errorf("memsw after --memory 256M from 64M with 64M of swap: %s, want 320 MiB (the swap allowance kept)", got)
		}
	case cg.Version() == 2:
		if got := cg.value(t, "", "memory.swap.max"); got != strconv.Itoa(64<<20) {
			t.Errorf("memory.swap.max after --memory 256M: %s, want 64 MiB as before", got)
		}
	}
	// No limit at all, as -1 or as the value the file reads with none (copied back by tools).
	for _, none := range []string{"-1", "9223372036854771712"} {
		if r := update(`{"memory": {"limit": `+none+`}}`, "-r", "-"); r.code != 0 {
			t.Errorf("update of the memory limit to %s: exit %d %q", none, r.code, r.stderr)
		}
		if got := cg.value(t, "memory.limit_in_bytes", "memory.max"); got != "9223372036854771712" && got != "max" {
			t.Errorf("memory limit after %s: %s, want none", none, got)
		}
		mustRunCLI(t, "update", "--memory", "64M", "--memory-swap", "128M", "upd")
	}
}

// An update that names the device rules last applied leaves the device cgroup alone:
// containerd sends all of linux.resources with every update, and on v1 a rewrite starts with
// "deny all", a moment in which the running container could not open /dev/null. A rule the
// test adds behind the runtime's back shows whether the list was rewritten.
func TestUpdateWithTheSameDeviceRulesLeavesThemAlone(t *testing.T) {
	needContainer(t)
	rules := `[{"allow": false, "access": "rwm"}]`
	runningContainer(t, "devsame", func(spec obj) {
		var devices []any
		json.Unmarshal([]byte(rules), &devices)
		linux(spec)["resources"] = obj{"devices": devices}
	}, "/bin/probe", "sleep", "60")
	cg := openHostCgroup(t, "/contain/devsame")
	if cg.Version() == 2 {
		// The rules are an eBPF program there, swapped in one step: no window to avoid. The
		// update must still apply the rest.
		mustRunCLI(t, "update", "--pids-limit", "30", "devsame")
		return
	}
	devices := filepath.Join(cgroups.DefaultRoot, "devices", "contain", "devsame")
	if err := os.WriteFile(filepath.Join(devices, "devices.allow"), []byte("c 10:229 rwm"), 0o644); err != nil {
		t.Fatal(err)
	}
	listed := func(rule string) bool {
		data, _ := os.ReadFile(filepath.Join(devices, "devices.list"))
		return slices.Contains(strings.Split(strings.TrimSpace(string(data)), "\n"), rule)
	}
	if r := contain(t, `{"devices": `+rules+`, "pids": {"limit": 30}}`, "update", "-r", "-", "devsame"); r.code != 0 {
		t.Fatalf("update with the same rules: exit %d %q", r.code, r.stderr)
	}
	if got := cg.value(t, "pids.max", "pids.max"); got != "30" || !listed("c 10:229 rwm") {
		t.Errorf("after an update with the same device rules: pids.max %q, the test's rule listed %v; want 30 and the list left alone", got, listed("c 10:229 rwm"))
	}
	other := `[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]`
	mustRunCLI(t, "update", "-r", writeTemp(t, `{"devices": `+other+`}`), "devsame")
	if listed("c 10:229 rwm") || !listed("c 10:200 rwm") {
		t.Errorf("after an update with other rules: want the list rewritten (10:200 in, the test's 10:229 gone)")
	}
	if err := os.WriteFile(filepath.Join(devices, "devices.allow"), []byte("c 10:229 rwm"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRunCLI(t, "update", "-r", writeTemp(t, `{"devices": `+other+`}`), "devsame")
	if !listed("c 10:229 rwm") {
		t.Errorf("the rules of the last update, sent again, rewrote the list: they were not recorded")
	}
}

// An update with other device rules never takes /dev/null away from the running container,
// not even for a moment: a shell in it opens /dev/null in a loop and notes each failure while
// the rules change 40 times. On v1 the list starts with "deny all", and writing it as it is
// empties the list for the microseconds until the allow rules follow: the code before
// devices_v1.go failed here about once per update (37 to 52 failures in six runs). The loop
// marks that it runs; the control at the end (v1) denies /dev/null behind the runtime's back
// and wants the failures noted, so a loop that cannot note them is seen.
func TestDeviceUpdateKeepsWhatBothListsAllow(t *testing.T) {
	needContainer(t)
	loop := `echo >/dev/shm/alive; while :; do true 2>&- </dev/null || echo x >>/dev/shm/fails; done`
	runningContainer(t, "devkeep", nil, "/bin/sh", "-c", loop)
	shm := fmt.Sprintf("/proc/%d/root/dev/shm/", state(t, "devkeep").Pid)
	fails := shm + "fails"
	waitForFile(t, shm+"alive", 5*time.Second)
	rules := func(minor int) string {
		return writeTemp(t, fmt.Sprintf(`{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": %d, "access": "rwm"}]}`, minor))
	}
	first, second := rules(200), rules(229)
	for i := range 40 {
		mustRunCLI(t, "update", "-r", []string{first, second}[i%2], "devkeep")
	}
	if data, err := os.ReadFile(fails); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("/dev/null failed to open %d times during the updates (%v)", bytes.Count(data, []byte("x")), err)
	}
	if openHostCgroup(t, "/contain/devkeep").Version() == 2 {
		return // the rules are one eBPF program there; the runtime cannot be bypassed to deny
	}
	devices := filepath.Join(cgroups.DefaultRoot, "devices", "contain", "devkeep")
	if err := os.WriteFile(filepath.Join(devices, "devices.deny"), []byte("c 1:3 r"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, fails, 5*time.Second)
}

// writeTemp writes content to a file of the test's own and returns its path.
func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// kill ID KILL ends a paused container (podman kill, ctr task kill), not only kill --all:
// on v1 a frozen process cannot die until it is thawed, so the runtime thaws it, as runc does.
func TestKillEndsAPausedContainer(t *testing.T) {
	needContainer(t)
	runningContainer(t, "pausedkill", nil, "/bin/probe", "sleep", "60")
	mustRunCLI(t, "pause", "pausedkill")
	mustRunCLI(t, "kill", "pausedkill", "KILL")
	waitFor(t, func() bool { return state(t, "pausedkill").Status == specs.StateStopped })
}

// A created container can be paused too, as in runc: it reads "paused", cannot be started
// until resumed, and is created again after resume; then it starts.
func TestPauseACreatedContainer(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	createContainer(t, bundle, "pausedcreated")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "pausedcreated") })
	mustRunCLI(t, "pause", "pausedcreated")
	if st := state(t, "pausedcreated").Status; st != "paused" {
		t.Fatalf("after pause of a created container: %s, want paused", st)
	}
	if r := contain(t, "", "start", "pausedcreated"); r.code == 0 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("start of a paused container: exit %d %q, want a failure that says it is paused", r.code, r.stderr)
	}
	mustRunCLI(t, "resume", "pausedcreated")
	if st := state(t, "pausedcreated").Status; st != specs.StateCreated {
		t.Fatalf("after resume: %s, want created", st)
	}
	mustRunCLI(t, "start", "pausedcreated")
	if st := state(t, "pausedcreated").Status; st != specs.StateRunning {
		t.Errorf("after start: %s, want running", st)
	}
	if r := contain(t, "", "resume", "pausedcreated"); r.code == 0 || !strings.Contains(r.stderr, "not paused") {
		t.Errorf("resume of a running container: exit %d %q, want a failure that says it is not paused", r.code, r.stderr)
	}
}

// The quick form's flags: a fork bomb stops at --pids-limit, a memory hog is OOM-killed
// inside its --memory (exit 137) while this test process carries on.
func TestCgroupLimitsHold(t *testing.T) {
	needContainer(t)
	var fork probe.ForkResult
	probeAction(t, &fork, "forkn", "100")
	if !fork.OK || fork.Started != 100 {
		t.Fatalf("without a limit: %+v", fork)
	}
	out := mustRun(t, "run", "--rootfs", testRootfs, "--pids-limit", "20", "--", "/bin/probe", "forkn", "100")
	if !strings.Contains(out, `"errno":"EAGAIN"`) {
		t.Errorf("forkn 100 under --pids-limit 20: %s, want EAGAIN", out)
	}
	r := contain(t, "", "run", "--rootfs", testRootfs, "--memory", "32M", "--", "/bin/probe", "memhog", "256")
	if r.code != 137 {
		t.Errorf("memhog 256 under --memory 32M: exit %d (%s%s), want 137 (OOM kill)", r.code, r.stdout, r.stderr)
	}
	if r := contain(t, "", "run", "--rootfs", testRootfs, "--memory", "64M", "--", "/bin/probe", "memhog", "16"); r.code != 0 {
		t.Errorf("memhog 16 under --memory 64M: exit %d %s", r.code, r.stderr)
	}
	// Limits that cannot work say why: one too small for init itself, swap without memory.
	// The kernel keeps 1k as 0 (whole pages). What init's death is blamed on comes from the
	// cgroup's counts: on v1 an OOM kill, on v2 a failed fork child (status 253) and "max"
	// events (see isolate/setupdeath.go).
	if r := contain(t, "", "run", "--rootfs", testRootfs, "--memory", "1k", "--", "true"); r.code == 0 ||
		!strings.Contains(r.stderr, "memory limit too small for it (the container's cgroup, limited to 0 bytes, ") {
		t.Errorf("--memory 1k: exit %d %q, want a failure that names the memory limit and what the cgroup counted", r.code, r.stderr)
	}
	if r := contain(t, "", "run", "--rootfs", testRootfs, "--memory-swap", "10M", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "give --memory too") {
		t.Errorf("--memory-swap alone: exit %d %q, want a failure that asks for --memory", r.code, r.stderr)
	}
	// --cpus as docker run takes it: at least the kernel's 1 ms quota, at most the CPUs there are.
	for _, n := range []string{"0.001", strconv.Itoa(runtime.NumCPU() + 1)} {
		if r := contain(t, "", "run", "--rootfs", testRootfs, "--cpus", n, "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "(want 0.01 to ") {
			t.Errorf("--cpus %s: exit %d %q, want a failure that gives the range", n, r.code, r.stderr)
		}
	}
	if r := contain(t, "", "run", "--rootfs", testRootfs, "--cpus", strconv.Itoa(runtime.NumCPU()), "--", "true"); r.code != 0 {
		t.Errorf("--cpus %d, every CPU: exit %d %q", runtime.NumCPU(), r.code, r.stderr)
	}
}

// A pids limit as small as 1 holds the container's program, not contain's own start: Go's
// runtime in init needs threads of its own, which are tasks to the pids controller (on a pure
// v2 host, where init is born in its cgroup, --pids-limit 1 and 2 ended init at its start
// before limitPids). The program is busybox's sh, one thread: it runs, and its fork is refused.
// The limit lands once init is ready: a createRuntime hook, which runs during init's setup,
// still reads none, and the created container has it. An exec into a container at its limit
// says so.
func TestTightPidsLimits(t *testing.T) {
	needContainer(t)
	script := "echo started; /bin/true && echo forked"
	for n, want := range map[string]string{"1": "started\n", "2": "started\nforked\n"} {
		r := contain(t, "", "run", "--rootfs", testRootfs, "--pids-limit", n, "--", "sh", "-c", script)
		if r.stdout != want {
			t.Errorf("--pids-limit %s: exit %d, stdout %q, stderr %q; want stdout %q", n, r.code, r.stdout, r.stderr, want)
		}
		if n == "1" && !strings.Contains(r.stderr, "can't fork") {
			t.Errorf("--pids-limit 1: stderr %q, want sh's refused fork", r.stderr)
		}
	}
	cg := openHostCgroup(t, "/contain/pidsone")
	seen := filepath.Join(t.TempDir(), "pids.max")
	look := `for d in "$@"; do if [ -f "$d/pids.max" ]; then cat "$d/pids.max"; fi; done > ` + seen
	hookArgs := list{"sh", "-c", look, "sh"}
	for _, dir := range cg.dirs {
		hookArgs = append(hookArgs, dir)
	}
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["resources"] = obj{"pids": obj{"limit": 1}}
		process(spec)["args"] = list{"sleep", "60"}
		spec["hooks"] = obj{"createRuntime": list{obj{"path": "/bin/sh", "args": hookArgs}}}
	})
	createContainer(t, bundle, "pidsone")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "pidsone") })
	if during, _ := os.ReadFile(seen); string(during) != "max\n" {
		t.Errorf("pids.max during init's setup (a createRuntime hook): %q, want max", during)
	}
	if got := cg.value(t, "pids.max", "pids.max"); got != "1" {
		t.Errorf("pids.max once created: %q, want 1", got)
	}
	mustRunCLI(t, "start", "pidsone")
	if r := contain(t, "", "exec", "pidsone", "true"); r.code == 0 || !strings.Contains(r.stderr, "a pids limit is reached (the container's pids.max") {
		t.Errorf("exec into a container at its pids limit: exit %d %q, want a failure that names the limit", r.code, r.stderr)
	}
}

// A spec's pids limit of 0 is "not set", as runc 1.1 reads it, with a warning: podman 4.3
// (Debian 12's) sends 0 for --pids-limit -1, and a container under pids.max 0 could not fork
// (config-linux.md says 0 SHOULD be a limit; contain keeps to the engines). The quick form's
// --pids-limit 0 is docker's: no limit.
func TestPidsLimitZero(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["resources"] = obj{"pids": obj{"limit": 0}}
		process(spec)["args"] = list{"/bin/probe", "forkn", "5"}
	})
	r := contain(t, "", "run", "--bundle", bundle, "pidszero")
	if r.code != 0 || !strings.Contains(r.stdout, `"started":5`) || !strings.Contains(r.stderr, "pids.limit 0 is taken as not set") {
		t.Errorf("forkn 5 under a spec's pids.limit 0: exit %d, %s%s; want 5 started and a warning", r.code, r.stdout, r.stderr)
	}
	if out := mustRun(t, "run", "--rootfs", testRootfs, "--pids-limit", "0", "--", "/bin/probe", "forkn", "5"); !strings.Contains(out, `"started":5`) {
		t.Errorf("forkn 5 under --pids-limit 0 (no limit): %s", out)
	}
}

// With its own cgroup namespace the container sees its cgroup as "/", and the limits in
// the read-only /sys/fs/cgroup mounted for it.
func TestCgroupNamespaceView(t *testing.T) {
	needContainer(t)
	r := report(t, "--pids-limit", "33")
	if len(r.Cgroup) == 0 {
		t.Fatal("no /proc/self/cgroup lines in the report")
	}
	for _, line := range r.Cgroup {
		if !strings.HasSuffix(line, ":/") {
			t.Errorf("/proc/self/cgroup line %q: want the namespace root /", line)
		}
	}
	file := "/sys/fs/cgroup/pids.max"
	if !cgroups.IsV2(cgroups.DefaultRoot) {
		file = "/sys/fs/cgroup/pids/pids.max"
	}
	if out := mustRun(t, "run", "--rootfs", testRootfs, "--pids-limit", "33", "--", "cat", file); out != "33\n" {
		t.Errorf("%s inside = %q, want 33", file, out)
	}
	var w probe.PathResult
	probeAction(t, &w, "write", "/sys/fs/cgroup/x")
	if w.OK || w.Errno != "EROFS" {
		t.Errorf("write in /sys/fs/cgroup: %+v, want EROFS", w)
	}
}

// cgroupsPath: absolute as given, relative under /contain, ".." refused with nothing made.
// The directories made for an absolute path are removed with it.
func TestCgroupsPath(t *testing.T) {
	needContainer(t)
	for _, tc := range []struct{ path, want string }{
		{"/contain-test-abs/deep/cp", "/contain-test-abs/deep/cp"},
		{"rel/cp", "/contain/rel/cp"},
	} {
		bundle := newBundle(t, func(spec obj) {
			process(spec)["args"] = list{"/bin/probe", "sleep", "60"}
			linux(spec)["cgroupsPath"] = tc.path
		})
		createContainer(t, bundle, "cp")
		cg := openHostCgroup(t, tc.want)
		if !cg.Exists() {
			t.Errorf("cgroupsPath %q: no cgroup at %s", tc.path, tc.want)
		}
		// A second container in the same cgroup is refused, and the first one's stays.
		if r := contain(t, "", "run", "--bundle", bundle, "cp2"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("cgroupsPath %q taken: exit %d, %q", tc.path, r.code, r.stderr)
		}
		if !cg.Exists() {
			t.Errorf("cgroupsPath %q: the refused container removed the first one's cgroup", tc.path)
		}
		mustRunCLI(t, "delete", "--force", "cp")
		cg.expectGone(t)
		openHostCgroup(t, "/contain-test-abs").expectGone(t)
	}
	for _, bad := range []string{"../escape", "/a/../../b"} {
		bundle := newBundle(t, func(spec obj) { linux(spec)["cgroupsPath"] = bad })
		r := contain(t, "", "run", "--bundle", bundle, "bad")
		if r.code == 0 || !strings.Contains(r.stderr, `".." is not allowed`) {
			t.Errorf("cgroupsPath %q: exit %d, %q", bad, r.code, r.stderr)
		}
	}
}

// An engine set up for systemd's cgroups (podman's default on a systemd host) is told how to
// switch to its cgroupfs driver, by create and run, with nothing made; the flag alone does
// not stop the other commands, which such an engine passes it to as well.
func TestSystemdCgroupsAreRefusedWithTheEnginesFix(t *testing.T) {
	needContainer(t)
	const fix = "--cgroup-manager cgroupfs"
	slice := newBundle(t, func(spec obj) { linux(spec)["cgroupsPath"] = "machine.slice:libpod:sd" })
	if r := contain(t, "", "run", "--bundle", slice, "sd"); r.code == 0 || !strings.Contains(r.stderr, fix) {
		t.Errorf("a slice:prefix:name cgroupsPath: exit %d, %q, want a failure that names %q", r.code, r.stderr, fix)
	}
	plain := newBundle(t, nil)
	for _, verb := range []string{"run", "create"} {
		if r := contain(t, "", "--systemd-cgroup", verb, "--bundle", plain, "sd"); r.code == 0 || !strings.Contains(r.stderr, fix) {
			t.Errorf("--systemd-cgroup %s: exit %d, %q, want a failure that names %q", verb, r.code, r.stderr, fix)
		}
	}
	if r := contain(t, "", "--systemd-cgroup", "delete", "--force", "sd"); r.code != 0 {
		t.Errorf("--systemd-cgroup delete --force of no container: exit %d, %q", r.code, r.stderr)
	}
}

// withMknod gives the container's process CAP_MKNOD.
func withMknod(spec obj) {
	caps := process(spec)["capabilities"].(obj)
	for _, set := range []string{"bounding", "effective", "permitted"} {
		caps[set] = append(caps[set].([]any), "CAP_MKNOD")
	}
}

// The device list: everything denied but the runtime's own devices and the allowed ones.
// Making a node is allowed for every device, as runc and crun allow it; opening one is what
// the list decides. The device tried is 1:6, a minor the kernel's mem driver does not have:
// an open the cgroup lets through fails in the driver with ENXIO, one it refuses with EPERM,
// and opening it touches no real device and loads no module.
func TestCgroupDevices(t *testing.T) {
	needContainer(t)
	mknod := func(rules list, args ...string) probe.PathResult {
		bundle := newBundle(t, func(spec obj) {
			process(spec)["args"] = append(list{"/bin/probe", "mknod"}, toList(args)...)
			linux(spec)["resources"] = obj{"devices": append(list{obj{"allow": false, "access": "rwm"}}, rules...)}
			withMknod(spec)
		})
		var res probe.PathResult
		decodeProbe(t, mustRun(t, "run", "--bundle", bundle, "dev"), &res)
		return res
	}
	if res := mknod(nil, "1", "6"); !res.OK {
		t.Errorf("mknod c 1:6 with every device denied: %+v, want made (c *:* m)", res)
	}
	if res := mknod(nil, "1", "6", "open"); !refusedAt(res, "open", "EPERM") {
		t.Errorf("open of c 1:6 with every device denied: %+v, want open refused with EPERM", res)
	}
	allow := list{obj{"allow": true, "type": "c", "major": 1, "minor": 6, "access": "r"}}
	if res := mknod(allow, "1", "6", "open"); !refusedAt(res, "open", "ENXIO") {
		t.Errorf("open of c 1:6 allowed by the device list: %+v, want it past the cgroup (ENXIO from the driver)", res)
	}
	// Type "a" with numbers is those numbers of any type: on v1 it was written as an "a" line,
	// which the kernel reads as every device, so c 1:6 opened (ENXIO); a deny of type "a"
	// with numbers took back every allow before it.
	for _, kind := range []any{"a", nil} {
		narrow := obj{"allow": true, "major": 1, "minor": 3, "access": "r"}
		if kind != nil {
			narrow["type"] = kind
		}
		if res := mknod(list{narrow}, "1", "6", "open"); !refusedAt(res, "open", "EPERM") {
			t.Errorf("open of c 1:6 with only 1:3 of type %v allowed: %+v, want open refused with EPERM", kind, res)
		}
	}
	denyNarrow := append(allow, obj{"allow": false, "type": "a", "major": 1, "minor": 7, "access": "r"})
	if res := mknod(denyNarrow, "1", "6", "open"); !refusedAt(res, "open", "ENXIO") {
		t.Errorf("open of c 1:6 allowed, then 1:7 of type a denied: %+v, want 1:6 still past the cgroup (ENXIO)", res)
	}
	// /dev/net/tun, as runc and crun allow it. Opened only where the host has it already: an
	// open of a misc minor with no driver would make the kernel load a module.
	if _, err := os.Stat("/sys/dev/char/10:200"); err == nil {
		if res := mknod(nil, "10", "200", "open"); !res.OK {
			t.Errorf("open of c 10:200 (/dev/net/tun) with every device denied: %+v, want opened", res)
		}
	} else {
		t.Log("the host has no /dev/net/tun (10:200): its rule is not tried")
	}
	// The list is an allowlist, as runc reads it: a spec with no list, or with allow rules
	// alone, still denies every device the runtime did not add.
	for name, resources := range map[string]any{
		"no linux.resources":   nil,
		"no device list":       obj{},
		"an empty device list": obj{"devices": list{}},
		"allow rules alone": obj{"devices": list{
			obj{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}}},
	} {
		bundle := newBundle(t, func(spec obj) {
			process(spec)["args"] = list{"/bin/probe", "mknod", "1", "6", "open"}
			if resources == nil {
				delete(linux(spec), "resources")
			} else {
				linux(spec)["resources"] = resources
			}
			withMknod(spec)
		})
		var res probe.PathResult
		decodeProbe(t, mustRun(t, "run", "--bundle", bundle, "devlist"), &res)
		if !refusedAt(res, "open", "EPERM") {
			t.Errorf("open of c 1:6 with %s: %+v, want open refused with EPERM", name, res)
		}
	}
	// The host's console is not one of the runtime's devices: a node of it would open it.
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "mknod", "5", "1", "open"}
		withMknod(spec)
	})
	var console probe.PathResult
	decodeProbe(t, mustRun(t, "run", "--bundle", bundle, "console"), &console)
	if !refusedAt(console, "open", "EPERM") {
		t.Errorf("open of c 5:1 (the host's console): %+v, want open refused with EPERM", console)
	}
	// The runtime's own devices stay usable under "deny all": /dev/null is written to by sh.
	if out := mustRun(t, "run", "--rootfs", testRootfs, "--", "sh", "-c", "echo x >/dev/null && head -c 4 /dev/zero | wc -c"); strings.TrimSpace(out) != "4" {
		t.Errorf("default devices: %q", out)
	}
}

// refusedAt says whether a probe mknod failed at step op ("mknod" or "open") with errno.
func refusedAt(res probe.PathResult, op, errno string) bool {
	return !res.OK && res.Errno == errno && strings.HasPrefix(res.Error, op+" ")
}

func toList(args []string) list {
	out := make(list, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// update with a device list keeps what create allowed besides it: the runtime's own devices
// and the spec's linux.devices.
func TestCgroupUpdateKeepsSpecDevices(t *testing.T) {
	needContainer(t)
	runningContainer(t, "upd", func(spec obj) {
		// 1:6: a minor the mem driver lacks (TestCgroupDevices): an open that passes the
		// cgroup fails with ENXIO.
		linux(spec)["devices"] = list{obj{"path": "/dev/nothing", "type": "c", "major": 1, "minor": 6}}
		linux(spec)["resources"] = obj{"devices": list{obj{"allow": false, "access": "rwm"}}}
		withMknod(spec)
	}, "/bin/probe", "sleep", "60")
	cmd := containCmd("update", "--resources", "-", "upd")
	cmd.Stdin = strings.NewReader(`{"devices": [{"allow": false, "access": "rwm"}]}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update: %v\n%s", err, out)
	}
	var listed, other probe.PathResult
	decodeProbe(t, mustRunCLI(t, "exec", "upd", "/bin/probe", "mknod", "1", "6", "open"), &listed)
	decodeProbe(t, mustRunCLI(t, "exec", "upd", "/bin/probe", "mknod", "1", "10", "open"), &other)
	if !refusedAt(listed, "open", "ENXIO") {
		t.Errorf("open of linux.devices' c 1:6 after update: %+v, want it past the cgroup (ENXIO)", listed)
	}
	if !refusedAt(other, "open", "EPERM") {
		t.Errorf("open of c 1:10 after update: %+v, want open refused with EPERM", other)
	}
	if out := mustRunCLI(t, "exec", "upd", "sh", "-c", "echo x > /dev/null && echo null-ok"); out != "null-ok\n" {
		t.Errorf("/dev/null after update: %q", out)
	}
}

// A container with a writable cgroup mount can make cgroups inside its own and move its
// processes there. They are still the container's: ps lists them, and delete --force kills
// them and removes those cgroups with its own, as runc does (it used to fail with EBUSY after
// 5 s a hierarchy, and keep the state). Here the process goes 35 cgroups of 128-byte names
// deep, past what a path can name (PATH_MAX): the walk goes by fd.
func TestCgroupsMadeInsideTheContainer(t *testing.T) {
	needContainer(t)
	bundle := runningContainer(t, "subcg", func(spec obj) {
		for _, m := range spec["mounts"].([]any) {
			if m := m.(obj); m["destination"] == "/sys/fs/cgroup" {
				m["options"] = list{"nosuid", "noexec", "nodev", "relatime", "rw"}
			}
		}
	}, "sh", "-c", `if [ -f /sys/fs/cgroup/cgroup.procs ]; then dirs=/sys/fs/cgroup
		else dirs=$(for d in /sys/fs/cgroup/*; do [ -L "$d" ] || echo "$d"; done); fi
		for d in $dirs; do mkdir "$d/sub" && echo $$ > "$d/sub/cgroup.procs" || exit 1; done
		deep=/sys/fs/cgroup/pids/sub; [ -f /sys/fs/cgroup/cgroup.procs ] && deep=/sys/fs/cgroup/sub
		cd "$deep" && l=x && for i in 1 2 3 4 5 6 7; do l=$l$l; done
		for i in $(seq 35); do mkdir $l && cd -P $l || exit 1; done
		echo $$ > cgroup.procs || exit 1
		touch /ready; exec sleep 60`)
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(bundle, "rootfs", "ready")); return err == nil })
	var pids []int
	if err := json.Unmarshal([]byte(mustRunCLI(t, "ps", "--format", "json", "subcg")), &pids); err != nil || len(pids) != 1 {
		t.Errorf("ps --format json: %v %v, want the one process in the cgroups made inside", pids, err)
	}
	if r := contain(t, "", "delete", "--force", "subcg"); r.code != 0 {
		t.Fatalf("delete --force: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(stateRoot, "subcg")); err == nil {
		t.Error("the state is still there after delete --force")
	}
}

// A swap limit with no memory limit is refused with what to add: on v2 by the runtime, on v1
// by the kernel (memory+swap below the memory limit, unlimited until set), where the bare
// EINVAL said nothing. A v1 host without swap accounting warns and runs.
func TestSwapWithoutAMemoryLimit(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["resources"] = obj{"memory": obj{"swap": 209715200}}
		process(spec)["args"] = list{"true"}
	})
	r := contain(t, "", "run", "--bundle", bundle, "swaponly")
	switch {
	case r.code == 0 && strings.Contains(r.stderr, "no swap accounting"):
	case r.code != 0 && (strings.Contains(r.stderr, "give linux.resources.memory.limit too") || strings.Contains(r.stderr, "needs memory.limit")):
	default:
		t.Errorf("swap without a memory limit: exit %d, stderr %q; want a refusal that says to give memory.limit", r.code, r.stderr)
	}
}
