package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/internal/testenv"
)

// assertEmptyDir fails if dir (a marker on the host) got anything written into it.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("marker directory: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("the runtime wrote outside the rootfs: %s now holds %d entries", dir, len(entries))
	}
}

// An image whose /dev is a symlink to a host directory: the runtime makes its own /dev
// inside the rootfs and writes nothing to the link's target on the host.
func TestImageDevSymlinkIsNotFollowedOut(t *testing.T) {
	needContainer(t)
	marker := t.TempDir()
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "ls", "/dev"} })
	dev := filepath.Join(bundle, "rootfs", "dev")
	if err := os.RemoveAll(dev); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(marker, dev); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "run", "--bundle", bundle, "devlink")
	assertEmptyDir(t, marker)
	if !strings.Contains(out, `"null"`) {
		t.Errorf("the container's /dev has no null: %s", out)
	}
}

// An image whose dev/null is a regular file or a symlink to a host file: the runtime's fresh
// /dev hides it, and stdio never goes to it.
func TestImageDevNullIsNotTrusted(t *testing.T) {
	needContainer(t)
	hostFile := hostMarker(t)
	for _, kind := range []string{"file", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			bundle := newBundle(t, func(spec obj) {
				process(spec)["args"] = list{"sh", "-c", "echo written > /dev/null; cat /dev/null; echo ok"}
			})
			null := fakeNull(t, filepath.Join(bundle, "rootfs", "dev"), kind, hostFile)
			out := mustRun(t, "run", "--bundle", bundle, "devnull-"+kind)
			if out != "ok\n" {
				t.Errorf("stdout = %q, want only ok", out)
			}
			if data, _ := os.ReadFile(hostFile); string(data) != "HOST" {
				t.Errorf("the host file changed: %q", data)
			}
			if kind == "file" {
				if data, _ := os.ReadFile(null); string(data) != "IMAGE" {
					t.Errorf("the image's dev/null changed: %q", data)
				}
			}
		})
	}
}

// Mount destinations with ".." or through symlinks resolve inside the rootfs.
func TestMountDestinationsStayInside(t *testing.T) {
	needContainer(t)
	marker := t.TempDir()
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any),
			obj{"destination": "/../../.." + marker + "/dotdot", "type": "tmpfs", "source": "tmpfs"},
			obj{"destination": "/escape/viaLink", "type": "tmpfs", "source": "tmpfs"},
		)
		process(spec)["args"] = list{"/bin/probe", "report"}
	})
	if err := os.Symlink(marker, filepath.Join(bundle, "rootfs", "escape")); err != nil {
		t.Fatal(err)
	}
	r := decodeReport(t, mustRun(t, "run", "--bundle", bundle, "mountdest"))
	assertEmptyDir(t, marker)
	var seen []string
	for _, m := range r.Mounts {
		if m.FSType == "tmpfs" && strings.HasPrefix(m.MountPoint, marker) {
			seen = append(seen, m.MountPoint)
		}
	}
	if len(seen) != 2 {
		t.Errorf("tmpfs mounts inside the container at %v, want %s/dotdot and %s/viaLink", seen, marker, marker)
	}
}

