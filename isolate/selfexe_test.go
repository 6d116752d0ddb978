package isolate

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

// The read-only mount of the binary opens for reading (execve needs that) and refuses
// writing with EROFS, whoever asks.
func TestReadonlySelf(t *testing.T) {
	testenv.RequireRoot(t)
	self, err := openReadonlySelf()
	if err != nil {
		t.Fatal(err)
	}
	defer self.close()
	path, err := self.pathFor(3)
	if err != nil {
		t.Fatal(err)
	}
	if self.fd < 9 {
		t.Errorf("fd %d: want it above 2*3+3, out of ForkExec's way", self.fd)
	}
	// O_TRUNC: the kernel checks the mount before the busy file (this test's own binary),
	// and would fail with ETXTBSY before truncating anything.
	if _, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0); !errors.Is(err, unix.EROFS) {
		t.Errorf("open %s for writing: %v, want EROFS", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := f.Read(magic); err != nil || string(magic) != "\x7fELF" {
		t.Errorf("read %s: %q, %v: want this binary", path, magic, err)
	}
}

// The cost of the exec-safety defence, per process started in a container: see selfexe.go.
// The close, which the runtime leaves to the background, is not counted.
func BenchmarkReadonlySelf(b *testing.B) {
	testenv.RequireRoot(b)
	for range b.N {
		self, err := openReadonlySelf()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		unix.Close(self.fd)
		b.StartTimer()
	}
}

// The alternative it was measured against: runc's sealed memfd copy of the binary.
func BenchmarkSealedMemfdCopy(b *testing.B) {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		b.Fatal(err)
	}
	defer exe.Close()
	info, err := exe.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size())
	for b.Loop() {
		fd, err := unix.MemfdCreate("contain", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			b.Fatal(err)
		}
		var off int64
		for off < info.Size() {
			n, err := unix.Sendfile(fd, int(exe.Fd()), &off, int(info.Size()-off))
			if err != nil || n == 0 {
				b.Fatalf("sendfile: %d, %v", n, err)
			}
		}
		seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
	}
}
