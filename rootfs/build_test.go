package rootfs

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containkit/contain/internal/testenv"
)

// runInChroot runs /bin/sh -c script inside dir with chroot(2) and returns its output.
func runInChroot(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %s sh -c %q: %v: %s", dir, script, err, out)
	}
	return string(out)
}

// checkBase asserts what every rootfs gets.
func checkBase(t *testing.T, dir, probe string) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(dir, "bin/probe"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/probe: %v, %v; want a regular file 0755", fi, err)
	} else if readFile(t, filepath.Join(dir, "bin/probe")) != readFile(t, probe) {
		t.Error("bin/probe differs from the probe")
	}
	for _, d := range []string{"proc", "sys", "dev", "root", "etc", "run"} {
		if fi, err := os.Lstat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("/%s: %v, %v; want a directory", d, fi, err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "tmp")); err != nil || fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("/tmp: %v, %v; want mode 1777", fi, err)
	}
	if got := readFile(t, filepath.Join(dir, "etc/passwd")); !strings.HasPrefix(got, "root:x:0:0:root:/root:/bin/sh\n") {
		t.Errorf("etc/passwd = %q", got)
	}
	for _, f := range []string{"etc/group", "etc/hostname", "etc/hosts", "etc/resolv.conf"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestBuildBusybox(t *testing.T) {
	if _, err := findBusybox(); err != nil {
		testenv.Skip(t, err.Error())
	}
	base := t.TempDir()
	probe := fakeProbe(t, base, "probe", false, "")
	dir := filepath.Join(base, "rootfs")
	if err := Build(dir, Options{Probe: probe}); err != nil {
		t.Fatal(err)
	}
	checkBase(t, dir, probe)
	if fi, err := os.Lstat(filepath.Join(dir, "bin/busybox")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("bin/busybox: %v, %v", fi, err)
	}
	for _, applet := range []string{"bin/sh", "bin/ls", "usr/bin/env"} {
		if got, err := os.Readlink(filepath.Join(dir, applet)); err != nil || got != "/bin/busybox" {
			t.Errorf("%s -> %q, %v; want /bin/busybox", applet, got, err)
		}
	}
	if os.Geteuid() == 0 {
		if got := runInChroot(t, dir, "echo ok"); got != "ok\n" {
			t.Errorf("busybox sh in the rootfs said %q, want ok", got)
		}
	}
}

func TestBuildHost(t *testing.T) {
	base := t.TempDir()
	probe := fakeProbe(t, base, "probe", false, "")
	dir := filepath.Join(base, "rootfs")
	var log bytes.Buffer
	if err := Build(dir, Options{From: "host", Probe: probe, Log: &log}); err != nil {
		t.Fatal(err)
	}
	checkBase(t, dir, probe)
	// The log names the programs the host lacks, and only when it lacks some.
	var missing []string
	for _, name := range hostPrograms {
		if lookProgram(name) == "" {
			missing = append(missing, name)
		}
	}
	wantNote := ""
	if len(missing) > 0 {
		wantNote = " (not on this host: " + strings.Join(missing, " ") + ")"
	}
	if !strings.Contains(log.String(), "into "+dir+wantNote+"\n") {
		t.Errorf("log %q; want it to end the copy line with %q", log.String(), "into "+dir+wantNote)
	}
	for _, d := range []string{"bin", "sbin", "usr/bin"} {
		if fi, err := os.Lstat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("/%s: %v, %v; want a directory", d, fi, err)
		}
	}
	if interp, ok := stdInterp("/bin/sh"); ok {
		if fi, err := os.Lstat(filepath.Join(dir, interp)); interp != "" && (err != nil || !fi.Mode().IsRegular()) {
			t.Errorf("loader %s not copied as a regular file under its own path: %v", interp, err)
		}
	}
	testenv.RequireRoot(t)
	// sh proves the loader and libc were found; ls and id pull in more libraries.
	if got := runInChroot(t, dir, "echo ok && ls /bin/probe && id -u"); got != "ok\n/bin/probe\n0\n" {
		t.Errorf("host programs in the rootfs said %q, want ok, /bin/probe, 0", got)
	}
}

func TestBuildRefusesNonEmptyDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "rootfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Build(dir, Options{From: "host", Probe: fakeProbe(t, base, "probe", false, "")})
	if want := "rootfs build " + dir + ": directory not empty"; err == nil || err.Error() != want {
		t.Fatalf("Build error = %v, want %q", err, want)
	}
	if got := names(t, dir); len(got) != 1 || readFile(t, filepath.Join(dir, "keep")) != "mine" {
		t.Errorf("Build changed the non-empty dir: %v", got)
	}
}

func TestBuildRefusesBadProbe(t *testing.T) {
	base := t.TempDir()
	notELF := filepath.Join(base, "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, probe, want string }{
		{"dynamic", fakeProbe(t, base, "dynprobe", true, ""), "is dynamically linked: build it with CGO_ENABLED=0"},
		{"missing", filepath.Join(base, "nope"), "no such file or directory"},
		{"not elf", notELF, "not an ELF executable"},
		{"unset", "", "no probe binary given"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(base, "rootfs-"+strings.ReplaceAll(tt.name, " ", "-"))
			err := Build(dir, Options{From: "host", Probe: tt.probe})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want one containing %q", err, tt.want)
			}
			if _, err := os.Lstat(dir); err == nil {
				t.Error("Build made the directory despite bad input")
			}
		})
	}
}

func TestBuildRemovesWhatItMadeOnError(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "bad.tar")
	data := tarball(t, tar.FormatUnknown, fileEntry("ok", "x", 0o644), fileEntry("../bad", "x", 0o644))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "rootfs")
	err := Build(dir, Options{From: file, Probe: fakeProbe(t, base, "probe", false, "")})
	if err == nil || !strings.Contains(err.Error(), "tar entry ../bad: path escapes the root") {
		t.Fatalf("Build error = %v", err)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Error("a failed Build left its directory behind")
	}
}