// /proc or /sys as a symlink in the image is refused: the kernel's files would land
// wherever the link points, out of reach of maskedPaths.
func TestProcOrSysSymlinkIsRefused(t *testing.T) {
	needContainer(t)
	for _, dir := range []string{"proc", "sys"} {
		bundle := newBundle(t, nil)
		replaceWithSymlink(t, filepath.Join(bundle, "rootfs", dir), "/tmp")
		r := contain(t, "", "run", "--bundle", bundle, "link-"+dir)
		if r.code == 0 || !strings.Contains(r.stderr, "symlink") {
			t.Errorf("/%s as a symlink: exit %d, stderr %q; want a refusal", dir, r.code, r.stderr)
		}
	}
	// A bind of the host's procfs on /proc (podman's -v /proc:/proc) too.
	bundle := newBundle(t, bindHostsProc)
	replaceWithSymlink(t, filepath.Join(bundle, "rootfs", "proc"), "/tmp")
	r := contain(t, "", "run", "--bundle", bundle, "link-bind")
	if r.code == 0 || !strings.Contains(r.stderr, "symlink") {
		t.Errorf("/proc as a symlink, with a procfs bound on it: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
}

// replaceWithSymlink puts a symlink to target where path is (a rootfs's directory).
func replaceWithSymlink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// A mount destination that the image's symlinks lead to the root itself (/data -> /) is
// refused: mounted on, the new filesystem would become the container's root, over its /proc,
// /sys and /dev and out of reach of every mask.
func TestMountOnTheRootThroughASymlinkIsRefused(t *testing.T) {
	needContainer(t)
	for _, target := range []string{"/", "../.."} {
		bundle := newBundle(t, nil)
		if err := os.Symlink(target, filepath.Join(bundle, "rootfs", "data")); err != nil {
			t.Fatal(err)
		}
		editSpec(t, bundle, func(s obj) {
			s["mounts"] = append(s["mounts"].([]any), obj{"destination": "/data", "type": "tmpfs", "source": "tmpfs"})
		})
		r := contain(t, "", "run", "--bundle", bundle, "onroot")
		if r.code == 0 || !strings.Contains(r.stderr, "the destination is the container's root") {
			t.Errorf("a tmpfs on /data -> %s: exit %d, stderr %q; want it refused", target, r.code, r.stderr)
		}
	}
}

// Bad input gets a clear error, a non-zero exit, and leaves nothing behind (needContainer's
// leak check).
func TestBadInputIsRefused(t *testing.T) {
	needContainer(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, bundle string)
		id    string
		want  string
	}{
		{"missing config", func(t *testing.T, b string) { os.Remove(filepath.Join(b, "config.json")) }, "c1", "no such file"},
		{"empty config", func(t *testing.T, b string) { os.WriteFile(filepath.Join(b, "config.json"), nil, 0o644) }, "c1", "empty"},
		{"malformed config", func(t *testing.T, b string) { os.WriteFile(filepath.Join(b, "config.json"), []byte("{"), 0o644) }, "c1", "parse"},
		{"a comma too many", func(t *testing.T, b string) {
			os.WriteFile(filepath.Join(b, "config.json"), []byte("{\n \"ociVersion\": \"1.0.2\",\n}\n"), 0o644)
		}, "c1", "line 3, column 1: invalid character '}'"},
		{"missing rootfs", func(t *testing.T, b string) { os.RemoveAll(filepath.Join(b, "rootfs")) }, "c1", "no such file"},
		{"rootfs is a file", func(t *testing.T, b string) {
			os.RemoveAll(filepath.Join(b, "rootfs"))
			os.WriteFile(filepath.Join(b, "rootfs"), nil, 0o644)
		}, "c1", "not a directory"},
		{"empty args", func(t *testing.T, b string) { editSpec(t, b, func(s obj) { process(s)["args"] = list{} }) }, "c1", "process.args"},
		{"missing program", func(t *testing.T, b string) {
			editSpec(t, b, func(s obj) { process(s)["args"] = list{"nosuchprogram"} })
		}, "c1", "not found"},
		{"not executable", func(t *testing.T, b string) {
			os.WriteFile(filepath.Join(b, "rootfs", "script"), []byte("#!/bin/sh\n"), 0o644)
			editSpec(t, b, func(s obj) { process(s)["args"] = list{"/script"} })
		}, "c1", "permission denied"},
		{"relative cwd", func(t *testing.T, b string) { editSpec(t, b, func(s obj) { process(s)["cwd"] = "tmp" }) }, "c1", "absolute"},
		{"unknown namespace", func(t *testing.T, b string) {
			editSpec(t, b, func(s obj) { linux(s)["namespaces"] = append(linux(s)["namespaces"].([]any), obj{"type": "bogus"}) })
		}, "c1", "unknown namespace type"},
		{"hostname too long", func(t *testing.T, b string) { editSpec(t, b, func(s obj) { s["hostname"] = strings.Repeat("h", 65) }) }, "c1", "hostname"},
		{"uid that means unchanged to setresuid", func(t *testing.T, b string) {
			editSpec(t, b, func(s obj) { process(s)["user"] = obj{"uid": 4294967295, "gid": 0} })
		}, "c1", "id 4294967295 is out of range"},
		{"env without =", func(t *testing.T, b string) { editSpec(t, b, func(s obj) { process(s)["env"] = list{"FOO"} }) }, "c1", "want KEY=VALUE"},
		{"invalid id", nil, "../x", "invalid container id"},
		{"id with slash", nil, "a/b", "invalid container id"},
		{"id with space", nil, "a b", "invalid container id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bundle := newBundle(t, nil)
			if tc.setup != nil {
				tc.setup(t, bundle)
			}
			r := contain(t, "", "run", "--bundle", bundle, tc.id)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// The quick form's flags go through the same checks: --user 4294967295 would have been root;
// an empty --hostname would have shown the host's.
func TestQuickFormBadUserAndEnvAreRefused(t *testing.T) {
	needContainer(t)
	for _, args := range [][]string{{"--user", "4294967295", "--", "id"}, {"--user", "1000:4294967295", "--", "id"},
		{"-e", "=bar", "--", "true"}, {"--hostname", "", "--", "hostname"}} {
		r := contain(t, "", append([]string{"run", "--rootfs", testRootfs}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "out of range") && !strings.Contains(r.stderr, "want KEY=VALUE") && !strings.Contains(r.stderr, "--hostname: empty") {
			t.Errorf("run %q: exit %d, stdout %q, stderr %q; want it refused", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestDuplicateIDIsRefused(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "trap", "20"} })
	first := startContainer(t, "run", "--bundle", bundle, "dup")
	r := contain(t, "", "run", "--bundle", bundle, "dup")
	if r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second run with the same id: exit %d, stderr %q", r.code, r.stderr)
	}
	// Under another state root, the id's cgroup is what is taken: the message says so.
	other := t.TempDir()
	r = contain(t, "", "--root", other, "run", "--bundle", bundle, "dup")
	if r.code == 0 || !strings.Contains(r.stderr, "another state root") {
		t.Errorf("the same id under another --root: exit %d, stderr %q, want a failure that names the state root", r.code, r.stderr)
	}
	first.signal(t, syscall.SIGTERM, "SIGTERM")
	if code := first.wait(t); code != 0 {
		t.Errorf("first container: exit %d after SIGTERM, want 0", code)
	}
}

// The container gets a session keyring of its own, not the one of whoever ran contain (whose
// keys it could otherwise read, add and unlink), unless --no-new-keyring asks for it; an
// exec'd process too. The test's thread joins a keyring with a name of its own first, and
// runs contain from that thread: keyrings belong to a thread's credentials. It stays locked,
// so that Go ends the thread with the test's goroutine.
func TestContainerGetsItsOwnSessionKeyring(t *testing.T) {
	needContainer(t)
	runtime.LockOSThread()
	name := "contain-test-" + strconv.Itoa(os.Getpid())
	if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil {
		t.Fatalf("join a session keyring: %v", err)
	}
	keyring := func(args ...string) string {
		t.Helper()
		var r probe.Report
		decodeProbe(t, mustRun(t, args...), &r)
		return r.SessionKeyring
	}
	// The OCI form, with no seccomp profile: the quick form refuses keyctl (its profile).
	report := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "report"} })
	if got := keyring("run", "--bundle", report, "keys-own"); got == "" || strings.HasSuffix(got, ";"+name) {
		t.Errorf("the container's session keyring is %q: want one of its own, not the caller's %s", got, name)
	}
	if got := keyring("run", "--no-new-keyring", "--bundle", report, "keys-caller"); !strings.HasSuffix(got, ";"+name) {
		t.Errorf("with --no-new-keyring the session keyring is %q, want the caller's %s", got, name)
	}
	runningContainer(t, "keys", nil, "/bin/probe", "sleep", "60")
	if got := keyring("exec", "keys", "/bin/probe", "report"); got == "" || strings.HasSuffix(got, ";"+name) {
		t.Errorf("the exec'd process's session keyring is %q: want one of its own", got)
	}
	// A container made with --no-new-keyring shares its caller's, and so do its exec'd
	// processes (runc records the flag in the container's config).
	shared := newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "sleep", "60"} })
	createContainer(t, shared, "keys-shared", "--no-new-keyring")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "keys-shared") })
	mustRunCLI(t, "start", "keys-shared")
	if got := keyring("exec", "keys-shared", "/bin/probe", "report"); !strings.HasSuffix(got, ";"+name) {
		t.Errorf("exec in a container made with --no-new-keyring: session keyring %q, want the caller's %s", got, name)
	}
}

