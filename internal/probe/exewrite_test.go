package probe

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// exe-write never attacks from the host's pid namespace, where every process is in reach.
func TestExeWriteRefusesTheHost(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil || st.Ino != initialPidNamespace {
		testenv.Skip(t, "not in the host's pid namespace")
	}
	if r := ExeWrite(time.Second, ""); r.OK || r.Scans != 0 || r.Error == "" {
		t.Errorf("exe-write ran on the host: %+v", r)
	}
}
