package probe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containkit/contain/internal/testenv"
)

func TestLsCatWrite(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "b")
	if res := Write(file, "hello\n"); !res.OK || res.Error != "" {
		t.Fatalf("Write = %+v", res)
	}
	if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if res := Ls(dir); !res.OK || !slices.Equal(res.Names, []string{"a", "b"}) {
		t.Errorf("Ls = %+v, want names [a b]", res)
	}
	if res := Cat(file); !res.OK || res.Content != "hello\n" || res.Truncated {
		t.Errorf("Cat = %+v", res)
	}

	missing := filepath.Join(dir, "missing")
	if res := Ls(missing); res.OK || res.Errno != "ENOENT" || res.Error != "open "+missing+": no such file or directory" {
		t.Errorf("Ls(missing) = %+v, want ENOENT", res)
	}
	if res := Cat(missing); res.OK || res.Errno != "ENOENT" {
		t.Errorf("Cat(missing) = %+v, want ENOENT", res)
	}
	if res := Write(filepath.Join(dir, "a"), "x"); res.OK || res.Errno != "EISDIR" {
		t.Errorf("Write(dir) = %+v, want EISDIR", res)
	}
	if res := Write(filepath.Join(missing, "x"), "x"); res.OK || res.Errno != "ENOENT" ||
		!strings.HasPrefix(res.Error, "open ") {
		t.Errorf("Write(missing/x) = %+v, want open ...: ENOENT", res)
	}
}

