package isolate

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// The console socket (--console-socket) is how engines get a detached container's terminal:
// they listen on a unix socket, and the runtime connects and sends the pty master there. The
// protocol is runc's (its utils.SendFd): one message whose data is a name and whose
// SCM_RIGHTS control message carries the master fd (unix(7)). runc 1.1 sends the master's
// name, "/dev/ptmx"; contain sends the pty's as the container sees it ("/dev/pts/0"), which
// says more. Engines (conmon, containerd's shim) read only the fd.

// ErrConsoleSocket explains runc's rule, which engines rely on: a terminal for a process the
// runtime does not wait for needs a console socket, and a console socket needs such a terminal.
var ErrConsoleSocket = errors.New("a terminal for a detached process (create, exec --detach) needs --console-socket, " +
	"and --console-socket needs both a terminal and a detached process")

// CheckConsoleSocket applies runc's rule: detached and terminal go with a console socket.
func CheckConsoleSocket(detached, terminal bool, socket string) error {
	if detached && terminal && socket == "" {
		return fmt.Errorf("process.terminal is set: %w", ErrConsoleSocket)
	}
	if socket != "" && !(detached && terminal) {
		return fmt.Errorf("--console-socket %s: %w", socket, ErrConsoleSocket)
	}
	return nil
}

// sendConsole connects to the unix socket at path and sends it the pty master.
func sendConsole(path, name string, master int) error {
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(sock)
	if err := unix.Connect(sock, &unix.SockaddrUnix{Name: path}); err != nil {
		return &pathError{"connect", "console socket " + path, err}
	}
	if err := unix.Sendmsg(sock, []byte(name), unix.UnixRights(master), nil, 0); err != nil {
		return &pathError{"sendmsg", "console socket " + path, err}
	}
	return nil
}

// receivePty takes the pty master that init sent with msgPty: to the console socket when
// there is one, else to the console that relays it to the user.
func (p *initProcess) receivePty(fds []int, name string) error {
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return errors.New("init sent a pty message without its fd")
	}
	if p.consoleSocket != "" {
		defer unix.Close(fds[0])
		return sendConsole(p.consoleSocket, name, fds[0])
	}
	c, err := newConsole(fds[0], p.stdin, p.stdout)
	if err != nil {
		return err
	}
	p.console = c
	return nil
}
