package isolate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupTerminal gives the program a pseudo-terminal from the container's own devpts (so that
// the tty the program sees exists inside the container), makes it the controlling terminal
// of init's new session, and sends the master side to the parent, which relays it to the
// user's terminal or passes it on to a console socket. See pty(7), pts(4), and TIOCSCTTY in
// ioctl_tty(2).
func setupTerminal(syncFD int, size *specs.Box, uid uint32) error {
	master, slave, slavePath, err := openPty(size, uid)
	if err != nil {
		return err
	}
	defer unix.Close(master)
	defer unix.Close(slave)
	if err := bindConsole(slave, slavePath); err != nil {
		return err
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("dup3 %s to fd %d: %w", slavePath, fd, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("ioctl TIOCSCTTY: %w", err)
	}
	return sendMessage(syncFD, message{Type: msgPty, Text: slavePath}, master)
}

// openPty opens a new pseudo-terminal in the devpts mounted on /dev/pts, of the given size and
// owned by uid, and returns both sides (close-on-exec) and the slave's name. devpts makes it
// root's, mode 0620: a program running as another user could not open its own terminal
// again (tty(1), /dev/tty), as login(1) and runc make it the user's.
//
// The master must be a pty multiplexer (character 5:2), and the slave is asked of the
// master (ioctl TIOCGPTPEER), not opened by its name: what /dev holds is looked up by path,
// and a name that leads somewhere else must not become the container's terminal.
func openPty(size *specs.Box, uid uint32) (master, slave int, slavePath string, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, "", &pathError{"open", "/dev/ptmx", fmt.Errorf("%w (a terminal needs a devpts mount on /dev/pts)", err)}
	}
	fail := func(err error) (int, int, string, error) {
		unix.Close(master)
		return -1, -1, "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(master, &st); err != nil {
		return fail(&pathError{"stat", "/dev/ptmx", err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		return fail(fmt.Errorf("/dev/ptmx is not a pty multiplexer (%d:%d): refused", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fail(fmt.Errorf("ioctl TIOCSPTLCK: %w", err))
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		return fail(fmt.Errorf("ioctl TIOCGPTN: %w", err))
	}
	slavePath = "/dev/pts/" + strconv.Itoa(int(n))
	peer, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fail(fmt.Errorf("ioctl TIOCGPTPEER: %w", errno))
	}
	slave = int(peer)
	if err := unix.Fchown(slave, int(uid), -1); err != nil { // the group stays tty's
		unix.Close(slave)
		return fail(&pathError{"chown", slavePath, err})
	}
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, ws); err != nil {
			unix.Close(slave)
			return fail(fmt.Errorf("ioctl TIOCSWINSZ: %w", err))
		}
	}
	return master, slave, slavePath, nil
}

// bindConsole makes /dev/console the container's terminal, as programs that write to the
// console expect (runtime-spec: "/dev/console ... if terminal is enabled").
//
// The bind goes from the slave's fd onto an fd of /dev/console made here, never followed
// through a symlink: mounted by name, a console the image or a shared /dev turned into a
// link would put the terminal over whatever the link names, a file in /proc say (runc's
// CVE-2025-52565). A /dev/console that exists already must be a plain file or a device.
func bindConsole(slave int, slavePath string) error {
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EEXIST) {
		fd, err = unix.Open("/dev/console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &pathError{"create", "/dev/console", err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &pathError{"stat", "/dev/console", err}
	}
	if kind := st.Mode & unix.S_IFMT; kind != unix.S_IFREG && kind != unix.S_IFCHR {
		return fmt.Errorf("/dev/console is not a file or a device (mode %#o): refused", st.Mode)
	}
	if err := unix.Mount(fdPath(slave), fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return &pathError{"mount", "/dev/console", fmt.Errorf("bind %s: %w", slavePath, err)}
	}
	return nil
}

// console relays the container's pty to the user's terminal.
type console struct {
	master *os.File
	host   *os.File      // the user's terminal: our stdin, else our stdout; nil when neither is one
	input  bool          // host is our stdin: the user types into it
	saved  *unix.Termios // the host terminal's mode before MakeRaw, restored at the end
}

// newConsole wraps the pty master. The user's terminal, stdin or else stdout (`run -t <file`
// writes to one still, as runc looks for it on stderr, stdout and stdin), goes raw, so that
// every key (Ctrl-C included) reaches the container's line discipline rather than ours and
// the pty's output reaches the screen as it is; the pty takes its size.
func newConsole(masterFD int, stdin, stdout *os.File) (*console, error) {
	// Non-blocking, so that Go's poller waits for it: a Close then ends a Read in progress at
	// once, where a blocking read(2) would hold the fd, and the pty, open until output came.
	if err := unix.SetNonblock(masterFD, true); err != nil {
		unix.Close(masterFD)
		return nil, fmt.Errorf("fcntl O_NONBLOCK on the pty master: %w", err)
	}
	c := &console{master: os.NewFile(uintptr(masterFD), "pty-master")}
	for _, f := range []*os.File{stdin, stdout} {
		if f == nil {
			continue
		}
		if saved, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			c.host, c.input, c.saved = f, f == stdin, saved
			break
		}
	}
	if c.host == nil {
		return c, nil // no terminal: relay bytes as they come
	}
	c.resize()
	if err := c.makeRaw(); err != nil {
		c.master.Close()
		return nil, err
	}
	return c, nil
}

