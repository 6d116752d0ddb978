package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
)

var execCommand = &cli.Command{
	Name:  "exec",
	Usage: "run a process in a running container",
	UsageText: "contain exec [-t] [-d] [--pid-file FILE] [--console-socket SOCK] [--cwd DIR] [-e KEY=VAL]...\n" +
		"             [--user UID[:GID]] [--preserve-fds N] ID COMMAND [ARG...]\n" +
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
		&cli.StringFlag{Name: "console-socket", Usage: "with -t -d, send the pty master to the unix socket `SOCK`"},
		&cli.StringFlag{Name: "cwd", Usage: "working `DIR` inside the container"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VAL` in the environment"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as `UID[:GID]`"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass fds 3 to 3+`N`-1 on to the process"},
	},
	Action: execAction,
}

func execAction(c *cli.Context) error {
	isolate.RelaxMonitor()
	if c.NArg() < 1 {
		return errors.New("usage: contain exec [flags] ID COMMAND [ARG...] (or --process FILE ID)")
	}
	id := c.Args().First()
	if err := isolate.ValidateID(id); err != nil {
		return err
	}
	process, err := execProcess(c, id)
	if err != nil {
		return err
	}
	opts := isolate.ExecOptions{
		ID: id, StateRoot: c.String("root"), Process: process, Detach: c.Bool("detach"),
		ConsoleSocket: c.String("console-socket"), PreserveFDs: c.Int("preserve-fds"),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: logger,
	}
	if opts.PidFile, err = absOrEmpty(c.String("pid-file")); err != nil {
		return err
	}
	if opts.ConsoleSocket, err = absOrEmpty(opts.ConsoleSocket); err != nil {
		return err
	}
	if !opts.Detach {
		opts.Signals = isolate.CatchSignals() // this process ends with the program
	}
	status, err := isolate.ExecInContainer(opts)
	if err != nil {
		return err
	}
	return exitCode(status)
}

// execProcess reads --process FILE, or builds the process as runc does: the container's own,
// with COMMAND and the flags' changes.
func execProcess(c *cli.Context, id string) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		for _, flag := range []string{"cwd", "env", "user"} {
			if c.IsSet(flag) {
				return nil, fmt.Errorf("--%s: with --process, the process file says it all", flag)
			}
		}
		if c.NArg() != 1 {
			return nil, errors.New("usage: contain exec --process FILE ID (the file holds the command)")
		}
		p, err := readProcessFile(path)
		if err == nil && c.Bool("tty") {
			// podman's `exec -t` passes --tty along with a file that says terminal: true;
			// runc takes it, so contain does too (it can only ask for a terminal).
			p.Terminal = true
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
	p.Env = append(p.Env, c.StringSlice("env")...)
	if c.IsSet("cwd") {
		p.Cwd = c.String("cwd")
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
	p.Terminal = c.Bool("tty")
	p.ConsoleSize = nil
	if p.Terminal {
		p.ConsoleSize = terminalSize()
	}
	return p, nil
}

// readProcessFile reads a runtime-spec process (config.md "process") from path.
func readProcessFile(path string) (*specs.Process, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--process: %w", err)
	}
	var p specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("--process %s: %w", path, err)
	}
	return &p, nil
}

// terminalSize is the size of the terminal on our stdin, if it is one.
func terminalSize() *specs.Box {
	ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return nil
	}
	return &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
}
