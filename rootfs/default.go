package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MarkerName is written last into a default rootfs: a tree without it is not complete.
// markerContent carries the format version; another version means "rebuild".
const (
	MarkerName    = ".contain-rootfs"
	markerContent = "contain-rootfs 2\n" // 2: /etc/hosts
)

// DefaultDir is where the default rootfs lives: $CONTAIN_ROOTFS if set, made absolute and
// clean, else /var/lib/contain/rootfs. Clean matters: the first build goes into a temporary
// tree beside it, in filepath.Dir of it, which for "/x/rootfs/" is the rootfs itself.
func DefaultDir() string {
	if dir := os.Getenv("CONTAIN_ROOTFS"); dir != "" {
		if abs, err := filepath.Abs(dir); err == nil {
			return abs
		}
		return filepath.Clean(dir)
	}
	return filepath.Join(defaultParent, "rootfs")
}

// defaultParent holds the default rootfs, and only root may enter it (0700). Containers
// do not see it: their root is the rootfs itself. Host users must not reach the tree: its
// /tmp is 1777, so any of them could put a file there that every quick-form container then
// sees, and a setuid program a container leaves in a rootfs given with --rootfs would run
// for them as root on the host. A parent that CONTAIN_ROOTFS names, and that exists, is the
// user's to set.
var defaultParent = "/var/lib/contain" // a variable for the tests only, which put it in a temp dir

// treeState says what DefaultDir holds.
type treeState int

const (
	stateMissing  treeState = iota // absent or empty
	stateComplete                  // has the current marker
	stateStale                     // has an older marker: ours, rebuilt in place
	stateForeign                   // not ours: never removed
)

// EnsureDefault returns DefaultDir(), building it first if it is missing or incomplete: from
// busybox, or from host programs when there is no static busybox. It writes one line to log
// when it builds. A complete tree whose /bin/probe differs from probe gets probe atomically.
//
// The tree is built in a temporary sibling and renamed into place, so that concurrent first
// uses never see half a tree; the loser of the rename race removes its copy.
func EnsureDefault(probe string, log io.Writer) (string, error) {
	dir := DefaultDir()
	if err := ensureDefault(dir, probe, logger{log}); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			// A workshop step from step 04 on, run without sudo, stops here first.
			return "", fmt.Errorf("default rootfs %s: %w (it is root's: run with sudo)", dir, err)
		}
		return "", fmt.Errorf("default rootfs %s: %w", dir, err)
	}
	return dir, nil
}

// ensureDefault builds dir when needed, else refreshes its probe.
func ensureDefault(dir, probe string, log logger) error {
	if err := closeParent(dir, defaultParent); err != nil {
		return err
	}
	state, err := stateOf(dir)
	if err != nil {
		return err
	}
	switch state {
	case stateComplete:
		return refreshProbe(dir, probe)
	case stateForeign:
		return fmt.Errorf("not made by contain (no %s): the default rootfs is contain's to build and rebuild; for a rootfs of yours, use run --rootfs DIR, or set CONTAIN_ROOTFS to another directory", MarkerName)
	}
	why := "first use"
	if state == stateStale {
		why = "rebuilt: an older contain built the one there, which goes once this one is in place"
	}
	return buildDefault(dir, probe, why, log)
}

// closeParent makes parent (defaultParent) 0700 where an older contain made it 0755, when
// dir is the default rootfs in it.
func closeParent(dir, parent string) error {
	if filepath.Dir(dir) != parent {
		return nil
	}
	st, err := os.Stat(parent)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return nil // missing: buildDefault makes it, 0700
	}
	if err := os.Chmod(parent, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", parent, err)
	}
	return nil
}

// stateOf reads the marker of dir.
func stateOf(dir string) (treeState, error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	switch {
	case err == nil && string(b) == markerContent:
		return stateComplete, nil
	case err == nil:
		return stateStale, nil
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	}
	names, err := readNames(dir, 1)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(names) == 0) {
		return stateMissing, nil
	}
	if err != nil {
		return 0, err
	}
	return stateForeign, nil
}