// Two builds of one directory at once: the second is refused while the first holds the
// tree, and the first's tree is left to it. They used to fill one tree together, and the one
// that failed emptied it under the other, which then said it had built it.
func TestBuildRefusesASecondBuildOfTheSameDir(t *testing.T) {
	base := t.TempDir()
	for _, existing := range []bool{false, true} {
		dir := filepath.Join(base, fmt.Sprintf("rootfs-%v", existing))
		if existing {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		first, _, err := prepareDir(dir) // a build under way
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "first"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		err = Build(dir, Options{From: "host", Probe: fakeProbe(t, base, "probe", false, "")})
		if want := "rootfs build " + dir + ": another rootfs build of this directory is running"; err == nil || err.Error() != want {
			t.Errorf("second Build error = %v, want %q", err, want)
		}
		if got := names(t, dir); len(got) != 1 || readFile(t, filepath.Join(dir, "first")) != "mine" {
			t.Errorf("the second Build changed the first one's tree: %v", got)
		}
		first.Close()
	}
}

// A build that fails into a directory it did not make gives that directory back as it was:
// the archive's "./" entry (its owner, its mode) is applied only once the archive is known to
// be whole, and a failure after that is undone too. A damaged gzip used to leave a root-only
// directory owned by the image's uid 1000.
func TestBuildFailureKeepsTheDirsOwnerAndMode(t *testing.T) {
	testenv.RequireRoot(t) // the archive's owner is applied by root only
	base := t.TempDir()
	dir := filepath.Join(base, "rootfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	archive := gzipped(t, tarball(t, tar.FormatUnknown, owned(dirEntry("./", 0o777), 1000, 1000), fileEntry("./f", "x", 0o644)))
	archive[len(archive)-8] ^= 1 // gzip's trailer: the CRC-32
	file := filepath.Join(base, "bad.tar.gz")
	if err := os.WriteFile(file, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Build(dir, Options{From: file, Probe: fakeProbe(t, base, "probe", false, "")})
	if err == nil || !strings.Contains(err.Error(), "gzip -d: exit status") {
		t.Fatalf("Build error = %v, want gzip's", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st := statOf(fi); st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o700 {
		t.Errorf("after the failed build: owner %d:%d, mode %v; want 0:0 and 0700", st.Uid, st.Gid, fi.Mode().Perm())
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("the failed build left %v", got)
	}
}

// The unpack of a damaged archive applies nothing of its "./" entry to the rootfs's own
// directory: the directories take the archive's owners and modes once the decompressor has
// said the stream was whole.
func TestDamagedArchiveLeavesTheRootAsItWas(t *testing.T) {
	testenv.RequireRoot(t)
	s := newSandbox(t)
	archive := gzipped(t, tarball(t, tar.FormatUnknown, owned(dirEntry("./", 0o777), 1000, 1000), fileEntry("./f", "x", 0o644)))
	archive[len(archive)-8] ^= 1 // gzip's trailer: the CRC-32
	if _, err := s.unpackInto(t, archive); err == nil || !strings.Contains(err.Error(), "gzip -d: exit status") {
		t.Fatalf("unpack error = %v, want gzip's", err)
	}
	fi, err := os.Lstat(s.root)
	if err != nil {
		t.Fatal(err)
	}
	if st := statOf(fi); st.Uid != 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("the root after a damaged archive: owner %d, mode %v; want 0 and 0755", st.Uid, fi.Mode().Perm())
	}
}

// removeBuilt gives a directory it did not make back its owner as well as its mode: an
// archive's "./" entry may have changed both.
func TestRemoveBuiltGivesBackTheOwner(t *testing.T) {
	testenv.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tr, was, err := prepareDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := os.Chown(dir, 1000, 1000); err != nil { // as the image's "./" entry does
		t.Fatal(err)
	}
	removeBuilt(tr, was)
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st := statOf(fi); st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o700 {
		t.Errorf("after removeBuilt: owner %d:%d, mode %v; want 0:0 and 0700", st.Uid, st.Gid, fi.Mode().Perm())
	}
}

// A failed build into a path whose parents it made removes those parents too, as it removes
// the directory itself.
func TestBuildRemovesTheParentsItMadeOnError(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "bad.tar")
	if err := os.WriteFile(file, tarball(t, tar.FormatUnknown, fileEntry("../bad", "x", 0o644)), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Build(filepath.Join(base, "a/b/rootfs"), Options{From: file, Probe: fakeProbe(t, base, "probe", false, "")})
	if err == nil {
		t.Fatal("Build of a bad archive succeeded")
	}
	if _, err := os.Lstat(filepath.Join(base, "a")); err == nil {
		t.Errorf("the failed build left the parents it made: %v", names(t, filepath.Join(base, "a")))
	}
}

// A build that fails once directories have taken the image's read-only modes (finishDirs, the
// last step, deepest first) removes them too, as an owner without CAP_DAC_OVERRIDE.
func TestBuildRemovesReadOnlyDirsOnError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rootfs")
	tr, was, err := prepareDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, d := range []string{"ro", "ro/inner"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ro/inner/f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"ro/inner", "ro"} {
		if err := os.Chmod(filepath.Join(dir, d), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	asOwnerOnly(t, func() { removeBuilt(tr, was) })
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("removeBuilt left the directory it made behind: %v", names(t, dir))
	}
}

// The files every rootfs gets go in before the image's directories take their modes and
// times: Fedora's /usr/bin is 0555, and /bin/probe goes there through bin -> usr/bin. Without
// CAP_DAC_OVERRIDE that failed the build, and as root the probe reset usr/bin's time.
func TestBuildTarballWithReadOnlyBinDir(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "fedora-like.tar")
	data := tarball(t, tar.FormatUnknown, dirEntry("usr/", 0o755), dirEntry("usr/bin/", 0o555),
		fileEntry("usr/bin/sh", "#!", 0o755), symlinkEntry("bin", "usr/bin"))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "rootfs")
	var err error
	asOwnerOnly(t, func() { err = Build(dir, Options{From: file, Probe: fakeProbe(t, base, "probe", false, "")}) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "usr/bin/probe")); err != nil {
		t.Errorf("the probe is not in usr/bin (through bin -> usr/bin): %v", err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "usr/bin"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != os.ModeDir|0o555 || !fi.ModTime().Equal(testTime) {
		t.Errorf("usr/bin: mode %v, time %v; want the archive's, 0555 and %v", fi.Mode(), fi.ModTime(), testTime)
	}
}

// The build opens DIR once, never through a symlink: a DIR that is a symlink (or one swapped
// for a symlink by whoever may rename in its parent) would lead the image's files, or a failed
// build's clean-up, to the directory it names.
func TestBuildRefusesADirThatIsASymlink(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "etc-like")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "rootfs")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	err := Build(link, Options{From: "host", Probe: fakeProbe(t, base, "probe", false, "")})
	if err == nil || !strings.Contains(err.Error(), "a symlink") {
		t.Fatalf("Build into a symlink: %v, want it refused as a symlink", err)
	}
	if left := names(t, target); len(left) != 0 || modeOf(t, target) != os.ModeDir|0o700 {
		t.Errorf("the symlink's target holds %v, mode %v: want it untouched (empty, 0700)", left, modeOf(t, target))
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink: %v, %v; want it left as it was", fi, err)
	}
}

func TestBuildIntoAnExistingDirGivesItTheRootsMode(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "rootfs")
	if err := os.Mkdir(dir, 0o700); err != nil { // as mktemp -d makes it
		t.Fatal(err)
	}
	bad := filepath.Join(base, "bad.tar")
	if err := os.WriteFile(bad, tarball(t, tar.FormatUnknown, fileEntry("../bad", "x", 0o644)), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := fakeProbe(t, base, "probe", false, "")
	if err := Build(dir, Options{From: bad, Probe: probe}); err == nil {
		t.Fatal("Build of an escaping archive succeeded")
	}
	if mode, left := modeOf(t, dir), names(t, dir); mode != os.ModeDir|0o700 || len(left) != 0 {
		t.Fatalf("after a failed Build: mode %v holding %v; want the empty dir back with mode 0700", mode, left)
	}
	if err := Build(dir, Options{From: "host", Probe: probe}); err != nil {
		t.Fatal(err)
	}
	if mode := modeOf(t, dir); mode != os.ModeDir|0o755 {
		t.Errorf("rootfs mode %v, want 0755, so that any user can enter /", mode)
	}
}

func TestBuildTarballKeepsImageFiles(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "image.tar")
	data := tarball(t, tar.FormatUnknown,
		dirEntry("usr/bin/", 0o755), symlinkEntry("bin", "usr/bin"), fileEntry("bin-marker", "", 0o644),
		fileEntry("etc/passwd", "root:x:0:0:image:/:/bin/ash\n", 0o644))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "rootfs")
	probe := fakeProbe(t, base, "probe", false, "")
	if err := Build(dir, Options{From: file, Probe: probe}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "etc/passwd")); got != "root:x:0:0:image:/:/bin/ash\n" {
		t.Errorf("the image's etc/passwd was overwritten: %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "etc/hostname")); got != "contain\n" {
		t.Errorf("etc/hostname = %q, want contain", got)
	}
	// bin -> usr/bin is resolved as the container sees it: the probe lands in usr/bin.
	if fi, err := os.Lstat(filepath.Join(dir, "usr/bin/probe")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("usr/bin/probe: %v, %v; want the probe behind the image's bin -> usr/bin", fi, err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "bin")); got != "usr/bin" {
		t.Errorf("bin -> %q, want usr/bin kept", got)
	}
}

