package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/isolate/cgroups"
)

// The OCI lifecycle verbs (runtime-spec runtime.md), in runc's shapes, which engines rely on.

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container from a bundle; its process waits for `contain start`",
	ArgsUsage: "ID",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "the bundle `DIR`"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the container's pid to `FILE`"},
		&cli.StringFlag{Name: "console-socket", Usage: "with process.terminal, send the pty master to the unix socket `SOCK`"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc compatibility; contain always uses pivot_root"},
		noNewKeyringFlag,
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass fds 3 to 3+`N`-1 on to the container's process"},
	},
	Action: func(c *cli.Context) error {
		opts, err := bundleOptions(c)
		if err != nil {
			return err
		}
		if opts.ConsoleSocket, err = absOrEmpty(c.String("console-socket")); err != nil {
			return err
		}
		// create never waits for its container: a terminal has to go to a console socket.
		if err := isolate.CheckConsoleSocket(true, opts.Spec.Process.Terminal, opts.ConsoleSocket); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if opts.PreserveFDs, err = preserveFDs(c); err != nil {
			return err
		}
		return isolate.Create(opts)
	},
}

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start a created container: its process execs",
	ArgsUsage: "ID",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return isolate.Start(c.String("root"), id, logger)
	},
}

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "print a container's state (runtime-spec State JSON)",
	ArgsUsage: "ID",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		st, err := isolate.LoadState(c.String("root"), id)
		if err != nil {
			return err
		}
		return printJSON(c, st)
	},
}

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default TERM) to a container's process",
	ArgsUsage: "ID [SIGNAL]",
	Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"}},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 || c.NArg() > 2 {
			return errors.New("usage: contain kill [--all] ID [SIGNAL]")
		}
		sig := unix.SIGTERM
		if c.NArg() == 2 {
			var err error
			if sig, err = parseSignal(c.Args().Get(1)); err != nil {
				return err
			}
		}
		return isolate.Kill(c.String("root"), c.Args().First(), sig, c.Bool("all"))
	},
}

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a stopped or created container (--force: any container, killing it first)",
	ArgsUsage: "ID",
	Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill it first if it runs; no error if it is gone"}},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return isolate.Delete(c.String("root"), id, c.Bool("force"), logger)
	},
}

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list containers",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only the ids"},
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
	},
	Action: func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		states, unreadable, err := isolate.List(c.String("root"))
		if err != nil {
			return err
		}
		for _, err := range unreadable {
			logger.Warn(err.Error()) // and list the others, as runc does
		}
		switch {
		case c.Bool("quiet"):
			for _, st := range states {
				fmt.Fprintln(c.App.Writer, st.ID)
			}
		case c.String("format") == "json":
			if states == nil {
				states = []isolate.State{}
			}
			return printJSON(c, states)
		case c.String("format") == "table":
			w := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER") // runc's columns
			for _, st := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle, st.Created.Format(time.RFC3339Nano), st.Owner) // as runc
			}
			return w.Flush()
		default:
			return fmt.Errorf("--format %q: want table or json", c.String("format"))
		}
		return nil
	},
}

// refuseModes refuses the global flags of runc's that ask for a kind of container contain
// cannot make. The other commands accept them: an engine passes them to every command, its
// clean-up included.
func refuseModes(c *cli.Context) error {
	if c.String("rootless") == "true" {
		return errors.New("--rootless=true: contain runs containers as root only (no user namespace id maps yet)")
	}
	if c.Bool("systemd-cgroup") {
		// The engine would look for a systemd unit that is never made.
		return fmt.Errorf("--systemd-cgroup: %w", cgroups.ErrNoSystemdDriver)
	}
	return nil
}

