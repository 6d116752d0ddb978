package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
)

var execCommand = &cli.Command{
	Name:  "exec",
	Usage: "run a process in a created or running container",
	UsageText: "contain exec [-t] [-d] [--pid-file FILE] [--console-socket SOCK] [--cwd DIR] [-e KEY=VAL]...\n" +
		"             [--user UID[:GID]] [-g GID]... [--cap CAP]... [--no-new-privs] [--preserve-fds N]\n" +
		"             ID COMMAND [ARG...]\n" +
		"contain exec --process FILE [-d] [--pid-file FILE] [--console-socket SOCK] [--preserve-fds N] ID",
	Description: "The first form runs COMMAND with the container's own process settings (user, capabilities,\n" +
		"environment, ...), changed by the flags; the second runs the runtime-spec process in FILE\n" +
		"as it is (as engines call runc). It waits for the process and exits with its status (128+N\n" +
		"when signal N killed it), forwarding signals; with --detach it exits once the process runs.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "the process, as runtime-spec JSON in `FILE`"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the process's pid to `FILE`"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the process a pseudo-terminal"},
		interactiveFlag,
		&cli.StringFlag{Name: "console-socket", Usage: "with -t -d, send the pty master to the unix socket `SOCK`"},
		&cli.StringFlag{Name: "cwd", Usage: "working `DIR` inside the container"},
		envFlag, envShortFlag,
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as `UID[:GID]`"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass fds 3 to 3+`N`-1 on to the process"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add the capability `CAP_NAME` (bounding, effective, permitted)"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs for the process"},
		&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "add the supplementary group `GID`"},
		&cli.StringFlag{Name: "apparmor", Usage: "AppArmor `PROFILE` (runc's; contain has no AppArmor: ignored, with a warning)"},
		&cli.StringFlag{Name: "process-label", Usage: "SELinux `LABEL` (runc's; contain has no SELinux: ignored, with a warning)"},
		&cli.StringFlag{Name: "cgroup", Usage: "runc's sub-cgroup to run in: refused, the process joins the container's cgroup"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "runc's exec into a paused container: refused, resume it first"},
	},
	Action: execAction,
	// -it, -ti: docker's habit, two flags in one (each letter a flag of its own).
	UseShortOptionHandling: true,
}

func execAction(c *cli.Context) error {
	if c.NArg() < 1 {
		return errors.New("usage: contain exec [flags] ID COMMAND [ARG...] (or --process FILE ID)")
	}
	id := c.Args().First()
	if err := isolate.ValidateID(id); err != nil {
		return failedWith{err, 255}
	}
	status, err := execIn(c, id)
	if err != nil {
		// runc's exit status for an exec that failed: the program's own are 0 to 255 too,
		// and 255 is the one a shell's `exit -1` gives, so it is the least likely to be read
		// as the program's.
		return failedWith{err, 255}
	}
	return exitCode(status)
}

// execIn runs the process and returns its exit status.
func execIn(c *cli.Context, id string) (int, error) {
	process, err := execProcess(c, id)
	if err != nil {
		return 0, err
	}
	opts := isolate.ExecOptions{
		ID: id, StateRoot: c.String("root"), Process: process, Detach: c.Bool("detach"),
		ConsoleSocket: c.String("console-socket"), PreserveFDs: c.Int("preserve-fds"),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: logger,
	}
	if opts.PidFile, err = absOrEmpty(c.String("pid-file")); err != nil {
		return 0, err
	}
	if opts.ConsoleSocket, err = absOrEmpty(opts.ConsoleSocket); err != nil {
		return 0, err
	}
	if !opts.Detach {
		opts.Signals = isolate.CatchSignals() // this process ends with the program
	}
	return isolate.ExecInContainer(opts)
}

