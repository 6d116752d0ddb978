package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	// A failing createRuntime hook fails the create, and leaves nothing.
	broken := newBundle(t, func(spec obj) {
		spec["hooks"] = obj{"createRuntime": list{obj{"path": "/bin/sh", "args": list{"sh", "-c", "echo no >&2; exit 3"}}}}
	})
	if r := contain(t, "", "run", "--bundle", broken, "hooks-fail"); r.code == 0 || !strings.Contains(r.stderr, "createRuntime hook") {
		t.Errorf("failing createRuntime hook: exit %d, %q", r.code, r.stderr)
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