func TestBuildTarballWithEtcSymlinkOutWritesNothingOutside(t *testing.T) {
	for _, target := range []string{"abs", "../../../../../../outside"} {
		t.Run(target, func(t *testing.T) {
			s := newSandbox(t)
			if target == "abs" {
				target = s.outside
			}
			data := tarball(t, tar.FormatUnknown, symlinkEntry("etc", target), symlinkEntry("bin", target))
			file := filepath.Join(t.TempDir(), "image.tar")
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			err := Build(s.root, Options{From: file, Probe: fakeProbe(t, t.TempDir(), "probe", false, ""), Log: &log})
			// /bin/probe cannot be placed behind a dangling bin link: a clear error, not a write outside.
			if err == nil || !strings.Contains(err.Error(), "add /bin/probe: path goes through a symlink") {
				t.Errorf("Build error = %v, want add /bin/probe refused", err)
			}
			s.assertUntouched(t)
		})
	}
}

func TestBuildTarballWithEtcSymlinkOutSkipsEtc(t *testing.T) {
	s := newSandbox(t)
	data := tarball(t, tar.FormatUnknown, symlinkEntry("etc", s.outside))
	file := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := Build(s.root, Options{From: file, Probe: fakeProbe(t, t.TempDir(), "probe", false, ""), Log: &log}); err != nil {
		t.Fatal(err)
	}
	s.assertUntouched(t)
	if !strings.Contains(log.String(), "not adding /etc/passwd") {
		t.Errorf("log %q does not say /etc/passwd was skipped", log.String())
	}
}

