package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/isolate/cgroups"
)

// bundleReport runs `probe report` in a bundle made by newBundle with edit applied.
func bundleReport(t *testing.T, id string, edit func(obj)) probe.Report {
	t.Helper()
	bundle := newBundle(t, func(spec obj) {
		if edit != nil {
			edit(spec)
		}
		process(spec)["args"] = list{"/bin/probe", "report"}
	})
	return decodeReport(t, mustRun(t, "run", "--bundle", bundle, id))
}

// A negative oomScoreAdj below the runtime's own needs CAP_SYS_RESOURCE (proc(5)): where the
// runtime has it, the program gets it; where it does not (a confined runtime, as on the
// development VM), the error says what is missing rather than only EACCES.
func TestBundleNegativeOOMScoreAdj(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["oomScoreAdj"] = -500
		process(spec)["args"] = list{"cat", "/proc/self/oom_score_adj"}
	})
	r := contain(t, "", "run", "--bundle", bundle, "oomneg")
	var caps unix.CapUserData
	if err := unix.Capget(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_1}, &caps); err != nil {
		t.Fatal(err)
	}
	if caps.Effective&(1<<unix.CAP_SYS_RESOURCE) != 0 {
		if r.code != 0 || r.stdout != "-500\n" {
			t.Errorf("oomScoreAdj -500: exit %d, %q (stderr %q), want -500", r.code, r.stdout, r.stderr)
		}
		return
	}
	if r.code == 0 || !strings.Contains(r.stderr, "oom_score_adj -500") || !strings.Contains(r.stderr, "needs CAP_SYS_RESOURCE") {
		t.Errorf("oomScoreAdj -500 without CAP_SYS_RESOURCE: exit %d, stderr %q; want a failure that names the capability", r.code, r.stderr)
	}
}

