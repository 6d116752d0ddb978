package rootfs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A compressed archive is read through the host's own program for its compression, as tar(1)
// does (`tar -xz` runs `gzip -d`): gzip, bzip2, xz or zstd, told by the magic number the
// stream starts with, not by the file's name. Why not Go's compress/gzip and compress/bzip2:
// contain is one binary, and every process of it, the two of each container included, runs
// the package initialisers of everything linked in; those two (with compress/flate and
// hash/crc32) made each start cost about 0.4 ms more CPU on the development VM in a slow hour
// (docs/performance.md, 2026-11-27, afternoon). The host's programs also read xz and zstd,
// which Go's standard library cannot.
type decompressor struct {
	magic   []byte
	program string // run as PROGRAM -d -c: the archive on its stdin, the tar stream on its stdout
	pkg     string // the Debian package that has it, named when it is missing
}

var decompressors = []decompressor{
	{[]byte{0x1f, 0x8b}, "gzip", "gzip"},                    // RFC 1952
	{[]byte("BZh"), "bzip2", "bzip2"},                       // bzip2's stream header
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz", "xz-utils"}, // the .xz file format
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "zstd", "zstd"},        // RFC 8878
}

// errNotTar says that a file holds no archive at all: tar.Reader reads an empty stream as an
// archive without entries, and a failed `docker export > x.tar` leaves exactly that.
var errNotTar = errors.New("empty file: not a tar archive")

// unpackFile unpacks the tar archive file (plain or compressed) into t. before, when not nil,
// runs once every entry is written and before the directories take the archive's modes and
// times: what it adds (the files every rootfs gets) may go into a directory the image makes
// read-only (Fedora's 0555 /usr/bin, reached through bin -> usr/bin), and would change the
// times the archive gives.
func unpackFile(t *tree, file string, log logger, before func() error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, finish, err := uncompressed(f)
	if err != nil {
		return fmt.Errorf("decompress %s: %w", file, err)
	}
	u, err := unpackStream(t, r, log)
	// A decompressor that failed says why its stream broke off (a damaged archive); what the
	// tar reader saw then is only the consequence. Its verdict comes before anything that
	// is not an entry of the archive: the directories' owners and modes, and before.
	if ferr := finish(); ferr != nil {
		return fmt.Errorf("decompress %s: %w", file, ferr)
	}
	if err != nil {
		return fmt.Errorf("unpack %s: %w", file, err)
	}
	if before != nil {
		if err := before(); err != nil {
			return err
		}
	}
	if err := u.finishDirs(); err != nil {
		return fmt.Errorf("unpack %s: %w", file, err)
	}
	return nil
}

// unpackStream writes the entries of the archive r into t and reads r to its end. The
// directories keep the modes and owners the unpack needs until the caller's finishDirs,
// which it calls once the archive is known to be whole: a damaged one changes nothing of a
// directory that was there before (the rootfs's own, given by the user).
func unpackStream(t *tree, r *bufio.Reader, log logger) (*unpacker, error) {
	if _, err := r.Peek(1); err == io.EOF {
		return nil, errNotTar
	}
	u := &unpacker{t: t, log: log, root: os.Geteuid() == 0}
	if err := u.entries(tar.NewReader(r)); err != nil {
		return nil, err
	}
	// The tar reader stops at the archive's end blocks, before a compressed stream's
	// trailer, where the compressors keep the checksum of what they held: read on to it, so
	// that the decompressor sees a damaged archive and fails, as it does under tar(1).
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	return u, nil
}

// gnuDumpDir is the type of a directory in GNU tar's incremental archives (tar -g): its data
// is the list of the names it held, which unpacking does not need; GNU tar makes it a
// directory with its mode, owner and times, as a plain one.
const gnuDumpDir = 'D'

// blockSize is tar(5)'s block: a header is one.
const blockSize = 512

// isTarHeader says whether block is a tar header: its checksum field (bytes 148 to 155, octal)
// holds the sum of its bytes, counted with that field as spaces. A plain archive whose first
// member is named "BZh91AY" starts with bzip2's magic number; GNU tar checks for a header
// first too, before it looks for a compression.
func isTarHeader(block []byte) bool {
	if len(block) < blockSize {
		return false
	}
	field := strings.TrimRight(strings.TrimLeft(string(block[148:156]), " "), " \x00")
	want, err := strconv.ParseUint(field, 8, 32)
	if err != nil || field == "" {
		return false
	}
	var sum uint64
	for i, b := range block[:blockSize] {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += uint64(b)
	}
	return sum == want
}

