package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
	"github.com/containkit/contain/isolate"
)

// state runs `contain state ID` and decodes it.
func state(t *testing.T, id string) specs.State {
	t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(mustRunCLI(t, "state", id)), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// gone says whether no process has pid any more (a zombie counts as gone).
func gone(pid int) bool {
	st, ok := testenv.ReadProcStat(pid)
	return !ok || st.State == "Z"
}

// createContainer runs `contain create` with stdio on /dev/null: the container's init keeps
// create's stdio, so a pipe there would stay open (and a reader of it waiting) until it exits.
func createContainer(t *testing.T, bundle, id string, flags ...string) {
	t.Helper()
	cmd := containCmd(append(append([]string{"create"}, flags...), "--bundle", bundle, id)...)
	errFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	cmd.Stderr = errFile // a file, not a pipe (see above)
	if err := runWithTimeout(t, cmd, 30*time.Second); err != nil {
		msg, _ := os.ReadFile(errFile.Name())
		t.Fatalf("create %s: %v\n%s", id, err, msg)
	}
}

// createdInit creates container id, whose process is `probe sleep 60`, and returns its init's
// pid; delete --force removes it when the test ends.
func createdInit(t *testing.T, id string) int {
	t.Helper()
	createContainer(t, newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} }), id)
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", id) })
	return state(t, id).Pid
}

// create, start, state, kill, delete: the states runtime.md names, in order.
func TestLifecycle(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "trap", "20"} })
	out := filepath.Join(bundle, "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pidFile := filepath.Join(bundle, "pid")
	create := containCmd("create", "--bundle", bundle, "--pid-file", pidFile, "lc")
	create.Stdout, create.Stderr = f, f
	if err := create.Run(); err != nil {
		data, _ := os.ReadFile(out)
		t.Fatalf("create: %v\n%s", err, data)
	}
	st := state(t, "lc")
	data, _ := os.ReadFile(pidFile)
	if st.Status != specs.StateCreated || st.Pid <= 0 || string(data) != strconv.Itoa(st.Pid) || st.Bundle != bundle {
		t.Fatalf("after create: %+v, pid file %q", st, data)
	}
	if got, _ := os.ReadFile(out); len(got) != 0 {
		t.Errorf("the process ran before start: %q", got)
	}
	mustRunCLI(t, "start", "lc")
	waitFor(t, func() bool { got, _ := os.ReadFile(out); return string(got) == "ready\n" })
	if st := state(t, "lc"); st.Status != specs.StateRunning {
		t.Errorf("after start: %s", st.Status)
	}
	if r := contain(t, "", "start", "lc"); r.code == 0 {
		t.Error("a second start succeeded")
	}
	if r := contain(t, "", "delete", "lc"); r.code == 0 || !strings.Contains(r.stderr, "running") {
		t.Errorf("delete of a running container: exit %d, %q", r.code, r.stderr)
	}
	mustRunCLI(t, "kill", "lc", "0") // the null signal: is it running? (kill(2), as runc)
	mustRunCLI(t, "kill", "lc", "USR1")
	mustRunCLI(t, "kill", "lc", "SIGTERM")
	waitFor(t, func() bool { return state(t, "lc").Status == specs.StateStopped })
	if got, _ := os.ReadFile(out); string(got) != "ready\nSIGUSR1\nSIGTERM\n" {
		t.Errorf("the container saw %q", got)
	}
	for _, sig := range []string{"TERM", "0"} {
		if r := contain(t, "", "kill", "lc", sig); r.code == 0 || !strings.Contains(r.stderr, "container not running") {
			t.Errorf("kill %s of a stopped container: exit %d, %q", sig, r.code, r.stderr)
		}
	}
	mustRunCLI(t, "delete", "lc")
	if r := contain(t, "", "state", "lc"); r.code == 0 || !strings.Contains(r.stderr, "container does not exist") {
		t.Errorf("state after delete: exit %d, %q", r.code, r.stderr)
	}
	mustRunCLI(t, "delete", "--force", "lc") // gone already: still fine
}

