package workshop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
	"github.com/containkit/contain/workshop"
	"github.com/containkit/contain/workshop/checks"
)

func TestMakeExercise(t *testing.T) {
	src := `package main

func f() int {
	x := 1
	// SOLUTION BEGIN: double x.
	// HINT: multiply.
	// EXERCISE: _ = x
	x *= 2
	// SOLUTION END
	return x
}
`
	got, err := workshop.MakeExercise(src)
	if err != nil {
		t.Fatal(err)
	}
	want := `package main

func f() int {
	x := 1
	// TODO: double x.
	// HINT: multiply.
	_ = x
	return x
}
`
	if got != want {
		t.Errorf("exercise:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []string{
		"// SOLUTION BEGIN: a\n// SOLUTION BEGIN: b\n",
		"// SOLUTION END\n",
		"// SOLUTION BEGIN: a\n",
	} {
		if _, err := workshop.MakeExercise(bad); err == nil {
			t.Errorf("MakeExercise accepted %q", bad)
		}
	}
}

func TestFind(t *testing.T) {
	for _, arg := range []string{"3", "03", "03-mount-ns"} {
		if s, err := workshop.Find(arg); err != nil || s.Num != 3 {
			t.Errorf("Find(%q) = %+v, %v", arg, s, err)
		}
	}
	for _, arg := range []string{"", "x", "42", "03-chroot"} {
		if _, err := workshop.Find(arg); err == nil {
			t.Errorf("Find(%q) succeeded", arg)
		}
	}
}

// failsUnsolved names, per step, checks that an unsolved exercise must fail on their own, not
// only as part of its suite: a check of clean-up passed when nothing had been set up.
var failsUnsolved = map[int][]string{
	6: {"the overlay is unmounted and its directory removed afterwards, also when the command fails"},
}

// For every step: the exercise compiles where `workshop start` writes it, its check fails,
// and the reference builds and runs the documented way. (The reference passing its checks is
// each step's own test.) A check that cannot fail is a bug.
func TestExercisesFailTheirChecks(t *testing.T) {
	testenv.RequireRoot(t)
	root, err := workshop.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	probePath := filepath.Join(tmp, "probe")
	build(t, root, probePath, "./cmd/probe")
	work := workDir(t, root, ".exercise-test-")
	for _, step := range workshop.Steps {
		if _, err := os.Stat(step.Dir(root)); err != nil {
			continue // not written yet
		}
		t.Run(step.Slug, func(t *testing.T) {
			testenv.CheckLeaks(t)
			src, err := os.ReadFile(filepath.Join(step.Dir(root), "main.go"))
			if err != nil {
				t.Fatal(err)
			}
			if workshop.CountRegions(string(src)) == 0 {
				t.Fatal("the step has no solution region, so no exercise")
			}
			dir := filepath.Join(work, step.Slug)
			if err := workshop.WriteExercise(root, step, dir); err != nil {
				t.Fatal(err)
			}
			exercise := filepath.Join(tmp, step.Slug+"-exercise")
			build(t, root, exercise, "./"+mustRel(t, root, dir))
			env, err := checks.NewEnv(exercise, probePath, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, r := range checks.RunSuite(step.Num, env) {
				if r.Err != nil {
					failed = append(failed, r.Check.Name)
				}
			}
			if len(failed) == 0 {
				t.Errorf("every check passes on the unsolved exercise: the checks cannot tell done from not done")
			}
			for _, name := range failsUnsolved[step.Num] {
				if !slices.Contains(failed, name) {
					t.Errorf("%q passes on the unsolved exercise, where there is nothing for it to judge", name)
				}
			}
			t.Logf("unsolved exercise fails %d check(s): %s", len(failed), strings.Join(failed, "; "))

			reference := filepath.Join(tmp, step.Slug)
			build(t, root, reference, "./steps/"+step.Slug)
			cmd := exec.Command(reference, "-rootfs", env.Rootfs, "/bin/sh", "-c", "exit 7")
			// In a network namespace of the test's own: step 09 puts a veth end and an address
			// in the namespace it runs in, and that must never be the machine's.
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
			if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 7 {
				t.Errorf("%s -rootfs DIR /bin/sh -c 'exit 7': %v, want exit status 7", step.Slug, err)
			}
		})
	}
}

// workDir makes a directory in the repository's work/ (exercises build there, as packages of
// the repository's module), removed when the test ends.
func workDir(t *testing.T, root, pattern string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "work"), pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func build(t *testing.T, root, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", out, pkg)
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func mustRel(t *testing.T, root, dir string) string {
	t.Helper()
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// The most likely wrong solution of step 01, sethostname(2) without CLONE_NEWUTS, renames the
// namespace it runs in. Its check must fail on it, and must run it where that is a throwaway
// namespace: it renamed the learner's machine, then blamed "an earlier run". The test runs the
// check on a thread with a uts namespace of its own (a safety net: the checks and the programs
// they start run there), whose name must not change.
func TestStep01CheckOfAWrongSolutionRenamesNothing(t *testing.T) {
	testenv.RequireRoot(t)
	const flag = "var cloneflags uintptr = unix.CLONE_NEWUTS"
	program, probePath := wrongSolution(t, "01-uts", func(src string) (string, bool) {
		return strings.Replace(src, flag, "var cloneflags uintptr = 0", 1), strings.Contains(src, flag)
	})
	runtime.LockOSThread() // never unlocked: the thread ends with the test's goroutine
	if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
		t.Fatalf("unshare CLONE_NEWUTS: %v", err)
	}
	const name = "wrong-test-host"
	if err := unix.Sethostname([]byte(name)); err != nil {
		t.Fatal(err)
	}
	env, err := checks.NewEnv(program, probePath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, r := range checks.RunSuite(1, env) {
		if r.Err != nil {
			failed[r.Check.Name] = r.Err.Error()
		}
	}
	if msg, ok := failed["the hostname outside the container is unchanged"]; !ok || !strings.Contains(msg, `to "container"`) {
		t.Errorf("the check of the name outside: %q, want a failure that names the renaming", msg)
	}
	if _, ok := failed["the uts namespace is new, and only that one"]; !ok {
		t.Error("the namespace check passed without CLONE_NEWUTS")
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	if got := unix.ByteSliceToString(uts.Nodename[:]); got != name {
		t.Errorf("the hostname where the check ran changed from %q to %q", name, got)
	}
}

// Step 09's parent must plug the cable in before it lets the child go: the child looks for
// its end of the veth pair at once. A parent that calls Continue first loses that race only
// now and then when run alone; the check delays the parent after the go-ahead, so that it
// fails every time.
func TestStep09CheckOfAChildLetGoEarlyFails(t *testing.T) {
	testenv.RequireRoot(t)
	const goAhead = "\tif err := child.Continue(); err != nil {\n\t\treturn fail(fmt.Errorf(\"let the child go: %w\", err))\n\t}\n"
	const solution = "\t// SOLUTION BEGIN: plug the cable in"
	program, probePath := wrongSolution(t, "09-veth", func(src string) (string, bool) {
		early := strings.Replace(strings.Replace(src, goAhead, "", 1), solution, goAhead+solution, 1)
		return early, strings.Count(src, goAhead) == 1 && strings.Contains(src, solution)
	})
	env, err := checks.NewEnv(program, probePath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const cable = "the container and the host end of the cable reach each other"
	for _, r := range checks.RunSuite(9, env) {
		if r.Check.Name != cable {
			continue
		}
		if r.Err == nil {
			t.Fatalf("%q passed with the child let go before the cable was plugged in", cable)
		}
		if !strings.Contains(r.Err.Error(), "Link not found") {
			t.Errorf("%q: %v; want the child's failure to find its end", cable, r.Err)
		}
		return
	}
	t.Fatalf("step 09 has no check %q", cable)
}

// wrongSolution builds, with the probe, a step's reference as edit changes it (see
// testenv.StepVariant): a learner's likely mistake.
func wrongSolution(t *testing.T, slug string, edit func(src string) (string, bool)) (program, probePath string) {
	t.Helper()
	root, err := workshop.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	work := testenv.StepVariant(t, root, slug, edit)
	tmp := t.TempDir()
	probePath, program = filepath.Join(tmp, "probe"), filepath.Join(tmp, "wrong")
	build(t, root, probePath, "./cmd/probe")
	build(t, root, program, "./"+mustRel(t, root, work))
	return program, probePath
}