// uncompressed returns the archive in f as tar reads it: f itself when it is not compressed,
// or else the output of the decompressor its first bytes name. finish ends the decompressor
// and returns its error, when it failed by itself: when the caller read the stream to its
// end, finish waits for the program's verdict on it; when the caller stopped early, it kills
// what still runs.
func uncompressed(f *os.File) (r *bufio.Reader, finish func() error, err error) {
	br := bufio.NewReader(f)
	magic, _ := br.Peek(6) // the longest magic number
	i := slices.IndexFunc(decompressors, func(d decompressor) bool { return bytes.HasPrefix(magic, d.magic) })
	if first, _ := br.Peek(blockSize); i < 0 || isTarHeader(first) {
		return br, func() error { return nil }, nil
	}
	d := decompressors[i]
	program, err := exec.LookPath(d.program)
	if err != nil {
		return nil, nil, fmt.Errorf("compressed with %s, and no %s program is installed to read it (Debian package %s): install it, or give the archive decompressed", d.program, d.program, d.pkg)
	}
	cmd := exec.Command(program, "-d", "-c")
	// The decompressor reads the file itself where it can, rather than through a pipe we
	// would copy into; a pipe given as the file (`--from /dev/stdin`) cannot go back to its
	// start, and is copied from what br has read.
	cmd.Stdin = br
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		cmd.Stdin = f
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	// A copy into a pipe from a pipe (see Stdin above) could wait on its writer for ever
	// once the decompressor is gone.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", program, err)
	}
	stream := &eofReader{r: out}
	finish = func() error {
		if !stream.eof {
			// Stopped early: the program may be writing still. A kill reaches only a
			// program that runs: one that failed by itself keeps its exit status.
			cmd.Process.Kill()
		}
		var exit *exec.ExitError
		if err := cmd.Wait(); errors.As(err, &exit) && exit.Exited() || stream.eof && err != nil {
			return fmt.Errorf("%s -d: %w: %s", d.program, err, stderr.lastLine())
		}
		return nil
	}
	return bufio.NewReader(stream), finish, nil
}

// eofReader notes that its reader came to its end: a decompressor's output ends when it
// closes its stdout, which it does as it exits.
type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// tailBuffer keeps the last bytes a program wrote, for an error message.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

// lastLine is the last line written, or "no message".
func (t *tailBuffer) lastLine() string {
	s := strings.TrimSpace(string(t.b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no message"
	}
	return s
}

// unpacker writes tar(5) entries beneath a tree. Directory metadata is applied at the end,
// deepest first, because creating entries inside a directory changes its mtime and a
// read-only directory could not receive its entries.
type unpacker struct {
	t    *tree
	log  logger
	root bool
	dirs []*tar.Header
	// skipped are the devices not made (without root): a hard link to one is skipped too.
	skipped map[string]bool
}

// unpack writes every entry of tr beneath t. asRoot says whether owners can be kept and
// devices made (a parameter, not a look at our uid, so tests can cover both as root).
func unpack(t *tree, tr *tar.Reader, log logger, asRoot bool) error {
	u := &unpacker{t: t, log: log, root: asRoot}
	if err := u.entries(tr); err != nil {
		return err
	}
	return u.finishDirs()
}

// entries writes every entry of tr; the directories' metadata waits for finishDirs.
func (u *unpacker) entries(tr *tar.Reader) error {
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && entries == 0 && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader)) {
			return fmt.Errorf("read tar: not a tar archive (no tar header at its start): %w", err)
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("tar entry %s: %w", hdr.Name, err)
		}
	}
	return nil
}

// cleanName makes an entry name relative to the root and refuses one that escapes it.
func cleanName(name string) (string, error) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errEscapes
	}
	return rel, nil
}