// delete --force kills a running container and removes everything.
func TestDeleteForce(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	for _, start := range []bool{false, true} {
		createContainer(t, bundle, "df")
		if start {
			mustRunCLI(t, "start", "df")
		}
		pid := state(t, "df").Pid
		mustRunCLI(t, "delete", "--force", "df")
		if !gone(pid) {
			t.Errorf("init %d still runs after delete --force (started: %v)", pid, start)
		}
		if _, err := os.Stat(filepath.Join(stateRoot, "df")); err == nil {
			t.Error("state dir left after delete --force")
		}
	}
}

// SIGKILL `contain create` at any moment: delete --force then removes everything it made.
func TestKilledCreateIsCleanedByDeleteForce(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	for i := 0; i < 12; i++ {
		cmd := containCmd("create", "--bundle", bundle, "killed")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(25000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		var pid int
		if data, err := os.ReadFile(filepath.Join(stateRoot, "killed", "state.json")); err == nil {
			var st specs.State
			json.Unmarshal(data, &st)
			pid = st.Pid
		}
		mustRunCLI(t, "delete", "--force", "killed")
		if _, err := os.Stat(filepath.Join(stateRoot, "killed")); err == nil {
			t.Fatalf("run %d: state left after delete --force", i)
		}
		if pid > 0 {
			waitFor(t, func() bool { return gone(pid) })
		}
	}
}

// Every verb refuses ids that could name something else, and touches nothing.
func TestVerbsRefuseBadIDs(t *testing.T) {
	needContainer(t)
	// A bundle create would run: only the id can be what it refuses.
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"true"} })
	for _, id := range []string{"..", "../x", "a/b", "a b", "-x", ""} {
		for _, verb := range [][]string{{"start"}, {"state"}, {"kill"}, {"delete"}, {"delete", "--force"}, {"create", "--bundle", bundle}} {
			args := append(append([]string{}, verb...), id)
			r := contain(t, "", args...)
			// "-x" is a flag to the parser, and "" no id at all: any refusal will do for those.
			if r.code == 0 || id != "-x" && id != "" && !strings.Contains(r.stderr, "invalid container id") {
				t.Errorf("contain %q: exit %d, stderr %q; want the id refused", args, r.code, r.stderr)
			}
		}
	}
}

// list: the ids, runc's table (OWNER after CREATED) and the states as JSON, rootfs and owner
// included.
func TestList(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	createContainer(t, bundle, "listed")
	defer mustRunCLI(t, "delete", "--force", "listed")
	if out := mustRunCLI(t, "list", "-q"); out != "listed\n" {
		t.Errorf("list -q = %q", out)
	}
	var states []isolate.State
	if err := json.Unmarshal([]byte(mustRunCLI(t, "list", "--format", "json")), &states); err != nil || len(states) != 1 || states[0].Status != specs.StateCreated {
		t.Fatalf("list --format json: %+v, %v", states, err)
	}
	if st := states[0]; st.Rootfs != filepath.Join(bundle, "rootfs") || st.Owner != "root" {
		t.Errorf("list --format json: rootfs %q, owner %q; want %s and root", st.Rootfs, st.Owner, filepath.Join(bundle, "rootfs"))
	}
	header, rows := listTable(t, stateRoot)
	want := []string{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}
	if !slices.Equal(header, want) || len(rows) != 1 || !slices.Equal(rows[0][:4], []string{"listed", strconv.Itoa(states[0].Pid), "created", bundle}) || rows[0][5] != "root" {
		t.Errorf("list: header %q, rows %q; want runc's columns %q and listed's row, owner root", header, rows, want)
	}
}

