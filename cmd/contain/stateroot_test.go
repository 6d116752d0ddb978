package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// A state root that another user could change is refused by every verb: the state in it
// decides what runs as root (delete runs the poststop hooks a state records). A user who
// could write a state.json there got a shell command run as root by the next delete.
func TestStateRootOthersCanChangeIsRefused(t *testing.T) {
	needContainer(t)
	base := t.TempDir()
	bundle := newBundle(t, nil)
	marker := filepath.Join(base, "pwned")
	forge := func(t *testing.T, root string) {
		t.Helper()
		dir := filepath.Join(root, "forged")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		state := `{"ociVersion":"1.3.0","id":"forged","status":"stopped","pid":0,"init_start":1,"bundle":"/","created":"2026-01-01T00:00:00Z",` +
			`"poststop":[{"path":"/bin/sh","args":["sh","-c","touch ` + marker + `"]}]}`
		if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runIn := func(root string, args ...string) result {
		cmd := exec.Command(containBin, append([]string{"--root", root}, args...)...)
		return runResult(t, cmd)
	}
	for _, tc := range []struct {
		name, dir string
		mode      uint32 // for chmod(2), when not 0
		theirs    string // under base: given to uid 65534
		link      bool   // the state root given is a symlink to dir
		says      string
	}{
		{"world-writable root", "open", 0o777, "", false, "writable by group or others"},
		{"sticky world-writable root", "sticky", 0o1777, "", false, "writable by group or others"},
		{"root owned by another user", "theirs", 0, "theirs", false, "belongs to uid 65534"},
		{"a parent another user could rename it in", "parent/state", 0, "parent", false, "belongs to uid 65534"},
		{"through a symlink to an open root", "open2", 0o777, "", true, "writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(base, tc.dir)
			forge(t, root)
			if tc.mode != 0 {
				unix.Chmod(root, tc.mode) // os.Chmod would take 0o1000 for no sticky bit
			}
			if tc.theirs != "" {
				os.Chown(filepath.Join(base, tc.theirs), 65534, 65534)
			}
			if tc.link {
				link := root + "-link"
				os.Symlink(root, link)
				root = link
			}
			for _, args := range [][]string{{"list"}, {"state", "forged"}, {"delete", "forged"}, {"run", "--bundle", bundle, "new"}} {
				r := runIn(root, args...)
				if r.code == 0 || !strings.Contains(r.stderr, tc.says) {
					t.Errorf("%s: exit %d, stderr %q; want a refusal saying %q", strings.Join(args, " "), r.code, r.stderr, tc.says)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("delete ran the forged state's poststop hook")
			}
		})
	}
	// The same state in a root only root can change is acted on: the refusals above are the
	// root's, not the state's. (Its hook runs: that is what a state's poststop is for.)
	root := filepath.Join(base, "closed")
	forge(t, root)
	if r := runIn(root, "delete", "forged"); r.code != 0 {
		t.Errorf("delete in a root-only state root: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the poststop hook of a state in a root-only state root did not run: %v", err)
	}
}

// A state that names a cgroup no container can have (the host's root cgroup, or the parent
// of every container's) is damaged: kill and delete would act on every process in it.
func TestStateWithAHostCgroupIsDamaged(t *testing.T) {
	needContainer(t)
	root := t.TempDir()
	// The harmless one first, and the first miss stops the test: were the check gone, delete
	// --force would freeze and kill what is in the next cgroup, "/" being the whole host.
	for _, cgroup := range []string{"/a/../b", "/", "/contain"} {
		dir := filepath.Join(root, "bad")
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		state := `{"ociVersion":"1.3.0","id":"bad","status":"stopped","bundle":"/","created":"2026-01-01T00:00:00Z",` +
			`"cgroup":{"path":"` + cgroup + `","owned":["` + cgroup + `"]}}`
		if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runResult(t, exec.Command(containBin, "--root", root, "delete", "--force", "bad"))
		if r.code == 0 || !strings.Contains(r.stderr, "damaged") {
			t.Fatalf("delete --force of a state with the cgroup %s: exit %d, stderr %q; want it refused as damaged", cgroup, r.code, r.stderr)
		}
	}
	os.RemoveAll(filepath.Join(root, "bad"))
}

// A run whose container cannot be wholly removed at its end says so, with the way out, rather
// than leaving a state directory behind unseen (here the directory is made immutable while the
// container runs, so its rename and removal fail with EPERM).
func TestRunSaysWhatItCouldNotRemove(t *testing.T) {
	needContainer(t)
	bundle := newBundle(t, func(spec obj) { process(spec)["args"] = list{"sh", "-c", "read line; exit 0"} })
	cmd := containCmd("run", "--bundle", bundle, "leftover")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(stateRoot, "leftover")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil && strings.Contains(string(data), `"running"`) {
			break
		}
		if time.Now().After(deadline) {
			stdin.Close()
			cmd.Wait()
			t.Fatalf("the container never ran: %s", stderr.String())
		}
	}
	testenv.SetImmutable(t, dir, true)
	defer func() {
		testenv.SetImmutable(t, dir, false)
		contain(t, "", "delete", "--force", "leftover")
	}()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("run: %v (stderr %q); want the program's status, 0", err, stderr.String())
	}
	if want := "not wholly removed"; !strings.Contains(stderr.String(), want) ||
		!strings.Contains(stderr.String(), "contain delete --force leftover") {
		t.Errorf("stderr %q: want a warning that the container was %s, and how to remove it", stderr.String(), want)
	}
}