// entry writes one archive entry.
func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // global PAX headers carry nothing to write, and their name is never used
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if err := checkOwner(hdr); err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			// "./" (tar -C dir .): the root takes its owner and times, not its mode, which
			// is that of whatever directory was archived (mktemp -d's 0700): "/" stays
			// rootMode, or no user but root could enter the container's root.
			root := *hdr
			root.Mode = rootMode
			u.dirs = append(u.dirs, &root)
		}
		return nil
	}
	if strings.HasPrefix(path.Base(name), ".wh.") {
		u.log.printf("rootfs: skipping OCI whiteout %s (layers are not flattened)", name)
		return nil
	}
	dirfd, base, err := u.t.openParent(name)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	switch hdr.Typeflag {
	case tar.TypeDir, gnuDumpDir:
		return u.dir(dirfd, base, hdr)
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		return u.file(dirfd, base, hdr, r)
	case tar.TypeSymlink:
		return u.symlink(dirfd, base, hdr)
	case tar.TypeLink:
		return u.hardlink(dirfd, base, name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return u.node(dirfd, base, name, hdr)
	}
	u.log.printf("rootfs: skipping %s: unsupported tar type %q", name, hdr.Typeflag)
	return nil
}

// checkOwner refuses ids that chown(2) cannot take: uid_t is 32 bits, and (uid_t)-1 means
// "leave unchanged", so a bigger id would silently wrap around, even to root.
func checkOwner(hdr *tar.Header) error {
	for _, id := range []int{hdr.Uid, hdr.Gid} {
		if id < 0 || id >= math.MaxUint32 {
			return fmt.Errorf("owner %d:%d: %w (ids go from 0 to %d)", hdr.Uid, hdr.Gid, unix.ERANGE, uint32(math.MaxUint32-1))
		}
	}
	return nil
}

// clearName removes what is at name so that a new entry can take its place; a directory
// stays when the new entry is one too. Unlinking first means no existing file or link is ever
// opened for writing.
func clearName(dirfd int, name string, keepDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unlink(dirfd, name, 0)
	}
	if keepDir {
		return nil
	}
	return unlink(dirfd, name, unix.AT_REMOVEDIR)
}

// unlink wraps unlinkat(2) with the name it replaces.
func unlink(dirfd int, name string, flags int) error {
	if err := unix.Unlinkat(dirfd, name, flags); err != nil {
		return fmt.Errorf("replace existing %s: %w", name, err)
	}
	return nil
}

// dir makes a directory; its metadata waits for finishDirs.
func (u *unpacker) dir(dirfd int, name string, hdr *tar.Header) error {
	if err := clearName(dirfd, name, true); err != nil {
		return err
	}
	if err := unix.Mkdirat(dirfd, name, 0o755); err != nil && err != unix.EEXIST {
		return fmt.Errorf("mkdir: %w", err)
	}
	u.dirs = append(u.dirs, hdr)
	return nil
}

// file writes a regular file.
func (u *unpacker) file(dirfd int, name string, hdr *tar.Header, r io.Reader) error {
	if err := clearName(dirfd, name, false); err != nil {
		return err
	}
	f, err := writeNewFile(dirfd, name, r)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer f.Close()
	// Through the fd that wrote it: by name, the owner and a setuid mode could land on a file
	// put in its place meanwhile (see setMeta).
	return u.setMetaFd(int(f.Fd()), hdr)
}

// symlink makes a symlink with the target kept verbatim: it is never followed while unpacking,
// and the runtime resolves it inside the rootfs.
func (u *unpacker) symlink(dirfd int, name string, hdr *tar.Header) error {
	if err := clearName(dirfd, name, false); err != nil {
		return err
	}
	if err := unix.Symlinkat(hdr.Linkname, dirfd, name); err != nil {
		return fmt.Errorf("symlink: %w", err)
	}
	return u.setMeta(dirfd, name, hdr)
}