// listTable runs `contain --root ROOT list` and splits its table into fields.
func listTable(t *testing.T, root string) (header []string, rows [][]string) {
	t.Helper()
	r := containAt(t, root, "list")
	if r.code != 0 {
		t.Fatalf("list: exit %d, %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for _, line := range lines[1:] {
		rows = append(rows, strings.Fields(line))
	}
	return strings.Fields(lines[0]), rows
}

// containAt runs contain with the state root root, for a test that makes its own.
func containAt(t *testing.T, root string, args ...string) result {
	t.Helper()
	return runResult(t, exec.Command(containBin, append([]string{"--root", root}, args...)...))
}

// fullState runs `contain state ID` and decodes all of it, runc's rootfs and owner included.
func fullState(t *testing.T, root, id string) isolate.State {
	t.Helper()
	r := containAt(t, root, "state", id)
	var st isolate.State
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil {
		t.Fatalf("state %s: exit %d, %v\n%s%s", id, r.code, err, r.stdout, r.stderr)
	}
	return st
}

// state shows runc's rootfs (root.path resolved against the bundle) and owner (of the state
// directory), as list does.
func TestStateShowsRootfsAndOwner(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "sleep", "60"}
		spec["root"] = obj{"path": "./rootfs/../rootfs"} // relative, and not clean
	})
	createContainer(t, bundle, "rootfsowner")
	defer mustRunCLI(t, "delete", "--force", "rootfsowner")
	st := fullState(t, stateRoot, "rootfsowner")
	if st.Rootfs != filepath.Join(bundle, "rootfs") || st.Owner != "root" {
		t.Errorf("state: rootfs %q, owner %q; want %s and root", st.Rootfs, st.Owner, filepath.Join(bundle, "rootfs"))
	}
	if data, err := os.ReadFile(filepath.Join(stateRoot, "rootfsowner", "state.json")); err != nil || strings.Contains(string(data), `"owner"`) {
		t.Errorf("the state file holds an owner (%v): it is read from the directory, never stored\n%s", err, data)
	}
}

// The quick form records its rootfs too: for the default rootfs, which the container sees
// through an overlay of its own, the default rootfs's directory (the overlay's lower one).
func TestQuickFormStateNamesItsRootfs(t *testing.T) {
	needContainer(t)
	dir := filepath.Join(t.TempDir(), "default")
	cmd := containCmd("run", "--", "sh", "-c", "read line")
	cmd.Env = append(cmd.Env, "CONTAIN_ROOTFS="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			stdin.Close() // the container's read ends, and so does it
			cmd.Wait()
		}
	})
	var states []isolate.State
	waitFor(t, func() bool {
		json.Unmarshal([]byte(mustRunCLI(t, "list", "--format", "json")), &states)
		return len(states) == 1 && states[0].Status == specs.StateRunning
	})
	if st := states[0]; st.Rootfs != dir || st.Owner != "root" {
		t.Errorf("a quick-form container on the default rootfs: rootfs %q, owner %q; want %s and root", st.Rootfs, st.Owner, dir)
	}
	stdin.Write([]byte("done\n"))
	stdin.Close()
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Errorf("contain run: %v\n%s", err, errOut.String())
	}
}

