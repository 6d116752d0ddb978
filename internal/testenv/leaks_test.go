package testenv

import "testing"

// The leak check leaves out only the runtime's own parent cgroup, and lists a container
// named "contain" and any other cgroup of that name.
func TestIsDefaultParent(t *testing.T) {
	const root = "/sys/fs/cgroup"
	for _, tc := range []struct {
		path    string
		unified bool
		want    bool
	}{
		{"/sys/fs/cgroup/contain", true, true},
		{"/sys/fs/cgroup/contain/contain", true, false}, // a container called contain
		{"/sys/fs/cgroup/system.slice/contain", true, false},
		{"/sys/fs/cgroup/contain/c1", true, false},
		{"/sys/fs/cgroup/memory/contain", false, true},
		{"/sys/fs/cgroup/unified/contain", false, true},
		{"/sys/fs/cgroup/memory/contain/contain", false, false},
		{"/sys/fs/cgroup/memory/contain/c1", false, false},
	} {
		if got := isDefaultParent(root, tc.path, tc.unified); got != tc.want {
			t.Errorf("isDefaultParent(%s, unified %v) = %v, want %v", tc.path, tc.unified, got, tc.want)
		}
	}
}