// buildDefault builds a fresh tree next to dir and moves it into place; why says why, in the
// one line it prints.
func buildDefault(dir, probe, why string, log logger) error {
	from := fromBusybox
	if _, err := findBusybox(); err != nil {
		from = fromHost
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	sweepStaleBuilds(parent, filepath.Base(dir), time.Now())
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	// Removes our copy when we lose the race, or the stale tree swapped out by install.
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes 0700; "/" must be 0755
		return err
	}
	log.printf("contain: building the default rootfs in %s from %s (%s, offline)", dir, from, why)
	if err := Build(tmp, Options{From: from, Probe: probe}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, MarkerName), []byte(markerContent), 0o644); err != nil {
		return err
	}
	return install(tmp, dir)
}

// staleBuild is how long a temporary tree may go unchanged before it counts as the leftover of
// a build that was killed (the deferred removal never ran): a build takes about a second.
const staleBuild = 10 * time.Minute

// sweepStaleBuilds removes the temporary trees of builds of base, in parent, that were killed
// part-way: nothing else ever would. A build under way changes its tree all along.
func sweepStaleBuilds(parent, base string, now time.Time) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "."+base+".tmp-") {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleBuild {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// install renames the complete tree tmp to dir. rename(2) replaces an empty directory and
// fails on a full one: then either another process installed a complete tree first (ours is
// dropped) or dir is a stale tree, swapped atomically with RENAME_EXCHANGE.
func install(tmp, dir string) error {
	err := unix.Rename(tmp, dir)
	if err != unix.ENOTEMPTY && err != unix.EEXIST {
		return wrapRename(tmp, dir, err)
	}
	state, serr := stateOf(dir)
	switch {
	case serr != nil:
		return serr
	case state == stateComplete:
		return nil
	case state == stateStale:
		return wrapRename(tmp, dir, unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE))
	}
	return wrapRename(tmp, dir, err)
}

// wrapRename names both paths of a failed rename.
func wrapRename(from, to string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
}

// refreshProbe replaces /bin/probe in dir when it differs from probe.
func refreshProbe(dir, probe string) error {
	if err := checkProbe(probe); err != nil {
		return err
	}
	t, err := openTree(dir)
	if err != nil {
		return err
	}
	defer t.Close()
	same, err := probeIsCurrent(t, probe)
	if err != nil || same {
		return err
	}
	if err := addProbe(t, probe); err != nil {
		return fmt.Errorf("refresh /bin/probe: %w", err)
	}
	return nil
}

// probeIsCurrent reports whether the tree's /bin/probe has probe's content, byte for byte.
// (A plain comparison, not a digest: crypto's packages would be initialised in every process
// of contain, each container's init included, for this one check.)
func probeIsCurrent(t *tree, probe string) (bool, error) {
	want, err := os.Open(probe)
	if err != nil {
		return false, err
	}
	defer want.Close()
	have, err := t.openFile("bin/probe")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer have.Close()
	return sameContent(want, have)
}

// sameContent reports whether a and b, read from where they are to their ends, hold the
// same bytes.
func sameContent(a, b io.Reader) (bool, error) {
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		n, errA := io.ReadFull(a, bufA)
		m, errB := io.ReadFull(b, bufB)
		if !bytes.Equal(bufA[:n], bufB[:m]) {
			return false, nil
		}
		endA := errA == io.EOF || errA == io.ErrUnexpectedEOF
		endB := errB == io.EOF || errB == io.ErrUnexpectedEOF
		if errA != nil && !endA {
			return false, errA
		}
		if errB != nil && !endB {
			return false, errB
		}
		if endA || endB {
			return endA && endB, nil
		}
	}
}

// openFile opens rel for reading, resolved as the container sees it.
func (t *tree) openFile(rel string) (*os.File, error) {
	fd, err := openat2(t.fd, rel, unix.O_RDONLY, 0, inRoot)
	if err == unix.ENOENT {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(t.dir, rel), Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(t.dir, rel), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(t.dir, rel)), nil
}

// Default returns the default rootfs, building it on first use with the probe FindProbe
// finds; it tells log (one line) when it builds. The workshop's steps use it when no -rootfs
// is given.
func Default(log io.Writer) (string, error) {
	probe, err := FindProbe()
	if err != nil {
		return "", err
	}
	return EnsureDefault(probe, log)
}
