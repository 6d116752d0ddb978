package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/isolate"
)

// logger receives warnings, errors and --debug traces; app.Before points it at --log.
var (
	logger    = slog.New(newLineHandler(stderr, slog.LevelWarn))
	stderr    = isolate.Output(os.Stderr) // a closed stderr must not end contain mid-run
	logToFile bool
)

func newApp() *cli.App {
	app := &cli.App{
		Name:    "contain",
		Usage:   "a small OCI container runtime",
		Version: version,
		Description: "contain runs Linux containers from OCI bundles (like runc) or, with no bundle,\n" +
			"from a default busybox root filesystem: sudo contain run -- sh",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: isolate.DefaultStateRoot, Usage: "directory for container state"},
			&cli.StringFlag{Name: "log", Usage: "write log messages to `FILE` instead of stderr"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log what the runtime does, step by step"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "runc's systemd cgroup driver, which contain lacks: create and run refuse it, the other commands ignore it"},
			// containerd's runc shim passes these two to every command when configured.
			&cli.StringFlag{Name: "criu", Usage: "runc's CRIU `PATH` for checkpoint and restore, which contain lacks: ignored"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "runc's rootless mode: true, false or auto; contain runs containers as root only, so create and run refuse true"},
		},
		Before: func(c *cli.Context) error {
			switch c.String("rootless") {
			case "true", "false", "auto":
			default:
				return fmt.Errorf("--rootless %q: want true, false or auto", c.String("rootless"))
			}
			if err := setupLogging(c); err != nil {
				return err
			}
			return needRoot(c.Args().Slice())
		},
		Commands: []*cli.Command{runCommand, createCommand, startCommand, execCommand, stateCommand, killCommand,
			deleteCommand, listCommand, psCommand, pauseCommand, resumeCommand, updateCommand, eventsCommand, featuresCommand,
			specCommand, rootfsCommand, versionCommand, checkpointCommand, restoreCommand},
		DisableSliceFlagSeparator: true,                         // -e A=1,2 is one variable, not two
		ExitErrHandler:            func(*cli.Context, error) {}, // run() prints errors, once
	}
	// Without this, urfave/cli gives every command a "help" (and "h") subcommand, taken from
	// its first argument even after "--": `contain run -- help me` ran contain's help, not the
	// container's program, and `contain kill help` could not name a container "help".
	// --help stays, and so does the app's own `contain help [VERB]`, as runc has it.
	for _, cmd := range app.Commands {
		cmd.HideHelpCommand = true
	}
	cli.VersionPrinter = func(c *cli.Context) { printVersion(c.App.Writer) }
	// urfave/cli adds these two to the flags; each lookup of any flag asks them too.
	cli.HelpFlag = cachedBoolFlag(cli.HelpFlag)
	cli.VersionFlag = cachedBoolFlag(cli.VersionFlag)
	cacheFlagNames(app.Flags, app.Commands)
	return app
}

// rootVerbs need root: they make or reach namespaces, mounts, cgroups and the state under
// /run/contain (0711; each container's directory 0700). spec, features, version and help do not.
var rootVerbs = map[string]bool{"run": true, "create": true, "start": true, "exec": true, "state": true,
	"kill": true, "delete": true, "list": true, "ps": true, "pause": true, "resume": true, "update": true,
	"events": true, "rootfs": true, "checkpoint": true, "restore": true}

// needRoot refuses, with the reason, a verb of rootVerbs run by another user than root: it
// would fail further on, at a file it may not open, with a message that does not say why.
// Asking for its help is fine.
func needRoot(args []string) error {
	if len(args) == 0 || !rootVerbs[args[0]] || os.Geteuid() == 0 {
		return nil
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			return nil
		}
	}
	return fmt.Errorf("%s needs root: namespaces, mounts, cgroups and the containers' state are root's (run it with sudo; contain has no rootless mode)", args[0])
}

// idVerbs are the verbs whose arguments are a container id (and kill's signal): their flags
// may come after the id, as in runc.
var idVerbs = map[string]bool{"create": true, "start": true, "state": true, "kill": true, "delete": true,
	"pause": true, "resume": true, "update": true, "events": true}

// flagsBeforeID moves the flags given after an id verb's arguments in front of them, so that
// `contain delete ID --force` and `contain kill ID KILL --all` work as runc takes them (runc's
// urfave/cli v1 reorders a command's arguments so; v2 stops reading flags at the first
// argument that is not one). Not run, whose quick form runs a command and whose arguments
// after it are the command's, nor exec and ps, whose trailing arguments are a program's, as
// runc leaves exec's and ps's. Everything after "--" stays where it is.
func flagsBeforeID(app *cli.App, args []string) []string {
	verb := verbIndex(app, args)
	if verb >= len(args) || !idVerbs[args[verb]] {
		return args
	}
	cmd := app.Command(args[verb])
	var flags, rest []string
	for i := verb + 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if takesValue(cmd.Flags, a) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(append(append([]string(nil), args[:verb+1]...), flags...), rest...)
}

