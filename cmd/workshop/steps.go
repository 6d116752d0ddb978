package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/workshop"
)

// repoStep finds the repository and the step named by the command's first argument.
func repoStep(c *cli.Context) (string, workshop.Step, error) {
	root, err := workshop.RepoRoot(".")
	if err != nil {
		return "", workshop.Step{}, err
	}
	if c.NArg() < 1 {
		return "", workshop.Step{}, fmt.Errorf("which step? e.g. `workshop %s 03`", c.Command.Name)
	}
	step, err := workshop.Find(c.Args().First())
	return root, step, err
}

// stepSource is the directory of the code to build: the learner's (default work/NN-topic, or
// --dir) or, with --reference, the step's own.
func stepSource(c *cli.Context, root string, step workshop.Step) (string, error) {
	if c.Bool("reference") {
		return step.Dir(root), nil
	}
	dir := step.WorkDir(root)
	if d := c.String("dir"); d != "" {
		var err error
		if dir, err = filepath.Abs(d); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		return "", fmt.Errorf("no exercise in %s: make it with `workshop start %02d` (or use --reference)", dir, step.Num)
	}
	return dir, nil
}

// buildSource builds the code `check` and `run` work on (see stepSource) into a new
// temporary directory, which the caller removes.
func buildSource(c *cli.Context, root string, step workshop.Step) (program, tmp string, err error) {
	src, err := stepSource(c, root, step)
	if err != nil {
		return "", "", err
	}
	if tmp, err = os.MkdirTemp("", "workshop-"+c.Command.Name+"-"); err != nil {
		return "", "", err
	}
	program = filepath.Join(tmp, step.Slug)
	if err := buildStep(root, src, program); err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	return program, tmp, nil
}

// goTool finds the go command, also under sudo, whose PATH usually lacks it.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// insideRepo returns dir relative to the repository at root, and refuses one outside it: an
// exercise builds with the repository's go.mod, as a package of it.
func insideRepo(root, dir string) (string, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) > 2 && rel[:3] == "../" {
		return "", fmt.Errorf("%s is outside the repository: exercises build inside it (its go.mod)", dir)
	}
	return rel, nil
}

// buildStep compiles the step program in dir into out.
func buildStep(root, dir, out string) error {
	rel, err := insideRepo(root, dir)
	if err != nil {
		return err
	}
	// -buildvcs=false: Go's stamping runs git, which refuses root in a clone a user owns
	// ("dubious ownership": `sudo workshop run` on a machine set up without Vagrant).
	cmd := exec.Command(goTool(), "build", "-buildvcs=false", "-o", out, "./"+rel)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./%s:\n%s", rel, b)
	}
	return nil
}

// needRoot says plainly that a command needs root, before anything fails obscurely.
func needRoot(what string) error {
	if os.Geteuid() != 0 {
		return errors.New(what + " needs root (namespaces, mounts): run it with sudo")
	}
	return nil
}

// utsSandboxEnv marks the copy of `workshop check` that runs in its own uts namespace.
const utsSandboxEnv = "WORKSHOP_CHECK_UTS_SANDBOX"

// checkInUTSSandbox runs this same `workshop check` again in a new uts namespace, once, and
// returns its exit status with done=true; in that copy it returns done=false, to go on. Every
// run of the learner's program by the checks then starts in a throwaway copy of the host's
// uts namespace: a step that calls sethostname(2) without CLONE_NEWUTS (step 02's flags
// replaced rather than added to, say) renames that copy, never the machine, and the check of
// its namespaces says the uts one is not new. Step 01's checks go one namespace further, to
// see the name the step left behind (workshop/checks/step01.go).
func checkInUTSSandbox() (code int, done bool, err error) {
	if os.Getenv(utsSandboxEnv) == "1" {
		return 0, false, nil
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), utsSandboxEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
	err = cmd.Run()
	if cmd.ProcessState == nil {
		return 0, true, fmt.Errorf("clone(CLONE_NEWUTS) for the checks' uts namespace: %w", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), true, nil // Ctrl-C, say: the shell's way
	}
	return cmd.ProcessState.ExitCode(), true, nil
}

// status is what the last check of each step said; `workshop list` shows it.
type status map[string]stepStatus

type stepStatus struct {
	Passed bool `json:"passed"`
	// Partly: passed with a caveat, as far as this host could check (step 10's limits on a
	// cgroup v1 host, say).
	Partly bool      `json:"partly,omitempty"`
	When   time.Time `json:"when"`
}

func statusPath(root string) string { return filepath.Join(root, "work", ".status.json") }

func loadStatus(root string) status {
	s := status{}
	if data, err := os.ReadFile(statusPath(root)); err == nil {
		json.Unmarshal(data, &s)
	}
	return s
}

// listLine is a step's line in `workshop list`: ✓ or ✗ as its last check said, nothing if
// never checked.
func listLine(s workshop.Step, st status) string {
	mark, note := " ", ""
	if r, ok := st[s.Slug]; ok && r.Passed {
		mark = "✓"
		if r.Partly {
			note = fmt.Sprintf("  (as far as this host can check: see sudo workshop check %02d)", s.Num)
		}
	} else if ok {
		mark = "✗"
	}
	return fmt.Sprintf("%s %s  %s%s", mark, s.Slug, s.Title, note)
}

func saveStatus(root string, slug string, passed, partly bool) {
	s := loadStatus(root)
	s[slug] = stepStatus{Passed: passed, Partly: passed && partly, When: time.Now()}
	if data, err := json.MarshalIndent(s, "", "  "); err == nil {
		os.MkdirAll(filepath.Dir(statusPath(root)), 0o755)
		os.WriteFile(statusPath(root), data, 0o644)
	}
}

// isTerminal reports whether f is a terminal (TCGETS succeeds, see ioctl_tty(2)).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
