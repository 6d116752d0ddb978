package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// What engines rely on beyond runtime-spec: podman's mount options and non-root users.

// tmpcopyup (crun's extension, on podman's --tmpfs and --read-only mounts): the tmpfs starts
// with a copy of what it covers, and the image itself is never written.
func TestTmpcopyup(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any),
			obj{"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": list{"tmpcopyup", "nosuid", "mode=755"}},
			obj{"destination": "/rodata", "type": "tmpfs", "source": "tmpfs", "options": list{"tmpcopyup", "ro"}},
			// A destination the image lacks keeps tmpfs's mode: nothing to copy, or to take after.
			obj{"destination": "/fresh", "type": "tmpfs", "source": "tmpfs", "options": list{"tmpcopyup", "mode=1777"}},
			// An explicit mode= wins over the covered directory's (0750 here).
			obj{"destination": "/data/sub", "type": "tmpfs", "source": "tmpfs", "options": list{"tmpcopyup", "mode=1777"}},
			// A later mount in the read-only copy, on a mount point the image lacks: made
			// before the copy turns read-only.
			obj{"destination": "/rodata/inner", "type": "tmpfs", "source": "tmpfs"})
		process(spec)["args"] = list{"sh", "-c", "cat /data/sub/file; readlink /data/link; stat -c %a /data/sub; " +
			"echo new > /data/sub/file && cat /data/sub/file; cat /rodata/f; echo x > /rodata/f || echo rodata-ro; " +
			"stat -c %a /fresh /rodata; grep -c ' /rodata/inner ' /proc/self/mountinfo"}
	})
	root := filepath.Join(bundle, "rootfs")
	for _, dir := range []string{"data/sub", "rodata"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "data/sub/file"), []byte("from the image\n"), 0o644)
	os.WriteFile(filepath.Join(root, "rodata/f"), []byte("ro\n"), 0o644)
	os.Symlink("/etc/hostname", filepath.Join(root, "data/link"))
	os.Chmod(filepath.Join(root, "data/sub"), 0o750)
	out := mustRun(t, "run", "--bundle", bundle, "tcu")
	want := "from the image\n/etc/hostname\n1777\nnew\nro\nrodata-ro\n1777\n750\n1\n" // /rodata: the image's mode
	if !strings.HasSuffix(out, want) {
		t.Errorf("container printed %q, want %q", out, want)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "data/sub/file")); string(data) != "from the image\n" {
		t.Errorf("the image's file changed: %q", data)
	}
}

// tmpcopyup on /dev is not followed: the runtime makes /dev itself, and a copy would bring
// the image's device nodes (and anything else it put there) into it. A warning says so.
func TestTmpcopyupOnDevCopiesNothing(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		for _, m := range spec["mounts"].([]any) {
			if m := m.(obj); m["destination"] == "/dev" {
				m["options"] = append(m["options"].([]any), "tmpcopyup")
			}
		}
		process(spec)["args"] = list{"sh", "-c", "ls /dev/from-image /dev/image-null 2>&1 | wc -l; ls -A /dev/from-image /dev/image-null 2>/dev/null | wc -l"}
	})
	dev := filepath.Join(bundle, "rootfs", "dev")
	if err := os.WriteFile(filepath.Join(dev, "from-image"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(dev, "image-null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	r := contain(t, "", "run", "--bundle", bundle, "tcudev")
	if r.code != 0 || r.stdout != "2\n0\n" {
		t.Errorf("run: exit %d, %q (stderr %q); want the image's /dev entries absent (2 errors from ls, nothing listed)", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "mount /dev: tmpcopyup is ignored there") {
		t.Errorf("stderr %q: want a warning that tmpcopyup on /dev is ignored", r.stderr)
	}
}

// A non-root process with no capabilities still gets through create and start: init opens
// the exec fifo after it became that user.
func TestCreateStartAsUserWithoutCapabilities(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		p := process(spec)
		p["user"] = obj{"uid": 1000, "gid": 1000}
		p["capabilities"] = obj{"bounding": list{"CAP_KILL"}}
		p["args"] = list{"/bin/probe", "sleep", "30"}
	})
	createContainer(t, bundle, "nonroot")
	defer contain(t, "", "delete", "--force", "nonroot")
	if st := state(t, "nonroot").Status; st != specs.StateCreated {
		t.Fatalf("status after create = %q, want created", st)
	}
	mustRunCLI(t, "start", "nonroot")
	time.Sleep(50 * time.Millisecond)
	if st := state(t, "nonroot").Status; st != specs.StateRunning {
		t.Errorf("status after start = %q, want running", st)
	}
}

// start returns once the program runs (runtime.md: poststart hooks run after the process is
// executed, then start returns): right after it, the init's /proc/PID/exe is the program. A
// slow startContainer hook (run by init between the exec fifo and execve) makes a start that
// returned at the fifo fail every time.
func TestStartReturnsAfterExec(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "sleep", "30"}
		spec["hooks"] = obj{"startContainer": list{obj{"path": "/bin/sleep", "args": list{"sleep", "0.2"}}}}
	})
	for i := 0; i < 5; i++ {
		id := "execd-" + strconv.Itoa(i)
		createContainer(t, bundle, id)
		pid := state(t, id).Pid
		mustRunCLI(t, "start", id)
		exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		mustRunCLI(t, "delete", "--force", id)
		if err != nil || !strings.HasSuffix(exe, "/bin/probe") {
			t.Fatalf("right after start, init %d runs %q (%v), want the program /bin/probe", pid, exe, err)
		}
	}
}