// verbIndex is where the verb is in args, the command line: after the global flags and their
// values (len(args) when there is none).
func verbIndex(app *cli.App, args []string) int {
	verb := 1
	for verb < len(args) && strings.HasPrefix(args[verb], "-") && args[verb] != "-" && args[verb] != "--" {
		if takesValue(app.Flags, args[verb]) {
			verb++
		}
		verb++
	}
	return verb
}

// takesValue says whether arg ("--name", "-n", not "--name=value") is one of flags that takes
// a value in the next argument.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		if v, ok := f.(interface{ TakesValue() bool }); ok && slices.Contains(f.Names(), name) {
			return v.TakesValue()
		}
	}
	return false
}

// noArgs refuses arguments to a verb that takes none, as runc does.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("usage: contain %s takes no arguments (got %q)", c.Command.Name, c.Args().Slice())
	}
	return nil
}

// envValues are the KEY=VAL entries of run's and exec's -e and --env, in the order given.
//
// Two flags of one name each, that share this list, rather than one flag with an alias:
// urfave/cli copies an aliased list to the alias's name through JSON, which turns the bytes
// that are not UTF-8 into U+FFFD (`-e NAME=$'\xff'`), and refuses an alias given beside its
// flag. KeepSpace: a value keeps its spaces (`-e 'PS1=$ '`), which urfave/cli trims otherwise.
// The process runs one command, so one list serves both verbs.
var (
	envValues    = new(cli.StringSlice)
	envFlag      = &cli.StringSliceFlag{Name: "env", Usage: "set `KEY=VAL` in the environment (also -e; a lone KEY takes contain's own)", Destination: envValues, KeepSpace: true}
	envShortFlag = &cli.StringSliceFlag{Name: "e", Usage: "--env", Hidden: true, Destination: envValues, KeepSpace: true}
)

// interactiveFlag is docker's -i, for run and exec, which contain takes and needs not: a
// container's process always gets contain's stdin (-t makes it a terminal).
var interactiveFlag = &cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "accepted, as docker has it: the process always gets contain's stdin"}

// envFromFlags is -e and --env as docker reads them: KEY=VAL as it is, and a lone KEY is the
// variable of contain's own environment, left out when contain has none of that name.
func envFromFlags() []string {
	var env []string
	for _, kv := range envValues.Value() {
		if !strings.Contains(kv, "=") && kv != "" {
			if v, ok := os.LookupEnv(kv); ok {
				env = append(env, kv+"="+v)
			}
			continue
		}
		env = append(env, kv)
	}
	return env
}

// cacheFlagNames makes the flags answer Names() from a list made once. urfave/cli works out a
// flag's names with a regular expression each time it asks, and it asks every flag for them
// to find any one flag: before a command runs, it checks each of the command's flags with
// IsSet, which looks the flag up that way. For `run`, several hundred regular expression
// replacements per container start, 3% of the runtime's CPU in perf; the boolean flags alone,
// cli.HelpFlag included, were 400 of the runtime's 3800 allocations. urfave/cli asserts on
// *cli.BoolFlag in two places only, neither of which a flag here reaches: help leaves out the
// default value of one with DisableDefaultText, and shell completion skips a Hidden one.
func cacheFlagNames(flags []cli.Flag, commands []*cli.Command) {
	for i, f := range flags {
		switch f := f.(type) {
		case *cli.BoolFlag:
			flags[i] = boolFlag{f, flagNames(f.Name, f.Aliases)}
		case *cli.StringFlag:
			flags[i] = stringFlag{f, flagNames(f.Name, f.Aliases)}
		case *cli.StringSliceFlag:
			flags[i] = stringSliceFlag{f, flagNames(f.Name, f.Aliases)}
		case *cli.IntFlag:
			flags[i] = intFlag{f, flagNames(f.Name, f.Aliases)}
		case *cli.Int64Flag:
			flags[i] = int64Flag{f, flagNames(f.Name, f.Aliases)}
		case *cli.Uint64Flag:
			flags[i] = uint64Flag{f, flagNames(f.Name, f.Aliases)}
		case *cli.Float64Flag:
			flags[i] = float64Flag{f, flagNames(f.Name, f.Aliases)}
		case *cli.Int64SliceFlag:
			flags[i] = int64SliceFlag{f, flagNames(f.Name, f.Aliases)}
		}
	}
	for _, c := range commands {
		cacheFlagNames(c.Flags, c.Subcommands)
	}
}