// hardlink links to an earlier entry, resolved beneath the tree like any name. linkat(2)
// without AT_SYMLINK_FOLLOW links a symlink itself, never the file it points to.
func (u *unpacker) hardlink(dirfd int, name, full string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink to %s: %w", hdr.Linkname, err)
	}
	if target == full || target == "." {
		return fmt.Errorf("hardlink to %s: %w", hdr.Linkname, unix.EINVAL)
	}
	if u.skipped[target] {
		u.log.printf("rootfs: skipping %s: a hard link to the device %s, which was not made", full, target)
		return nil
	}
	tdirfd, err := u.t.openDir(path.Dir(target), beneath)
	if err != nil {
		return fmt.Errorf("hardlink to %s: %w", hdr.Linkname, err)
	}
	defer unix.Close(tdirfd)
	if err := clearName(dirfd, name, false); err != nil {
		return err
	}
	if err := unix.Linkat(tdirfd, path.Base(target), dirfd, name, 0); err != nil {
		return fmt.Errorf("hardlink to %s: %w", hdr.Linkname, err)
	}
	return nil
}

// skip notes that the device full was not made.
func (u *unpacker) skip(full string) {
	if u.skipped == nil {
		u.skipped = map[string]bool{}
	}
	u.skipped[full] = true
}