func TestBundleProcess(t *testing.T) {
	needContainer(t)
	r := bundleReport(t, "proc", func(spec obj) {
		process(spec)["user"] = obj{"uid": 1000, "gid": 1000, "additionalGids": list{10, 20}, "umask": 0o77}
		process(spec)["rlimits"] = list{
			obj{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512},
			obj{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
		}
		process(spec)["oomScoreAdj"] = 500
		process(spec)["noNewPrivileges"] = false
		process(spec)["env"] = list{"PATH=/bin", "ONE=1"}
		process(spec)["cwd"] = "/tmp"
		process(spec)["capabilities"] = obj{
			"bounding":    list{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
			"effective":   list{"CAP_NET_BIND_SERVICE"},
			"permitted":   list{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
			"inheritable": list{"CAP_NET_BIND_SERVICE"},
			"ambient":     list{"CAP_NET_BIND_SERVICE"},
		}
	})
	if r.UID[1] != 1000 || r.GID[1] != 1000 || !slices.Equal(r.Groups, []int{10, 20}) {
		t.Errorf("uid %v gid %v groups %v, want 1000/1000/[10 20]", r.UID, r.GID, r.Groups)
	}
	if r.Umask != "0077" {
		t.Errorf("umask %q, want 0077", r.Umask)
	}
	if l := r.Rlimits["RLIMIT_NOFILE"]; l.Soft != 512 || l.Hard != 512 {
		t.Errorf("RLIMIT_NOFILE %+v, want 512/512", l)
	}
	if l := r.Rlimits["RLIMIT_CORE"]; l.Soft != 0 || l.Hard != 0 {
		t.Errorf("RLIMIT_CORE %+v, want 0/0", l)
	}
	if r.OOMScoreAdj != 500 {
		t.Errorf("oom_score_adj %d, want 500", r.OOMScoreAdj)
	}
	if r.NoNewPrivs != 0 {
		t.Errorf("NoNewPrivs %d, want 0", r.NoNewPrivs)
	}
	// HOME: the user has no entry in the image's /etc/passwd (withHome).
	if !slices.Equal(r.Env, []string{"PATH=/bin", "ONE=1", "HOME=/"}) || r.Cwd != "/tmp" {
		t.Errorf("env %v cwd %q, want [PATH=/bin ONE=1 HOME=/] /tmp", r.Env, r.Cwd)
	}
	// A non-root process keeps, across execve, its ambient set as permitted and effective.
	want := map[string][]string{
		"bounding":    {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
		"effective":   {"CAP_NET_BIND_SERVICE"},
		"permitted":   {"CAP_NET_BIND_SERVICE"},
		"inheritable": {"CAP_NET_BIND_SERVICE"},
		"ambient":     {"CAP_NET_BIND_SERVICE"},
	}
	for set, names := range want {
		if !slices.Equal(r.Caps[set], names) {
			t.Errorf("%s = %v, want %v", set, r.Caps[set], names)
		}
	}
}

func TestBundleRootCapabilities(t *testing.T) {
	needContainer(t)
	r := bundleReport(t, "rootcaps", func(spec obj) {
		caps := list{"CAP_KILL", "CAP_SYS_CHROOT"}
		process(spec)["capabilities"] = obj{"bounding": caps, "effective": caps, "permitted": caps}
	})
	for _, set := range []string{"bounding", "effective", "permitted"} {
		if !slices.Equal(r.Caps[set], []string{"CAP_KILL", "CAP_SYS_CHROOT"}) {
			t.Errorf("%s = %v", set, r.Caps[set])
		}
	}
}

func TestBundleNamesAndSysctl(t *testing.T) {
	needContainer(t)
	r := bundleReport(t, "names", func(spec obj) {
		spec["hostname"] = "box"
		spec["domainname"] = "example.test"
	})
	if r.Hostname != "box" || r.Domainname != "example.test" {
		t.Errorf("hostname %q domainname %q", r.Hostname, r.Domainname)
	}
	// net.* sysctls are per network namespace: this changes only the container's.
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["sysctl"] = obj{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
		process(spec)["args"] = list{"sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"}
	})
	if out := mustRun(t, "run", "--bundle", bundle, "sysctl"); out != "1\n1234\n" {
		t.Errorf("sysctls inside read %q, want 1 and 1234", out)
	}
}

func TestBundleDevices(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["devices"] = list{obj{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
			"fileMode": 0o600, "uid": 1, "gid": 2},
			obj{"path": "/dev/myfifo", "type": "p", "fileMode": 0o600}} // a fifo: no device cgroup rule
		process(spec)["args"] = list{"stat", "-c", "%n %F %a %u %g %t %T", "/dev/fuse", "/dev/null", "/dev/tty", "/dev/myfifo"}
	})
	out := mustRun(t, "run", "--bundle", bundle, "devices")
	want := "/dev/fuse character special file 600 1 2 a e5\n" +
		"/dev/null character special file 666 0 0 1 3\n" +
		"/dev/tty character special file 666 0 0 5 0\n" +
		"/dev/myfifo fifo 600 0 0 0 0\n"
	if out != want {
		t.Errorf("devices:\n%s\nwant:\n%s", out, want)
	}
}

// A device path where the image has a file already: the very device is kept as it is, and
// anything else is an error that leaves the image's file alone (config-linux.md: "If a file
// already exists at path that does not match the requested device, the runtime MUST generate
// an error"). A default device listed again is the spec's.
func TestBundleDevicesOverTheImagesFiles(t *testing.T) {
	needContainer(t)
	var bundle string
	bundle = newBundle(t, func(spec obj) {
		linux(spec)["devices"] = list{obj{"path": "/victim", "type": "c", "major": 1, "minor": 3}}
	})
	victim := filepath.Join(bundle, "rootfs", "victim")
	if err := os.WriteFile(victim, []byte("the image's own"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := contain(t, "", "run", "--bundle", bundle, "devover")
	if r.code == 0 || !strings.Contains(r.stderr, "linux.devices /victim: the rootfs already has a file there") {
		t.Errorf("a device over a file of the image: exit %d %q, want an error naming it", r.code, r.stderr)
	}
	if data, err := os.ReadFile(victim); err != nil || string(data) != "the image's own" {
		t.Errorf("the image's file after the run: %q %v, want it untouched", data, err)
	}

	bundle = newBundle(t, func(spec obj) {
		linux(spec)["devices"] = list{obj{"path": "/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600},
			obj{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 5}}
		process(spec)["args"] = list{"stat", "-c", "%n %a %u %t %T", "/mynull", "/dev/null"}
	})
	mynull := filepath.Join(bundle, "rootfs", "mynull")
	if err := unix.Mknod(mynull, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if out, want := mustRun(t, "run", "--bundle", bundle, "devsame"), "/mynull 644 0 1 3\n/dev/null 640 5 1 3\n"; out != want {
		t.Errorf("the image's own 1:3 kept, /dev/null the spec's: %q, want %q", out, want)
	}
}

// A /dev bound over the runtime's tmpfs by a later mount is what the container sees: no node
// is made in it (the bind's source could be the host's /dev), and the spec's devices are
// named in a warning instead.
func TestBundleDevicesNotMadeInABoundDev(t *testing.T) {
	needContainer(t)
	source := t.TempDir() // with a null, which masking /proc's files binds from
	if err := unix.Mknod(filepath.Join(source, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/dev", "type": "bind", "source": source, "options": list{"rbind"}})
		linux(spec)["devices"] = list{obj{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}}
		process(spec)["args"] = list{"true"}
	})
	r := contain(t, "", "run", "--bundle", bundle, "devbound")
	if r.code != 0 || strings.Count(r.stderr, "linux.devices are not made: /dev is a bind mount of "+source) != 1 {
		t.Errorf("exit %d, stderr %q: want a run with one warning that the devices are not made", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(source); len(entries) != 1 {
		t.Errorf("the bound directory holds %v after the run, want its null alone", entries)
	}
}

func TestBundleMounts(t *testing.T) {
	needContainer(t)
	shared := t.TempDir()
	os.WriteFile(filepath.Join(shared, "hello"), []byte("from the host"), 0o644)
	r := bundleReport(t, "mounts", func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any),
			obj{"destination": "/data", "type": "bind", "source": shared, "options": list{"rbind", "ro", "nosuid", "nodev", "noexec", "rprivate"}},
			obj{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": list{"size=1m", "mode=700", "noexec"}},
		)
		linux(spec)["rootfsPropagation"] = "shared"
	})
	find := func(path string) *probe.Mount {
		for i := range r.Mounts {
			if r.Mounts[i].MountPoint == path {
				return &r.Mounts[i]
			}
		}
		t.Fatalf("no mount at %s in %+v", path, r.Mounts)
		return nil
	}
	data := find("/data")
	for _, opt := range []string{"ro", "nosuid", "nodev", "noexec"} {
		if !slices.Contains(strings.Split(data.Options, ","), opt) {
			t.Errorf("/data options %q lack %s", data.Options, opt)
		}
	}
	scratch := find("/scratch")
	if scratch.FSType != "tmpfs" || !strings.Contains(scratch.SuperOptions, "size=1024k") || !strings.Contains(scratch.Options, "noexec") {
		t.Errorf("/scratch = %+v", scratch)
	}
	root := find("/")
	if !slices.ContainsFunc(root.Optional, func(o string) bool { return strings.HasPrefix(o, "shared:") }) {
		t.Errorf("rootfsPropagation shared: / has %v", root.Optional)
	}
	// And the bind is read-only for real.
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/data", "type": "bind", "source": shared, "options": list{"bind", "ro"}})
		process(spec)["args"] = list{"/bin/probe", "write", "/data/new"}
	})
	var w probe.PathResult
	json.Unmarshal([]byte(mustRun(t, "run", "--bundle", bundle, "robind")), &w)
	if w.OK || w.Errno != "EROFS" {
		t.Errorf("write into a ro bind: %+v, want EROFS", w)
	}
	if _, err := os.Stat(filepath.Join(shared, "new")); err == nil {
		t.Error("the write reached the host directory")
	}
}

// A read-only path that is a symlink in the image, as /etc/resolv.conf often is, is followed
// inside the container's root, as runc follows it: the file it names is read-only, its
// directory is not.
func TestBundleReadonlyPathThroughASymlink(t *testing.T) {
	needContainer(t)
	for _, tc := range []struct{ write, errno string }{{"/etc/resolv.conf", "EROFS"}, {"/run/other", ""}} {
		bundle := newBundle(t, func(spec obj) {
			linux(spec)["readonlyPaths"] = list{"/etc/resolv.conf"}
			process(spec)["args"] = list{"/bin/probe", "write", tc.write, "changed"}
		})
		rootfs := filepath.Join(bundle, "rootfs")
		if err := os.MkdirAll(filepath.Join(rootfs, "run"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rootfs, "run/stub-resolv.conf"), []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(rootfs, "etc/resolv.conf"))
		if err := os.Symlink("../run/stub-resolv.conf", filepath.Join(rootfs, "etc/resolv.conf")); err != nil {
			t.Fatal(err)
		}
		var w probe.PathResult
		json.Unmarshal([]byte(mustRun(t, "run", "--bundle", bundle, "rolink")), &w)
		if tc.errno == "" && !w.OK || tc.errno != "" && (w.OK || w.Errno != tc.errno) {
			t.Errorf("write %s with /etc/resolv.conf -> ../run/stub-resolv.conf read-only: %+v, want errno %q", tc.write, w, tc.errno)
		}
	}
}

// A read-only tmpfs takes the mount points of the mounts below it, and a read-only /dev its
// devices, as in runc: they become read-only once those are made.
func TestBundleReadOnlyTmpfsWithMountsBelow(t *testing.T) {
	needContainer(t)
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "token"), []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  list
		check func(out string) string
	}{
		{list{"/bin/probe", "cat", "/run/secrets/token"}, func(out string) string {
			var c probe.CatResult
			json.Unmarshal([]byte(out), &c)
			if !c.OK || c.Content != "s3cret" {
				return fmt.Sprintf("the bind below the read-only /run: %+v", c)
			}
			return ""
		}},
		{list{"/bin/probe", "write", "/run/new"}, func(out string) string {
			var w probe.PathResult
			json.Unmarshal([]byte(out), &w)
			if w.OK || w.Errno != "EROFS" {
				return fmt.Sprintf("write into the read-only tmpfs /run: %+v, want EROFS", w)
			}
			return ""
		}},
		{list{"/bin/probe", "write", "/dev/new"}, func(out string) string {
			var w probe.PathResult
			json.Unmarshal([]byte(out), &w)
			if w.OK || w.Errno != "EROFS" {
				return fmt.Sprintf("write into the read-only /dev: %+v, want EROFS", w)
			}
			return ""
		}},
		{list{"/bin/probe", "write", "/dev/null"}, func(out string) string {
			var w probe.PathResult
			json.Unmarshal([]byte(out), &w)
			if !w.OK {
				return fmt.Sprintf("write to /dev/null on the read-only /dev: %+v, want it to work", w)
			}
			return ""
		}},
	} {
		bundle := newBundle(t, func(spec obj) {
			mounts := list{obj{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": list{"nosuid", "mode=755", "ro"}}}
			for _, m := range spec["mounts"].([]any) {
				if m.(obj)["destination"] != "/dev" {
					mounts = append(mounts, m)
				}
			}
			spec["mounts"] = append(mounts,
				obj{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": list{"ro", "nosuid", "nodev"}},
				obj{"destination": "/run/secrets", "type": "bind", "source": secrets, "options": list{"bind", "ro"}})
			process(spec)["args"] = tc.args
		})
		if msg := tc.check(mustRun(t, "run", "--bundle", bundle, "rotmpfs")); msg != "" {
			t.Error(msg)
		}
	}
}

// The plain "ro" or "rw" wins over a recursive "rrw" or "rro" on the mount itself, in either
// order, as config.md has it and as a bind mount already took them.
func TestBundlePlainReadOnlyWinsOverRecursive(t *testing.T) {
	needContainer(t)
	// The plain "ro" or "rw" decides, in either order. mqueue is a type made read-only at
	// once; "rw,rro" must make no read-only filesystem (MS_RDONLY to mount(2)) that the
	// mount's "rw" could not undo.
	for _, tc := range []struct {
		kind     string
		options  list
		writable bool
	}{
		{"tmpfs", list{"rrw", "ro"}, false}, {"tmpfs", list{"ro", "rrw"}, false},
		{"mqueue", list{"rrw", "ro"}, false}, {"mqueue", list{"ro", "rrw"}, false},
		{"tmpfs", list{"rw", "rro"}, true}, {"tmpfs", list{"rro", "rw"}, true},
	} {
		bundle := newBundle(t, func(spec obj) {
			spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/scratch", "type": tc.kind, "source": tc.kind, "options": tc.options})
			process(spec)["args"] = list{"/bin/probe", "write", "/scratch/new"}
		})
		var w probe.PathResult
		json.Unmarshal([]byte(mustRun(t, "run", "--bundle", bundle, "plainwins")), &w)
		if w.OK != tc.writable || !w.OK && w.Errno != "EROFS" {
			t.Errorf("write into a %s with options %v: %+v, want written %v (else EROFS)", tc.kind, tc.options, w, tc.writable)
		}
	}
}

// The access-time options set or clear one flag each, and the kernel makes the mode, as with
// runc and mount(8): "noatime,norelatime" is noatime, "strictatime,atime" strictatime.
func TestBundleAccessTimeOptions(t *testing.T) {
	needContainer(t)
	cases := []struct {
		options list
		want    string // in the mount's options in mountinfo
	}{
		{list{"noatime", "norelatime"}, "noatime"},
		{list{"strictatime", "atime"}, ""}, // strictatime shows as neither relatime nor noatime
		{list{"noatime", "relatime"}, "noatime"},
		{list{"relatime"}, "relatime"},
	}
	bundle := newBundle(t, func(spec obj) {
		for i, c := range cases {
			spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/t" + strconv.Itoa(i), "type": "tmpfs", "source": "tmpfs", "options": c.options})
		}
		process(spec)["args"] = list{"cat", "/proc/self/mountinfo"}
	})
	out := mustRun(t, "run", "--bundle", bundle, "atimes")
	for i, c := range cases {
		var opts string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 5 && f[4] == "/t"+strconv.Itoa(i) {
				opts = f[5]
			}
		}
		mode := ""
		for _, o := range strings.Split(opts, ",") {
			if o == "relatime" || o == "noatime" {
				mode = o
			}
		}
		if opts == "" || mode != c.want {
			t.Errorf("tmpfs with %v: mount options %q, want the access-time mode %q", c.options, opts, c.want)
		}
	}
}

func TestBundleReadonlyRoot(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["root"].(obj)["readonly"] = true
		process(spec)["args"] = list{"/bin/probe", "write", "/newfile"}
	})
	var w probe.PathResult
	json.Unmarshal([]byte(mustRun(t, "run", "--bundle", bundle, "roroot")), &w)
	if w.OK || w.Errno != "EROFS" {
		t.Errorf("write to a read-only root: %+v, want EROFS", w)
	}
}

// bindHostsProc puts a bind of the host's procfs on /proc in spec, in place of its own proc
// mount, as podman's -v /proc:/proc does.
func bindHostsProc(spec obj) {
	var mounts list
	for _, m := range spec["mounts"].([]any) {
		if m.(obj)["destination"] != "/proc" {
			mounts = append(mounts, m)
		}
	}
	spec["mounts"] = append(list{obj{"destination": "/proc", "type": "bind", "source": "/proc", "options": list{"rbind", "nosuid", "nodev", "noexec"}}}, mounts...)
}

// A bind of a proc filesystem at /proc is allowed, as runc allows it (podman -v /proc:/proc):
// the container sees the host's processes. Anything else there is refused (TestValidate).
func TestBundleBindOfTheHostsProc(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		bindHostsProc(spec)
		process(spec)["args"] = list{"cat", "/proc/1/comm"}
	})
	want, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, "run", "--bundle", bundle, "hostproc"); out != string(want) {
		t.Errorf("/proc/1/comm through a bind of the host's /proc: %q, want the host's %q", out, want)
	}
}

