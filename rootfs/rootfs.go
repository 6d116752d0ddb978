// Package rootfs makes root filesystems for containers, offline.
//
// A rootfs comes from the host's static busybox, from a few host programs with the shared
// libraries they need, or from a tar archive such as `docker export` output. Every rootfs gets
// the static probe at /bin/probe, the mount points the runtime needs and a minimal /etc.
//
// Archives are untrusted: every write is resolved beneath the rootfs with openat2(2), so no
// entry name, symlink or hardlink in an image can make a write land outside it.
package rootfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Options says how to build a rootfs.
type Options struct {
	From  string    // "busybox" (default when empty), "host", or a tar archive: plain, gzip, bzip2, xz or zstd
	Probe string    // path to the static probe binary copied to /bin/probe (required)
	Log   io.Writer // progress lines, may be nil
}

// Source kinds for Options.From.
const (
	fromBusybox = "busybox"
	fromHost    = "host"
	fromTar     = "tar"
)

// source is a resolved Options.From.
type source struct {
	kind string
	path string // the busybox binary or the archive
}

// logger writes progress lines to an optional writer.
type logger struct{ w io.Writer }

func (l logger) printf(format string, args ...any) {
	if l.w != nil {
		fmt.Fprintf(l.w, format+"\n", args...)
	}
}

// Build builds a rootfs into dir, which is created if missing and must be empty otherwise.
// Bad input (an unknown source, a dynamic probe, a non-empty dir) changes nothing; a failed
// build removes what it made.
func Build(dir string, opts Options) error {
	if err := build(dir, opts); err != nil {
		return fmt.Errorf("rootfs build %s: %w", dir, err)
	}
	return nil
}

// build checks the input, prepares dir, then fills it.
func build(dir string, opts Options) error {
	src, err := resolveSource(opts.From)
	if err != nil {
		return err
	}
	if err := checkProbe(opts.Probe); err != nil {
		return err
	}
	t, was, err := prepareDir(dir)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := fill(t, src, opts.Probe, logger{opts.Log}); err != nil {
		if rerr := removeBuilt(t, was); rerr != nil {
			err = errors.Join(err, fmt.Errorf("and what the build made stays in %s: %w", dir, rerr))
		}
		return err
	}
	return nil
}

// resolveSource turns Options.From into a source, checking that it exists.
func resolveSource(from string) (source, error) {
	switch from {
	case "", fromBusybox:
		bb, err := findBusybox()
		return source{kind: fromBusybox, path: bb}, err
	case fromHost:
		return source{kind: fromHost}, nil
	}
	if from == "-" { // as tar -f -: `docker export C | contain rootfs build DIR --from -`
		from = "/dev/stdin"
	}
	fi, err := os.Stat(from)
	if err != nil {
		return source{}, fmt.Errorf("source: %w", err)
	}
	// A pipe is an archive too (/dev/stdin, <(...)): the unpack reads it once, from its start.
	if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeNamedPipe == 0 {
		return source{}, fmt.Errorf("source %s: not a file or a pipe (a tar archive), nor \"busybox\" or \"host\"", from)
	}
	return source{kind: fromTar, path: from}, nil
}

// checkProbe refuses a missing or dynamically linked probe: it must run in any rootfs.
func checkProbe(probe string) error {
	if probe == "" {
		return errors.New("no probe binary given: set Options.Probe")
	}
	static, err := IsStatic(probe)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if !static {
		return fmt.Errorf("probe %s is dynamically linked: build it with CGO_ENABLED=0", probe)
	}
	return nil
}

// IsStatic reports whether file is an ELF executable without a program interpreter
// (PT_INTERP, elf(5)): the kernel runs it with no loader or shared libraries. As the kernel
// does, it asks only whether the program header is there, not what it names.
func IsStatic(file string) (bool, error) {
	progs, err := readPrograms(file)
	if errors.Is(err, errNotELF) {
		return false, fmt.Errorf("%s: not an ELF executable", file)
	}
	if err != nil {
		return false, err
	}
	return !slices.ContainsFunc(progs, func(p elfProg) bool { return p.typ == ptInterp }), nil
}

// rootMode is the mode of a rootfs's top directory, "/" in the container: a user other than
// root must be able to enter it, even when the caller made it with mktemp -d (0700).
const rootMode = 0o755

