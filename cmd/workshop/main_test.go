package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containkit/contain/internal/testenv"
	"github.com/containkit/contain/workshop"
)

func TestFlagsFirst(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"workshop", "check", "03", "--reference"}, []string{"workshop", "check", "--reference", "03"}},
		{[]string{"workshop", "start", "03", "--dir", "x"}, []string{"workshop", "start", "--dir", "x", "03"}},
		{[]string{"workshop", "run", "05", "--reference", "--", "sh", "-c", "echo --x"},
			[]string{"workshop", "run", "--reference", "05", "--", "sh", "-c", "echo --x"}},
		{[]string{"workshop", "list"}, []string{"workshop", "list"}},
	}
	for _, c := range cases {
		if got := flagsFirst(c.in); !slices.Equal(got, c.want) {
			t.Errorf("flagsFirst(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// start and check take --dir only inside the repository: an exercise builds with its go.mod.
func TestInsideRepo(t *testing.T) {
	for dir, want := range map[string]string{"/repo/work/00": "work/00", "/repo": ".", "/tmp/x": "", "/repo/../x": "", "/repox/y": ""} {
		rel, err := insideRepo("/repo", dir)
		if rel != want || (err == nil) != (want != "") {
			t.Errorf("insideRepo(/repo, %s) = %q, %v; want %q", dir, rel, err, want)
		}
	}
}

// A step builds where git refuses to say anything of the repository: as root (sudo workshop
// run) in a clone a user owns, git stops at "dubious ownership", and Go's version stamping,
// which runs it, failed every build.
func TestBuildStepWhenGitRefuses(t *testing.T) {
	root, err := workshop.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		testenv.Skip(t, "not a git checkout: Go would not run git here")
	}
	fake := t.TempDir()
	git := "#!/bin/sh\necho 'fatal: detected dubious ownership in repository' >&2\nexit 128\n"
	if err := os.WriteFile(filepath.Join(fake, "git"), []byte(git), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("GOFLAGS", "-buildvcs=auto") // Go's default, whatever this machine's go env says
	if err := buildStep(root, filepath.Join(root, "steps/00-process"), filepath.Join(t.TempDir(), "step")); err != nil {
		t.Fatalf("buildStep with a git that refuses: %v", err)
	}
}

// `workshop list` shows what the last check of each step said, and marks a pass that came
// with a caveat (step 10 on a cgroup v1 host checks less): a plain ✓ there overstated it.
func TestListShowsTheLastCheck(t *testing.T) {
	root := t.TempDir()
	steps := workshop.Steps[:4]
	saveStatus(root, steps[0].Slug, true, false)
	saveStatus(root, steps[1].Slug, true, true)
	saveStatus(root, steps[2].Slug, false, true)
	st := loadStatus(root)
	want := []string{
		"✓ " + steps[0].Slug + "  " + steps[0].Title,
		"✓ " + steps[1].Slug + "  " + steps[1].Title + "  (as far as this host can check: see sudo workshop check 01)",
		"✗ " + steps[2].Slug + "  " + steps[2].Title,
		"  " + steps[3].Slug + "  " + steps[3].Title,
	}
	for i, s := range steps {
		if got := listLine(s, st); got != want[i] {
			t.Errorf("list line of %s: %q, want %q", s.Slug, got, want[i])
		}
	}
}