// A mount whose destination leads, through the image's symlinks, into the container's /proc is
// refused, as runc refuses it: files of the container's choosing over /proc/sys would take the
// runtime's sysctl writes and hide what maskedPaths masks. The files lxcfs covers may be
// bound over, named as they are.
func TestMountIntoProcIsRefused(t *testing.T) {
	needContainer(t)
	for _, target := range []string{"/proc/sys/kernel", "/proc"} {
		bundle := newBundle(t, func(spec obj) {
			spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/data", "type": "tmpfs", "source": "tmpfs"})
			linux(spec)["sysctl"] = obj{"kernel.shm_rmid_forced": "1"}
		})
		if err := os.Symlink(target, filepath.Join(bundle, "rootfs/data")); err != nil {
			t.Fatal(err)
		}
		if r := contain(t, "", "run", "--bundle", bundle, "procdest"); r.code == 0 || !strings.Contains(r.stderr, "inside the container's /proc: refused") {
			t.Errorf("a tmpfs at /data -> %s: exit %d, %q; want it refused", target, r.code, r.stderr)
		}
	}
	uptime := filepath.Join(t.TempDir(), "uptime")
	if err := os.WriteFile(uptime, []byte("12345.67 0.00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/proc/uptime", "type": "bind", "source": uptime, "options": list{"bind", "ro"}})
		process(spec)["args"] = list{"cat", "/proc/uptime"}
	})
	if out := mustRun(t, "run", "--bundle", bundle, "lxcfs"); out != "12345.67 0.00\n" {
		t.Errorf("a bind over /proc/uptime, as lxcfs makes: %q", out)
	}
}

