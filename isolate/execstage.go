package isolate

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The exec stage: "contain init exec", started by ExecInContainer (see exec.go for the process model).
// Like init, it runs on its main thread, locked: the namespaces it joins and the credentials
// it takes belong to that thread, and the program it forks from there inherits them.

// isExecStage reports whether this process is the exec stage rather than a container's init.
func isExecStage() bool {
	return len(os.Args) > 2 && os.Args[1] == InitArg && os.Args[2] == execStageArg
}

// execStage enters the container and starts the program; it returns once the program runs.
// It makes itself non-dumpable first thing (initMain, after Go's start), and so is the
// program until its execve(2): fork copies the flag.
func execStage() error {
	cfg, err := readExecConfig()
	if err != nil {
		return err
	}
	// The v1 cgroup first, while the host's /sys/fs/cgroup is still in view: this thread (the
	// one that forks the program: Init locks it) moves itself, and the program is born in it.
	if err := cgroups.JoinSelf(cfg.CgroupTasks); err != nil {
		return err
	}
	p := cfg.Process
	// Both are per process and inherited; /proc/self still is the host's /proc here.
	if err := setOOMScoreAdj(p.OOMScoreAdj); err != nil {
		return err
	}
	if err := setRlimits(p.Rlimits); err != nil {
		return err
	}
	if err := enterContainer(cfg); err != nil {
		return err
	}
	if !cfg.NoNewKeyring {
		if err := joinNewSessionKeyring(); err != nil { // not the caller's of contain exec
			return err
		}
	}
	if err := filterKeyrings(cfg.KeyringRules); err != nil { // as init did, on this thread
		return err
	}
	stdio := []uintptr{0, 1, 2}
	if p.Terminal {
		slave, err := execTerminal(p.ConsoleSize, p.User.UID)
		if err != nil {
			return err
		}
		defer unix.Close(slave)
		stdio = []uintptr{uintptr(slave), uintptr(slave), uintptr(slave)}
	}
	path, err := becomeUser(p)
	if err != nil {
		return err
	}
	return startProgram(path, p.Args, p.Env, stdio, p.Terminal)
}

func readExecConfig() (*execConfig, error) {
	var cfg execConfig
	if err := readConfig(os.NewFile(uintptr(initConfigFD), "config-pipe"), &cfg); err != nil {
		return nil, fmt.Errorf("exec: read config: %w", err)
	}
	if cfg.Process == nil {
		return nil, fmt.Errorf("exec: the config has no process")
	}
	cfg.Raw.restore(cfg.Process)
	return &cfg, nil
}

// enterContainer joins the namespaces of the container's init, all at once, through a pidfd
// (setns(2) accepts one since Linux 5.8): a pid that was recycled since the parent looked can
// not send us into another process's namespaces. A mount namespace can only be joined by a
// thread that does not share its filesystem information (root, cwd, umask) with other threads,
// hence unshare(CLONE_FS) first; after setns, the thread's root and cwd are the container's /.
// CLONE_NEWPID applies to the children this thread makes from now on.
func enterContainer(cfg *execConfig) error {
	pidfd, err := openInit(cfg.InitPid, cfg.InitStart, fmt.Sprintf("container init %d", cfg.InitPid))
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	if cfg.Namespaces == 0 {
		return nil
	}
	if cfg.Namespaces&unix.CLONE_NEWNS != 0 {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare CLONE_FS: %w", err)
		}
	}
	if err := unix.Setns(pidfd, int(cfg.Namespaces)); err != nil {
		return &pathError{"setns", fmt.Sprintf("pidfd of init %d (%s)", cfg.InitPid, namespaceNames(cfg.Namespaces)), err}
	}
	return nil
}

// execTerminal opens a pty in the container's devpts, sends the master to the parent and
// returns the slave, which becomes the program's stdio and controlling terminal.
func execTerminal(size *specs.Box, uid uint32) (int, error) {
	master, slave, name, err := openPty(size, uid)
	if err != nil {
		return -1, err
	}
	defer unix.Close(master)
	if err := sendMessage(initSyncFD, message{Type: msgPty, Text: name}, master); err != nil {
		unix.Close(slave)
		return -1, err
	}
	return slave, nil
}

// startProgram forks and execs the program from this thread, which has joined the container
// and become its user, and tells the parent its pid, with a pidfd. The program gets its own
// session (and the terminal as its controlling one, if it has one), as init gives the
// container's: a Ctrl-C at the host's terminal goes to contain, which forwards it once.
func startProgram(path string, args, env []string, stdio []uintptr, terminal bool) error {
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: append(stdio, preservedFiles(preservedFDs)...),
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: terminal, Ctty: 0},
	}
	var pid int
	err := asCaller(func() (err error) {
		pid, err = syscall.ForkExec(path, args, attr)
		return err
	})
	if err != nil {
		return &pathError{"exec", path, err}
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	return sendMessage(initSyncFD, message{Type: msgStarted, Text: strconv.Itoa(pid)}, pidfd)
}