// A read-only root keeps the flags the rootfs's mount had: a bind remount to read-only would
// clear its nosuid and nodev (runc 1.1's does).
func TestBundleReadonlyRootKeepsItsFlags(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["root"].(obj)["readonly"] = true
		process(spec)["args"] = list{"sh", "-c", `awk '$5 == "/" {print $6}' /proc/self/mountinfo`}
	})
	rootfs := filepath.Join(bundle, "rootfs")
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", rootfs, err)
	}
	t.Cleanup(func() { unix.Unmount(rootfs, unix.MNT_DETACH) })
	if err := unix.Mount("", rootfs, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		t.Fatalf("remount %s nosuid,nodev: %v", rootfs, err)
	}
	flags := strings.Split(strings.TrimSpace(mustRun(t, "run", "--bundle", bundle, "roflags")), ",")
	for _, want := range []string{"ro", "nosuid", "nodev"} {
		if !slices.Contains(flags, want) {
			t.Errorf("the container's / has %q, want %s among them", flags, want)
		}
	}
}

// State during the run: runtime-spec state JSON with status, pid, bundle and annotations.
func TestBundleStateAndAnnotations(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["annotations"] = obj{"org.example.key": "value"}
		process(spec)["args"] = list{"/bin/probe", "trap", "20"}
	})
	c := startContainer(t, "run", "--bundle", bundle, "annotated")
	var st specs.State
	waitFor(t, func() bool { // "running" is recorded right after the exec, so poll briefly
		data, err := os.ReadFile(filepath.Join(stateRoot, "annotated", "state.json"))
		return err == nil && json.Unmarshal(data, &st) == nil && st.Status == specs.StateRunning
	})
	if st.Status != specs.StateRunning || st.Pid <= 0 || st.Bundle != bundle || st.Annotations["org.example.key"] != "value" || st.ID != "annotated" {
		t.Errorf("state = %+v", st)
	}
	c.signal(t, 15, "SIGTERM")
	c.wait(t)
}

