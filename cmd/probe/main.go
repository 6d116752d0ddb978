// Probe prints what a process sees from inside a container.
//
// It is a static binary (CGO_ENABLED=0) that the toolkit puts in every root filesystem it
// makes; the checks run it inside containers and read its JSON. "probe report" describes
// the process: ids, namespaces, mounts, network links, capabilities, limits, open fds.
// The other commands are small attacks and stress actions (write to a read-only path, break
// out of a chroot, fork past a pids limit, ...); each prints one JSON object saying whether
// the attempt worked and, if not, why ("error": "op path: message", "errno": "EROFS").
// With --human as the last argument, output is for people instead.
//
// Exit status: 0 when the attempt was made, whatever its result; 2 for bad usage.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/containkit/contain/internal/probe"
)

// command is one probe verb: its argument synopsis, how many arguments it takes, and what
// it does. run returns the exit status, or a usageError for bad arguments.
type command struct {
	args     string
	help     string
	min, max int
	run      func(args []string, human bool) (int, error)
}

var commands = map[string]command{
	"report":        {"", "what this process sees: ids, namespaces, mounts, links, caps, limits", 0, 0, report},
	"exit":          {"N", "exit with status N, printing nothing", 1, 1, exitN},
	"ls":            {"PATH", "list the names in a directory", 1, 1, ls},
	"cat":           {"PATH", "print a file (up to 64 KiB)", 1, 1, cat},
	"write":         {"PATH [TEXT]", `create or truncate PATH and write TEXT (default "probe\n")`, 1, 2, write},
	"chroot-escape": {"PATH", "try the chroot breakout, then check whether PATH exists", 1, 1, chrootEscape},
	"forkn":         {"N", "start N child processes and count how many start", 1, 1, forkn},
	"memhog":        {"MIB", "allocate and touch MIB mebibytes", 1, 1, memhog},
	"spin":          {"SECONDS", "keep a CPU busy SECONDS by the clock; say how much CPU time it got", 1, 1, spin},
	"mknod":         {"MAJ MIN [open]", "try to create the character device MAJ:MIN (and open it)", 2, 3, mknod},
	"fds":           {"", "list the open file descriptors", 0, 0, fds},
	"userns-mount":  {"", "try to mount a tmpfs from a new user namespace", 0, 0, usernsMount},
	"bind":          {"PORT [SECONDS]", "listen on TCP 0.0.0.0:PORT, and hold it SECONDS", 1, 2, bind},
	"sleep":         {"S", "sleep S seconds (fractions allowed)", 1, 1, sleep},
	"trap":          {"SECONDS", "print each signal received; exit 0 after SIGTERM, 1 after SECONDS", 1, 1, trap},
	"stdin-sum":     {"", "print the length and SHA-256 of stdin", 0, 0, stdinSum},
	"exe-write":     {"SECONDS [FIFO]", "try to write to the runtime's binary through /proc/PID/exe (CVE-2019-5736)", 1, 2, exeWrite},
}

// order is the order of commands in the usage text.
var order = []string{"report", "exit", "ls", "cat", "write", "chroot-escape", "forkn", "memhog",
	"spin", "mknod", "fds", "userns-mount", "bind", "sleep", "trap", "stdin-sum", "exe-write"}

// usageError is bad input on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func badUsage(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "--help":
		usage(os.Stdout)
		return 0
	case probe.UsernsMountChildCommand: // the inside of userns-mount, not for people
		return printJSON(probe.UsernsMountInside(), "")
	}
	cmd, ok := commands[name]
	if !ok {
		return fail(badUsage("unknown command %q", name))
	}
	human := len(args) > 0 && args[len(args)-1] == "--human"
	if human {
		args = args[:len(args)-1]
	}
	if len(args) < cmd.min || len(args) > cmd.max {
		return fail(badUsage("usage: probe %s %s", name, cmd.args))
	}
	status, err := cmd.run(args, human)
	if err != nil {
		return fail(err)
	}
	return status
}

// fail reports err on stderr; bad usage also gets the usage text and status 2.
func fail(err error) int {
	fmt.Fprintln(os.Stderr, "probe:", err)
	if errors.As(err, new(usageError)) {
		usage(os.Stderr)
		return 2
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: probe COMMAND [ARGS] [--human]")
	fmt.Fprintln(w)
	for _, name := range order {
		cmd := commands[name]
		fmt.Fprintf(w, "  %-28s %s\n", name+" "+cmd.args, cmd.help)
	}
}

// humaner is a result that can also be said in words.
type humaner interface{ Human() string }

// emit prints one result: JSON on one line, or words with --human.
func emit(v humaner, human bool) int {
	if human {
		fmt.Println(v.Human())
		return 0
	}
	return printJSON(v, "")
}

// printJSON prints v as JSON on stdout, indented when indent is not "".
func printJSON(v any, indent string) int {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "probe: write stdout:", err)
		return 1
	}
	return 0
}