// prepareDir makes dir, or checks that it is an empty directory, gives it rootMode, and
// returns it as a tree, locked for this build. was is what removeBuilt must restore.
//
// dir is opened once, never through a symlink, and the check, the mode and every write of the
// build go through that fd. By path, a user who may rename in dir's parent (root building into
// a directory of theirs) could swap dir for a symlink to /etc between the check and the
// unpack, and have the image's files written over the host's, or a failed build empty it.
//
// Two builds of one dir at once would fill one tree, and the one that failed would empty it
// under the other, which then reported a tree without its files as built. So dir is made
// with mkdir(2), whose EEXIST tells a directory another build made (it is checked for
// emptiness as any other), and locked (flock(2), until the tree is closed) before that check:
// the second build is refused, and a directory one of them made is never another's to remove.
func prepareDir(dir string) (t *tree, was *built, err error) {
	b := &built{}
	if b.parents, err = makeParents(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			b.removeParents()
		}
	}()
	switch err := unix.Mkdir(dir, rootMode); err {
	case nil:
		b.made = true
	case unix.EEXIST:
	default:
		return nil, nil, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ELOOP || err == unix.ENOTDIR:
		// O_DIRECTORY|O_NOFOLLOW on a symlink fails with either, depending on the kernel.
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, nil, errors.New("a symlink: give the directory itself")
		}
		return nil, nil, errors.New("not a directory")
	case err != nil:
		return nil, nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	t = &tree{dir: dir, fd: fd}
	if err := t.lock(); err != nil {
		t.Close()
		return nil, nil, err
	}
	if err := unix.Fstat(fd, &b.st); err != nil {
		t.Close()
		return nil, nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	names, err := t.names(1)
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	if len(names) > 0 {
		t.Close()
		return nil, nil, errors.New("directory not empty")
	}
	if err := unix.Fchmod(fd, rootMode); err != nil {
		t.Close()
		return nil, nil, &os.PathError{Op: "chmod", Path: dir, Err: err}
	}
	return t, b, nil
}

// built is what a build changed outside its tree, for removeBuilt to undo.
type built struct {
	made    bool        // the tree's directory was made by this build
	st      unix.Stat_t // the directory as it was (its mode and owner, when not made here)
	parents []string    // the directories above it that this build made, deepest last
}

// makeParents makes dir and the directories above it that are missing, as mkdir -p does, and
// returns those it made, deepest last.
func makeParents(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		switch err := unix.Mkdir(missing[i], rootMode); err {
		case nil:
			made = append(made, missing[i])
		case unix.EEXIST: // another build's, made meanwhile
		default:
			(&built{parents: made}).removeParents()
			return nil, &os.PathError{Op: "mkdir", Path: missing[i], Err: err}
		}
	}
	return made, nil
}

// removeParents removes the directories above the tree that the build made, deepest first,
// where they are still empty.
func (b *built) removeParents() {
	for i := len(b.parents) - 1; i >= 0; i-- {
		if unix.Rmdir(b.parents[i]) != nil {
			return
		}
	}
}

// lock takes the tree's build lock, refusing a second build of the same directory.
func (t *tree) lock() error {
	if err := unix.Flock(t.fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if err == unix.EWOULDBLOCK {
			return errors.New("another rootfs build of this directory is running")
		}
		return &os.PathError{Op: "flock", Path: t.dir, Err: err}
	}
	return nil
}

// removeBuilt undoes a failed build in the tree t: it empties it, through its fd, then removes
// the directory and its parents when they were made here, or gives it back its mode and owner.
// os.Root's RemoveAll never follows the tree's symlinks, nor leaves the tree. It returns what
// it could not undo.
func removeBuilt(t *tree, was *built) error {
	var errs []error
	if dup, err := unix.Open(t.self(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		makeWritableAt(dup)
	}
	if root, err := os.OpenRoot(t.self()); err != nil {
		errs = append(errs, err) // and on: the owner and mode are given back all the same
	} else {
		names, err := t.names(0)
		errs = append(errs, err)
		for _, name := range names {
			errs = append(errs, root.RemoveAll(name))
		}
		root.Close()
	}
	if was.made {
		// Empty now; were it another directory by now, it is not empty, and stays.
		if err := unix.Rmdir(t.dir); err != nil && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "rmdir", Path: t.dir, Err: err})
		}
		was.removeParents()
		return errors.Join(errs...)
	}
	if err := unix.Fchown(t.fd, int(was.st.Uid), int(was.st.Gid)); err != nil {
		errs = append(errs, &os.PathError{Op: "chown", Path: t.dir, Err: err})
	}
	if err := unix.Fchmod(t.fd, was.st.Mode&0o7777); err != nil { // after the chown, which clears set-id bits
		errs = append(errs, &os.PathError{Op: "chmod", Path: t.dir, Err: err})
	}
	return errors.Join(errs...)
}