// makeRaw puts the host terminal in raw mode: no echo, no line editing, no signals from keys.
func (c *console) makeRaw() error {
	raw := *c.saved
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(c.host.Fd()), unix.TCSETS, &raw); err != nil {
		return fmt.Errorf("ioctl TCSETS (raw mode): %w", err)
	}
	return nil
}

// jobControl catches SIGTSTP and SIGCONT while a terminal is relayed in raw mode, where no
// key stops contain (Ctrl-Z is the container's), but `kill -TSTP` or `kill -STOP` of contain
// may. Stopped, contain gives the user's shell its terminal back as it was; continued, it
// takes it raw again. Without a host terminal there is nothing to give back: no channel.
func (c *console) jobControl() (<-chan os.Signal, func()) {
	if c == nil || c.host == nil {
		return nil, func() {}
	}
	jobs := make(chan os.Signal, 4)
	signal.Notify(jobs, unix.SIGTSTP, unix.SIGCONT)
	return jobs, func() { signal.Stop(jobs) }
}

// suspendOrResume acts on a job-control signal from jobControl.
func (c *console) suspendOrResume(sig os.Signal) {
	if sig == unix.SIGTSTP {
		if orphanedProcessGroup() {
			return // the kernel discards SIGTSTP there: no one could continue us
		}
		c.restore()
		unix.Kill(os.Getpid(), unix.SIGSTOP) // as the default action of SIGTSTP would
		return
	}
	c.makeRaw() // SIGCONT, after our own stop or anyone's SIGSTOP
	c.resize()
}

// orphanedProcessGroup reports whether this process's group is orphaned: no member has a
// parent in another group of the same session, so no shell would ever continue a stop
// (POSIX, "Signal Actions": a SIGTSTP whose default action would stop a process of an
// orphaned group is discarded, and Linux does so). contain's group is often contain alone,
// but under make or a script it is its parent's too: every member of the group is looked at.
func orphanedProcessGroup() bool {
	pgrp := unix.Getpgrp()
	sid, err := unix.Getsid(0)
	if err != nil {
		return true
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := unix.Getpgid(pid); err != nil || g != pgrp {
			continue
		}
		parent, err := parentPid(pid)
		if err != nil {
			continue
		}
		g, err1 := unix.Getpgid(parent)
		s, err2 := unix.Getsid(parent)
		if err1 == nil && err2 == nil && g != pgrp && s == sid {
			return false
		}
	}
	return true
}

