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