// Joining namespaces by path: container B enters A's network, uts, ipc and pid namespaces.
func TestBundleJoinNamespaces(t *testing.T) {
	needContainer(t)
	a := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "trap", "20"} })
	pidFile := filepath.Join(a, "pid")
	c := startContainer(t, "run", "--bundle", a, "--pid-file", pidFile, "ns-a")
	defer func() { c.signal(t, 15, "SIGTERM"); c.wait(t) }()
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	nsPath := func(name string) string { return "/proc/" + strconv.Itoa(pid) + "/ns/" + name }
	inode := func(name string) uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(nsPath(name), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	r := bundleReport(t, "ns-b", func(spec obj) {
		delete(spec, "hostname")
		linux(spec)["namespaces"] = list{
			obj{"type": "mount"},
			obj{"type": "network", "path": nsPath("net")},
			obj{"type": "uts", "path": nsPath("uts")},
			obj{"type": "ipc", "path": nsPath("ipc")},
			obj{"type": "pid", "path": nsPath("pid")},
		}
	})
	for _, ns := range []string{"net", "uts", "ipc", "pid"} {
		if r.Namespaces[ns] != inode(ns) {
			t.Errorf("%s namespace %d, want container A's %d", ns, r.Namespaces[ns], inode(ns))
		}
	}
	if r.PID == 1 || !slices.Contains(r.Pids, 1) {
		t.Errorf("in A's pid namespace B should not be pid 1 and should see A's pid 1: pid %d, pids %v", r.PID, r.Pids)
	}
	// A namespace file of the wrong type is refused before anything is made.
	wrong := newBundle(t, func(spec obj) {
		linux(spec)["namespaces"] = list{obj{"type": "mount"}, obj{"type": "uts"}, obj{"type": "network", "path": nsPath("uts")}}
	})
	if res := contain(t, "", "run", "--bundle", wrong, "ns-wrong"); res.code == 0 || !strings.Contains(res.stderr, "another type") {
		t.Errorf("wrong namespace type: exit %d, stderr %q", res.code, res.stderr)
	}
}

