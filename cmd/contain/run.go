package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

var runCommand = &cli.Command{
	Name:  "run",
	Usage: "run a container in the foreground",
	// A flag run cannot read is contain's failure, not the command's: docker run's 125, as
	// the quick form's other failures (urfave/cli's own is 1, after the whole help).
	OnUsageError: func(_ *cli.Context, err error, _ bool) error {
		return failedWith{fmt.Errorf("run: %w (contain run --help lists the flags)", err), 125}
	},
	UsageText: "contain run [--rootfs DIR] [--hostname NAME] [-e KEY=VAL]... [--cwd DIR] [--user USER[:GROUP]] [-t]\n" +
		"            [--memory BYTES] [--memory-swap BYTES] [--pids-limit N] [--cpus N] [--cpu-weight N] ... [--] COMMAND [ARG...]\n" +
		"contain run [--bundle DIR] [--pid-file FILE] [-d [--console-socket SOCK]] [--keep] ID",
	Description: "The first form runs COMMAND in a new container on a root filesystem (the default one,\n" +
		"built on first use, unless --rootfs). The second runs the OCI bundle DIR (DIR/config.json)\n" +
		"as container ID, like runc run; without --bundle it is the current directory, when it holds\n" +
		"a config.json and run has a lone ID, or has -d, --keep or --console-socket. Both wait for\n" +
		"the container and exit with its status (128+N when signal N killed it), forwarding signals\n" +
		"to it.",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "run the OCI bundle in `DIR`"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the container's pid to `FILE`"},
		noNewKeyringFlag,
		&cli.StringFlag{Name: "rootfs", Usage: "root filesystem `DIR` (default: the default rootfs)"},
		&cli.StringFlag{Name: "hostname", Value: "contain", Usage: "the container's hostname"},
		envFlag, envShortFlag,
		&cli.StringFlag{Name: "cwd", Value: "/", Usage: "working `DIR` inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as `USER[:GROUP]`, names or numbers (names from the rootfs's /etc/passwd and /etc/group)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a pseudo-terminal"},
		interactiveFlag,
		&cli.BoolFlag{Name: "rm", Usage: "accepted, as docker has it: a quick run's container is always removed"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass fds 3 to 3+`N`-1 on to the container's process"},
		// runc's run flags, for the OCI form.
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "with --bundle: create and start the container, and exit; it keeps contain's stdio"},
		&cli.StringFlag{Name: "console-socket", Usage: "with --bundle -d and process.terminal, send the pty master to the unix socket `SOCK`"},
		&cli.BoolFlag{Name: "keep", Usage: "with --bundle: leave the stopped container for 'contain delete' when it exits"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc compatibility; contain always uses pivot_root"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "accepted for runc compatibility; contain's run needs no subreaper (the container has its own init)"},
	}, limitFlags...),
	Action: runAction,
	// -it, -ti: docker's habit, two flags in one (each letter a flag of its own).
	UseShortOptionHandling: true,
}

func runAction(c *cli.Context) error {
	opts := isolate.RunOptions{
		StateRoot: c.String("root"),
		PidFile:   c.String("pid-file"),
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Log:       logger,
		// Both forms: runc's run has it too.
		NoNewKeyring: c.Bool("no-new-keyring"),
	}
	if ociForm(c) {
		return bundleForm(c, opts)
	}
	// docker run's statuses, which scripts test for: 125 when contain itself failed, 127
	// and 126 when the command was not found or could not be executed, so that none is
	// taken for the command's own. The OCI form keeps runc's 1, which engines expect.
	err := quickForm(c, opts)
	var notRun *isolate.ExecError
	switch {
	case errors.As(err, &notRun):
		return failedWith{err, notRun.Status}
	case err != nil && !errors.As(err, new(exitCode)):
		return failedWith{err, 125}
	}
	return err
}

// quickForm is run's quick form: contain run [flags] [--] COMMAND [ARG...].
func quickForm(c *cli.Context, opts isolate.RunOptions) error {
	if err := quickRun(c, &opts); err != nil {
		return err
	}
	return startContainerRun(c, opts)
}

// bundleForm is run's OCI form: contain run [--bundle DIR] ID.
func bundleForm(c *cli.Context, opts isolate.RunOptions) error {
	if err := bundleRun(c, &opts); err != nil {
		return err
	}
	return startContainerRun(c, opts)
}