func report(_ []string, human bool) (int, error) {
	// Whatever Collect could not read is listed in the report itself.
	r, _ := probe.Collect()
	if human {
		r.WriteHuman(os.Stdout)
		return 0, nil
	}
	return printJSON(r, "  "), nil
}

func exitN(args []string, _ bool) (int, error) {
	n, err := intArg("N", args[0], 0, 255)
	if err != nil {
		return 0, err
	}
	os.Exit(n)
	return n, nil
}

func ls(args []string, human bool) (int, error) {
	return emit(probe.Ls(args[0]), human), nil
}

func cat(args []string, human bool) (int, error) {
	return emit(probe.Cat(args[0]), human), nil
}

func write(args []string, human bool) (int, error) {
	text := "probe\n"
	if len(args) == 2 {
		text = args[1]
	}
	return emit(probe.Write(args[0], text), human), nil
}

func chrootEscape(args []string, human bool) (int, error) {
	return emit(probe.ChrootEscape(args[0]), human), nil
}

func forkn(args []string, human bool) (int, error) {
	n, err := intArg("N", args[0], 0, 1<<20)
	if err != nil {
		return 0, err
	}
	return emit(probe.ForkN(n), human), nil
}

func memhog(args []string, human bool) (int, error) {
	mib, err := intArg("MIB", args[0], 0, 1<<30)
	if err != nil {
		return 0, err
	}
	progress := func(n int) { fmt.Println(probe.MemhogProgress(n, human)) }
	return emit(probe.Memhog(mib, progress), human), nil
}

func spin(args []string, human bool) (int, error) {
	d, err := secondsArg(args[0])
	if err != nil {
		return 0, err
	}
	return emit(probe.Spin(d), human), nil
}

func mknod(args []string, human bool) (int, error) {
	// dev_t's widths in mknod(2): a larger number would be cut to another device's.
	major, err := intArg("MAJ", args[0], 0, 1<<12-1)
	if err != nil {
		return 0, err
	}
	minor, err := intArg("MIN", args[1], 0, 1<<20-1)
	if err != nil {
		return 0, err
	}
	open := len(args) == 3
	if open && args[2] != "open" {
		return 0, badUsage("mknod: the third argument can only be \"open\", not %q", args[2])
	}
	return emit(probe.Mknod(uint32(major), uint32(minor), open), human), nil
}

func fds(_ []string, human bool) (int, error) {
	return emit(probe.FDs(), human), nil
}

func usernsMount(_ []string, human bool) (int, error) {
	return emit(probe.UsernsMount(), human), nil
}

func bind(args []string, human bool) (int, error) {
	port, err := intArg("PORT", args[0], 0, 65535)
	if err != nil {
		return 0, err
	}
	var hold time.Duration
	if len(args) == 2 {
		if hold, err = secondsArg(args[1]); err != nil {
			return 0, err
		}
	}
	res, release := probe.Bind(port)
	defer release()
	status := emit(res, human)
	if res.OK {
		time.Sleep(hold)
	}
	return status, nil
}

func sleep(args []string, _ bool) (int, error) {
	d, err := secondsArg(args[0])
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	return 0, nil
}

func trap(args []string, _ bool) (int, error) {
	d, err := secondsArg(args[0])
	if err != nil {
		return 0, err
	}
	return probe.Trap(d, os.Stdout), nil
}

func stdinSum(_ []string, human bool) (int, error) {
	res := probe.StdinSum(os.Stdin)
	status := 0
	if res.Error != "" {
		status = 1
	}
	if human {
		fmt.Printf("%d bytes, sha256 %s\n", res.Bytes, res.SHA256)
		if res.Error != "" {
			fmt.Printf("error: %s\n", res.Error) // as the JSON says it
		}
		return status, nil
	}
	return max(status, printJSON(res, "")), nil
}

func exeWrite(args []string, human bool) (int, error) {
	d, err := secondsArg(args[0])
	if err != nil {
		return 0, err
	}
	release := ""
	if len(args) == 2 {
		release = args[1]
	}
	return emit(probe.ExeWrite(d, release), human), nil
}

// intArg parses a decimal argument in [lo, hi].
func intArg(name, s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badUsage("%s must be a whole number from %d to %d, not %q", name, lo, hi, s)
	}
	return n, nil
}

// secondsArg parses a non-negative number of seconds such as "2" or "0.5".
func secondsArg(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > math.MaxInt64/float64(time.Second) {
		return 0, badUsage("seconds must be a number >= 0, not %q", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}
