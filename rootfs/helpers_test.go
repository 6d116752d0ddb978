package rootfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeProbe writes a minimal x86-64 ELF executable (exit(0)) to dir/name: static, or with a
// PT_INTERP when dynamic. extra changes its content, for probe refresh tests.
func fakeProbe(t *testing.T, dir, name string, dynamic bool, extra string) string {
	t.Helper()
	const base = 0x400000
	interp := "/lib64/ld-linux-x86-64.so.2\x00"
	code := []byte{0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05} // mov eax,60; xor edi,edi; syscall
	phnum := 1
	if dynamic {
		phnum = 2
	}
	hdrSize := 64 + 56*phnum
	body := append(append([]byte{}, code...), interp...)
	body = append(body, extra...)
	total := uint64(hdrSize + len(body))
	var buf bytes.Buffer
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	write := func(v any) {
		if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	write(elf.Header64{
		Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: 1,
		Entry: base + uint64(hdrSize), Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: uint16(phnum),
	})
	write(elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: base, Paddr: base,
		Filesz: total, Memsz: total, Align: 0x1000})
	if dynamic {
		off := uint64(hdrSize + len(code))
		write(elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: off, Vaddr: base + off,
			Paddr: base + off, Filesz: uint64(len(interp)), Memsz: uint64(len(interp)), Align: 1})
	}
	buf.Write(body)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// entry is one member of a test archive.
type entry struct {
	hdr  tar.Header
	body string
}

var testTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func fileEntry(name, body string, mode int64) entry {
	return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: testTime}, body}
}

func dirEntry(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: testTime}}
}

func symlinkEntry(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: testTime}}
}

func hardlinkEntry(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: testTime}}
}

func nodeEntry(name string, typ byte, major, minor int64) entry {
	return entry{hdr: tar.Header{Typeflag: typ, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor, ModTime: testTime}}
}

// tarball builds an archive in memory.
func tarball(t *testing.T, format tar.Format, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		hdr.Format = format
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("write header %s: %v", hdr.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipped compresses b.
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a temp dir holding the rootfs "root" and a marker directory "outside" (with a
// file "secret") that no unpack may touch.
type sandbox struct {
	base, root, outside string
}

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	base := t.TempDir()
	s := sandbox{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.root, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// assertUntouched fails unless base holds only root (and outside, with only its secret, intact
// and not linked from anywhere).
func (s sandbox) assertUntouched(t *testing.T) {
	t.Helper()
	if got := names(t, s.base); !slices.Equal(got, []string{"outside", "root"}) {
		t.Errorf("%s holds %v, want [outside root]: something escaped", s.base, got)
	}
	if got := names(t, s.outside); !slices.Equal(got, []string{"secret"}) {
		t.Errorf("outside dir holds %v, want [secret]: something was written outside", got)
	}
	b, err := os.ReadFile(filepath.Join(s.outside, "secret"))
	if err != nil || string(b) != "secret" {
		t.Errorf("outside secret = %q, %v; want it unchanged", b, err)
	}
	if n := nlink(t, filepath.Join(s.outside, "secret")); n != 1 {
		t.Errorf("outside secret has %d links, want 1: something hardlinked it", n)
	}
}

// tree opens s.root as a tree, closed when the test ends.
func (s sandbox) tree(t *testing.T) *tree {
	t.Helper()
	tr, err := openTree(s.root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// unpackInto writes data to a file and unpacks it into s.root, returning the log.
func (s sandbox) unpackInto(t *testing.T, data []byte) (string, error) {
	t.Helper()
	file := filepath.Join(s.base, "image.tar")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(file)
	var log bytes.Buffer
	err := unpackFile(s.tree(t), file, logger{&log}, nil)
	return log.String(), err
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	n, err := readNames(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(n)
	return n
}

func statOf(fi os.FileInfo) *syscall.Stat_t { return fi.Sys().(*syscall.Stat_t) }

func nlink(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(statOf(fi).Nlink)
}

func modeOf(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// asOwnerOnly runs fn as a caller who is not root would: as root, on a thread of its own
// whose effective set lacks the capabilities that bypass file permissions (capabilities(7)
// are per thread). The thread is never unlocked, so Go ends it with the goroutine.
func asOwnerOnly(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		for _, c := range []uint{unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER} {
			data[c/32].Effective &^= 1 << (c % 32)
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("drop the capabilities that bypass permissions: %v", err)
	}
}
