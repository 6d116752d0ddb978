package workshop

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// fakeHost is a machine made of temporary files: a mountinfo file, the workshop's run and
// work directories, a state root, a /sys/class/net and a cgroup tree. Its unmount and
// deleteLink record and edit those files; nothing real is ever unmounted or deleted.
type fakeHost struct {
	t                                    *testing.T
	base                                 string
	mountinfo, run, work, state, net, cg string
	unmounted, deleted                   []string
	unmountErr                           error
	alivePids                            []int
	now                                  time.Time
}

func newFakeHost(t *testing.T) *fakeHost {
	base := t.TempDir()
	h := &fakeHost{t: t, base: base,
		mountinfo: filepath.Join(base, "mountinfo"),
		run:       filepath.Join(base, "run", "contain-workshop"),
		work:      filepath.Join(base, "repo", "work"),
		state:     filepath.Join(base, "run", "contain"),
		net:       filepath.Join(base, "sys", "class", "net"),
		cg:        filepath.Join(base, "sys", "fs", "cgroup"),
		now:       time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	for _, d := range []string{h.run, h.work, h.state, h.net, h.cg} {
		h.mkdir(d)
	}
	h.write(h.mountinfo, "")
	return h
}

func (h *fakeHost) roots() resetRoots {
	return resetRoots{
		mountinfo: h.mountinfo, runDir: h.run, workDir: h.work, stateRoot: h.state,
		netDir: h.net, cgroupRoot: h.cg,
		unmount:    h.unmount,
		deleteLink: h.deleteLink,
		alive:      func(pid int) bool { return slices.Contains(h.alivePids, pid) },
		now:        func() time.Time { return h.now },
	}
}

func (h *fakeHost) mkdir(path string) {
	h.t.Helper()
	must(h.t, os.MkdirAll(path, 0o755))
}

func (h *fakeHost) write(path, content string) {
	h.t.Helper()
	h.mkdir(filepath.Dir(path))
	must(h.t, os.WriteFile(path, []byte(content), 0o644))
}

func (h *fakeHost) exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// mount adds a mountinfo line and makes its mount point.
func (h *fakeHost) mount(id int, point, fstype string) {
	h.t.Helper()
	h.mkdir(point)
	f, err := os.OpenFile(h.mountinfo, os.O_APPEND|os.O_WRONLY, 0)
	must(h.t, err)
	defer f.Close()
	escaped := strings.ReplaceAll(point, " ", `\040`)
	_, err = fmt.Fprintf(f, "%d 1 0:%d / %s rw,relatime shared:1 - %s %s rw\n", id, id, escaped, fstype, fstype)
	must(h.t, err)
}

// unmount records path and drops the most recent mountinfo line for it, as MNT_DETACH does.
func (h *fakeHost) unmount(path string) error {
	if h.unmountErr != nil {
		return h.unmountErr
	}
	h.unmounted = append(h.unmounted, path)
	data, err := os.ReadFile(h.mountinfo)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if m := parseMountinfo([]byte(lines[i])); len(m) == 1 && m[0].point == path {
			lines = slices.Delete(lines, i, i+1)
			return os.WriteFile(h.mountinfo, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		}
	}
	return unix.EINVAL
}

// deleteLink records name and removes it and its veth peer from the fake /sys/class/net.
func (h *fakeHost) deleteLink(name string) error {
	h.deleted = append(h.deleted, name)
	peer := name[:len(name)-1] + map[byte]string{'h': "c", 'c': "h"}[name[len(name)-1]]
	for _, n := range []string{name, peer} {
		if err := os.RemoveAll(filepath.Join(h.net, n)); err != nil {
			return err
		}
	}
	return nil
}

// link makes a fake network link; physical ones get a "device" entry, as in sysfs.
func (h *fakeHost) link(name string, physical bool) {
	h.mkdir(filepath.Join(h.net, name))
	if physical {
		h.write(filepath.Join(h.net, name, "device", "vendor"), "0x8086\n")
	}
}

func (h *fakeHost) stateDir(name, id string, pid int, created time.Time) string {
	dir := filepath.Join(h.state, name)
	data, err := json.Marshal(map[string]any{"ociVersion": "1.3.0", "id": id, "status": "running", "pid": pid, "bundle": "/b", "created": created})
	must(h.t, err)
	h.write(filepath.Join(dir, "state.json"), string(data))
	return dir
}

func TestResetMounts(t *testing.T) {
	h := newFakeHost(t)
	ov := filepath.Join(h.run, "06-overlay-4242")
	learner := filepath.Join(h.work, "06-overlay", "my dir", "merged")
	h.mount(20, "/", "ext4")
	h.mount(30, h.run, "tmpfs")
	h.mount(31, filepath.Join(ov, "merged"), "overlay")
	h.mount(32, filepath.Join(ov, "merged", "proc"), "proc")
	h.mount(33, filepath.Join(ov, "merged", "dev"), "tmpfs")
	h.mount(34, filepath.Join(ov, "merged"), "overlay") // stacked on the same point
	h.mount(40, learner, "overlay")
	h.mount(41, filepath.Join(learner, "proc"), "proc")
	// Not ours: a look-alike prefix, a tmpfs in work/ outside any overlay, the host's /mnt.
	h.mount(50, h.run+"-other", "tmpfs")
	h.mount(51, filepath.Join(h.work, "03-mount-ns", "scratch"), "tmpfs")
	h.mount(52, "/mnt", "tmpfs")
	h.mount(53, filepath.Join(h.base, "elsewhere", "merged"), "overlay")

	var out bytes.Buffer
	if err := reset(&out, h.roots(), false); err != nil {
		t.Fatalf("reset: %v\n%s", err, out.String())
	}
	want := []string{ // deepest first: a mount point is never unmounted before one under it
		filepath.Join(learner, "proc"),
		learner,
		filepath.Join(ov, "merged", "dev"),
		filepath.Join(ov, "merged", "proc"),
		filepath.Join(ov, "merged"), // 34, then 31 (the fake drops the newest line first)
		filepath.Join(ov, "merged"),
		h.run,
	}
	if !slices.Equal(h.unmounted, want) {
		t.Errorf("unmounted, in order:\n  %s\nwant:\n  %s", strings.Join(h.unmounted, "\n  "), strings.Join(want, "\n  "))
	}
	left := string(must1(os.ReadFile(h.mountinfo)))
	for _, p := range []string{h.run + "-other", "03-mount-ns/scratch", " /mnt ", "elsewhere/merged", " / "} {
		if !strings.Contains(left, p) {
			t.Errorf("mount %q was unmounted; it is not the toolkit's", p)
		}
	}
	if h.exists(h.run) {
		t.Errorf("%s still exists", h.run)
	}
	for _, p := range []string{h.run + "-other", learner, filepath.Join(h.work, "03-mount-ns")} {
		if !h.exists(p) {
			t.Errorf("%s was removed; reset removes only the run dir", p)
		}
	}
	for _, s := range []string{"unmounted " + learner + " (overlay)", "removed " + h.run, "sudo umount /mnt"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

// TestResetLeavesLiveRuns: a step still running keeps its run directory, its mounts and its
// veth pair; reset cleans up around it.
func TestResetLeavesLiveRuns(t *testing.T) {
	h := newFakeHost(t)
	live, dead := filepath.Join(h.run, "06-overlay-4242"), filepath.Join(h.run, "09-veth-77")
	h.mount(30, h.run, "tmpfs") // holds a live run: stays
	h.mount(31, filepath.Join(live, "merged"), "overlay")
	h.mount(32, filepath.Join(live, "merged", "proc"), "proc")
	h.mount(33, filepath.Join(dead, "merged"), "overlay")
	for _, n := range []string{"ct4242h", "ct4242c", "ct77h", "ct77c"} {
		h.link(n, false)
	}
	h.alivePids = []int{4242}

	var out bytes.Buffer
	if err := reset(&out, h.roots(), false); err != nil {
		t.Fatalf("reset: %v\n%s", err, out.String())
	}
	if want := []string{filepath.Join(dead, "merged")}; !slices.Equal(h.unmounted, want) {
		t.Errorf("unmounted %v, want %v", h.unmounted, want)
	}
	if want := []string{"ct77c"}; !slices.Equal(h.deleted, want) {
		t.Errorf("deleted links %v, want %v", h.deleted, want)
	}
	if h.exists(dead) {
		t.Errorf("%s was left", dead)
	}
	for _, p := range []string{filepath.Join(live, "merged", "proc"), filepath.Join(h.net, "ct4242h"), filepath.Join(h.net, "ct4242c")} {
		if !h.exists(p) {
			t.Errorf("%s was removed while its step runs", p)
		}
	}
	for _, s := range []string{"left " + live + ": its step is still running (pid 4242)", "left link ct4242h: its step is still running (pid 4242)"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

func TestResetKeepsRunDirWhileMounted(t *testing.T) {
	h := newFakeHost(t)
	merged := filepath.Join(h.run, "06-overlay-1", "merged")
	h.mount(31, merged, "overlay")
	h.write(filepath.Join(merged, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n")
	h.unmountErr = unix.EBUSY

	var out bytes.Buffer
	err := reset(&out, h.roots(), false)
	if !errors.Is(err, unix.EBUSY) {
		t.Errorf("reset = %v, want EBUSY from the failed unmount", err)
	}
	if !h.exists(filepath.Join(merged, "etc", "passwd")) {
		t.Error("reset removed files through a mount it could not unmount")
	}
	if !strings.Contains(out.String(), "still mounted") {
		t.Errorf("output does not say why the run dir was left:\n%s", out.String())
	}
}

func TestResetLinks(t *testing.T) {
	h := newFakeHost(t)
	for _, n := range []string{"ct1h", "ct1c", "ct22h", "ct305c"} {
		h.link(n, false)
	}
	for _, n := range []string{"lo", "eth0", "veth0", "ct", "cth", "ctxh", "ct1", "ct1hc", "xct1h", "ct1H", "docker0"} {
		h.link(n, false)
	}
	h.link("ct9h", true) // a physical device with a look-alike name
	var out bytes.Buffer
	if err := reset(&out, h.roots(), false); err != nil {
		t.Fatalf("reset: %v\n%s", err, out.String())
	}
	if want := []string{"ct1c", "ct22h", "ct305c"}; !slices.Equal(h.deleted, want) {
		t.Errorf("deleted %v, want %v", h.deleted, want)
	}
	if !strings.Contains(out.String(), "link ct1h went with its peer") {
		t.Errorf("output does not mention the peer:\n%s", out.String())
	}
	for _, n := range []string{"lo", "eth0", "veth0", "ct", "cth", "ctxh", "ct1", "ct1hc", "xct1h", "ct1H", "docker0", "ct9h"} {
		if !h.exists(filepath.Join(h.net, n)) {
			t.Errorf("link %s was deleted", n)
		}
	}
}

func TestResetState(t *testing.T) {
	h := newFakeHost(t)
	old := h.now.Add(-time.Hour)
	dead := h.stateDir("dead", "dead", 999991, old)
	live := h.stateDir("live", "live", 4242, old)
	creating := h.stateDir("creating", "creating", 0, h.now.Add(-5*time.Second))
	abandoned := h.stateDir("abandoned", "abandoned", 0, old)
	h.alivePids = []int{4242}
	// Not container state: no state.json, an id that is not the directory's, bad JSON, a file.
	foreign := filepath.Join(h.state, "foreign")
	h.write(filepath.Join(foreign, "data"), "keep")
	mismatch := h.stateDir("mismatch", "other-id", 999992, old)
	broken := filepath.Join(h.state, "broken")
	h.write(filepath.Join(broken, "state.json"), "{not json")
	file := filepath.Join(h.state, "notes.txt")
	h.write(file, "keep")
	// What a contain delete killed after renaming the state out of sight leaves.
	removed := filepath.Join(h.state, ".deleted-gone-3k5x")
	h.write(filepath.Join(removed, "state.json"), `{"id":"gone","pid":999993}`)

	var out bytes.Buffer
	if err := reset(&out, h.roots(), false); err != nil {
		t.Fatalf("reset: %v\n%s", err, out.String())
	}
	for _, d := range []string{dead, abandoned, removed} {
		if h.exists(d) {
			t.Errorf("stale state %s was left", d)
		}
	}
	for _, d := range []string{live, creating, foreign, mismatch, broken, file} {
		if !h.exists(d) {
			t.Errorf("%s was removed", d)
		}
	}
	for _, s := range []string{"container live is running (init pid 4242)", "init pid 999991 is gone", "never started", "being created", "deleted container dead", "removed " + removed + " (what a stopped contain delete left)"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

func TestResetCgroups(t *testing.T) {
	h := newFakeHost(t)
	ours := []string{
		filepath.Join(h.cg, "contain"),         // v2, with a child per container
		filepath.Join(h.cg, "contain", "box1"), // removed before its parent
		filepath.Join(h.cg, "unified", "workshop-10-cgroups-77"),
		filepath.Join(h.cg, "cpu,cpuacct", "contain.slice"),
		filepath.Join(h.cg, "memory", "system.slice", "contain_x"),
		filepath.Join(h.cg, "memory", "contain-workshop", "10-cgroups-999991"), // step 10, its program gone
	}
	busy := filepath.Join(h.cg, "pids", "workshop")
	live := filepath.Join(h.cg, "pids", "contain-workshop", "10-cgroups-4242") // step 10, still running
	h.alivePids = []int{4242}
	notOurs := []string{
		filepath.Join(h.cg, "system.slice", "containerd.service"),
		filepath.Join(h.cg, "containers"),
		filepath.Join(h.cg, "workshopper"),
		filepath.Join(h.cg, "user.slice", "my-contain"),
		filepath.Join(h.cg, "Contain"),
	}
	for _, d := range append(append(ours, busy, live), notOurs...) {
		h.mkdir(d)
	}
	h.write(filepath.Join(busy, "cgroup.procs"), "4242\n") // rmdir fails: ENOTEMPTY stands for EBUSY
	must(t, os.Symlink("cpu,cpuacct", filepath.Join(h.cg, "cpu")))

	var plan bytes.Buffer
	if err := reset(&plan, h.roots(), true); err != nil {
		t.Fatalf("plan: %v", err)
	}
	// Removed: ours, the busy one (the plan cannot know), and memory/contain-workshop; not the
	// live step's cgroup (nor pids/contain-workshop above it, which the plan does list).
	if n := strings.Count(plan.String(), "would remove cgroup "); n != len(ours)+3 {
		t.Errorf("plan lists %d cgroups, want %d (the symlinked alias counted once):\n%s", n, len(ours)+3, plan.String())
	}
	if !strings.Contains(plan.String(), "left cgroup "+live+": its step is still running (pid 4242)") {
		t.Errorf("plan does not leave the live step's cgroup:\n%s", plan.String())
	}
	for _, d := range ours {
		if !h.exists(d) {
			t.Fatalf("the plan removed %s", d)
		}
	}

	var out bytes.Buffer
	if err := reset(&out, h.roots(), false); err != nil {
		t.Fatalf("reset: %v\n%s", err, out.String())
	}
	for _, d := range ours {
		if h.exists(d) {
			t.Errorf("cgroup %s was left", d)
		}
	}
	for _, d := range append(notOurs, busy, live) {
		if !h.exists(d) {
			t.Errorf("%s was removed", d)
		}
	}
	if !strings.Contains(out.String(), "left cgroup "+busy) {
		t.Errorf("output does not say the busy cgroup was left:\n%s", out.String())
	}
	if i, j := strings.Index(out.String(), "contain/box1"), strings.Index(out.String(), "removed cgroup "+filepath.Join(h.cg, "contain")+"\n"); i < 0 || j < 0 || i > j {
		t.Errorf("child cgroup must be removed before its parent:\n%s", out.String())
	}
}

// TestResetPlanChangesNothing builds one of everything and checks that a dry run lists it all
// and touches none of it.
func TestResetPlanChangesNothing(t *testing.T) {
	h := newFakeHost(t)
	merged := filepath.Join(h.run, "07-ipc-9", "merged")
	h.mount(31, merged, "overlay")
	h.link("ct7h", false)
	h.link("ct7c", false)
	dead := h.stateDir("gone", "gone", 999993, h.now.Add(-time.Hour))
	cg := filepath.Join(h.cg, "contain")
	h.mkdir(cg)
	h.unmountErr = errors.New("the plan must not unmount")
	before := string(must1(os.ReadFile(h.mountinfo)))

	var out bytes.Buffer
	if err := reset(&out, h.roots(), true); err != nil {
		t.Fatalf("plan: %v\n%s", err, out.String())
	}
	if len(h.unmounted) != 0 || len(h.deleted) != 0 {
		t.Errorf("the plan unmounted %v and deleted %v", h.unmounted, h.deleted)
	}
	if after := string(must1(os.ReadFile(h.mountinfo))); after != before {
		t.Error("the plan changed the mounts")
	}
	for _, p := range []string{merged, h.run, filepath.Join(h.net, "ct7h"), filepath.Join(h.net, "ct7c"), dead, cg} {
		if !h.exists(p) {
			t.Errorf("the plan removed %s", p)
		}
	}
	for _, s := range []string{"would unmount " + merged, "would remove " + h.run, "would delete link ct7h", "would delete container gone (" + dead, "would remove cgroup " + cg} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("plan lacks %q:\n%s", s, out.String())
		}
	}
}

func TestResetNothingToDo(t *testing.T) {
	h := newFakeHost(t)
	must(t, os.Remove(h.run))
	h.mount(20, "/", "ext4")
	h.link("eth0", true)
	var out bytes.Buffer
	if err := reset(&out, h.roots(), false); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if !strings.HasPrefix(out.String(), "nothing to reset") {
		t.Errorf("output = %q", out.String())
	}
}

func TestResetIsUnder(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/run/contain-workshop", "/run/contain-workshop", true},
		{"/run/contain-workshop/a/merged", "/run/contain-workshop", true},
		{"/run/contain-workshop2", "/run/contain-workshop", false},
		{"/run/contain", "/run/contain-workshop", false},
		{"/anything", "/", true},
		{"/run/x", "/run/", true},
	} {
		if got := isUnder(tc.path, tc.dir); got != tc.want {
			t.Errorf("isUnder(%q, %q) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}

func TestResetNames(t *testing.T) {
	for name, want := range map[string]bool{
		"ct0h": true, "ct12c": true, "ct123456h": true,
		"ct": false, "cth": false, "ct1": false, "ct1x": false, "ct1hh": false, "vct1h": false, "ct-1h": false, "CT1h": false,
	} {
		if got := vethName.MatchString(name); got != want {
			t.Errorf("vethName(%q) = %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]bool{
		"contain": true, "workshop": true, "contain-box": true, "contain.slice": true, "contain_1": true, "workshop-10-cgroups-1": true,
		"containerd": false, "containerd.service": false, "containers": false, "workshopper": false, "my-contain": false, "Contain": false,
	} {
		if got := cgroupName.MatchString(name); got != want {
			t.Errorf("cgroupName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestResetNetlinkMessages(t *testing.T) {
	req := delLinkRequest(7, 42)
	ne := binary.NativeEndian
	if len(req) != 32 || ne.Uint32(req[0:]) != 32 || ne.Uint16(req[4:]) != unix.RTM_DELLINK ||
		ne.Uint16(req[6:]) != unix.NLM_F_REQUEST|unix.NLM_F_ACK || ne.Uint32(req[8:]) != 7 ||
		req[16] != unix.AF_UNSPEC || int32(ne.Uint32(req[20:])) != 42 {
		t.Errorf("delLinkRequest = % x", req)
	}
	ack := func(seq uint32, code int32) []byte {
		b := make([]byte, 36)
		ne.PutUint32(b[0:], 36)
		ne.PutUint16(b[4:], unix.NLMSG_ERROR)
		ne.PutUint32(b[8:], seq)
		ne.PutUint32(b[16:], uint32(code))
		return b
	}
	if done, err := parseAck(ack(7, 0), 7); !done || err != nil {
		t.Errorf("ack: %v, %v", done, err)
	}
	if done, err := parseAck(ack(7, -int32(unix.ENODEV)), 7); !done || !errors.Is(err, syscall.ENODEV) {
		t.Errorf("ENODEV: %v, %v", done, err)
	}
	if done, _ := parseAck(ack(6, 0), 7); done {
		t.Error("an answer to another request ended the wait")
	}
	if done, err := parseAck([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 7); !done || err == nil {
		t.Errorf("bad nlmsg_len: %v, %v", done, err)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestResetDeleteLinkNetlink deletes a real veth pair with deleteLink's RTM_DELLINK, in a
// network namespace of its own on a locked thread, so that nothing on the host is touched.
func TestResetDeleteLinkNetlink(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.CheckLeaks(t)
	host, peer := fmt.Sprintf("ct%dh", os.Getpid()), fmt.Sprintf("ct%dc", os.Getpid())
	done := make(chan error)
	go func() {
		// The thread stays locked: it ends with the goroutine, and its namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare CLONE_NEWNET: %w", err)
			return
		}
		if err := rtnetlink(newVethRequest(2, host, peer), 2); err != nil {
			done <- fmt.Errorf("rtm_newlink veth %s/%s: %w", host, peer, err)
			return
		}
		if _, err := net.InterfaceByName(peer); err != nil {
			done <- fmt.Errorf("the new veth pair has no %s: %w", peer, err)
			return
		}
		if err := deleteLink(host); err != nil {
			done <- fmt.Errorf("deleteLink(%s): %w", host, err)
			return
		}
		for _, n := range []string{host, peer} {
			if _, err := net.InterfaceByName(n); err == nil {
				done <- fmt.Errorf("%s is still there after deleteLink", n)
				return
			}
		}
		if err := deleteLink(host); err == nil {
			done <- fmt.Errorf("deleteLink of a missing link: want an error")
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// newVethRequest is what `ip link add HOST type veth peer name PEER` sends: RTM_NEWLINK with
// IFLA_IFNAME and IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER {
// struct ifinfomsg, IFLA_IFNAME } } }; see veth(4) and rtnetlink(7).
func newVethRequest(seq uint32, host, peer string) []byte {
	const vethInfoPeer = 1 // VETH_INFO_PEER in linux/veth.h
	ifinfo := make([]byte, unix.SizeofIfInfomsg)
	peerInfo := append(slices.Clone(ifinfo), nlattr(unix.IFLA_IFNAME, []byte(peer+"\x00"))...)
	linkinfo := append(nlattr(unix.IFLA_INFO_KIND, []byte("veth")),
		nlattr(unix.IFLA_INFO_DATA, nlattr(vethInfoPeer, peerInfo))...)
	body := append(ifinfo, nlattr(unix.IFLA_IFNAME, []byte(host+"\x00"))...)
	body = append(body, nlattr(unix.IFLA_LINKINFO, linkinfo)...)
	req := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	ne.PutUint16(req[4:], unix.RTM_NEWLINK)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	ne.PutUint32(req[8:], seq)
	return append(req, body...)
}

// nlattr is one netlink attribute (struct rtattr), padded to 4 bytes.
func nlattr(typ uint16, payload []byte) []byte {
	n := unix.SizeofRtAttr + len(payload)
	b := make([]byte, (n+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1))
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], payload)
	return b
}
