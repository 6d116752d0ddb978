// Package checks decides whether a step's program does what its lesson says, by running it
// and looking from inside with probe: never by reading its code. One suite per step, used by
// the step's own test (on the reference), by `workshop check` (on a learner's exercise), and
// by the repository's test that proves every suite fails on the unsolved exercise.
package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/rootfs"
)

// Check is one property a step's program must show.
type Check struct {
	Name string           // what is checked, as a learner reads it: "the command is pid 1"
	Hint string           // where to look when it fails
	Run  func(*Env) error // nil when the program passes
}

// suites holds every step's checks, registered by the stepNN.go files.
var suites = map[int][]Check{}

func register(step int, checks ...Check) { suites[step] = append(suites[step], checks...) }

// Suite returns the checks of a step, in order.
func Suite(step int) []Check { return suites[step] }

// caveats say, per step, what its suite cannot check on this host (nothing: "").
var caveats = map[int]func() string{}

// Caveat is what step's suite could not check on this host, for `workshop check` to print
// after the results, or "": a pass then means every TODO of the step ran and was checked.
func Caveat(step int) string {
	if c := caveats[step]; c != nil {
		return c()
	}
	return ""
}

// Steps lists the steps that have a suite.
func Steps() []int {
	var n []int
	for s := range suites {
		n = append(n, s)
	}
	sort.Ints(n)
	return n
}

// Result is one check's outcome.
type Result struct {
	Check Check
	Err   error // nil: passed
}

// RunSuite runs every check of step against env, in order.
func RunSuite(step int, env *Env) []Result {
	var results []Result
	for _, c := range Suite(step) {
		results = append(results, Result{Check: c, Err: c.Run(env)})
	}
	return results
}

// Env is what a check runs against: the step's program, built, and the fixtures.
type Env struct {
	Program string        // the step program
	Rootfs  string        // a root filesystem with /bin/probe, for steps that change root
	Probe   string        // probe on the host, for steps that still use the host's files
	Dir     string        // scratch space for the checks, removed with the Env
	Timeout time.Duration // for each run of the program

	rootNames []string // the rootfs's top-level names when it was built (rootfsNames)
}

// NewEnv prepares an Env for program under dir, with the static probe at probePath and a
// fresh busybox rootfs (host programs when there is no static busybox).
func NewEnv(program, probePath, dir string) (*Env, error) {
	rfs := filepath.Join(dir, "rootfs")
	from := "busybox"
	if err := rootfs.Build(rfs, rootfs.Options{From: from, Probe: probePath}); err != nil {
		os.RemoveAll(rfs)
		if err := rootfs.Build(rfs, rootfs.Options{From: "host", Probe: probePath}); err != nil {
			return nil, err
		}
	}
	e := &Env{Program: program, Rootfs: rfs, Probe: probePath, Dir: dir, Timeout: 20 * time.Second}
	var err error
	if e.rootNames, err = listNames(rfs); err != nil {
		return nil, err
	}
	return e, nil
}

// Output is what one run of the program did.
type Output struct {
	Stdout, Stderr string
	Code           int // exit status; 128+N when signal N killed it
	Pid            int // the program's pid (the parent's, in the steps' terms)
}

// Command is the program with its -rootfs flag and args, ready to run.
func (e *Env) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Program, append([]string{"-rootfs", e.Rootfs}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Run runs the program with args, stdin as given, and returns what it did. Running out of
// time is an error: a step that hangs fails its check instead of the whole suite.
func (e *Env) Run(stdin string, args ...string) (Output, error) {
	return e.RunCmd(stdin, e.Command, args...)
}

// RunCmd is Run with a way to make the command (to wrap it, say in unshare(1)).
func (e *Env) RunCmd(stdin string, mk func(context.Context, ...string) *exec.Cmd, args ...string) (Output, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	cmd := mk(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	o := Output{Stdout: out.String(), Stderr: errOut.String()}
	if cmd.Process != nil {
		o.Pid = cmd.Process.Pid
	}
	if ctx.Err() != nil {
		return o, fmt.Errorf("still running after %v: killed (is the child waiting for something?)", e.Timeout)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		ws := exit.Sys().(syscall.WaitStatus)
		o.Code = ws.ExitStatus()
		if ws.Signaled() {
			o.Code = 128 + int(ws.Signal())
		}
	case err != nil:
		return o, err
	}
	return o, nil
}

// ProbeIn is the probe's path as the step's command sees it: /bin/probe once the step has
// changed root (step 04 on), the host's probe before.
func (e *Env) ProbeIn(step int) string {
	if step >= 4 {
		return "/bin/probe"
	}
	return e.Probe
}

// Report runs `probe report` through the step's program and decodes it.
func (e *Env) Report(step int) (*probe.Report, error) {
	out, err := e.Run("", e.ProbeIn(step), "report")
	if err != nil {
		return nil, err
	}
	if out.Code != 0 {
		return nil, &ProgramFailed{"probe report", out.Code, out.Stderr}
	}
	return decodeReport(out)
}

// ProgramFailed is a run that the program ended with an error of its own before probe could
// look (`child: mount ...: no such file or directory`, say): the fault is where that error
// says, which need not be what the check's hint is about.
type ProgramFailed struct {
	Command string // what the program was to run
	Code    int    // its exit status
	Stderr  string
}

func (p *ProgramFailed) Error() string {
	return fmt.Sprintf("%s exited %d: %s", p.Command, p.Code, firstLine(p.Stderr))
}

// decodeReport reads the report a run of `probe report` printed.
func decodeReport(out Output) (*probe.Report, error) {
	var r probe.Report
	if err := json.Unmarshal([]byte(out.Stdout), &r); err != nil {
		return nil, fmt.Errorf("probe report printed no report (exit %d): %s", out.Code, firstLine(out.Stdout+out.Stderr))
	}
	return &r, nil
}

// Action runs `probe ACTION ARGS...` through the step's program and decodes its JSON into v.
func (e *Env) Action(step int, v any, action ...string) error {
	out, err := e.Run("", append([]string{e.ProbeIn(step)}, action...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out.Stdout), v); err != nil {
		return fmt.Errorf("probe %s printed no result (exit %d): %s", action[0], out.Code, firstLine(out.Stdout+out.Stderr))
	}
	return nil
}

// Host is the probe's report about the checking process itself: the host's view.
func Host() (*probe.Report, error) { return probe.Collect() }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(nothing)"
	}
	return s
}

// namespaces checks that r has a new namespace (inode unlike the host's) of each kind in fresh,
// and the host's of each other kind among pid, mnt, uts, ipc and net.
func namespaces(host, r *probe.Report, fresh ...string) error {
	for _, ns := range []string{"pid", "mnt", "uts", "ipc", "net"} {
		isNew := r.Namespaces[ns] != host.Namespaces[ns]
		want := false
		for _, f := range fresh {
			want = want || f == ns
		}
		switch {
		case want && !isNew:
			return fmt.Errorf("the %s namespace is not new: it is the one the step was started in (inode %d): want a new one", ns, r.Namespaces[ns])
		case !want && isNew:
			return fmt.Errorf("the %s namespace is new, but this step does not add it yet", ns)
		}
	}
	return nil
}

// hostnameCheck is the check, shared by several steps, that the container sees its own
// hostname, "container".
func hostnameCheck(step int, name, hint string) Check {
	return Check{Name: name, Hint: hint, Run: func(e *Env) error {
		r, err := e.Report(step)
		if err != nil {
			return err
		}
		if r.Hostname != "container" {
			return fmt.Errorf("hostname inside is %q, want \"container\"", r.Hostname)
		}
		return nil
	}}
}