// A mount whose destination leads into the container's /sys through the image's symlinks is
// refused: a tmpfs with tmpcopyup there was filled by init, with all its capabilities, from the
// host's sysfs, and the container got a writable copy of that part of /sys. A mount the spec
// names inside /sys as it is still works.
func TestMountIntoSysThroughASymlinkIsRefused(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": list{"tmpcopyup"}})
	})
	if err := os.Symlink("/sys/kernel", filepath.Join(bundle, "rootfs/data")); err != nil {
		t.Fatal(err)
	}
	if r := contain(t, "", "run", "--bundle", bundle, "sysdest"); r.code == 0 || !strings.Contains(r.stderr, "into the container's /sys through the image's symlinks: refused") {
		t.Errorf("a tmpfs with tmpcopyup at /data -> /sys/kernel: exit %d, %q; want it refused", r.code, r.stderr)
	}
	named := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/sys/kernel", "type": "tmpfs", "source": "tmpfs"})
		process(spec)["args"] = list{"/bin/probe", "ls", "/sys/kernel"}
	})
	var ls probe.LsResult
	if err := json.Unmarshal([]byte(mustRun(t, "run", "--bundle", named, "sysnamed")), &ls); err != nil || len(ls.Names) != 0 {
		t.Errorf("a tmpfs the spec names at /sys/kernel: %+v, %v; want it mounted, empty", ls, err)
	}
}

// Masks bind the container's /dev/null over kernel files only if it is the null device: in a
// /dev that is somebody's directory (a bind, here; a shared volume, where another container
// could swap it), a null that is a file or a symlink would be bound in /proc's place, readable
// and writable (runc's CVE-2025-31133). The run is refused.
func TestMaskBindsOnlyTheNullDevice(t *testing.T) {
	needContainer(t)
	marker := hostMarker(t)
	for _, kind := range []string{"file", "symlink"} {
		source := t.TempDir()
		fakeNull(t, source, kind, marker)
		bundle := newBundle(t, func(spec obj) {
			spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/dev", "type": "bind", "source": source, "options": list{"rbind"}})
			process(spec)["args"] = list{"cat", "/proc/timer_list"}
		})
		r := contain(t, "", "run", "--bundle", bundle, "masknull-"+kind)
		if r.code == 0 || strings.Contains(r.stdout, "HOST") || strings.Contains(r.stdout, "IMAGE") || !strings.Contains(r.stderr, "/dev/null is not the null device") {
			t.Errorf("a null that is a %s: exit %d, %q %q; want the run refused", kind, r.code, r.stdout, r.stderr)
		}
	}
}

// An image whose /dev links into a directory that a later mount covers (a volume at /data,
// with /dev -> /data/dev): the runtime's /dev tmpfs lands below the volume's mount point, and
// looking /dev up again to make the nodes would lead onto the volume. The run is refused.
func TestDevicesGoOnlyOnTheRuntimesDev(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any), obj{"destination": "/data", "type": "tmpfs", "source": "tmpfs"})
	})
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.RemoveAll(filepath.Join(rootfs, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "data/dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/data/dev", filepath.Join(rootfs, "dev")); err != nil {
		t.Fatal(err)
	}
	r := contain(t, "", "run", "--bundle", bundle, "devcovered")
	if r.code == 0 || !strings.Contains(r.stderr, "is not on the filesystem the runtime mounted on /dev") {
		t.Errorf("exit %d, %q; want the run refused", r.code, r.stderr)
	}
}

