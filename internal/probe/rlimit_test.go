package probe

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

func TestRlimitNames(t *testing.T) {
	if len(rlimitNames) != 16 {
		t.Fatalf("%d rlimit names, want 16", len(rlimitNames))
	}
	for name, resource := range map[string]int{
		"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
		"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
		"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE,
		"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
		"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
		"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	} {
		if rlimitNames[resource] != name {
			t.Errorf("rlimitNames[%d] = %s, want %s", resource, rlimitNames[resource], name)
		}
	}
}

func TestReadRlimits(t *testing.T) {
	limits, errs := readRlimits()
	for _, err := range errs {
		t.Log(err) // the inherited RLIMIT_NOFILE may be unknowable, under a debugger for instance
	}
	if len(limits) != 16 {
		t.Fatalf("%d limits, want 16: %v", len(limits), limits)
	}
	var stack unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &stack); err != nil {
		t.Fatal(err)
	}
	if got := limits["RLIMIT_STACK"]; got.Soft != stack.Cur || got.Hard != stack.Max {
		t.Errorf("RLIMIT_STACK = %+v, want %+v", got, stack)
	}
	for name, lim := range limits {
		if lim.Soft > lim.Hard {
			t.Errorf("%s: soft %d above hard %d", name, lim.Soft, lim.Hard)
		}
	}
	if limitText(math.MaxUint64) != "unlimited" {
		t.Error("RLIM_INFINITY is not shown as unlimited")
	}
}

// TestInheritedNofile checks the recovery of the RLIMIT_NOFILE the Go runtime raised: the
// test binary, started by go test, had it raised too.
func TestInheritedNofile(t *testing.T) {
	var now unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	orig, err := inheritedNofile()
	if err != nil {
		testenv.Skip(t, "cannot start a traced child here: "+err.Error())
	}
	if orig.Max != now.Max || orig.Cur > now.Cur {
		t.Errorf("inherited RLIMIT_NOFILE %+v, current %+v: want the same hard limit and a soft limit no higher", orig, now)
	}
}
