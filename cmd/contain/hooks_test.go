package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containkit/contain/isolate"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The six hooks run at their points of the lifecycle, in order, each with the state on stdin.
// Runtime hooks run on the host; createContainer before pivot_root (host paths still
// resolve); startContainer inside the container, so it writes into the rootfs.
func TestHooks(t *testing.T) {
	needContainer(t)
	dir := t.TempDir()
	hook := func(name, log string) obj {
		return obj{"path": "/bin/sh", "args": list{"sh", "-c", "cat > " + log + "/" + name + ".json; echo " + name + " >> " + log + "/order"}}
	}
	bundle := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{
			"prestart":        list{hook("prestart", dir)},
			"createRuntime":   list{hook("createRuntime", dir)},
			"createContainer": list{hook("createContainer", dir)},
			"startContainer":  list{hook("startContainer", "/")},
			"poststart":       list{hook("poststart", dir)},
			"poststop":        list{hook("poststop", dir)},
		}
		process(spec)["args"] = list{"true"}
	})
	for _, form := range []string{"run", "create"} {
		os.Remove(filepath.Join(dir, "order"))
		os.Remove(filepath.Join(bundle, "rootfs", "order"))
		id := "hooks-" + form
		if form == "run" {
			mustRun(t, "run", "--bundle", bundle, id)
		} else {
			createContainer(t, bundle, id)
			mustRunCLI(t, "start", id)
			waitFor(t, func() bool { return state(t, id).Status == specs.StateStopped })
			mustRunCLI(t, "delete", id)
		}
		host, _ := os.ReadFile(filepath.Join(dir, "order"))
		inside, _ := os.ReadFile(filepath.Join(bundle, "rootfs", "order"))
		if string(host) != "prestart\ncreateRuntime\ncreateContainer\npoststart\npoststop\n" || string(inside) != "startContainer\n" {
			t.Errorf("%s: hooks ran on the host as %q and inside as %q", form, host, inside)
		}
		var st specs.State
		data, _ := os.ReadFile(filepath.Join(dir, "createRuntime.json"))
		if err := json.Unmarshal(data, &st); err != nil || st.ID != id || st.Pid <= 0 || st.Bundle != bundle {
			t.Errorf("%s: createRuntime got state %q", form, data)
		}
	}
	// A failing createRuntime hook fails the create, and leaves nothing; the runtime says why,
	// and init, left waiting for it, adds nothing (its "wait for the runtime's hooks: EOF").
	broken := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{"createRuntime": list{obj{"path": "/bin/sh", "args": list{"sh", "-c", "echo no >&2; exit 3"}}}}
	})
	if r := contain(t, "", "run", "--bundle", broken, "hooks-fail"); r.code == 0 || !strings.Contains(r.stderr, "createRuntime hook") ||
		strings.Contains(r.stderr, "contain init:") {
		t.Errorf("failing createRuntime hook: exit %d, %q; want the hook's failure, and nothing from init", r.code, r.stderr)
	}
}

// A startContainer hook runs after init became the container's user, and RLIMIT_NPROC counts
// each thread and process of that uid. Init starts Go's template thread before, as root, and
// Go starts its later threads from it: the limit counts only init's own thread and the hook,
// so 2 is enough. (Started from init's thread after the user switch, that thread would take
// the second place and the hook's fork would fail with EAGAIN.)
func TestStartContainerHookUnderTheUsersProcessLimit(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{"startContainer": list{obj{"path": "/bin/true"}}}
		process(spec)["user"] = obj{"uid": 54321, "gid": 54321}
		process(spec)["rlimits"] = list{obj{"type": "RLIMIT_NPROC", "soft": 2, "hard": 2}}
		process(spec)["args"] = list{"true"}
	})
	mustRun(t, "run", "--bundle", bundle, "hook-nproc")
}