func TestCatTruncates(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(file, bytes.Repeat([]byte("x"), CatLimit+10), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := Cat(file); !res.OK || len(res.Content) != CatLimit || !res.Truncated {
		t.Errorf("Cat(big): ok %v, %d bytes, truncated %v; want %d bytes, truncated", res.OK, len(res.Content), res.Truncated, CatLimit)
	}
}

func TestResultJSON(t *testing.T) {
	data, err := json.Marshal(Write("/proc/self/no-such-file/x", ""))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got["ok"] != false || got["errno"] == "" || got["error"] == "" || got["path"] != "/proc/self/no-such-file/x" {
		t.Errorf("failed write as JSON: %s", data)
	}
	data, _ = json.Marshal(ForkResult{Result: Result{OK: true}, Requested: 2, Started: 2})
	if string(data) != `{"ok":true,"requested":2,"started":2}` {
		t.Errorf("fork result as JSON: %s", data)
	}
}

func TestFDs(t *testing.T) {
	f, err := os.Open(os.DevNull) // close-on-exec: the process's own, so not listed
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := FDs()
	if !res.OK {
		t.Fatalf("FDs = %+v", res)
	}
	var given []int
	for _, fd := range res.FDs {
		if fd.FD == int(f.Fd()) || strings.HasPrefix(fd.Target, "/proc/") {
			t.Errorf("FDs lists %+v, opened by the process itself", fd)
		}
		given = append(given, fd.FD)
	}
	for stdio := range 3 { // what every test process is given
		if !slices.Contains(given, stdio) {
			t.Errorf("FDs lists %v, without fd %d", given, stdio)
		}
	}
}

func TestBind(t *testing.T) {
	res, release := Bind(0)
	defer release()
	if !res.OK || res.Port == 0 {
		t.Fatalf("Bind(0) = %+v", res)
	}
	again, release2 := Bind(res.Port)
	defer release2()
	if again.OK || again.Errno != "EADDRINUSE" || !strings.HasPrefix(again.Error, "bind 0.0.0.0:") {
		t.Errorf("Bind(port in use) = %+v, want EADDRINUSE", again)
	}
}

func TestStdinSum(t *testing.T) {
	got := StdinSum(strings.NewReader("abc"))
	want := SumResult{Bytes: 3, SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
	if got != want {
		t.Errorf("StdinSum(abc) = %+v, want %+v", got, want)
	}
}

func TestMemhog(t *testing.T) {
	var progress []int
	res := Memhog(33, func(n int) { progress = append(progress, n) })
	if !res.OK || res.AllocatedMiB != 33 {
		t.Errorf("Memhog(33) = %+v", res)
	}
	if !slices.Equal(progress, []int{16, 32}) {
		t.Errorf("progress %v, want 16 and 32", progress)
	}
	if got := MemhogProgress(16, false); got != `{"allocated_mib": 16}` {
		t.Errorf("MemhogProgress(16, json) = %q", got)
	}
	if got := MemhogProgress(16, true); got != "memhog: 16 MiB so far" {
		t.Errorf("MemhogProgress(16, human) = %q", got)
	}
}

func TestForkN(t *testing.T) {
	res := ForkN(3)
	if !res.OK || res.Started != 3 || res.Requested != 3 || res.Error != "" {
		t.Fatalf("ForkN(3) = %+v", res)
	}
	// All children were reaped: wait4 has nothing left to collect.
	if pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); err != syscall.ECHILD {
		t.Errorf("wait4 after ForkN = %d, %v; want ECHILD", pid, err)
	}
}

// The outcome depends on the machine (root, user namespaces allowed); the result must be
// consistent either way.
func TestUsernsMount(t *testing.T) {
	res := UsernsMount()
	t.Logf("%+v", res)
	if res.OK != (res.Unshare && res.Mounted) || res.OK == (res.Error != "") {
		t.Errorf("inconsistent result %+v", res)
	}
}

func TestMknod(t *testing.T) {
	made := Mknod(1, 3, false)
	for _, res := range []PathResult{made, Mknod(1, 3, true)} {
		t.Logf("%+v", res)
		if res.OK == (res.Error != "") || len(res.Errors) > 0 {
			t.Errorf("inconsistent result %+v", res)
		}
		if _, err := os.Lstat(res.Path); !os.IsNotExist(err) {
			t.Errorf("%s left behind", res.Path)
		}
	}
	// Where the node can be made, the open is tried, and only its failure is "open ...".
	if opened := Mknod(1, 3, true); made.OK && !opened.OK && !strings.HasPrefix(opened.Error, "open ") {
		t.Errorf("mknod worked, then mknod and open failed at: %q", opened.Error)
	}
}

// ChrootEscape changes the root of the whole process, so it runs in a child, and the child
// starts inside a chroot of its own (a temporary directory holding a copy of this test
// binary): the directory the breakout makes lands there, never in the host's "/". From
// there, the breakout must reach the real root: that is what step 04 teaches.
func TestChrootEscape(t *testing.T) {
	testenv.RequireRoot(t)
	jail := t.TempDir()
	marker := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jail, "probe"), self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/probe", "chroot-escape", marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: jail}
	cmd.Dir = "/"
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v (the test binary must be static to run in the jail)", err)
	}
	var res EscapeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !res.OK || !res.Chrooted || !res.Escaped || len(res.Errors) > 0 {
		t.Errorf("chroot-escape from a chroot = %+v, want the attempt made, escaped and cleaned up", res)
	}
}

func TestTrap(t *testing.T) {
	r, w := io.Pipe()
	status := make(chan int)
	go func() { status <- Trap(10*time.Second, w); w.Close() }()
	lines := bufio.NewScanner(r)
	next := func() string {
		if !lines.Scan() {
			return "EOF"
		}
		return lines.Text()
	}
	if got := next(); got != "ready" {
		t.Fatalf("first line %q, want ready", got)
	}
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGWINCH, syscall.SIGTERM} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if got, want := next(), signalName(sig); got != want {
			t.Errorf("line %q, want %q", got, want)
		}
	}
	go io.Copy(io.Discard, r)
	if got := <-status; got != 0 {
		t.Errorf("Trap returned %d after SIGTERM, want 0", got)
	}
	if Trap(10*time.Millisecond, io.Discard) != 1 {
		t.Error("Trap did not return 1 after its timeout")
	}
}