// writeState writes a state file the way an older contain did (no rootfs) into root/id.
func writeState(t *testing.T, root, id string) string {
	t.Helper()
	dir := filepath.Join(root, id)
	old := `{"ociVersion":"1.2.0","id":"` + id + `","status":"stopped","pid":0,"bundle":"/old/bundle",` +
		`"created":"2024-05-01T10:00:00Z","init_start":1234}`
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A state written by an older contain, without a rootfs, still loads: state and list show it,
// with an empty rootfs.
func TestStateOfAnOlderContainLoads(t *testing.T) {
	needContainer(t)
	root := t.TempDir()
	writeState(t, root, "older")
	st := fullState(t, root, "older")
	if st.ID != "older" || st.Status != specs.StateStopped || st.Bundle != "/old/bundle" || st.Rootfs != "" || st.Owner != "root" {
		t.Errorf("state of an older contain's container: %+v; want it stopped, its bundle, no rootfs, owner root", st)
	}
	if _, rows := listTable(t, root); len(rows) != 1 || rows[0][0] != "older" {
		t.Errorf("list of an older contain's container: %q", rows)
	}
}

// The owner of a state directory whose uid has no user is "#UID", as runc shows it.
func TestOwnerWithoutAUserIsItsUID(t *testing.T) {
	needContainer(t)
	uid := uidWithoutUser(t)
	root := t.TempDir()
	if err := os.Chown(writeState(t, root, "orphan"), uid, uid); err != nil {
		t.Fatal(err)
	}
	want := "#" + strconv.Itoa(uid)
	if st := fullState(t, root, "orphan"); st.Owner != want {
		t.Errorf("state: owner %q, want %q", st.Owner, want)
	}
	if _, rows := listTable(t, root); len(rows) != 1 || rows[0][len(rows[0])-1] != want {
		t.Errorf("list: %q, want the owner %q last", rows, want)
	}
	var states []isolate.State
	r := containAt(t, root, "list", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &states); err != nil || len(states) != 1 || states[0].Owner != want {
		t.Errorf("list --format json: %+v, %v, %q; want owner %q", states, err, r.stderr, want)
	}
}

// uidWithoutUser finds a uid that the user database does not know.
func uidWithoutUser(t *testing.T) int {
	t.Helper()
	for uid := 3_000_000_000; uid < 3_000_000_100; uid++ {
		var unknown user.UnknownUserIdError
		if _, err := user.LookupId(strconv.Itoa(uid)); errors.As(err, &unknown) {
			return uid
		}
	}
	t.Fatal("no uid without a user from 3000000000 to 3000000099")
	return 0
}

// 200 containers with limits created and started at once, then deleted: all succeed and
// nothing is left (needContainer's leak check: state, mounts, cgroups, links, processes; and
// every init is gone).
func TestManyAtOnce(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "sleep", "60"}
		limitsSpec(spec)
	})
	const n = 200
	logs := t.TempDir()
	errs := make(chan error, n)
	reap := actAsShim(t)
	for i := 0; i < n; i++ {
		go func() {
			id := "many-" + strconv.Itoa(i)
			// stderr to a file: init keeps create's stdio, and a pipe would stay open.
			log, err := os.Create(filepath.Join(logs, id))
			if err != nil {
				errs <- err
				return
			}
			defer log.Close()
			for _, verb := range []string{"create", "start"} {
				cmd := containCmd(verb, id)
				if verb == "create" {
					cmd = containCmd(verb, "--bundle", bundle, id)
				}
				cmd.Stderr = log
				if err = cmd.Run(); err != nil {
					msg, _ := os.ReadFile(log.Name())
					err = fmt.Errorf("%s %s: %v: %s", verb, id, err, msg)
					break
				}
			}
			if err == nil {
				err = reap(id)
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var pids []int
	for i := 0; i < n; i++ {
		id := "many-" + strconv.Itoa(i)
		if st, err := loadStateFile(id); err == nil && st.Pid > 0 {
			pids = append(pids, st.Pid)
		}
		if r := contain(t, "", "delete", "--force", id); r.code != 0 {
			t.Errorf("delete --force %s: %s", id, r.stderr)
		}
	}
	if len(pids) != n {
		t.Errorf("%d of %d containers recorded a pid", len(pids), n)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("init %d still runs after delete --force", pid)
		}
	}
}

// actAsShim makes the test what an engine's shim is to its containers (containerd-shim,
// conmon): the subreaper of their inits, which reaps each one the moment it exits. reap(id)
// starts doing so for a started container. delete --force then races the reaping: it kills
// the cgroup, and init can be reaped before the runtime signals it, which the runtime must
// take as "gone": with the test as the shim, the code before failed 1 or 2 of the 200 deletes
// of TestManyAtOnce in each of three runs with "no such process", and left their state and
// cgroups. When the test ends, every init must have been reaped within 10 s.
func actAsShim(t *testing.T) (reap func(id string) error) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl PR_SET_CHILD_SUBREAPER: %v", err)
	}
	var reaped sync.WaitGroup
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { reaped.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("a container's init was not reaped 10 s after the test")
		}
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	})
	return func(id string) error {
		st, err := loadStateFile(id)
		if err != nil {
			return err
		}
		var ws unix.WaitStatus
		// Init is ours once create has exited; a pid that is not says the subreaper failed.
		if _, err := unix.Wait4(st.Pid, &ws, unix.WNOHANG, nil); err != nil {
			return fmt.Errorf("%s: init %d is not the test's child: %v", id, st.Pid, err)
		}
		reaped.Add(1)
		go func() {
			defer reaped.Done()
			for {
				if _, err := unix.Wait4(st.Pid, &ws, 0, nil); err != unix.EINTR {
					return
				}
			}
		}()
		return nil
	}
}