// node makes a fifo, or a device when root: mknod(2) needs CAP_MKNOD for devices.
func (u *unpacker) node(dirfd int, name, full string, hdr *tar.Header) error {
	kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
	if kind != unix.S_IFIFO && !u.root {
		u.log.printf("rootfs: skipping device %s: creating devices needs root", full)
		u.skip(full)
		return nil
	}
	if err := clearName(dirfd, name, false); err != nil {
		return err
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	err := unix.Mknodat(dirfd, name, kind|0o600, int(dev))
	if err == unix.EPERM && kind != unix.S_IFIFO {
		u.log.printf("rootfs: skipping device %s: mknod: %v", full, err)
		u.skip(full)
		return nil
	}
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return u.setMeta(dirfd, name, hdr)
}

// setMeta applies owner (root only), extended attributes, mode and times to name below dirfd,
// never following a symlink. Every change goes through one O_PATH fd of the entry, checked to
// be of the entry's type: a name looked up again for each change could lead, in between, to
// a file a local user put there, and chowning it to root and giving it a setuid mode would
// make it a setuid-root program of theirs (proc(5): /proc/self/fd/N is the very file the fd
// holds). A regular file does not even take the name once more: setMetaFd gets the fd that
// wrote it, since between that write and this open a user who may rename in the tree (one
// who owns DIR, or a directory the image gives their uid) could still swap in a file of
// theirs of the same type.
func (u *unpacker) setMeta(dirfd int, name string, hdr *tar.Header) error {
	fd, err := openat2(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW, 0, beneath)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if want, ok := entryTypes[hdr.Typeflag]; ok && st.Mode&unix.S_IFMT != want {
		return fmt.Errorf("it changed while unpacking (not the %s the archive made any more)", entryTypeNames[want])
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return u.setSymlinkMeta(fd, dirfd, name, hdr)
	}
	return u.setMetaFd(fd, hdr)
}

// setMetaFd applies owner (root only), extended attributes, mode and times to the file fd
// holds (O_PATH or open). The owner goes first: chown(2) clears setuid bits and file
// capabilities.
func (u *unpacker) setMetaFd(fd int, hdr *tar.Header) error {
	if u.root {
		if err := unix.Fchownat(fd, "", hdr.Uid, hdr.Gid, unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	self := "/proc/self/fd/" + strconv.Itoa(fd)
	// Before the mode: a user.* attribute needs write permission, which 0555 takes away.
	if err := u.setXattrs(self, hdr); err != nil {
		return err
	}
	if err := unix.Chmod(self, u.mode(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	ts := []unix.Timespec{timespec(hdr.AccessTime, hdr.ModTime), timespec(hdr.ModTime, hdr.ModTime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, self, ts, 0); err != nil {
		return fmt.Errorf("utimensat: %w", err)
	}
	return nil
}

// setSymlinkMeta applies owner (root only), extended attributes and times to the symlink fd
// holds (O_PATH, O_NOFOLLOW), named name below dirfd. A symlink has no mode of its own.
func (u *unpacker) setSymlinkMeta(fd, dirfd int, name string, hdr *tar.Header) error {
	if u.root {
		if err := unix.Fchownat(fd, "", hdr.Uid, hdr.Gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("lchown: %w", err)
		}
	}
	if err := u.setXattrs("/proc/self/fd/"+strconv.Itoa(fd), hdr); err != nil {
		return err
	}
	// Its times are set on the link, which the magic link would follow. By name: at worst
	// another file's times.
	ts := []unix.Timespec{timespec(hdr.AccessTime, hdr.ModTime), timespec(hdr.ModTime, hdr.ModTime)}
	if err := unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("utimensat: %w", err)
	}
	return nil
}

// entryTypes are the file types of the entries setMeta sees; a hard link takes its target's.
var entryTypes = map[byte]uint32{
	tar.TypeReg: unix.S_IFREG, tar.TypeDir: unix.S_IFDIR, tar.TypeSymlink: unix.S_IFLNK,
	tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO,
}

var entryTypeNames = map[uint32]string{
	unix.S_IFREG: "file", unix.S_IFDIR: "directory", unix.S_IFLNK: "symlink",
	unix.S_IFCHR: "character device", unix.S_IFBLK: "block device", unix.S_IFIFO: "fifo",
}

// setXattrs restores what a rootfs needs of the extended attributes a PAX archive carries
// (SCHILY.xattr.NAME records, as GNU tar and Docker write them), on files and directories:
// file capabilities (security.capability, such as ping's cap_net_raw; root only, after the
// chown, which clears them) and user.* attributes. The rest (trusted.*, security.selinux,
// ACLs) describe the host that made the archive: skipped, and said. self is the entry's
// /proc/self/fd path (setMeta).
func (u *unpacker) setXattrs(self string, hdr *tar.Header) error {
	var names []string
	for key := range hdr.PAXRecords {
		if attr, ok := strings.CutPrefix(key, "SCHILY.xattr."); ok {
			names = append(names, attr)
		}
	}
	if len(names) == 0 || hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir {
		return nil
	}
	slices.Sort(names)
	for _, attr := range names {
		if !strings.HasPrefix(attr, "user.") && (attr != "security.capability" || !u.root) {
			u.log.printf("rootfs: skipping extended attribute %s of %s", attr, hdr.Name)
			continue
		}
		if err := unix.Setxattr(self, attr, []byte(hdr.PAXRecords["SCHILY.xattr."+attr]), 0); err != nil {
			return fmt.Errorf("setxattr %s: %w", attr, err)
		}
	}
	return nil
}

// mode is the entry's permission bits; setuid and setgid only when root, so that an
// unprivileged unpack makes no set-id program.
func (u *unpacker) mode(hdr *tar.Header) uint32 {
	mode := uint32(hdr.Mode) & 0o7777
	if !u.root {
		mode &^= unix.S_ISUID | unix.S_ISGID
	}
	return mode
}

// timespec converts t, or fallback when t is unset (tar(5) ustar has no atime).
func timespec(t, fallback time.Time) unix.Timespec {
	if t.IsZero() {
		t = fallback
	}
	// Not t.UnixNano(): it overflows outside the years 1678 to 2262.
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// finishDirs applies directory metadata, deepest first so that a parent made read-only last
// does not block its children, and the root (".") after all of them. Until its turn every
// directory stays as unpack made it, root's (the builder's) and 0755: no other user can put
// anything in one whose entries are still being finished. A directory replaced by a later
// entry is left alone.
func (u *unpacker) finishDirs() error {
	dirs := slices.Clone(u.dirs)
	slices.SortStableFunc(dirs, func(a, b *tar.Header) int { return depth(b.Name) - depth(a.Name) })
	for _, hdr := range dirs {
		name, _ := cleanName(hdr.Name)
		if err := u.finishDir(name, hdr); err != nil {
			return fmt.Errorf("tar entry %s: %w", hdr.Name, err)
		}
	}
	return nil
}

// finishDir applies the metadata of one directory entry.
func (u *unpacker) finishDir(name string, hdr *tar.Header) error {
	dirfd, err := u.t.openDir(path.Dir(name), beneath)
	if err != nil {
		return nil // a later entry replaced a parent; that entry won
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, path.Base(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	return u.setMeta(dirfd, path.Base(name), hdr)
}

// depth counts the components of an entry name below the root; the root itself is -1.
func depth(name string) int {
	rel, _ := cleanName(name)
	if rel == "." || rel == "" {
		return -1
	}
	return strings.Count(rel, "/")
}