// Namespace paths are in the runtime's mount namespace (config-linux.md), also those listed
// after a mount namespace that is joined: the runtime opens them all first. Here the path of
// container A's network namespace is a bind of it, as `ip netns` makes one, made after the
// joined mount namespace was: there the path is the plain file under the bind.
func TestBundleNamespacePathsAfterAJoinedMountNamespace(t *testing.T) {
	needContainer(t)
	runningContainer(t, "nsord-a", nil, "/bin/probe", "sleep", "60")
	netA := filepath.Join(t.TempDir(), "net-a")
	if err := os.WriteFile(netA, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	mntU := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/mnt"
	waitFor(t, func() bool { // unshare's own namespace, once it has made it
		var ours, theirs syscall.Stat_t
		return syscall.Stat(mntU, &theirs) == nil && syscall.Stat("/proc/self/ns/mnt", &ours) == nil && theirs.Ino != ours.Ino
	})
	if err := syscall.Mount("/proc/"+strconv.Itoa(state(t, "nsord-a").Pid)+"/ns/net", netA, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(netA, syscall.MNT_DETACH) })
	r := bundleReport(t, "nsord-b", func(spec obj) {
		linux(spec)["namespaces"] = list{
			obj{"type": "mount", "path": mntU},
			obj{"type": "network", "path": netA},
			obj{"type": "pid"}, obj{"type": "ipc"}, obj{"type": "uts"},
		}
	})
	var st syscall.Stat_t
	if err := syscall.Stat(netA, &st); err != nil {
		t.Fatal(err)
	}
	if r.Namespaces["net"] != st.Ino {
		t.Errorf("network namespace %d, want container A's %d", r.Namespaces["net"], st.Ino)
	}
}

// Unknown and unsupported fields are said out loud, and the container still runs. So is an
// ambient capability that is not also inheritable (as in `runc spec` configs), and a
// capability this runtime does not know, once each.
func TestBundleWarnings(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["futureField"] = true
		linux(spec)["personality"] = obj{"domain": "LINUX32"}
		process(spec)["args"] = list{"true"}
		process(spec)["capabilities"] = obj{"bounding": list{"CAP_KILL", "CAP_FUTURE"}, "permitted": list{"CAP_KILL"},
			"effective": list{"CAP_KILL", "CAP_FUTURE"}, "ambient": list{"CAP_KILL"}}
	})
	r := contain(t, "", "run", "--bundle", bundle, "warn")
	if r.code != 0 || !strings.Contains(r.stderr, "futureField") || !strings.Contains(r.stderr, "linux.personality") {
		t.Errorf("exit %d, stderr %q: want success with warnings naming futureField and linux.personality", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "ambient capability CAP_KILL is not also permitted and inheritable"); n != 1 {
		t.Errorf("stderr %q: want the ambient CAP_KILL warning once, got it %d times", r.stderr, n)
	}
	// A capability newer than this runtime: skipped, as config.md asks, not an error.
	if n := strings.Count(r.stderr, "capability CAP_FUTURE is not one this runtime knows: skipped"); n != 1 {
		t.Errorf("stderr %q: want the CAP_FUTURE warning once, got it %d times", r.stderr, n)
	}
}