// readNames lists up to n names in dir (all when n <= 0).
func readNames(dir string, n int) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	return readNamesOf(f, n)
}

// readNamesOf lists up to n names in the directory f (all when n <= 0), and closes f.
func readNamesOf(f *os.File, n int) ([]string, error) {
	defer f.Close()
	names, err := f.Readdirnames(n)
	if err == io.EOF {
		err = nil
	}
	return names, err
}

// makeWritableAt gives the directory of the O_PATH fd, and every directory below it, its
// owner's write and search bits, and closes fd: an image's read-only directories would
// otherwise keep a caller without CAP_DAC_OVERRIDE from removing what is inside them. A walk
// of a tree that other users may write in (an image's 1777 /tmp, a directory it gives a uid)
// must not follow a symlink one of them swaps in for a directory: each directory is opened
// below its parent's fd, never through a symlink, and changed through its own fd (a walk by
// path once let a local user make a root-owned file outside the tree 0777).
func makeWritableAt(fd int) {
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return
	}
	if st.Mode&0o700 != 0o700 { // an O_PATH fd: chmod(2) of its /proc/self/fd link (proc(5))
		unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), st.Mode&0o7777|0o700)
	}
	dirfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	list := os.NewFile(uintptr(dirfd), ".")
	entries, _ := list.ReadDir(-1)
	list.Close()
	for _, e := range entries {
		if e.IsDir() {
			if child, err := unix.Openat(fd, e.Name(), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
				makeWritableAt(child)
			}
		}
	}
}

// fill writes the source into the tree t, then the files every rootfs gets.
func fill(t *tree, src source, probe string, log logger) (err error) {
	switch src.kind {
	case fromBusybox:
		err = copyBusybox(t, src.path, log)
	case fromHost:
		err = copyHost(t, log)
	case fromTar:
		log.printf("rootfs: unpacking %s into %s", src.path, t.dir)
		return unpackFile(t, src.path, log, func() error { return addBase(t, probe, log) })
	}
	if err != nil {
		return err
	}
	return addBase(t, probe, log)
}

// baseDirs are the mount points and homes the runtime and the probe expect.
var baseDirs = []struct {
	name string
	mode uint32
}{
	{"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"tmp", 0o1777},
	{"root", 0o700}, {"etc", 0o755}, {"run", 0o755},
}

// baseFiles is the minimal /etc; an image's own files win.
var baseFiles = []struct{ name, content string }{
	{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
	{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
	{"etc/hostname", "contain\n"},
	{"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"}, // localhost resolves
	{"etc/resolv.conf", "# no network by default\n"},
}

// addBase adds what every rootfs gets on top of its source.
func addBase(t *tree, probe string, log logger) error {
	for _, d := range baseDirs {
		if err := ensureDir(t, d.name, d.mode); err != nil {
			return fmt.Errorf("mkdir /%s: %w", d.name, err)
		}
	}
	if err := addProbe(t, probe); err != nil {
		return fmt.Errorf("add /bin/probe: %w", err)
	}
	for _, f := range baseFiles {
		if err := addDefaultFile(t, f.name, f.content, log); err != nil {
			return fmt.Errorf("add /%s: %w", f.name, err)
		}
	}
	return nil
}

// ensureDir makes the top-level directory name unless something (even a symlink) is there.
func ensureDir(t *tree, name string, mode uint32) error {
	ok, err := exists(t.fd, name)
	if ok || err != nil {
		return err
	}
	if err := unix.Mkdirat(t.fd, name, mode); err != nil {
		return err
	}
	return chmodNoFollow(t.fd, name, mode) // mkdir(2) applies the umask and drops the sticky bit
}

// addProbe copies the probe to /bin/probe atomically, replacing any file there.
func addProbe(t *tree, probe string) error {
	f, err := os.Open(probe)
	if err != nil {
		return err
	}
	defer f.Close()
	dirfd, name, err := t.openParentInRoot("bin/probe")
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	return replaceFile(dirfd, name, f, 0o755)
}

// addDefaultFile writes rel unless it exists. A parent the image made unusable (an /etc
// symlink to a missing place) is reported and skipped: the image chose its /etc.
func addDefaultFile(t *tree, rel, content string, log logger) error {
	dirfd, name, err := t.openParentInRoot(rel)
	if err != nil {
		log.printf("rootfs: not adding /%s: %v", rel, err)
		return nil
	}
	defer unix.Close(dirfd)
	ok, err := exists(dirfd, name)
	if ok || err != nil {
		return err
	}
	return createFile(dirfd, name, strings.NewReader(content), 0o644)
}
