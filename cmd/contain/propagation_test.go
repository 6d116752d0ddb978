package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/probe"
)

// hostTmpfs mounts a small tmpfs on a new directory with flags and propagation, and unmounts
// it when the test ends (before the leak check, which runs last).
func hostTmpfs(t *testing.T, flags uintptr, propagation uintptr) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if propagation != 0 {
		if err := unix.Mount("", dir, "", propagation, ""); err != nil {
			t.Fatalf("set propagation of %s: %v", dir, err)
		}
	}
	return dir
}

// mountAt finds the mount at path in a report.
func mountAt(t *testing.T, r probe.Report, path string) probe.Mount {
	t.Helper()
	for _, m := range r.Mounts {
		if m.MountPoint == path {
			return m
		}
	}
	t.Fatalf("no mount at %s in %+v", path, r.Mounts)
	return probe.Mount{}
}

func hasOptional(m probe.Mount, prefix string) bool {
	return slices.ContainsFunc(m.Optional, func(o string) bool { return strings.HasPrefix(o, prefix) })
}

func TestBindMountOptions(t *testing.T) {
	needContainer(t)
	// A source that is nosuid, nodev and noexec stays so through a bind that says nothing
	// of them (runc keeps them too): a bind mount must not lift what the host set.
	locked := hostTmpfs(t, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, 0)
	// rro is read-only on every mount below the destination, a submount included.
	tree := hostTmpfs(t, 0, 0)
	sub := filepath.Join(tree, "sub")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	// A read-only submount stays so under a plain "rw" (what CRI puts on every bind): only
	// "rrw" would reach it.
	rwTree := hostTmpfs(t, 0, 0)
	roSub := filepath.Join(rwTree, "sub")
	os.Mkdir(roSub, 0o755)
	if err := unix.Mount("tmpfs", roSub, "tmpfs", unix.MS_RDONLY, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(roSub, unix.MNT_DETACH) })
	r := bundleReport(t, "bindopts", func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any),
			obj{"destination": "/locked", "type": "bind", "source": locked, "options": list{"rbind"}},
			obj{"destination": "/tree", "type": "bind", "source": tree, "options": list{"rbind", "rro", "nosymfollow"}},
			obj{"destination": "/rwtree", "type": "bind", "source": rwTree, "options": list{"rbind", "rw"}},
			obj{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": list{"rnoexec", "size=1m"}},
		)
	})
	if opts := strings.Split(mountAt(t, r, "/rwtree/sub").Options, ","); !slices.Contains(opts, "ro") {
		t.Errorf("/rwtree/sub options %q: a plain rw made the read-only submount writable", opts)
	}
	if opts := strings.Split(mountAt(t, r, "/rwtree").Options, ","); !slices.Contains(opts, "rw") {
		t.Errorf("/rwtree options %q, want rw", opts)
	}
	if opts := strings.Split(mountAt(t, r, "/locked").Options, ","); !slices.Contains(opts, "nosuid") || !slices.Contains(opts, "nodev") || !slices.Contains(opts, "noexec") {
		t.Errorf("/locked options %q lost the source's nosuid,nodev,noexec", opts)
	}
	for _, path := range []string{"/tree", "/tree/sub"} {
		if opts := strings.Split(mountAt(t, r, path).Options, ","); !slices.Contains(opts, "ro") {
			t.Errorf("%s options %q, want ro (rro)", path, opts)
		}
	}
	if opts := mountAt(t, r, "/tree").Options; !strings.Contains(opts, "nosymfollow") {
		t.Errorf("/tree options %q, want nosymfollow", opts)
	}
	if opts := mountAt(t, r, "/scratch").Options; !strings.Contains(opts, "noexec") {
		t.Errorf("/scratch options %q, want noexec (rnoexec)", opts)
	}
}

func TestPropagationOfAMountSurvivesPivotRoot(t *testing.T) {
	needContainer(t)
	r := bundleReport(t, "propmnt", func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any),
			obj{"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": list{"shared"}})
		linux(spec)["rootfsPropagation"] = "private"
	})
	if m := mountAt(t, r, "/mnt/t"); !hasOptional(m, "shared:") {
		t.Errorf("/mnt/t asked for shared, has %v", m.Optional)
	}
	if m := mountAt(t, r, "/"); len(m.Optional) != 0 {
		t.Errorf("/ with rootfsPropagation private has %v", m.Optional)
	}
}