// flagArg is a flag's name as typed: -e, --env.
func flagArg(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// execProcess reads --process FILE, or builds the process as runc does: the container's own,
// with COMMAND and the flags' changes.
func execProcess(c *cli.Context, id string) (*specs.Process, error) {
	switch {
	case c.IsSet("cgroup"):
		return nil, errors.New("--cgroup: a sub-cgroup is not supported: the process joins the container's cgroup")
	case c.Bool("ignore-paused"):
		return nil, errors.New("--ignore-paused: not supported: the process would freeze with the container; resume it first")
	}
	if path := c.String("process"); path != "" {
		for _, flag := range []string{"cwd", "env", "e", "user", "cap", "no-new-privs", "additional-gids", "apparmor", "process-label"} {
			if c.IsSet(flag) {
				return nil, fmt.Errorf("%s: with --process, the process file says it all", flagArg(flag))
			}
		}
		if c.NArg() != 1 {
			return nil, errors.New("usage: contain exec --process FILE ID (the file holds the command)")
		}
		p, warnings, err := isolate.LoadProcess(path)
		for _, w := range warnings {
			logger.Warn(w)
		}
		if err == nil && c.Bool("tty") && !p.Terminal {
			// runc reads --tty only without a file; podman's `exec -t` gives both, and a
			// file that says terminal: true.
			logger.Warn("exec: --tty is not used with --process, whose terminal is false (as runc)")
		}
		return p, err
	}
	if c.NArg() < 2 {
		return nil, errors.New("usage: contain exec [flags] ID COMMAND [ARG...]")
	}
	p, err := isolate.ContainerProcess(c.String("root"), id)
	if err != nil {
		return nil, err
	}
	p.Args = c.Args().Slice()[1:]
	p.Terminal, p.ConsoleSize = false, nil
	if c.Bool("tty") {
		setTerminal(p) // before -e: a TERM given there wins
	}
	p.Env = append(p.Env, envFromFlags()...)
	if c.IsSet("cwd") {
		if p.Cwd = c.String("cwd"); !path.IsAbs(p.Cwd) {
			return nil, fmt.Errorf("--cwd %s: want an absolute path in the container", p.Cwd)
		}
	}
	if c.IsSet("user") {
		// Only what the flag names changes, as in runc: without a GID the container's stays,
		// and so do its additional groups and umask.
		uid, gid, hasGID, err := parseIDs(c.String("user"))
		if err != nil {
			return nil, err
		}
		p.User.UID = uid
		if hasGID {
			p.User.GID = gid
		}
	}
	if err := addCapabilities(p, c.StringSlice("cap")); err != nil {
		return nil, err
	}
	if c.IsSet("no-new-privs") {
		p.NoNewPrivileges = c.Bool("no-new-privs")
	}
	for _, gid := range c.Int64Slice("additional-gids") {
		if gid < 0 || gid > math.MaxUint32 {
			return nil, fmt.Errorf("--additional-gids %d: not a gid", gid)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	p.ApparmorProfile, p.SelinuxLabel = c.String("apparmor"), c.String("process-label")
	return p, nil
}

// addCapabilities adds caps to the process's bounding, effective and permitted sets, as
// runc's exec --cap does, and to its ambient set where it has inheritable ones already. A cap
// is only raised in the ambient set when it is inheritable too (capabilities(7)): one that is
// not is skipped there, with a warning (resolveCapabilities), as runc and crun skip it.
func addCapabilities(p *specs.Process, caps []string) error {
	if len(caps) == 0 {
		return nil
	}
	if p.Capabilities == nil {
		p.Capabilities = &specs.LinuxCapabilities{}
	}
	pc := p.Capabilities
	for _, given := range caps {
		name, ok := isolate.CapabilityName(given)
		if !ok {
			return fmt.Errorf("--cap %s: no such capability", given)
		}
		pc.Bounding = append(pc.Bounding, name)
		pc.Effective = append(pc.Effective, name)
		pc.Permitted = append(pc.Permitted, name)
		if len(pc.Inheritable) > 0 {
			pc.Ambient = append(pc.Ambient, name)
		}
	}
	return nil
}

// terminalSize is the size of the user's terminal, on our stdin or else our stdout.
func terminalSize() *specs.Box {
	for _, f := range []*os.File{os.Stdin, os.Stdout} { // as isolate's console looks for it
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			return &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
		}
	}
	return nil
}