func loadStateFile(id string) (specs.State, error) {
	var st specs.State
	data, err := os.ReadFile(filepath.Join(stateRoot, id, "state.json"))
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	return st, err
}

// ps lists the container's processes by host pid; features describes the runtime.
func TestPsAndFeatures(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"sh", "-c", "/bin/probe sleep 60 & exec /bin/probe sleep 60"}
	})
	createContainer(t, bundle, "ps")
	defer mustRunCLI(t, "delete", "--force", "ps")
	mustRunCLI(t, "start", "ps")
	init := state(t, "ps").Pid
	var pids []int
	waitFor(t, func() bool {
		json.Unmarshal([]byte(mustRunCLI(t, "ps", "--format", "json", "ps")), &pids)
		return len(pids) == 2
	})
	if pids[0] != init {
		t.Errorf("ps = %v, want init %d first and its child", pids, init)
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(mustRunCLI(t, "features")), &f); err != nil || f["ociVersionMax"] != specs.Version {
		t.Errorf("features: %v, %v", f, err)
	}
}

// kill --all reaches what a container left in its cgroup after its init exited (one without
// a pid namespace of its own), as engines use it; ps lists the cgroup's processes only, even
// when the pid namespace is another container's.
func TestKillAllAndPsGoByTheCgroup(t *testing.T) {
	needContainer(t)
	runningContainer(t, "pidowner", nil, "/bin/probe", "sleep", "60")
	ownerPid := state(t, "pidowner").Pid
	runningContainer(t, "pidguest", func(spec obj) {
		dropNamespace(spec, "pid")
		linux(spec)["namespaces"] = append(linux(spec)["namespaces"].(list), obj{"type": "pid", "path": "/proc/" + strconv.Itoa(ownerPid) + "/ns/pid"})
	}, "sh", "-c", "/bin/probe sleep 60 & exit 0")
	waitFor(t, func() bool { return state(t, "pidguest").Status == specs.StateStopped })
	var owner []int
	decodeProbe(t, mustRunCLI(t, "ps", "--format", "json", "pidowner"), &owner)
	if !slices.Equal(owner, []int{ownerPid}) {
		t.Errorf("ps of the pid namespace's owner lists %v, want only its init %d", owner, ownerPid)
	}
	left, err := openHostCgroup(t, "/contain/pidguest").Pids()
	if err != nil || len(left) != 1 {
		t.Fatalf("the stopped container's cgroup holds %v, %v: want the sleep it left", left, err)
	}
	var listed []int
	decodeProbe(t, mustRunCLI(t, "ps", "--format", "json", "pidguest"), &listed)
	if !slices.Equal(listed, left) {
		t.Errorf("ps of the stopped container lists %v, want what it left in its cgroup %v (runc's)", listed, left)
	}
	mustRunCLI(t, "kill", "--all", "pidguest", "KILL")
	waitFor(t, func() bool { return gone(left[0]) })
	decodeProbe(t, mustRunCLI(t, "ps", "--format", "json", "pidguest"), &listed)
	if len(listed) != 0 {
		t.Errorf("ps of a stopped container with nothing left: %v", listed)
	}
	if r := contain(t, "", "kill", "pidguest", "KILL"); r.code == 0 || !strings.Contains(r.stderr, "container not running") {
		t.Errorf("kill without --all of a stopped container: exit %d, %q", r.code, r.stderr)
	}
}

