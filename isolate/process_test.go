package isolate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHomeInPasswd(t *testing.T) {
	passwd := "# a comment:x:0:0::/comment:/bin/sh\n" +
		"root:x:0:0:root:/root:/bin/sh\r\n" +
		"short:x:7\n" +
		"empty:x:8:8:::/bin/sh\n" +
		"first:x:9:9::/first:/bin/sh\n" +
		"second:x:9:9::/second:/bin/sh\n" +
		"last:x:10:10::/last:/bin/sh" // no newline at the end
	for _, c := range []struct {
		uid  uint32
		want string
		ok   bool
	}{
		{0, "/root", true}, // the comment is skipped, the \r dropped
		{7, "", false},     // too few fields
		{8, "/", true},     // an empty directory is /
		{9, "/first", true},
		{10, "/last", true},
		{11, "", false},
	} {
		if got, ok := homeInPasswd(passwd, c.uid); got != c.want || ok != c.ok {
			t.Errorf("uid %d: %q %v, want %q %v", c.uid, got, ok, c.want, c.ok)
		}
	}
}

// Only a regular file is read: a fifo would block the open or the read.
func TestPasswdHomeReadsOnlyARegularFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	if err := os.WriteFile(file, []byte("u:x:5:5::/home/u:/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, ok := passwdHome(file, 5); got != "/home/u" || !ok {
		t.Errorf("a regular file: %q %v", got, ok)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := passwdHome(fifo, 5); ok {
		t.Error("a fifo was read")
	}
	if _, ok := passwdHome(filepath.Join(dir, "missing"), 5); ok {
		t.Error("a missing file was read")
	}
}

// HOME given and not empty is kept; empty is replaced in place; missing is added.
func TestWithHomeKeepsAGivenHome(t *testing.T) {
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte("u:x:5:5::/home/u:/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/bin", "HOME=/given"}
	if got := withHome(slices.Clone(env), 5, passwd); !slices.Equal(got, env) {
		t.Errorf("%q", got)
	}
	if got := withHome([]string{"HOME=", "PATH=/bin"}, 5, passwd); !slices.Equal(got, []string{"HOME=/home/u", "PATH=/bin"}) {
		t.Errorf("empty HOME: %q", got)
	}
	if got := withHome([]string{"PATH=/bin"}, 6, passwd); !slices.Equal(got, []string{"PATH=/bin", "HOME=/"}) {
		t.Errorf("no HOME, no entry: %q", got)
	}
}

// Sysctls are written only into procfs's own files: never through a symlink, never into a
// file of another filesystem (a mount over part of /proc/sys), never created. The checks are
// tried on a temporary directory; nothing here writes a real sysctl.
func TestSysctlWritesOnlyProcfsFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := openProcSys(dir); err == nil || !strings.Contains(err.Error(), "not on a proc filesystem") {
		t.Errorf("openProcSys of a temporary directory: %v, want it refused", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "net/ipv4"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net/ipv4/ip_forward"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "net/ipv4/link")); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for key, want := range map[string]string{
		"net.ipv4.ip_forward": "not on a proc filesystem", // a file, but not procfs's
		"net.ipv4.link":       "too many levels of symbolic links",
		"net.ipv4.missing":    "no such file",
	} {
		if err := writeSysctl(fd, key, "1"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("writeSysctl %s: %v, want an error with %q", key, err, want)
		}
	}
	for _, name := range []string{"target", "net/ipv4/ip_forward"} {
		if data, _ := os.ReadFile(filepath.Join(dir, name)); string(data) != "0" {
			t.Errorf("%s was written: %q", name, data)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "net/ipv4/missing")); err == nil {
		t.Error("writeSysctl made a file")
	}
}

// A missing stdio stream is /dev/null, open until the caller says the child is forked: closed
// earlier, its fd number would go to the next file opened, and the child would get that.
func TestStdioFDsKeepsDevNullOpenUntilDone(t *testing.T) {
	fds, done, err := stdioFDs(RunOptions{Stdout: os.Stdout})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	for i, fd := range fds {
		if err := unix.Fstat(int(fd), &st); err != nil {
			t.Fatalf("fd %d of stdio %d: fstat: %v, want it open", fd, i, err)
		}
		if i != 1 && (st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3)) {
			t.Errorf("stdio %d: mode %o rdev %d:%d, want /dev/null (1:3)", i, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
	if fds[0] == fds[2] {
		t.Errorf("stdin and stderr share fd %d: one was closed and its number reused", fds[0])
	}
	if fds[1] != os.Stdout.Fd() {
		t.Errorf("stdout: fd %d, want the caller's %d", fds[1], os.Stdout.Fd())
	}
	done()
	for _, i := range []int{0, 2} {
		if err := unix.Fstat(int(fds[i]), &st); err == nil {
			t.Errorf("stdio %d (fd %d) still open after done", i, fds[i])
		}
	}
}