// startContainerRun runs the container: detached when asked (the OCI form), else in the
// foreground, returning its exit status as an exitCode.
func startContainerRun(c *cli.Context, opts isolate.RunOptions) error {
	var err error
	if c.Bool("detach") {
		return runDetached(c, opts)
	}
	if c.IsSet("console-socket") {
		return errors.New("--console-socket: only with --detach (in the foreground contain relays the terminal itself)")
	}
	opts.Keep = c.Bool("keep")
	if opts.PidFile != "" {
		if opts.PidFile, err = filepath.Abs(opts.PidFile); err != nil {
			return err
		}
	}
	if opts.PreserveFDs, err = preserveFDs(c); err != nil {
		return err
	}
	opts.Signals = isolate.CatchSignals() // this process ends with its container
	status, err := isolate.Run(opts)
	if err != nil {
		return err
	}
	return exitCode(status)
}

// runDetached is run --detach: create, then start, as runc's does; the container keeps our
// stdio, as a created one does. A start that fails takes the container away again.
func runDetached(c *cli.Context, opts isolate.RunOptions) error {
	if c.Bool("keep") {
		return errors.New("--keep: only in the foreground (a detached container stays until delete anyway)")
	}
	var err error
	if opts.ConsoleSocket, err = absOrEmpty(c.String("console-socket")); err != nil {
		return err
	}
	if err := isolate.CheckConsoleSocket(true, opts.Spec.Process.Terminal, opts.ConsoleSocket); err != nil {
		return fmt.Errorf("run --detach: %w", err)
	}
	if opts.PidFile != "" {
		if opts.PidFile, err = filepath.Abs(opts.PidFile); err != nil {
			return err
		}
	}
	if opts.PreserveFDs, err = preserveFDs(c); err != nil {
		return err
	}
	if err := isolate.Create(opts); err != nil {
		return err
	}
	if err := isolate.Start(opts.StateRoot, opts.ID, logger); err != nil {
		if derr := isolate.Delete(opts.StateRoot, opts.ID, true, logger); derr != nil {
			logger.Warn(derr.Error())
		}
		return err
	}
	return nil
}

// ociFlags are the run flags only the OCI form has.
var ociFlags = []string{"detach", "keep", "console-socket"}

// ociForm says whether this run is the OCI form. runc's run takes the current directory for
// the bundle when --bundle is not given, so besides --bundle, a flag only the OCI form has
// means it too, and so does a lone container ID, with no quick-form flag, in a directory that
// holds a config.json: `cd bundle && contain run ID` runs that bundle, as it does with runc.
func ociForm(c *cli.Context) bool {
	if c.IsSet("bundle") {
		return true
	}
	given := c.LocalFlagNames()
	for _, oci := range ociFlags {
		if slices.Contains(given, oci) {
			return true
		}
	}
	if c.NArg() != 1 || quickFlag(given) != "" || isolate.ValidateID(c.Args().First()) != nil {
		return false
	}
	if dashesBeforeCommand(c.App, os.Args) {
		return false // `contain run -- sh` in a bundle's directory: the quick form's COMMAND
	}
	st, err := os.Stat("config.json")
	return err == nil && st.Mode().IsRegular()
}

// dashesBeforeCommand says whether run's arguments in args (the command line) have a "--"
// before their first one that is not a flag: the flag parser drops it, but it says that what
// follows is a COMMAND, as the usage writes it, not a container ID.
func dashesBeforeCommand(app *cli.App, args []string) bool {
	verb := verbIndex(app, args)
	if verb >= len(args) || args[verb] != "run" {
		return false
	}
	cmd := app.Command("run")
	for i := verb + 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			return true
		case strings.HasPrefix(a, "-") && a != "-":
			if takesValue(cmd.Flags, a) {
				i++
			}
		default:
			return false
		}
	}
	return false
}

// quickFlag returns the first of the given flags that only the quick form has, or "".
func quickFlag(given []string) string {
	quickFlags := []string{"rootfs", "hostname", "env", "e", "cwd", "user", "tty", "interactive", "rm"}
	for _, f := range limitFlags {
		quickFlags = append(quickFlags, f.Names()[0])
	}
	for _, quick := range quickFlags {
		if slices.Contains(given, quick) {
			return quick
		}
	}
	return ""
}