// The cgroup mount of `contain spec` (and `runc spec`) configs: the hierarchy is visible, and
// read-only, made fresh in the container's cgroup namespace or, without one, bound from the host.
func TestBundleCgroupMountIsReadOnly(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "report"} })
	r := decodeReport(t, mustRun(t, "run", "--bundle", bundle, "cgmount"))
	var cg []probe.Mount
	for _, m := range r.Mounts {
		if strings.HasPrefix(m.MountPoint, "/sys/fs/cgroup") {
			cg = append(cg, m)
		}
	}
	if len(cg) == 0 {
		t.Fatalf("no cgroup hierarchy under /sys/fs/cgroup: %+v", r.Mounts)
	}
	for _, m := range cg {
		if !slices.Contains(strings.Split(m.Options, ","), "ro") {
			t.Errorf("%s is not read-only: %s", m.MountPoint, m.Options)
		}
	}
	bundle2 := newBundle(t, func(spec obj) {
		dropNamespace(spec, "cgroup") // the host's directories, bound in
		process(spec)["args"] = list{"/bin/probe", "write", "/sys/fs/cgroup/contain-test"}
	})
	var w probe.PathResult
	json.Unmarshal([]byte(mustRun(t, "run", "--bundle", bundle2, "cgwrite")), &w)
	if w.OK || w.Errno != "EROFS" {
		t.Errorf("creating a file in /sys/fs/cgroup: %+v, want EROFS", w)
	}
}

// Without a cgroup namespace (podman's default on v1) the container sees its own cgroups, as
// under runc and crun: the host's directory of its cgroup bound read-only in each hierarchy.
// Its limits are where scripts read them (the host's root values were there when the host's
// whole tree was bound), and nothing of the host's other cgroups shows: the root of each
// hierarchy has a release_agent (v1) or cgroup.stat's root lines (v2), and no pids.max.
func TestBundleCgroupMountWithoutANamespace(t *testing.T) {
	needContainer(t)
	pids := "/sys/fs/cgroup/pids" // v1 and hybrid
	if cgroups.IsV2(cgroups.DefaultRoot) {
		pids = "/sys/fs/cgroup"
	}
	bundle := newBundle(t, func(spec obj) {
		dropNamespace(spec, "cgroup")
		linux(spec)["resources"].(obj)["pids"] = obj{"limit": 33}
		process(spec)["args"] = list{"sh", "-c", "cat " + pids + "/pids.max; ls -d /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent /sys/fs/cgroup/*/contain /sys/fs/cgroup/contain 2>/dev/null | wc -l; " +
			"echo x > " + pids + "/pids.max || echo read-only"}
	})
	if out := mustRun(t, "run", "--bundle", bundle, "cgown"); out != "33\n0\nread-only\n" {
		t.Errorf("the container's pids.max at %s, the host's root and other cgroups seen, a write: %q; want 33, 0 and read-only", pids, out)
	}
}

// A writable cgroup mount without a cgroup namespace is the container's own cgroups alone,
// as runc binds them: bound whole, the host's tree would let the container change any cgroup
// on the host (a security review wrote another cgroup's pids.max and moved its shell out of
// its own). A cgroup made in it is made in the container's, and goes with it.
func TestBundleWritableCgroupMountIsTheContainersOwn(t *testing.T) {
	needContainer(t)
	dir := "/sys/fs/cgroup/pids"
	if cgroups.IsV2(cgroups.DefaultRoot) {
		dir = "/sys/fs/cgroup"
	}
	bundle := newBundle(t, func(spec obj) {
		dropNamespace(spec, "cgroup")
		linux(spec)["resources"].(obj)["pids"] = obj{"limit": 33}
		for _, m := range spec["mounts"].([]any) {
			if m := m.(obj); m["destination"] == "/sys/fs/cgroup" {
				m["options"] = list{"nosuid", "noexec", "nodev", "relatime", "rw"}
			}
		}
		process(spec)["args"] = list{"sh", "-c", "cat " + dir + "/pids.max; [ -e " + dir + "/contain ] && echo host-tree; mkdir " + dir + "/made && echo made"}
	})
	if out := mustRun(t, "run", "--bundle", bundle, "cgrw"); out != "33\nmade\n" {
		t.Errorf("a writable cgroup mount without a namespace: %q, want the container's pids.max (33) at its root, no host tree, and a cgroup made", out)
	}
	// The same with another container's cgroup namespace joined by path: what the runtime
	// made is bound, not what /proc/self/cgroup says in that namespace ("/../cgrw"), which
	// climbed out of the container's cgroup into a sibling's, or into any directory.
	other := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	pidFile := filepath.Join(other, "pid")
	createContainer(t, other, "cgns", "--pid-file", pidFile)
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "cgns") })
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	editSpec(t, bundle, func(spec obj) {
		linux(spec)["namespaces"] = append(linux(spec)["namespaces"].([]any), obj{"type": "cgroup", "path": "/proc/" + string(data) + "/ns/cgroup"})
	})
	if out := mustRun(t, "run", "--bundle", bundle, "cgrw"); out != "33\nmade\n" {
		t.Errorf("a writable cgroup mount in a cgroup namespace joined by path: %q, want the container's own pids.max (33), and a cgroup made", out)
	}
}

