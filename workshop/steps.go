// Package workshop is the teaching half of contain: the catalog of steps, the exercises made
// from them, and the tools around them (doctor, reset). The checks that decide whether a step
// works are in package checks; the command line is cmd/workshop.
package workshop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Step is one lesson: a runnable program in steps/<Slug>.
type Step struct {
	Num   int
	Slug  string // "03-mount-ns": the directory name under steps/ and work/
	Title string
}

// Steps is the curriculum, in order: one isolation property per step.
var Steps = []Step{
	{0, "00-process", "a supervised child process"},
	{1, "01-uts", "a hostname of its own"},
	{2, "02-pid", "process ids of its own"},
	{3, "03-mount-ns", "mounts of its own"},
	{4, "04-chroot", "a root filesystem, the chroot way"},
	{5, "05-pivot-root", "a root filesystem, the pivot_root way"},
	{6, "06-overlay", "a copy-on-write image"},
	{7, "07-ipc", "SysV IPC and message queues of its own"},
	{8, "08-net-ns", "a network of its own"},
	{9, "09-veth", "a cable to the host"},
	{10, "10-cgroups", "limits on processes, memory and CPU"},
}

// Find returns the step named by arg: "3", "03" or "03-mount-ns".
func Find(arg string) (Step, error) {
	numText, _, _ := strings.Cut(arg, "-")
	n, err := strconv.Atoi(numText)
	if err == nil {
		for _, s := range Steps {
			if s.Num == n && (arg == numText || arg == s.Slug) {
				return s, nil
			}
		}
	}
	return Step{}, fmt.Errorf("no step %q: try `workshop list`", arg)
}

// Dir is the reference program's directory in the repository at root.
func (s Step) Dir(root string) string { return filepath.Join(root, "steps", s.Slug) }

// WorkDir is where `workshop start` writes the exercise by default.
func (s Step) WorkDir(root string) string { return filepath.Join(root, "work", s.Slug) }

// Previous is the step before s, for `workshop diff`.
func (s Step) Previous() (Step, bool) {
	if s.Num == 0 {
		return Step{}, false
	}
	return Steps[s.Num-1], true
}

// ModulePath is the module the steps belong to; RepoRoot looks for its go.mod.
const ModulePath = "github.com/containkit/contain"

// RepoRoot finds the repository: the nearest directory at or above dir whose go.mod declares
// ModulePath.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module "+ModulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the contain repository (no go.mod of " + ModulePath + " above here)")
		}
		dir = parent
	}
}