// resize copies the host terminal's window size to the pty; the kernel then sends SIGWINCH
// to the container's foreground process group.
func (c *console) resize() {
	if c.host == nil {
		return
	}
	ws, err := unix.IoctlGetWinsize(int(c.host.Fd()), unix.TIOCGWINSZ)
	if err == nil {
		unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// restore puts the host terminal back the way it was.
func (c *console) restore() {
	if c.host != nil && c.saved != nil {
		unix.IoctlSetTermios(int(c.host.Fd()), unix.TCSETS, c.saved)
	}
}

// relay is a terminal being relayed: see relayConsole.
type relay struct {
	done chan struct{} // closed when the pty's output has ended
	// last is when the output last moved (a read from the pty, or a write to the user that
	// ended), in UnixNano; writing is set while a write to the user is under way.
	last    atomic.Int64
	writing atomic.Bool
}

// relayConsole copies the user's input to the pty and the pty's output to the user. When the
// output can no longer be written (a `| head` that exited), the pty is hung up, as a terminal
// that went away is: the container's session gets SIGHUP and its writes fail, and nothing
// waits on a full pty. See pty(7). Input that is not a terminal (a pipe, a file) ends with
// the pty's end-of-file character, as a user's Ctrl-D would: the program reading it sees
// its input end instead of waiting for more forever.
func relayConsole(c *console, stdin, stdout *os.File) *relay {
	r := &relay{done: make(chan struct{})}
	if c == nil {
		close(r.done)
		return r
	}
	undoRelaxMonitor()
	if stdin != nil {
		go func() {
			last := byte('\n')
			buf := make([]byte, 32*1024)
			var err error
			for {
				var n int
				n, err = stdin.Read(buf)
				if n > 0 {
					if _, werr := c.master.Write(buf[:n]); werr != nil {
						return
					}
					last = buf[n-1]
				}
				if err != nil {
					break
				}
			}
			switch {
			case !c.input:
				c.endInput(last != '\n', r.done)
			case hangingUp(c.host, err):
				// The user's terminal went away (ssh lost, its window closed). Hang up the
				// container's as the kernel hung up ours: closing the master ends the pty, so
				// its shell reads end of file and exits. As pid 1 it ignores the SIGHUP that
				// contain forwards, and would otherwise run on with no one to type to it.
				c.master.Close()
			}
		}()
	}
	out := io.Discard
	if stdout != nil {
		out = Output(stdout)
	}
	r.last.Store(time.Now().UnixNano())
	go func() {
		defer close(r.done)
		buf := make([]byte, 32*1024)
		for {
			n, err := c.master.Read(buf)
			r.last.Store(time.Now().UnixNano())
			if n > 0 {
				r.writing.Store(true)
				_, werr := out.Write(buf[:n])
				r.writing.Store(false)
				r.last.Store(time.Now().UnixNano())
				if werr != nil {
					c.master.Close()
					return
				}
			}
			if err != nil { // EIO once no process holds the pty's other end
				return
			}
		}
	}()
	return r
}

// hungUp says whether the terminal f was hung up: the kernel then answers every ioctl of it
// with EIO (tty_io.c, hung_up_tty_ioctl). A read that failed for another reason (a background
// process of an orphaned process group gets EIO too) leaves the terminal as it is.
func hungUp(f *os.File) bool {
	_, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == unix.EIO
}

// hangingUp says whether the terminal f, whose read failed with readErr, was hung up. A pty's
// read fails with EIO as soon as its master closes, and the kernel hangs the terminal up
// right after (pty_close: TTY_OTHER_CLOSED, then tty_vhangup): a look in between finds it not
// hung up yet, and the container's shell ran on, with no one to type to it. So after EIO it
// looks again for a while.
func hangingUp(f *os.File, readErr error) bool {
	if hungUp(f) {
		return true
	}
	if !errors.Is(readErr, unix.EIO) {
		return false
	}
	for range 50 {
		time.Sleep(2 * time.Millisecond)
		if hungUp(f) {
			return true
		}
	}
	return false
}

// ptyQuiet is how long the output must have been still, after the program exited, before
// the relay stops: what the program wrote is in the pty's buffer already, but a process it
// left in the background may hold the pty open, and the output would never end.
const ptyQuiet = 300 * time.Millisecond

// drain waits, once the program exited, until its output has ended: until no process holds
// the pty, or the output has been still for ptyQuiet, counted from the exit at the earliest.
// Output that still moves, or waits for a slow reader of ours, is relayed to the end.
func (r *relay) drain() {
	select {
	case <-r.done: // no terminal, or its output ended already
		return
	default:
	}
	r.last.Store(time.Now().UnixNano()) // the kernel may hand the last output over late
	tick := time.NewTicker(ptyQuiet / 4)
	defer tick.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-tick.C:
			if !r.writing.Load() && time.Since(time.Unix(0, r.last.Load())) >= ptyQuiet {
				return
			}
		}
	}
}

// eofAgain is how often the end of the input is said again, until the output ends.
const eofAgain = 200 * time.Millisecond

// endInput tells the program that the input, which was not a terminal, has ended: the pty's
// end-of-file character, then again every eofAgain until done (the output ended). With a
// pipe every read after the end returns nothing; a pty's end-of-file ends one read. A
// program that reads twice (`sh -c 'cat; cat'`) would wait for good on the second, and so
// would a shell that put the pty in raw mode, for its own line editing, just after the
// first came in canonical mode and was lost in the switch.
func (c *console) endInput(partialLine bool, done <-chan struct{}) {
	c.sendEOF(partialLine)
	tick := time.NewTicker(eofAgain)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if !c.sendEOF(false) {
				return
			}
		}
	}
}

// sendEOF writes the pty's end-of-file character (VEOF, Ctrl-D unless changed): once ends a
// line-mode read at the start of a line, twice when a partial line is pending (the first
// hands the partial line over).
// It reports whether the write went through.
func (c *console) sendEOF(partialLine bool) bool {
	eof := byte(4)
	if t, err := unix.IoctlGetTermios(int(c.master.Fd()), unix.TCGETS); err == nil && t.Cc[unix.VEOF] != 0 {
		eof = t.Cc[unix.VEOF]
	}
	seq := []byte{eof}
	if partialLine {
		seq = append(seq, eof)
	}
	_, err := c.master.Write(seq)
	return err == nil
}