// A variable given twice takes its last value, for the program and for finding it (runc
// does the same); and `-e` overrides the spec's.
func TestBundleEnvLastValueWins(t *testing.T) {
	needContainer(t)
	// "probe", not "/bin/probe": found only through the last PATH (bundleReport would make it
	// absolute).
	bundle := newBundle(t, func(spec obj) {
		process(spec)["env"] = list{"FOO=first", "PATH=/nonexistent", "FOO=last", "PATH=/bin"}
		process(spec)["args"] = list{"probe", "report"}
		// A relative destination is taken as relative to / (config.md, deprecated).
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"})
	})
	r := decodeReport(t, mustRun(t, "run", "--bundle", bundle, "dupenv"))
	if !slices.Equal(r.Env, []string{"FOO=last", "PATH=/bin", "HOME=/root"}) {
		t.Errorf("env %q, want [FOO=last PATH=/bin HOME=/root] (HOME from /etc/passwd)", r.Env)
	}
	mountAt(t, r, "/mnt/rel")
	// probe reads its environment with Go's os.Getenv, which takes the first entry (sh takes
	// the last, and would pass either way).
	var q probe.Report
	decodeProbe(t, mustRun(t, "run", "--rootfs", testRootfs, "-e", "FOO=1", "-e", "FOO=2", "-e", "PATH=/bin", "--", "probe", "report"), &q)
	if !slices.Contains(q.Env, "FOO=2") || slices.Contains(q.Env, "FOO=1") || !slices.Contains(q.Env, "PATH=/bin") {
		t.Errorf("-e FOO=1 -e FOO=2 -e PATH=/bin: the program's environment is %q, want FOO=2 and PATH=/bin only", q.Env)
	}
}

// A process without HOME gets its user's home directory from the container's /etc/passwd,
// or "/" when the user has none there, as with runc: quick form, bundle and exec --user.
// (The test rootfs's passwd has root at /root and nobody at /nonexistent.)
func TestHomeFromTheContainersPasswd(t *testing.T) {
	needContainer(t)
	home := func(args ...string) string {
		args = append(append([]string{"run", "--rootfs", testRootfs}, args...), "--", "sh", "-c", `echo "$HOME"`)
		return strings.TrimSpace(mustRun(t, args...))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "/root"},
		{[]string{"--user", "65534:65534"}, "/nonexistent"},
		{[]string{"--user", "4242"}, "/"},
		{[]string{"-e", "HOME=/given"}, "/given"},
		{[]string{"-e", "HOME="}, "/root"}, // empty is none, as runc has it
	} {
		if got := home(c.args...); got != c.want {
			t.Errorf("run %q: HOME=%q, want %q", c.args, got, c.want)
		}
	}
	bundle := newBundle(t, func(spec obj) {
		process(spec)["user"] = obj{"uid": 65534, "gid": 65534}
		process(spec)["env"] = list{"PATH=/bin"}
		process(spec)["args"] = list{"sh", "-c", `echo "$HOME"`}
	})
	if got := mustRun(t, "run", "--bundle", bundle, "home"); got != "/nonexistent\n" {
		t.Errorf("bundle as 65534 without HOME: %q, want /nonexistent", got)
	}
	runningContainer(t, "homex", nil, "/bin/probe", "sleep", "60")
	if got := mustRun(t, "exec", "--user", "65534", "homex", "sh", "-c", `echo "$HOME"`); got != "/nonexistent\n" {
		t.Errorf("exec --user 65534: HOME=%q, want /nonexistent", got)
	}
	// A passwd that the image made a fifo is not read (the open would block): "/".
	if got := mustRun(t, "exec", "homex", "sh", "-c", `mkfifo /etc/passwd.fifo && mv /etc/passwd.fifo /etc/passwd && echo "$HOME"`); got != "/root\n" {
		t.Errorf("exec as root: HOME=%q, want /root (read before the passwd became a fifo)", got)
	}
	if got := mustRun(t, "exec", "homex", "sh", "-c", `echo "$HOME"`); got != "/\n" {
		t.Errorf("exec as root with a fifo for /etc/passwd: HOME=%q, want /", got)
	}
}

// The working directory is entered as root before the switch to the user, as runc does: a
// user may be given a directory it could not enter itself. One that is a file is still an
// error (one that does not exist is made, as runc makes it).
func TestCwdTheUserCannotEnter(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["user"] = obj{"uid": 65534, "gid": 65534}
		process(spec)["cwd"] = "/private"
		process(spec)["args"] = list{"sh", "-c", "pwd; ls . >/dev/null 2>&1 || echo not-readable"}
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/private", "type": "tmpfs", "source": "tmpfs", "options": list{"mode=0700"}})
	})
	if got := mustRun(t, "run", "--bundle", bundle, "cwdroot"); got != "/private\nnot-readable\n" {
		t.Errorf("cwd /private (0700, root's) as 65534: %q, want /private and not-readable", got)
	}
	file := newBundle(t, func(spec obj) {
		process(spec)["cwd"] = "/etc/hostname"
	})
	if r := contain(t, "", "run", "--bundle", file, "cwdfile"); r.code == 0 || !strings.Contains(r.stderr, "/etc/hostname") {
		t.Errorf("a cwd that is a file: exit %d, %q", r.code, r.stderr)
	}
}

// Init writes the sysctls once the devices are in: a sysctl may name one
// (net.ipv4.conf.DEVICE.*). With many devices to move, init used to get there first.
func TestNetDevicesAreInBeforeTheSysctls(t *testing.T) {
	needContainer(t)
	const n = 32
	devices, last := obj{}, ""
	for i := range n {
		dev, peer := fmt.Sprintf("ctq%d%02d", os.Getpid()%100000, i), fmt.Sprintf("ctr%d%02d", os.Getpid()%100000, i)
		if out, err := exec.Command("ip", "link", "add", dev, "type", "veth", "peer", "name", peer).CombinedOutput(); err != nil {
			t.Fatalf("ip link add %s: %v: %s", dev, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "link", "del", peer).Run() }) // both ends, wherever dev is
		devices[dev], last = obj{}, dev
	}
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["netDevices"] = devices
		linux(spec)["sysctl"] = obj{"net.ipv4.conf." + last + ".forwarding": "1"}
		process(spec)["args"] = list{"cat", "/proc/sys/net/ipv4/conf/" + last + "/forwarding"}
	})
	if out := mustRun(t, "run", "--bundle", bundle, "netdev"); strings.TrimSpace(out) != "1" {
		t.Errorf("forwarding of %s, the last of %d devices moved: %q, want 1", last, n, out)
	}
}

