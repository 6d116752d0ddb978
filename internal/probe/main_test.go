package probe

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the probe binary when an action re-executes
// /proc/self/exe (ForkN, UsernsMount, inheritedNofile), or when a test runs an action that
// would change the whole process (ChrootEscape) in a child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sleep":
			time.Sleep(60 * time.Second)
			os.Exit(0)
		case "exit":
			os.Exit(0)
		case UsernsMountChildCommand:
			_ = json.NewEncoder(os.Stdout).Encode(UsernsMountInside())
			os.Exit(0)
		case "chroot-escape":
			_ = json.NewEncoder(os.Stdout).Encode(ChrootEscape(os.Args[2]))
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}
