package main

import (
	"slices"
	"testing"
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
