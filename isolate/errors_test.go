package isolate

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The hints name what people hit: each errno here has one, in the error's own text.
func TestHintsForWhatPeopleHit(t *testing.T) {
	for _, c := range []struct {
		op    string
		errno unix.Errno
		want  string
	}{
		{"pivot_root", unix.EINVAL, "not a mount point"},
		{"pivot_root", unix.EINVAL, "rprivate"},
		{"mount", unix.EACCES, "security module"},
		{"exec", unix.ENOEXEC, "another architecture"},
		{"start", unix.EPERM, "CAP_SYS_ADMIN"},
		{"start", unix.ENOSPC, "max_*_namespaces"},
		{"start", unix.EINVAL, "lacks one of the namespaces"},
		{"mkdirat", unix.EROFS, "read-only"},
		{"create", unix.EROFS, "read-only"},
		{"openat2", unix.EXDEV, "a mount covers part of the path"},
	} {
		msg := (&pathError{c.op, "/x", c.errno}).Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s %v: %q, want a hint with %q", c.op, c.errno, msg, c.want)
		}
	}
}

// capset(2) says only EPERM; the hint names the capabilities and the rule they break.
func TestCapsetHint(t *testing.T) {
	netAdmin, kill := capSet(1)<<unix.CAP_NET_ADMIN, capSet(1)<<unix.CAP_KILL
	for _, c := range []struct {
		s    capSets
		want string
	}{
		{capSets{bounding: kill | netAdmin, permitted: kill, effective: kill | netAdmin}, "effective [CAP_NET_ADMIN] not in permitted"},
		{capSets{bounding: kill, permitted: kill, effective: kill, inheritable: netAdmin}, "inheritable [CAP_NET_ADMIN] not in bounding"},
		{capSets{bounding: kill, permitted: kill, effective: kill}, ""},
	} {
		if got := capsetHint(c.s); !strings.Contains(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("capsetHint(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}