// cachedBoolFlag is f with cached names when it is urfave/cli's own boolean flag (it is not
// once a first newApp has wrapped it). A pointer: urfave/cli compares these two flags with
// ==, which a struct holding a slice cannot take.
func cachedBoolFlag(f cli.Flag) cli.Flag {
	if b, ok := f.(*cli.BoolFlag); ok {
		return &boolFlag{b, flagNames(b.Name, b.Aliases)}
	}
	return f
}

// flagNames is a flag's name and then its aliases, as urfave/cli's FlagNames gives them for
// names without a comma or a space (its regular expression drops a v1-style "name, alias"
// down to "name"; TestFlagNamesAsUrfave checks none of contain's flags is written that way).
// Working them out without it also spares every process the expression's matching.
func flagNames(name string, aliases []string) []string {
	return append([]string{name}, aliases...)
}

type (
	boolFlag struct {
		*cli.BoolFlag
		names []string
	}
	stringFlag struct {
		*cli.StringFlag
		names []string
	}
	stringSliceFlag struct {
		*cli.StringSliceFlag
		names []string
	}
	intFlag struct {
		*cli.IntFlag
		names []string
	}
	int64Flag struct {
		*cli.Int64Flag
		names []string
	}
	uint64Flag struct {
		*cli.Uint64Flag
		names []string
	}
	float64Flag struct {
		*cli.Float64Flag
		names []string
	}
	int64SliceFlag struct {
		*cli.Int64SliceFlag
		names []string
	}
)

func (f boolFlag) Names() []string        { return f.names }
func (f stringFlag) Names() []string      { return f.names }
func (f stringSliceFlag) Names() []string { return f.names }
func (f intFlag) Names() []string         { return f.names }
func (f int64Flag) Names() []string       { return f.names }
func (f uint64Flag) Names() []string      { return f.names }
func (f float64Flag) Names() []string     { return f.names }
func (f int64SliceFlag) Names() []string  { return f.names }

// setupLogging applies --log, --log-format and --debug.
func setupLogging(c *cli.Context) error {
	level := slog.LevelWarn
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	w := stderr
	if path := c.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		w, logToFile = f, true
	}
	switch format := c.String("log-format"); format {
	case "json":
		var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lowercaseLevel})
		if logToFile {
			held = &heldWarnings{Handler: h}
			h = held
		}
		logger = slog.New(h)
	case "text":
		if logToFile {
			logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lowercaseLevel}))
		} else {
			logger = slog.New(newLineHandler(w, level))
		}
	default:
		return fmt.Errorf("--log-format %q: want text or json", format)
	}
	return nil
}

// held is the --log file's JSON handler while it holds warnings back (see heldWarnings).
var held *heldWarnings

// heldWarnings keeps a command's warnings out of a JSON log file until the command ends.
// podman reads that file with one json.Unmarshal and shows its "msg" as the runtime's error
// (and maps "executable file not found" to exit 127): a warning line before the error line
// makes the file two objects, and podman falls back to what conmon kept of our stderr. So a
// command that fails writes one record, its error, with its warnings in it ("warnings"); one
// that succeeds writes them as lines of their own when it ends. containerd reads the file
// line by line and takes the last error: the same either way.
type heldWarnings struct {
	slog.Handler
	records []slog.Record
}

func (h *heldWarnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.records = append(h.records, r.Clone())
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// logOutcome logs a failing command's error, or writes a successful one's warnings.
func logOutcome(err error) {
	if held == nil {
		if err != nil {
			logger.Error(err.Error())
		}
		return
	}
	h := held
	held = nil
	if err == nil {
		for _, r := range h.records {
			h.Handler.Handle(context.Background(), r)
		}
		return
	}
	var warnings []string
	for _, r := range h.records {
		warnings = append(warnings, r.Message)
	}
	if len(warnings) == 0 {
		logger.Error(err.Error())
		return
	}
	logger.Error(err.Error(), "warnings", warnings)
}

// lowercaseLevel writes the level as runc's logrus does: "error" (containerd looks for that),
// "warning" (slog's name for it is WARN), "info", "debug".
func lowercaseLevel(_ []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey {
		return a
	}
	if level, ok := a.Value.Any().(slog.Level); ok && level == slog.LevelWarn {
		return slog.String(slog.LevelKey, "warning")
	}
	return slog.String(slog.LevelKey, strings.ToLower(a.Value.String()))
}

// lineHandler prints "contain: warning: message key=value" lines for people at a terminal.
type lineHandler struct {
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func newLineHandler(w io.Writer, level slog.Level) *lineHandler {
	return &lineHandler{w: w, level: level}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("contain: ")
	switch {
	case r.Level >= slog.LevelError:
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	default:
		b.WriteString("debug: ")
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lineHandler{w: h.w, level: h.level, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
