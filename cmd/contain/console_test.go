package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// received is what a console socket got: the pty master and the name sent with it.
type received struct {
	master *os.File
	name   string
}

// listenConsole plays the engine's side of --console-socket: it listens on a unix socket and
// receives one pty master the way runc sends it (the name as data, the fd as SCM_RIGHTS).
func listenConsole(t *testing.T) (string, <-chan received) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan received, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		cmsgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(cmsgs) != 1 {
			return
		}
		fds, _ := unix.ParseUnixRights(&cmsgs[0])
		if len(fds) != 1 {
			return
		}
		got <- received{master: os.NewFile(uintptr(fds[0]), "pty-master"), name: string(buf[:n])}
	}()
	return path, got
}

// awaitConsole waits for the pty master and starts collecting what its terminal shows.
func awaitConsole(t *testing.T, got <-chan received) (received, *screen) {
	t.Helper()
	var r received
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing came to the console socket within 10s")
	}
	t.Cleanup(func() { r.master.Close() })
	out := &screen{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return r, out
}

// create --console-socket: the engine gets the pty master, and through it a shell whose
// stdin is a terminal; create with a terminal and no socket is refused.
func TestCreateConsoleSocket(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"sh"}
		process(spec)["terminal"] = true
	})
	if r := contain(t, "", "create", "--bundle", bundle, "cs"); r.code == 0 || !strings.Contains(r.stderr, "--console-socket") {
		t.Fatalf("create with a terminal and no console socket: exit %d, %q", r.code, r.stderr)
	}
	sock, got := listenConsole(t)
	detached(t, nil, "create", "--bundle", bundle, "--console-socket", sock, "cs")
	t.Cleanup(func() { mustRunCLI(t, "delete", "--force", "cs") })
	pty, out := awaitConsole(t, got)
	if !strings.HasPrefix(pty.name, "/dev/pts/") {
		t.Errorf("the pty came named %q, want /dev/pts/N", pty.name)
	}
	mustRunCLI(t, "start", "cs")
	pty.master.Write([]byte("echo h''i\n")) // the echo of the line holds h''i, only the output hi
	pos := out.waitText(t, 0, "hi\r\n")
	pty.master.Write([]byte("/bin/probe report; echo RE''PORTED\n"))
	end := out.waitText(t, pos, "REPORTED")
	text := out.String()[pos:end]
	r := decodeReport(t, text[strings.IndexByte(text, '{'):strings.LastIndexByte(text, '}')+1])
	if !r.TTY.Stdin || !r.TTY.Stdout || r.PPID != 1 {
		t.Errorf("tty %+v, parent %d: want a child of the container's shell on its terminal", r.TTY, r.PPID)
	}
	pty.master.Write([]byte("exit\n"))
	waitFor(t, func() bool { return state(t, "cs").Status == specs.StateStopped })
}

// exec -t -d --console-socket: a second terminal in a running container, for the engine.
func TestExecConsoleSocket(t *testing.T) {
	needContainer(t)
	runningContainer(t, "excs", nil, "/bin/probe", "sleep", "60")
	sock, got := listenConsole(t)
	if r := contain(t, "", "exec", "-t", "--console-socket", sock, "excs", "sh"); r.code == 0 || !strings.Contains(r.stderr, "console-socket") {
		t.Errorf("--console-socket without --detach: exit %d, %q", r.code, r.stderr)
	}
	execDetached(t, "-t", "--console-socket", sock, "excs", "sh")
	pty, out := awaitConsole(t, got)
	pty.master.Write([]byte("tty; echo e''xec\n"))
	pos := out.waitText(t, 0, pty.name)
	out.waitText(t, pos, "exec\r\n")
	pty.master.Write([]byte("exit\n"))
}