// bundleOptions reads --bundle, --pid-file and the id, and loads the bundle's spec.
func bundleOptions(c *cli.Context) (isolate.RunOptions, error) {
	id, err := oneID(c)
	if err != nil {
		return isolate.RunOptions{}, err
	}
	if err := refuseModes(c); err != nil {
		return isolate.RunOptions{}, err
	}
	bundle, err := filepath.Abs(c.String("bundle"))
	if err != nil {
		return isolate.RunOptions{}, err
	}
	spec, warnings, err := isolate.LoadSpec(bundle)
	if err != nil {
		return isolate.RunOptions{}, err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	pidFile := c.String("pid-file")
	if pidFile != "" {
		if pidFile, err = filepath.Abs(pidFile); err != nil {
			return isolate.RunOptions{}, err
		}
	}
	return isolate.RunOptions{
		ID: id, Bundle: bundle, Spec: spec, StateRoot: c.String("root"), PidFile: pidFile,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: logger,
		NoNewKeyring: c.Bool("no-new-keyring"),
	}, nil
}

// preserveFDs reads --preserve-fds and checks that those fds were inherited.
func preserveFDs(c *cli.Context) (int, error) {
	n := c.Int("preserve-fds")
	return n, isolate.CheckPreservedFDs(n)
}

// absOrEmpty makes a path given on the command line absolute; "" stays "".
func absOrEmpty(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return filepath.Abs(path)
}

// oneID reads the command's single argument, a valid container id.
func oneID(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("usage: contain %s ID", c.Command.Name)
	}
	id := c.Args().First()
	return id, isolate.ValidateID(id)
}

// noNewKeyringFlag is runc's: the container keeps the caller's session keyring.
var noNewKeyringFlag = &cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring (default: an anonymous one of the container's own)"}

// parseSignal reads TERM, SIGTERM or 15, and the real-time signals as RTMIN+N and RTMAX-N
// (systemd, as a container's init, halts on SIGRTMIN+3); 0, kill(2)'s null signal, only
// checks that the container runs.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if sig, ok := realtimeSignal(name); ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// The real-time signals a program can use: glibc keeps 32 and 33 for itself (signal(7)).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// realtimeSignal reads SIGRTMIN, SIGRTMIN+N, SIGRTMAX and SIGRTMAX-N, as kill(1) does.
func realtimeSignal(name string) (unix.Signal, bool) {
	base, sign, rest := 0, 1, ""
	switch {
	case strings.HasPrefix(name, "SIGRTMIN"):
		base, rest = sigRTMin, strings.TrimPrefix(name, "SIGRTMIN")
		if rest != "" && rest[0] != '+' {
			return 0, false
		}
	case strings.HasPrefix(name, "SIGRTMAX"):
		base, sign, rest = sigRTMax, -1, strings.TrimPrefix(name, "SIGRTMAX")
		if rest != "" && rest[0] != '-' {
			return 0, false
		}
	default:
		return 0, false
	}
	n := 0
	if rest != "" {
		var err error
		if n, err = strconv.Atoi(rest[1:]); err != nil || n < 0 {
			return 0, false
		}
	}
	sig := base + sign*n
	if sig < sigRTMin || sig > sigRTMax {
		return 0, false
	}
	return unix.Signal(sig), true
}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this runtime supports (runtime-spec features.md JSON)",
	Action: func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		return printJSON(c, isolate.Features())
	},
}

// checkpointCommand and restoreCommand are runc's verbs for CRIU, which contain does not
// drive. They exist to say so: containerd shows the runtime's message, and urfave/cli's own
// for an unknown verb ("No help topic for 'checkpoint'") tells its user nothing. Even
// `checkpoint --help` fails: podman asks that to learn whether a runtime can checkpoint.
var (
	checkpointCommand = notSupportedCommand("checkpoint", "save a running container to disk (runc's, with CRIU): not supported")
	restoreCommand    = notSupportedCommand("restore", "start a container from a checkpoint (runc's, with CRIU): not supported")
)

func notSupportedCommand(name, usage string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, SkipFlagParsing: true,
		Action: func(*cli.Context) error {
			return fmt.Errorf("%s: contain has no checkpoint and restore (they need CRIU, which contain does not drive)", name)
		},
	}
}