// poststop runs once the container is gone (runtime.md steps 12 and 13): its state directory
// and cgroup no longer exist when the hook looks.
func TestPoststopRunsAfterTheContainerIsGone(t *testing.T) {
	needContainer(t)
	dir := t.TempDir()
	look := "if [ -e " + stateRoot + "/$ID ]; then echo state >> " + dir + "/left; fi; " +
		"if [ -e /sys/fs/cgroup/pids/contain/$ID ] || [ -e /sys/fs/cgroup/contain/$ID ]; then echo cgroup >> " + dir + "/left; fi; " +
		"echo ran >> " + dir + "/ran"
	for _, form := range []string{"run", "create"} {
		id := "poststop-" + form
		bundle := newBundle(t, func(spec obj) {
			spec["hooks"] = obj{"poststop": list{obj{"path": "/bin/sh", "args": list{"sh", "-c", look}, "env": list{"ID=" + id}}}}
			process(spec)["args"] = list{"true"}
		})
		if form == "run" {
			mustRun(t, "run", "--bundle", bundle, id)
		} else {
			createContainer(t, bundle, id)
			if out := mustRunCLI(t, "state", id); strings.Contains(out, `"poststop":`) || strings.Contains(out, "ID="+id) {
				t.Errorf("state shows the hooks, environments and all: %s", out)
			}
			mustRunCLI(t, "delete", id) // a created container: deleted without --force, as runc does
		}
	}
	ran, _ := os.ReadFile(filepath.Join(dir, "ran"))
	left, _ := os.ReadFile(filepath.Join(dir, "left"))
	if string(ran) != "ran\nran\n" || len(left) != 0 {
		t.Errorf("poststop ran %q times and found %q of the container still there", ran, left)
	}
}

// A hook that fails at create, at start or after start: an error, the container stopped, and
// poststop run (runtime.md steps 3-9, then 12 and 13). Hooks run by init get the process's
// environment when they name none, not init's own.
func TestFailingHooksStopTheContainer(t *testing.T) {
	needContainer(t)
	dir := t.TempDir()
	fail := obj{"path": "/bin/sh", "args": list{"sh", "-c", "echo refused >&2; exit 3"}}
	poststop := obj{"path": "/bin/sh", "args": list{"sh", "-c", "echo poststop >> " + dir + "/poststop"}}
	bundleWith := func(kind string) string {
		return newBundle(t, func(spec obj) {
			spec["hooks"] = obj{kind: list{fail}, "poststop": list{poststop}}
			process(spec)["args"] = list{"/bin/probe", "sleep", "30"}
		})
	}
	// prestart fails the create, which leaves nothing but runs poststop.
	if r := contain(t, "", "create", "--bundle", bundleWith("prestart"), "hookfail-pre"); r.code == 0 || !strings.Contains(r.stderr, "prestart hook") {
		t.Errorf("failing prestart: exit %d, %q", r.code, r.stderr)
	}
	// startContainer fails the start: the program never runs.
	createContainer(t, bundleWith("startContainer"), "hookfail-start")
	if r := contain(t, "", "start", "hookfail-start"); r.code == 0 || !strings.Contains(r.stderr, "startContainer hook") {
		t.Errorf("failing startContainer: start exit %d, %q; want an error", r.code, r.stderr)
	}
	mustRunCLI(t, "delete", "hookfail-start")
	// poststart fails the start too, and stops the program that had started.
	createContainer(t, bundleWith("poststart"), "hookfail-post")
	if r := contain(t, "", "start", "hookfail-post"); r.code == 0 || !strings.Contains(r.stderr, "poststart hook") {
		t.Errorf("failing poststart: start exit %d, %q; want an error", r.code, r.stderr)
	}
	waitFor(t, func() bool { return state(t, "hookfail-post").Status == specs.StateStopped })
	mustRunCLI(t, "delete", "hookfail-post")
	if r := contain(t, "", "run", "--bundle", bundleWith("poststart"), "hookfail-run"); r.code == 0 || !strings.Contains(r.stderr, "poststart hook") {
		t.Errorf("failing poststart under run: exit %d, %q; want an error", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "poststop")); strings.Count(string(got), "poststop") != 4 {
		t.Errorf("poststop ran %d times for four containers", strings.Count(string(got), "poststop"))
	}

	envBundle := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{"startContainer": list{obj{"path": "/bin/sh", "args": list{"sh", "-c", "env > /hookenv"}}}}
		process(spec)["env"] = list{"PATH=/bin", "FROM=process"}
		process(spec)["args"] = list{"true"}
	})
	mustRun(t, "run", "--bundle", envBundle, "hookenv")
	env, _ := os.ReadFile(filepath.Join(envBundle, "rootfs", "hookenv"))
	if !strings.Contains(string(env), "FROM=process") || strings.Contains(string(env), "GOGC") || strings.Contains(string(env), "GOMAXPROCS") {
		t.Errorf("a startContainer hook with no env of its own saw %q; want the process's", env)
	}
}