// linux.netDevices: a host network device moves into the container's network namespace,
// renamed as the spec says, with its permanent global addresses and up; an address of link
// scope stays behind, as config-linux.md says. The device is one end of a veth pair made
// here (iproute2's ip; this kernel has no dummy driver): a virtual device is destroyed with
// the container's namespace, and its peer with it.
func TestNetDevices(t *testing.T) {
	needContainer(t)
	dev, peer := fmt.Sprintf("ctnd%d", os.Getpid()%1000000), fmt.Sprintf("ctnp%d", os.Getpid()%1000000)
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("link", "add", dev, "type", "veth", "peer", "name", peer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip("link", "del", peer) }) // both ends, wherever dev is
	for _, a := range [][]string{{"192.0.2.7/24"}, {"198.51.100.8/24", "scope", "link"}} {
		if err := ip(append([]string{"addr", "add", "dev", dev}, a...)...); err != nil {
			t.Fatal(err)
		}
	}
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["netDevices"] = obj{dev: obj{"name": "eth7"}}
		process(spec)["args"] = list{"sh", "-c", "ip -o addr show dev eth7; ip -o link show eth7"}
	})
	out := mustRun(t, "run", "--bundle", bundle, "netdev")
	if !strings.Contains(out, "inet 192.0.2.7/24") || strings.Contains(out, "198.51.100.8") || !strings.Contains(out, ",UP") {
		t.Errorf("eth7 inside:\n%s\nwant 192.0.2.7/24 (permanent, global) alone, and the device up", out)
	}
	if ip("link", "show", dev) == nil {
		t.Errorf("the host still has %s", dev)
	}
	// A name the container's namespace has already: an error that says what to do, and the
	// device stays on the host.
	ip("link", "del", peer) // if the namespace's clean-up has not taken it yet
	if err := ip("link", "add", dev, "type", "veth", "peer", "name", peer); err != nil {
		t.Fatal(err)
	}
	taken := newBundle(t, func(spec obj) { linux(spec)["netDevices"] = obj{dev: obj{"name": "lo"}} })
	if r := contain(t, "", "run", "--bundle", taken, "netdev"); r.code == 0 || !strings.Contains(r.stderr, "%d") {
		t.Errorf("a device renamed lo: exit %d, %q, want a failure that suggests %%d", r.code, r.stderr)
	}
	if err := ip("link", "show", dev); err != nil {
		t.Errorf("after a refused move: %v", err)
	}
	// A template: the kernel numbers the name in the container's namespace.
	template := newBundle(t, func(spec obj) {
		linux(spec)["netDevices"] = obj{dev: obj{"name": "lo%d"}}
		process(spec)["args"] = list{"ip", "-o", "link", "show", "lo0"}
	})
	if out := mustRun(t, "run", "--bundle", template, "netdev"); !strings.Contains(out, "lo0") {
		t.Errorf("a device named lo%%d: %q, want lo0", out)
	}
	// A container that never runs its program gives the device back as it found it: up, with
	// its addresses of every scope (left in the container's namespace, a veth would go with
	// it). Here a device the host lacks comes after it (devices go in the order of their
	// names), and then a program that does not exist fails run, and create.
	ip("link", "del", peer)
	if err := ip("link", "add", dev, "type", "veth", "peer", "name", peer); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"addr", "add", "dev", dev, "192.0.2.7/24"}, {"addr", "add", "dev", dev, "198.51.100.8/24", "scope", "link"}, {"link", "set", dev, "up"}} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	missing := newBundle(t, func(spec obj) { linux(spec)["netDevices"] = obj{dev: obj{"name": "eth7"}, dev + "x": obj{}} })
	noProgram := newBundle(t, func(spec obj) {
		linux(spec)["netDevices"] = obj{dev: obj{"name": "eth7"}}
		process(spec)["args"] = list{"/no/such/program"}
	})
	for _, tc := range []struct{ what, verb, bundle, want string }{
		{"a device the host lacks", "run", missing, "the host has no network device"},
		{"no program, run", "run", noProgram, "/no/such/program"},
		{"no program, create", "create", noProgram, "/no/such/program"},
	} {
		if r := contain(t, "", tc.verb, "--bundle", tc.bundle, "netdev"); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, %q, want a failure that names %q", tc.what, r.code, r.stderr, tc.want)
		}
		addrs, err := exec.Command("ip", "-o", "addr", "show", "dev", dev).CombinedOutput()
		link, lerr := exec.Command("ip", "-o", "link", "show", dev).CombinedOutput()
		if err != nil || lerr != nil || !strings.Contains(string(addrs), "inet 192.0.2.7/24") || !strings.Contains(string(addrs), "inet 198.51.100.8/24") ||
			!strings.Contains(string(link), ",UP") {
			t.Errorf("%s: %s afterwards: %v %v\n%s%s\nwant it on the host, up, with both addresses", tc.what, dev, err, lerr, addrs, link)
		}
	}
}