// kill --all of a running container signals every process in its cgroup, not init alone:
// here init is a shell, which ignores SIGTERM as a pid 1 without a handler, waiting for two
// probes that end on it; the container stops only when both got the signal.
func TestKillAllSignalsEveryProcess(t *testing.T) {
	needContainer(t)
	runningContainer(t, "killall", nil, "sh", "-c", "/bin/probe trap 60 & /bin/probe trap 60 & wait")
	waitFor(t, func() bool {
		pids, err := openHostCgroup(t, "/contain/killall").Pids()
		return err == nil && len(pids) == 3
	})
	mustRunCLI(t, "kill", "--all", "killall", "TERM")
	waitFor(t, func() bool { return state(t, "killall").Status == specs.StateStopped })
}

// kill --all of a stopped container acts through its cgroup only: with the cgroup gone there is
// nothing of the container left to signal, and init's pid may be another process's by now.
func TestKillAllOfAStoppedContainerWithoutItsCgroup(t *testing.T) {
	needContainer(t)
	runningContainer(t, "nocgroup", nil, "true")
	waitFor(t, func() bool { return state(t, "nocgroup").Status == specs.StateStopped })
	if err := openHostCgroup(t, "/contain/nocgroup").Destroy(nil); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []string{"KILL", "0"} {
		if r := contain(t, "", "kill", "--all", "nocgroup", sig); r.code == 0 || !strings.Contains(r.stderr, "container not running") {
			t.Errorf("kill --all %s of a stopped container without a cgroup: exit %d, %q; want not running", sig, r.code, r.stderr)
		}
	}
}

// start waits for init's exec, through its startContainer hooks, without the state's lock:
// kill and delete --force of a container whose hook hangs answer at once.
func TestKillDoesNotWaitForAHangingStartHook(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{"startContainer": list{obj{"path": "/bin/sleep", "args": list{"sleep", "20"}}}}
		process(spec)["args"] = list{"true"}
	})
	createContainer(t, bundle, "hanghook")
	t.Cleanup(func() { contain(t, "", "delete", "--force", "hanghook") })
	start := containCmd("start", "hanghook")
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { start.Process.Kill(); start.Wait() })
	waitFor(t, func() bool { return state(t, "hanghook").Status == specs.StateRunning })
	began := time.Now()
	mustRunCLI(t, "kill", "hanghook", "KILL")
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("kill waited %v for a hanging startContainer hook", took)
	}

	// Nor for an init that does not answer at all (stopped before start: the start waits for
	// its byte without the lock), and a start killed meanwhile leaves no "created" container
	// whose process already went on: the fifo's name is gone before start reads from it.
	createContainer(t, newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} }), "stoppedinit")
	t.Cleanup(func() { contain(t, "", "delete", "--force", "stoppedinit") })
	init := state(t, "stoppedinit").Pid
	if err := syscall.Kill(init, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stuck := containCmd("start", "stoppedinit")
	if err := stuck.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stuck.Process.Kill(); stuck.Wait() })
	waitFor(t, func() bool { return state(t, "stoppedinit").Status == specs.StateRunning })
	stuck.Process.Kill()
	stuck.Wait()
	if st := state(t, "stoppedinit").Status; st != specs.StateRunning {
		t.Errorf("after a start killed while init was stopped: %s, want running", st)
	}
	began = time.Now()
	mustRunCLI(t, "kill", "stoppedinit", "KILL")
	mustRunCLI(t, "delete", "--force", "stoppedinit")
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("kill and delete waited %v for a start whose init was stopped", took)
	}
}