// The terminal is bound over /dev/console only if /dev/console is a file or a device, never
// through a symlink: in a /dev that is somebody's directory (a bind here, a shared volume
// elsewhere), a console linked to another file would put the container's terminal over it
// (runc's CVE-2025-52565). The run is refused.
func TestConsoleIsNotFollowedThroughASymlink(t *testing.T) {
	needContainer(t)
	source := t.TempDir()
	if err := unix.Mknod(filepath.Join(source, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"ptmx": "pts/ptmx", "console": "/etc/hostname"} {
		if err := os.Symlink(target, filepath.Join(source, link)); err != nil {
			t.Fatal(err)
		}
	}
	bundle := newBundle(t, func(spec obj) {
		mounts := []any{obj{"destination": "/dev", "type": "bind", "source": source, "options": list{"rbind"}}}
		for _, m := range spec["mounts"].([]any) {
			if d := m.(obj)["destination"]; d != "/dev" {
				mounts = append(mounts, m)
			}
		}
		spec["mounts"] = mounts
		process(spec)["terminal"] = true
		process(spec)["args"] = list{"cat", "/etc/hostname"}
	})
	r := contain(t, "", "run", "--bundle", bundle, "consolelink")
	if r.code == 0 || !strings.Contains(r.stderr, "/dev/console is not a file or a device") {
		t.Errorf("exit %d, %q %q; want the run refused", r.code, r.stdout, r.stderr)
	}
}

// hostMarker is a host file holding HOST, for an attack to aim at.
func hostMarker(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(path, []byte("HOST"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeNull puts at dir/null what an image or a shared /dev could hold there instead of the
// null device: a regular file holding IMAGE, or a symlink to hostFile. It returns its path.
func fakeNull(t *testing.T, dir, kind, hostFile string) string {
	t.Helper()
	null := filepath.Join(dir, "null")
	os.Remove(null)
	var err error
	if kind == "file" {
		err = os.WriteFile(null, []byte("IMAGE"), 0o644)
	} else {
		err = os.Symlink(hostFile, null)
	}
	if err != nil {
		t.Fatal(err)
	}
	return null
}

// -e KEY alone takes contain's own value, as docker run's does, and is left out when contain
// has no such variable.
func TestEnvFromTheHost(t *testing.T) {
	needContainer(t)
	t.Setenv("CONTAIN_TEST_FROM_HOST", "a b")
	os.Unsetenv("CONTAIN_TEST_NOT_SET")
	out := mustRun(t, "run", "--rootfs", testRootfs, "-e", "CONTAIN_TEST_FROM_HOST", "-e", "CONTAIN_TEST_NOT_SET", "--", "env")
	if !strings.Contains(out, "CONTAIN_TEST_FROM_HOST=a b\n") || strings.Contains(out, "CONTAIN_TEST_NOT_SET") {
		t.Errorf("env with -e CONTAIN_TEST_FROM_HOST -e CONTAIN_TEST_NOT_SET:\n%s\nwant the first with the host's value, not the second", out)
	}
}

// Without CAP_MKNOD (contain in a container, or a service that lacks it), the devices are the
// host's nodes bound in, as runc makes them, where the host has that very device; a device
// listed again (a default one with another mode) replaces the bind.
func TestDevicesWithoutMknod(t *testing.T) {
	needContainer(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		testenv.Skip(t, "setpriv (util-linux) is not installed")
	}
	bundle := newBundle(t, func(spec obj) {
		linux(spec)["devices"] = list{obj{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600}}
		process(spec)["args"] = list{"sh", "-c", "stat -c '%t:%T %F' /dev/null /dev/zero /dev/urandom && echo x > /dev/null && head -c 3 /dev/zero | wc -c"}
	})
	cmd := exec.Command("setpriv", "--bounding-set", "-mknod", "--inh-caps", "-mknod", "--", containBin, "--root", stateRoot, "run", "--bundle", bundle, "nomknod")
	cmd.Env = append(os.Environ(), "CONTAIN_PROBE="+probeBin)
	r := runResult(t, cmd)
	if want := "1:3 character special file\n1:5 character special file\n1:9 character special file\n3\n"; r.code != 0 || r.stdout != want {
		t.Errorf("without CAP_MKNOD: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
}