// The hooks init runs (createContainer, startContainer: the image's programs) get fds 0-2
// alone, not init's sync socket or its exec fifo, with which they could speak for init.
func TestInitsHooksGetOnlyStdio(t *testing.T) {
	needContainer(t)
	count := `n=0; for f in /proc/self/fd/*; do n=$((n+1)); done; echo "$1 $n" >> $2`
	hookFds := func(kind, file string) obj {
		return obj{"path": "/bin/sh", "args": list{"sh", "-c", count, "sh", kind, file}}
	}
	dir := t.TempDir()
	bundle := newBundle(t, func(spec obj) {
		// createContainer runs before pivot_root, where "/" is still the host's: it writes
		// to the rootfs by its host path. startContainer runs in the container.
		spec["hooks"] = obj{"createContainer": list{hookFds("createContainer", filepath.Join(dir, "bundle", "rootfs", "hookfds"))},
			"startContainer": list{hookFds("startContainer", "/hookfds")}}
		process(spec)["args"] = list{"true"}
	})
	if err := os.Symlink(bundle, filepath.Join(dir, "bundle")); err != nil {
		t.Fatal(err)
	}
	createContainer(t, bundle, "hookfds")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "hookfds") })
	mustRunCLI(t, "start", "hookfds")
	waitFor(t, func() bool { return state(t, "hookfds").Status == specs.StateStopped })
	// The glob runs in sh itself: 0, 1, 2, and the directory it reads /proc/self/fd through.
	got, _ := os.ReadFile(filepath.Join(bundle, "rootfs", "hookfds"))
	if string(got) != "createContainer 4\nstartContainer 4\n" {
		t.Errorf("fds the hooks saw: %q, want 4 each (stdio and the glob's own)", got)
	}
}

// The state init's hooks get says the pid as the container sees it (runtime.md, "State"), and
// comes whole however large the annotations are; "env": [] is no environment there too; and
// poststop's state names no pid, which may be another process's by then.
func TestHooksStateAndEnvironment(t *testing.T) {
	needContainer(t)
	dir := t.TempDir()
	big := strings.Repeat("x", 70000) // more than a sync message holds
	save := func(name string) obj {
		return obj{"path": "/bin/sh", "args": list{"sh", "-c", "cat > " + dir + "/" + name + ".json; env > " + dir + "/" + name + ".env"}, "env": list{}}
	}
	bundle := newBundle(t, func(spec obj) {
		spec["annotations"] = obj{"big": big}
		spec["hooks"] = obj{"createContainer": list{save("createContainer")}, "poststop": list{save("poststop")}}
		process(spec)["args"] = list{"true"}
	})
	mustRun(t, "run", "--bundle", bundle, "hookstate")
	var cc, ps specs.State
	data, _ := os.ReadFile(filepath.Join(dir, "createContainer.json"))
	if err := json.Unmarshal(data, &cc); err != nil || cc.Pid != 1 || cc.ID != "hookstate" || cc.Annotations["big"] != big || cc.Status != specs.StateCreating {
		t.Errorf("createContainer got pid %d, id %q, status %q, %d bytes of the annotation (%v); want 1, hookstate, creating, %d",
			cc.Pid, cc.ID, cc.Status, len(cc.Annotations["big"]), err, len(big))
	}
	data, _ = os.ReadFile(filepath.Join(dir, "poststop.json"))
	if err := json.Unmarshal(data, &ps); err != nil || ps.Pid != 0 || ps.Status != specs.StateStopped {
		t.Errorf("poststop got %q (%v), want stopped and no pid", data, err)
	}
	for _, name := range []string{"createContainer", "poststop"} {
		env, _ := os.ReadFile(filepath.Join(dir, name+".env"))
		for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
			if line != "" && !strings.HasPrefix(line, "PWD=") && !strings.HasPrefix(line, "SHLVL=") {
				t.Errorf("%s with \"env\": [] saw %q", name, env)
				break
			}
		}
	}
}