// bundleRun prepares the OCI form: run [--bundle DIR] ID.
func bundleRun(c *cli.Context, o *isolate.RunOptions) error {
	// One pass over the flags given: IsSet on a flag not given scans every flag's names.
	given := c.LocalFlagNames()
	quick := quickFlag(given)
	if !slices.Contains(given, "bundle") && (c.NArg() > 1 || quick != "") {
		// A command, or a quick-form flag, with an OCI flag: run -d -- sleep 5.
		for _, oci := range ociFlags {
			if slices.Contains(given, oci) {
				return fmt.Errorf("--%s belongs to the OCI form, contain run [--bundle DIR] --%s ID; the quick form (contain run -- COMMAND) runs in the foreground", oci, oci)
			}
		}
	}
	if quick != "" {
		return fmt.Errorf("--%s belongs to the quick form; for the OCI form, edit config.json", quick)
	}
	opts, err := bundleOptions(c)
	if err != nil {
		return err
	}
	*o = opts
	return nil
}

// quickRun prepares the quick form: a default spec around COMMAND.
func quickRun(c *cli.Context, o *isolate.RunOptions) error {
	if c.NArg() == 0 {
		return errors.New("usage: contain run [flags] [--] COMMAND [ARG...] (or --bundle DIR ID)")
	}
	if err := refuseModes(c); err != nil {
		return err
	}
	dir, err := quickRootfs(c.String("rootfs"))
	if err != nil {
		return err
	}
	spec := isolate.DefaultSpec()
	spec.Root.Path = dir
	// What docker run users get of Docker's default seccomp profile, as far as contain
	// applies one: the kernel's keyring calls refused (see isolate/keyrings.go).
	spec.Linux.Seccomp = isolate.KeyringProfile()
	spec.Hostname = c.String("hostname")
	if spec.Hostname == "" {
		// The new uts namespace starts as a copy of the host's: no name would show the host's.
		return errors.New("--hostname: empty (the container would show the host's name)")
	}
	spec.Process.Args = c.Args().Slice()
	spec.Process.Cwd = c.String("cwd")
	if c.Bool("tty") {
		setTerminal(spec.Process) // before -e: a TERM given there wins
	}
	spec.Process.Env = append(spec.Process.Env, envFromFlags()...)
	if c.IsSet("user") {
		if spec.Process.User, err = isolate.LookupUser(dir, c.String("user")); err != nil {
			return err
		}
	}
	limits, err := resourcesFromFlags(c)
	if err != nil {
		return err
	}
	if limits != nil {
		limits.Devices = spec.Linux.Resources.Devices
		spec.Linux.Resources = limits
	}
	o.ID, o.Bundle, o.Spec = newID(), filepath.Dir(dir), spec
	// The default rootfs serves every run: a run must not change it for the next one (nor
	// one with an empty --rootfs, "$ROOTFS" unset, which means it too).
	o.Throwaway = c.String("rootfs") == ""
	return nil
}

// quickRootfs returns --rootfs, or the default rootfs, built on first use. What a build runs
// (go build for probe, busybox) gets every CPU, not the one the runtime keeps to.
func quickRootfs(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	err := isolate.WithEveryCPU(func() error {
		probe, err := rootfs.FindProbe()
		if err == nil {
			dir, err = rootfs.EnsureDefault(probe, stderr)
		}
		return err
	})
	return dir, err
}

// setTerminal asks for a pty the size of the user's terminal, with the user's TERM (run -t
// and exec -t).
func setTerminal(p *specs.Process) {
	p.Terminal, p.ConsoleSize = true, terminalSize()
	term := os.Getenv("TERM")
	if term == "" {
		term = "xterm"
	}
	p.Env = append(p.Env, "TERM="+term)
}

// parseIDs reads --user UID[:GID] and says whether it had a GID.
func parseIDs(s string) (uid, gid uint32, hasGID bool, err error) {
	uidText, gidText, hasGID := strings.Cut(s, ":")
	u, err := strconv.ParseUint(uidText, 10, 32)
	g := u
	if err == nil && hasGID {
		g, err = strconv.ParseUint(gidText, 10, 32)
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("--user %q: want numeric UID[:GID]", s)
	}
	return uint32(u), uint32(g), hasGID, nil
}

// newID names a quick-form container: run-<12 hex digits>. The digits need to be unique,
// not secret (reserving the state directory refuses an id in use): math/rand/v2's generator,
// seeded by the kernel at start, gives them without crypto/rand, whose packages and their
// initialisers would otherwise be in every process, each container's init included.
func newID() string {
	return fmt.Sprintf("run-%012x", rand.Uint64()>>16)
}