// withBusyboxPaths makes findBusybox look only at paths for the test.
func withBusyboxPaths(t *testing.T, paths ...string) {
	old := busyboxPaths
	busyboxPaths = paths
	t.Cleanup(func() { busyboxPaths = old })
}

func TestBuildRefusesDynamicBusybox(t *testing.T) {
	base := t.TempDir()
	withBusyboxPaths(t, fakeProbe(t, base, "busybox", true, ""))
	err := Build(filepath.Join(base, "rootfs"), Options{From: "busybox", Probe: fakeProbe(t, base, "probe", false, "")})
	if err == nil || !strings.Contains(err.Error(), "is dynamically linked: install Debian's busybox-static") {
		t.Fatalf("Build error = %v, want a refusal naming busybox-static", err)
	}
	withBusyboxPaths(t, filepath.Join(base, "none"))
	err = Build(filepath.Join(base, "rootfs"), Options{Probe: fakeProbe(t, base, "probe", false, "")})
	if err == nil || !strings.Contains(err.Error(), "no busybox in") {
		t.Fatalf("Build error = %v, want no busybox", err)
	}
}

func TestEnsureDefaultFallsBackToHost(t *testing.T) {
	defaultIn(t)
	withBusyboxPaths(t, filepath.Join(t.TempDir(), "none"))
	var log bytes.Buffer
	dir, err := EnsureDefault(fakeProbe(t, t.TempDir(), "probe", false, ""), &log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(log.String(), " from host (first use, offline)\n") {
		t.Errorf("log = %q, want a build from host", log.String())
	}
	if fi, err := os.Lstat(filepath.Join(dir, "bin/sh")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("bin/sh: %v, %v; want the host's sh copied", fi, err)
	}
}

// removeBuilt says what it could not remove (a failed build's clean-up that failed left its
// tree behind unsaid). Here a file in the tree is immutable (chattr +i), which root too
// cannot delete.
func TestRemoveBuiltSaysWhatStays(t *testing.T) {
	testenv.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	tr, was, err := prepareDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	stuck := filepath.Join(dir, "etc", "stuck")
	if err := os.MkdirAll(filepath.Dir(stuck), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stuck, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.SetImmutable(t, stuck, true)
	defer testenv.SetImmutable(t, stuck, false)
	if err := removeBuilt(tr, was); err == nil || !strings.Contains(err.Error(), "etc") {
		t.Errorf("removeBuilt with an immutable file in the tree: %v, want an error naming what stays", err)
	}
}