// A slave root receives what the host mounts later, under a bind of a shared directory.
func TestRootfsPropagationSlaveReceivesHostMounts(t *testing.T) {
	needContainer(t)
	seen := mountSeenAfterStart(t, "slaveroot", list{"rbind", "rslave"}, "rslave")
	if !strings.Contains(seen, "master:") {
		t.Errorf("/data/sub in the container: %q, want it there, a slave of the host's", seen)
	}
}

// By default (no rootfsPropagation, a bind with no propagation option) no mount event
// crosses: what the host mounts under a shared bind source after the container started does
// not appear inside (the private baseline; a slave one would let it in).
func TestDefaultPropagationKeepsHostMountsOut(t *testing.T) {
	needContainer(t)
	if seen := mountSeenAfterStart(t, "privroot", list{"rbind"}, ""); seen != "" {
		t.Errorf("a tmpfs the host mounted under the bind's source after the start is in the container: %q; want none by default", seen)
	}
}

// mountSeenAfterStart runs a container with a shared host tmpfs bound at /data (with
// bindOptions, and rootfsPropagation unless ""), mounts a tmpfs at its sub/ once the
// container runs, and returns the container's mountinfo line for /data/sub, "" when it has
// none. The container is ready only once its mount namespace exists, so what it sees came by
// propagation alone, not as a copy made at clone(2); the host's mount event propagates
// before mount(2) returns, so the "done" file written after it is a fair signal to look.
func mountSeenAfterStart(t *testing.T, id string, bindOptions list, rootfsPropagation string) string {
	t.Helper()
	src := hostTmpfs(t, 0, unix.MS_SHARED)
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any),
			obj{"destination": "/data", "type": "bind", "source": src, "options": bindOptions})
		if rootfsPropagation != "" {
			linux(spec)["rootfsPropagation"] = rootfsPropagation
		}
		process(spec)["args"] = list{"sh", "-c", "touch /data/ready; i=0; until [ -e /data/done ]; do " +
			"i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done; grep ' /data/sub ' /proc/self/mountinfo; true"}
	})
	cmd := containCmd("run", "--bundle", bundle, id)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	go func() { done <- runWithTimeout(t, cmd, 30*time.Second) }()
	waitForFile(t, filepath.Join(src, "ready"), 10*time.Second)
	sub := filepath.Join(src, "sub")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(src, "done"), nil, 0o644)
	if err := <-done; err != nil {
		t.Fatalf("container: %v\n%s", err, out.String())
	}
	return strings.TrimSpace(out.String())
}

// A shared root with an rshared bind is what Kubernetes' Bidirectional volumes need: a mount
// made in the container under the bind reaches the host. The container's own mounts (proc,
// dev, sys) must not.
func TestRootfsPropagationSharedSendsBindMountsBack(t *testing.T) {
	needContainer(t)
	src := hostTmpfs(t, 0, unix.MS_SHARED)
	os.Mkdir(filepath.Join(src, "inner"), 0o755)
	t.Cleanup(func() { unix.Unmount(filepath.Join(src, "inner"), unix.MNT_DETACH) })
	bundle := newBundle(t, func(spec obj) {
		spec["mounts"] = append(spec["mounts"].([]any),
			obj{"destination": "/data", "type": "bind", "source": src, "options": list{"rbind", "rshared"}})
		linux(spec)["rootfsPropagation"] = "rshared"
		caps := list{"CAP_SYS_ADMIN"}
		process(spec)["capabilities"] = obj{"bounding": caps, "effective": caps, "permitted": caps}
		process(spec)["args"] = list{"sh", "-c", "mount -t tmpfs inner /data/inner && echo hi > /data/inner/f"}
	})
	mustRun(t, "run", "--bundle", bundle, "sharedroot")
	if b, err := os.ReadFile(filepath.Join(src, "inner", "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("the container's mount under the rshared bind did not reach the host: %q, %v", b, err)
	}
	rootfs := filepath.Join(bundle, "rootfs")
	for _, m := range hostReport(t).Mounts {
		if strings.HasPrefix(m.MountPoint, rootfs) {
			t.Errorf("the container's own mount %s reached the host", m.MountPoint)
		}
	}
}

// waitForFile polls for path, for up to d.
func waitForFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within %v", path, d)
}