// A foreground run's container that a delete --force ends gets its poststop hooks run by that
// delete (runtime.md step 13), as runc's does.
func TestPoststopRunsWhenARunIsDeleted(t *testing.T) {
	needContainer(t)
	ran := filepath.Join(t.TempDir(), "ran")
	bundle := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{"poststop": list{obj{"path": "/bin/sh", "args": list{"sh", "-c", "echo ran >> " + ran}}}}
		process(spec)["args"] = list{"/bin/probe", "trap", "60"}
	})
	r := startContainer(t, "run", "--bundle", bundle, "poststop-del") // returns once it runs
	mustRunCLI(t, "delete", "--force", "poststop-del")
	r.cmd.Wait()
	if data, _ := os.ReadFile(ran); string(data) != "ran\n" {
		t.Errorf("poststop ran %q, want once", data)
	}
}

// A hook's timeout bounds the runtime: a hook that leaves a child holding its output, or
// that is killed with children, does not keep the create waiting; and a hook that fails with
// a flood of output is reported with its end, not lost.
func TestHookTimeoutAndOutput(t *testing.T) {
	needContainer(t)
	pidFile := filepath.Join(t.TempDir(), "child")
	for _, tc := range []struct {
		name, kind, script string
		timeout            int
		want               string // in the error; "" for a run that succeeds
	}{
		// On the host, where the child's pid is the host's.
		{"timeout", "createRuntime", "echo working; sleep 8 & echo $! > " + pidFile + "; wait", 1, "timed out after 1s"},
		{"child holds the output", "createContainer", "sleep 8 & echo started", 0, ""},
		{"flood", "createContainer", "head -c 100000 /dev/zero | tr '\\0' a; echo; echo the-end; exit 3", 0, "the-end"},
	} {
		hook := obj{"path": "/bin/sh", "args": list{"sh", "-c", tc.script}}
		if tc.timeout > 0 {
			hook["timeout"] = tc.timeout
		}
		bundle := newBundle(t, func(spec obj) {
			spec["hooks"] = obj{tc.kind: list{hook}}
			process(spec)["args"] = list{"true"}
		})
		start := time.Now()
		r := contain(t, "", "run", "--bundle", bundle, "hookbound")
		took := time.Since(start)
		ok := r.code == 0 && tc.want == "" || r.code != 0 && tc.want != "" && strings.Contains(r.stderr, tc.want)
		if !ok || took > 5*time.Second {
			t.Errorf("%s: exit %d after %v, stderr %.300q...; want within 5 s a success, or a failure that says %q", tc.name, r.code, took.Round(time.Millisecond), r.stderr, tc.want)
		}
	}
	// The timed-out hook's child went with it: its process group was killed.
	data, err := os.ReadFile(pidFile)
	child, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || child <= 0 {
		t.Fatalf("the hook's child pid: %q, %v", data, err)
	}
	for deadline := time.Now().Add(2 * time.Second); isolate.Alive(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) { // its own sleep would end 8 s after it began
			t.Fatalf("the timed-out hook's child %d still runs", child)
		}
	}
}
