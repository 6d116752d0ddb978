package probe

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestCollect(t *testing.T) {
	r, err := Collect()
	if err != nil {
		t.Logf("partial report: %v", err)
	}
	if r.PID != os.Getpid() || r.PPID != os.Getppid() || r.PID <= 0 {
		t.Errorf("pid %d ppid %d, want %d %d", r.PID, r.PPID, os.Getpid(), os.Getppid())
	}
	if len(r.UID) != 4 || r.UID[1] != os.Geteuid() || len(r.GID) != 4 || r.GID[1] != os.Getegid() {
		t.Errorf("uid %v gid %v, want 4 ids each with euid %d egid %d", r.UID, r.GID, os.Geteuid(), os.Getegid())
	}
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"} {
		if r.Namespaces[ns] == 0 {
			t.Errorf("namespaces[%q] missing: %v", ns, r.Namespaces)
		}
	}
	if !slices.Contains(r.Pids, r.PID) {
		t.Errorf("pids %v lack our own pid %d", r.Pids, r.PID)
	}
	if !slices.ContainsFunc(r.Mounts, func(m Mount) bool { return m.MountPoint == "/proc" && m.FSType == "proc" }) {
		t.Errorf("mounts lack /proc: %+v", r.Mounts)
	}
	if !slices.Contains(r.Root, "proc") {
		t.Errorf("root %v lacks proc", r.Root)
	}
	if len(r.Caps) != 5 || len(r.CapsHex) != 5 {
		t.Errorf("caps %v caps_hex %v, want 5 sets each", r.Caps, r.CapsHex)
	}
	if len(r.Rlimits) != 16 {
		t.Errorf("%d rlimits, want 16", len(r.Rlimits))
	}
	if wd, _ := os.Getwd(); r.Cwd != wd {
		t.Errorf("cwd %q, want %q", r.Cwd, wd)
	}
	if len(r.Umask) != 4 || len(r.Cgroup) == 0 || r.Hostname == "" {
		t.Errorf("umask %q cgroup %v hostname %q", r.Umask, r.Cgroup, r.Hostname)
	}
	if r.CgroupLimits == nil {
		t.Error("cgroup_limits is nil, want a map (empty when no cgroup filesystem shows our cgroup)")
	}
	for _, fd := range r.FDs {
		if strings.HasPrefix(fd.Target, "anon_inode:") {
			t.Errorf("fds list the runtime's own %v", fd)
		}
	}
}

// TestReportJSONNames pins the JSON names, which the checks of the whole toolkit read.
func TestReportJSONNames(t *testing.T) {
	r, _ := Collect()
	r.Errors = []string{"x"}
	r.Mounts = append(r.Mounts, Mount{})
	r.Links = append(r.Links, Link{})
	r.FDs = append(r.FDs, FD{})
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	want := []string{"pid", "ppid", "uid", "gid", "groups", "uid_map", "gid_map", "hostname", "domainname",
		"namespaces", "pids", "mounts", "root", "cgroup", "cgroup_limits", "links", "ipc", "caps", "caps_hex", "no_new_privs",
		"seccomp", "rlimits", "fds", "cwd", "umask", "oom_score_adj", "timer_slack_ns", "cpus", "session_keyring", "env", "tty", "errors"}
	checkKeys(t, "report", top, want)

	var nested struct {
		Mounts  []map[string]json.RawMessage `json:"mounts"`
		Links   []map[string]json.RawMessage `json:"links"`
		IPC     map[string]json.RawMessage   `json:"ipc"`
		Rlimits map[string]map[string]any    `json:"rlimits"`
		FDs     []map[string]json.RawMessage `json:"fds"`
		TTY     map[string]json.RawMessage   `json:"tty"`
	}
	if err := json.Unmarshal(data, &nested); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "mount", nested.Mounts[0], []string{"id", "parent", "major", "minor", "root", "mount_point",
		"options", "optional", "fstype", "source", "super_options"})
	checkKeys(t, "link", nested.Links[0], []string{"name", "index", "up", "loopback"})
	checkKeys(t, "ipc", nested.IPC, []string{"shm", "sem", "msg", "mqueues"})
	checkKeys(t, "fd", nested.FDs[0], []string{"fd", "target"})
	checkKeys(t, "tty", nested.TTY, []string{"stdin", "stdout", "stderr", "rows", "cols"})
	if lim := nested.Rlimits["RLIMIT_NOFILE"]; lim["soft"] == nil || lim["hard"] == nil || len(lim) != 2 {
		t.Errorf("rlimit JSON %v, want soft and hard", lim)
	}
	if !bytes.Contains(data, []byte(`"RLIMIT_RTTIME"`)) {
		t.Error("rlimits lack RLIMIT_RTTIME")
	}
}

func checkKeys[V any](t *testing.T, what string, got map[string]V, want []string) {
	t.Helper()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(keys, want) {
		t.Errorf("%s JSON names:\n got %v\nwant %v", what, keys, want)
	}
}

func TestWriteHuman(t *testing.T) {
	r, _ := Collect()
	r.Errors = []string{"open /proc/x: no such file or directory"}
	var b bytes.Buffer
	r.WriteHuman(&b)
	out := b.String()
	for _, want := range []string{"PROCESS", "NAMESPACES", "MOUNTS", "CGROUP LIMITS", "NETWORK LINKS", "PRIVILEGES",
		"RLIMIT_NOFILE", "COULD NOT READ", "open /proc/x"} {
		if !strings.Contains(out, want) {
			t.Errorf("human report lacks %q", want)
		}
	}
	// An empty report, as from a process that can read nothing, prints without trouble.
	b.Reset()
	(&Report{}).WriteHuman(&b)
	if !strings.Contains(b.String(), "(none)") {
		t.Errorf("empty report:\n%s", b.String())
	}
}

func TestCapsText(t *testing.T) {
	full := capNames(1<<41 - 1)
	tests := []struct {
		names []string
		want  string
	}{
		{nil, "none"},
		{[]string{"CAP_CHOWN", "CAP_KILL"}, "CAP_CHOWN CAP_KILL"},
		{full, "all (41 of 41)"},
		{capNames((1<<41 - 1) &^ (1 << 24)), "all but CAP_SYS_RESOURCE (40 of 41)"},
		{append(slices.Clone(full), "CAP_41"), "all (41 of 41) plus CAP_41"},
	}
	for _, tt := range tests {
		if got := strings.Join(capsText(tt.names), " "); got != tt.want {
			t.Errorf("capsText(%v) = %q, want %q", tt.names, got, tt.want)
		}
	}
}