// runc's run flags for the OCI form: --detach creates and starts the container and exits
// (its pid file written), --keep leaves the stopped container for delete (poststop runs
// then), --no-pivot and --no-subreaper are accepted; the quick form refuses them, and
// --console-socket wants --detach.
func TestRunDetachAndKeep(t *testing.T) {
	needContainer(t)
	sleeper := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The container keeps run's stdio: files, not the pipes contain() reads to their end.
	cmd := containCmd("run", "-d", "--no-pivot", "--no-subreaper", "--pid-file", pidFile, "--bundle", sleeper, "rundetach")
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	t.Cleanup(func() { contain(t, "", "delete", "--force", "rundetach") })
	if err := runWithTimeout(t, cmd, 30*time.Second); err != nil {
		msg, _ := os.ReadFile(out.Name())
		t.Fatalf("run -d: %v\n%s", err, msg)
	}
	st := state(t, "rundetach")
	if pid, _ := os.ReadFile(pidFile); st.Status != specs.StateRunning || string(pid) != strconv.Itoa(st.Pid) {
		t.Errorf("after run -d: status %s, pid %d, pid file %q: want running and its pid", st.Status, st.Pid, pid)
	}
	mustRunCLI(t, "delete", "--force", "rundetach")

	marker := filepath.Join(t.TempDir(), "poststop")
	kept := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"sh", "-c", "exit 3"}
		spec["hooks"] = obj{"poststop": list{obj{"path": "/bin/sh", "args": list{"sh", "-c", "touch " + marker}}}}
	})
	if r := contain(t, "", "run", "--keep", "--bundle", kept, "runkeep"); r.code != 3 {
		t.Fatalf("run --keep: exit %d, %q; want the container's 3", r.code, r.stderr)
	}
	if st := state(t, "runkeep"); st.Status != specs.StateStopped {
		t.Errorf("after run --keep: %s, want a stopped container", st.Status)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("run --keep ran poststop before delete")
	}
	mustRunCLI(t, "delete", "runkeep")
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("delete of the kept container did not run poststop: %v", err)
	}
	openHostCgroup(t, "/contain/runkeep").expectGone(t)

	for _, tc := range []struct {
		args []string
		want string
	}{
		// The OCI flag is the mistake when the rest asks for the quick form.
		{[]string{"run", "-d", "--rootfs", testRootfs, "--", "true"}, "--detach belongs to the OCI form"},
		{[]string{"run", "-d", "--rootfs", testRootfs, "runsock"}, "--detach belongs to the OCI form"},
		{[]string{"run", "--rm", "--bundle", sleeper, "runsock"}, "--rm belongs to the quick form"},
		{[]string{"run", "--console-socket", "/tmp/x.sock", "--bundle", sleeper, "runsock"}, "only with --detach"},
		{[]string{"run", "-d", "--keep", "--bundle", sleeper, "runsock"}, "only in the foreground"},
	} {
		if r := contain(t, "", tc.args...); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("contain %s: exit %d, %q: want %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}

// A verb that waited for a container's lock while the container was deleted, and another made
// under the same id, must not act on the new one without its lock: it finds the directory it
// locked gone. Here the test holds the lock and swaps the directory for a copy.
func TestLockOfADeletedContainerIsNotTheNewOnes(t *testing.T) {
	needContainer(t)
	runningContainer(t, "relock", nil, "/bin/probe", "sleep", "60")
	init := state(t, "relock").Pid
	dir := filepath.Join(stateRoot, "relock")
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	kill := containCmd("kill", "relock", "KILL")
	var errOut bytes.Buffer
	kill.Stderr = &errOut
	if err := kill.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // kill waits on the lock
	// The "new" container: the same state, in a new directory.
	if err := os.Rename(dir, dir+"-old"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Rename(dir+"-old", dir)
	})
	data, err := os.ReadFile(filepath.Join(dir+"-old", "state.json"))
	if err == nil {
		err = os.Mkdir(dir, 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "state.json"), data, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	err = kill.Wait()
	if err == nil || !strings.Contains(errOut.String(), "deleted while this waited") {
		t.Errorf("kill that waited for a deleted container's lock: %v, %q; want it to find the container gone", err, errOut.String())
	}
	if gone(init) {
		t.Error("kill acted on the new directory's state and killed init")
	}
}

// A state that cannot be read is named by list (which lists the others, as runc's does), and
// a state that names another container is refused rather than acted on: delete --force of it
// would remove the directory and leave the container's processes and cgroups.
func TestDamagedStateIsNamed(t *testing.T) {
	needContainer(t)
	runningContainer(t, "intact", nil, "/bin/probe", "sleep", "60")
	for id, content := range map[string]string{"garbled": "{garbage", "renamed": `{"ociVersion":"1.3.0","id":"intact","status":"running"}`} {
		dir := filepath.Join(stateRoot, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := contain(t, "", "list", "-q")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "intact" || !strings.Contains(r.stderr, `"garbled"`) || !strings.Contains(r.stderr, `"renamed"`) {
		t.Errorf("list with two damaged states: exit %d, stdout %q, stderr %q; want intact listed and both named", r.code, r.stdout, r.stderr)
	}
	if r := contain(t, "", "delete", "--force", "renamed"); r.code == 0 || !strings.Contains(r.stderr, "damaged") {
		t.Errorf("delete --force of a state naming another container: exit %d, %q", r.code, r.stderr)
	}
	if st := state(t, "intact"); st.Status != specs.StateRunning {
		t.Errorf("the intact container: %s", st.Status)
	}
}

// run holds the container's state lock while it makes the container, as create does: an
// update (or a delete) of the id while a createRuntime hook holds run in its setup waits until
// the container runs, and then works on a running container, instead of writing back a
// "creating" state over run's "running" one. The hook waits on a fifo the test opens.
func TestRunHoldsTheStateLockUntilItRuns(t *testing.T) {
	needContainer(t)
	dir := t.TempDir()
	fifo, started := filepath.Join(dir, "go"), filepath.Join(dir, "started")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	release := func() { // lets the hook go on; a second call does nothing
		if fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Write(fd, []byte("go\n"))
			unix.Close(fd)
		}
	}
	t.Cleanup(release)
	bundle := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{"createRuntime": list{obj{"path": "/bin/sh", "args": list{"sh", "-c", "touch " + started + "; read x < " + fifo}}}}
		process(spec)["args"] = list{"/bin/sh", "-c", "sleep 3"} // running while the test looks
	})
	run := containCmd("run", "--bundle", bundle, "lockrun")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- run.Wait() }()
	t.Cleanup(func() {
		if run.ProcessState == nil {
			run.Process.Signal(syscall.SIGTERM)
			<-runDone
		}
	})
	waitForFile(t, started, 10*time.Second)
	update := containCmd("update", "--pids-limit", "64", "lockrun")
	var updateErr bytes.Buffer
	update.Stderr = &updateErr
	if err := update.Start(); err != nil {
		t.Fatal(err)
	}
	updateDone := make(chan error, 1)
	go func() { updateDone <- update.Wait() }()
	select {
	case err := <-updateDone:
		release()
		t.Fatalf("update finished (%v, %q) while run was still making the container: want it to wait for run's lock", err, updateErr.String())
	case <-time.After(500 * time.Millisecond):
	}
	release()
	select {
	case err := <-updateDone:
		if err != nil {
			t.Errorf("update once the container runs: %v, %q", err, updateErr.String())
		}
	case <-time.After(20 * time.Second):
		update.Process.Kill()
		t.Fatal("update still waits after run let the container run")
	}
	if st := state(t, "lockrun"); st.Status != specs.StateRunning {
		t.Errorf("after the update: status %q, want running", st.Status)
	}
	select {
	case err := <-runDone:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not end")
	}
}

// A run whose container was deleted while it ran (delete --force), and whose id a create took
// again before run got to its clean-up, leaves the new container alone: its clean-up checks
// that the state directory is still the one it made. The run is stopped (SIGSTOP, by pid)
// across the delete and the create, which makes the order certain.
func TestRunLeavesANewContainerOfItsIdAlone(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "trap", "60"} })
	r := startContainer(t, "run", "--bundle", bundle, "reused")
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer r.cmd.Process.Signal(syscall.SIGCONT)
	mustRun(t, "delete", "--force", "reused")
	createContainer(t, bundle, "reused")
	t.Cleanup(func() { contain(t, "", "delete", "--force", "reused") })
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done: // killed by the delete: its status does not matter here
	case <-time.After(20 * time.Second):
		t.Fatal("run did not end after its container was deleted")
	}
	if st := state(t, "reused"); st.Status != specs.StateCreated {
		t.Errorf("the new container of the id, after the old run's clean-up: status %q, want created", st.Status)
	}
}
