package rootfs

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/testenv"
)

func TestUnpack(t *testing.T) {
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("e", 120) + "/" + strings.Repeat("f", 150)
	tests := []struct {
		name    string
		format  tar.Format
		entries func(outside string) []entry
		wantErr string // substring; "" means success
		check   func(t *testing.T, s sandbox, log string)
	}{{
		name:    "dotdot escape",
		entries: func(string) []entry { return []entry{fileEntry("../escape", "x", 0o644)} },
		wantErr: "tar entry ../escape: path escapes the root",
	}, {
		name:    "nested dotdot escape",
		entries: func(string) []entry { return []entry{fileEntry("a/../../escape", "x", 0o644)} },
		wantErr: "tar entry a/../../escape: path escapes the root",
	}, {
		name:    "absolute dotdot escape",
		entries: func(string) []entry { return []entry{fileEntry("/../escape", "x", 0o644)} },
		wantErr: "path escapes the root",
	}, {
		name:    "absolute name made relative",
		entries: func(string) []entry { return []entry{fileEntry("/abs/file", "abs", 0o644)} },
		check: func(t *testing.T, s sandbox, _ string) {
			if got := readFile(t, filepath.Join(s.root, "abs/file")); got != "abs" {
				t.Errorf("abs/file = %q, want %q", got, "abs")
			}
		},
	}, {
		name: "symlink out then write through",
		entries: func(out string) []entry {
			return []entry{symlinkEntry("evil", out), fileEntry("evil/file", "pwned", 0o644)}
		},
		wantErr: "tar entry evil/file: path goes through a symlink",
	}, {
		name: "relative symlink out then write through",
		entries: func(string) []entry {
			return []entry{symlinkEntry("evil", "../outside"), fileEntry("evil/file", "pwned", 0o644)}
		},
		wantErr: "tar entry evil/file: path goes through a symlink",
	}, {
		name: "symlink out then mkdir through",
		entries: func(out string) []entry {
			return []entry{symlinkEntry("evil", out), dirEntry("evil/sub/", 0o755)}
		},
		wantErr: "tar entry evil/sub/: path goes through a symlink",
	}, {
		name: "symlink out then symlink through",
		entries: func(out string) []entry {
			return []entry{symlinkEntry("evil", out), symlinkEntry("evil/link", "/")}
		},
		wantErr: "path goes through a symlink",
	}, {
		name: "symlink out kept as a link",
		entries: func(out string) []entry {
			return []entry{symlinkEntry("etc", out)}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			if got, err := os.Readlink(filepath.Join(s.root, "etc")); err != nil || got != s.outside {
				t.Errorf("etc -> %q, %v; want %q", got, err, s.outside)
			}
		},
	}, {
		name: "file replaces a symlink out",
		entries: func(out string) []entry {
			return []entry{symlinkEntry("evil", filepath.Join(out, "secret")), fileEntry("evil", "mine", 0o644)}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			fi, err := os.Lstat(filepath.Join(s.root, "evil"))
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("evil: %v, %v; want a regular file", fi, err)
			}
			if got := readFile(t, filepath.Join(s.root, "evil")); got != "mine" {
				t.Errorf("evil = %q, want %q", got, "mine")
			}
		},
	}, {
		name: "hardlink escape",
		entries: func(string) []entry {
			return []entry{hardlinkEntry("h", "../outside/secret")}
		},
		wantErr: "tar entry h: hardlink to ../outside/secret: path escapes the root",
	}, {
		name: "hardlink to absolute outside path stays inside",
		entries: func(out string) []entry {
			return []entry{hardlinkEntry("h", filepath.Join(out, "secret"))}
		},
		wantErr: "no such file or directory",
	}, {
		name: "hardlink to a symlink out links the symlink",
		entries: func(out string) []entry {
			return []entry{symlinkEntry("evil", filepath.Join(out, "secret")), hardlinkEntry("h", "evil")}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			fi, err := os.Lstat(filepath.Join(s.root, "h"))
			if err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("h: %v, %v; want a symlink (the link itself, not its target)", fi, err)
			}
		},
	}, {
		name: "hardlink through a symlink out",
		entries: func(out string) []entry {
			return []entry{symlinkEntry("evil", out), hardlinkEntry("h", "evil/secret")}
		},
		wantErr: "tar entry h: hardlink to evil/secret: path goes through a symlink",
	}, {
		name: "hardlink inside",
		entries: func(string) []entry {
			return []entry{fileEntry("a", "data", 0o644), hardlinkEntry("b", "a")}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			a, _ := os.Stat(filepath.Join(s.root, "a"))
			b, err := os.Stat(filepath.Join(s.root, "b"))
			if err != nil || !os.SameFile(a, b) {
				t.Errorf("b is not a hardlink of a: %v", err)
			}
		},
	}, {
		name: "modes kept",
		entries: func(string) []entry {
			return []entry{
				fileEntry("suid", "x", 0o4755), fileEntry("ro", "x", 0o444),
				dirEntry("private", 0o700), fileEntry("private/f", "x", 0o600),
				dirEntry("sticky", 0o1777), fileEntry("implicit/parent/f", "x", 0o644),
			}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			suid := os.FileMode(0o755) | os.ModeSetuid
			if os.Geteuid() != 0 {
				suid = 0o755 // set-id bits only when root
			}
			for name, want := range map[string]os.FileMode{
				"suid": suid, "ro": 0o444, "private": os.ModeDir | 0o700,
				"sticky": os.ModeDir | os.ModeSticky | 0o777, "implicit": os.ModeDir | 0o755,
			} {
				if fi, err := os.Lstat(filepath.Join(s.root, name)); err != nil || fi.Mode() != want {
					t.Errorf("%s: mode %v, %v; want %v", name, fi.Mode(), err, want)
				}
			}
		},
	}, {
		name: "mtimes kept",
		entries: func(string) []entry {
			return []entry{dirEntry("d", 0o755), fileEntry("d/f", "x", 0o644), symlinkEntry("d/l", "f")}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			for _, name := range []string{"d", "d/f", "d/l"} {
				if fi, err := os.Lstat(filepath.Join(s.root, name)); err != nil || !fi.ModTime().Equal(testTime) {
					t.Errorf("%s: mtime %v, %v; want %v", name, fi.ModTime(), err, testTime)
				}
			}
		},
	}, {
		name:   "mtime beyond what nanoseconds since 1970 hold",
		format: tar.FormatPAX,
		entries: func(string) []entry {
			late := fileEntry("late", "x", 0o644)
			late.hdr.ModTime = farFuture
			return []entry{late}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			if fi, err := os.Lstat(filepath.Join(s.root, "late")); err != nil || !fi.ModTime().Equal(farFuture) {
				t.Errorf("late: mtime %v, %v; want %v", fi.ModTime(), err, farFuture)
			}
		},
	}, {
		name: "root takes the times of ./, not its mode",
		entries: func(string) []entry {
			return []entry{dirEntry("./", 0o700), fileEntry("./f", "x", 0o644)}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			if fi, err := os.Lstat(s.root); err != nil || fi.Mode() != os.ModeDir|0o755 || !fi.ModTime().Equal(testTime) {
				t.Errorf("root: %v, %v; want mode drwxr-xr-x and mtime %v", fi.Mode(), err, testTime)
			}
		},
	}, {
		name:    "uid beyond 32 bits",
		format:  tar.FormatPAX,
		entries: func(string) []entry { return []entry{owned(fileEntry("f", "x", 0o644), 1<<32, 0)} },
		wantErr: "tar entry f: owner 4294967296:0: numerical result out of range",
	}, {
		name:    "gid that chown reads as unchanged",
		format:  tar.FormatPAX,
		entries: func(string) []entry { return []entry{owned(fileEntry("f", "x", 0o644), 0, 1<<32-1)} },
		wantErr: "owner 0:4294967295: numerical result out of range",
	}, {
		name: "runs of zeros become holes",
		entries: func(string) []entry {
			body := strings.Repeat("\x00", 4<<20) + "data" + strings.Repeat("\x00", 1<<20)
			return []entry{fileEntry("sparse", body, 0o644)}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			p := filepath.Join(s.root, "sparse")
			got := readFile(t, p)
			if want := strings.Repeat("\x00", 4<<20) + "data" + strings.Repeat("\x00", 1<<20); got != want {
				t.Fatalf("sparse: %d bytes read back differ from the %d written", len(got), len(want))
			}
			fi, _ := os.Lstat(p)
			if used := statOf(fi).Blocks * 512; used > 1<<20 {
				t.Errorf("sparse: %d bytes on disk for 5 MiB of mostly zeros, want holes", used)
			}
		},
	}, {
		name:   "long names pax",
		format: tar.FormatPAX,
		entries: func(string) []entry {
			return []entry{fileEntry(long, "long", 0o644), symlinkEntry(long+"-l", "../../"+long)}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			if got := readFile(t, filepath.Join(s.root, long+"-l")); got != "long" {
				t.Errorf("long name = %q, want %q", got, "long")
			}
		},
	}, {
		name:   "long names gnu",
		format: tar.FormatGNU,
		entries: func(string) []entry {
			return []entry{fileEntry(long, "long", 0o644), symlinkEntry(long+"-l", "../../"+long)}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			if got := readFile(t, filepath.Join(s.root, long+"-l")); got != "long" {
				t.Errorf("long name = %q, want %q", got, "long")
			}
		},
	}, {
		name:    "whiteouts skipped",
		entries: func(string) []entry { return []entry{fileEntry("etc/.wh.gone", "", 0o644)} },
		check: func(t *testing.T, s sandbox, log string) {
			if _, err := os.Lstat(filepath.Join(s.root, "etc/.wh.gone")); err == nil {
				t.Error("whiteout was written")
			}
			if !strings.Contains(log, "whiteout etc/.wh.gone") {
				t.Errorf("log %q does not mention the whiteout", log)
			}
		},
	}, {
		name:    "fifo",
		entries: func(string) []entry { return []entry{nodeEntry("p", tar.TypeFifo, 0, 0)} },
		check: func(t *testing.T, s sandbox, _ string) {
			if fi, err := os.Lstat(filepath.Join(s.root, "p")); err != nil || fi.Mode() != os.ModeNamedPipe|0o666 {
				t.Errorf("p: %v, %v; want a fifo 0666", fi, err)
			}
		},
	}, {
		name: "directory replaces a file, file replaces an empty directory",
		entries: func(string) []entry {
			return []entry{fileEntry("a", "x", 0o644), dirEntry("a", 0o755), dirEntry("b", 0o755), fileEntry("b", "y", 0o644)}
		},
		check: func(t *testing.T, s sandbox, _ string) {
			if fi, err := os.Lstat(filepath.Join(s.root, "a")); err != nil || !fi.IsDir() {
				t.Errorf("a: %v, %v; want a directory", fi, err)
			}
			if got := readFile(t, filepath.Join(s.root, "b")); got != "y" {
				t.Errorf("b = %q, want %q", got, "y")
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			log, err := s.unpackInto(t, tarball(t, tt.format, tt.entries(s.outside)...))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unpack: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("unpack error = %v, want one containing %q", err, tt.wantErr)
			}
			s.assertUntouched(t)
			if tt.check != nil {
				tt.check(t, s, log)
			}
		})
	}
}

func TestUnpackDetectsGzipByMagic(t *testing.T) {
	plain := tarball(t, tar.FormatUnknown, fileEntry("hello", "hi", 0o644))
	for _, tt := range []struct {
		name string
		data []byte
	}{{"image.tar", gzipped(t, plain)}, {"image.tgz", plain}, {"image.tar.gz", gzipped(t, plain)}} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			file := filepath.Join(base, tt.name)
			if err := os.WriteFile(file, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(base, "root")
			if err := Build(dir, Options{From: file, Probe: fakeProbe(t, base, "probe", false, "")}); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dir, "hello")); got != "hi" {
				t.Errorf("hello = %q, want %q", got, "hi")
			}
		})
	}
}

// A plain archive whose first member's name starts like a compressed stream (bzip2's "BZh9",
// gzip's 1f 8b) is read as the tar it is: its first block is a valid tar header.
func TestUnpackPlainTarThatStartsLikeACompression(t *testing.T) {
	for _, name := range []string{"BZh91AY&SY", "\x1f\x8bgz", "\x28\xb5\x2f\xfdzst"} {
		s := newSandbox(t)
		file := filepath.Join(t.TempDir(), "plain.tar")
		if err := os.WriteFile(file, tarball(t, tar.FormatUnknown, fileEntry(name, "plain", 0o644)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := unpackFile(s.tree(t), file, logger{io.Discard}, nil); err != nil {
			t.Errorf("a plain tar whose first member is %q: %v", name, err)
			continue
		}
		if got := readFile(t, filepath.Join(s.root, name)); got != "plain" {
			t.Errorf("%q = %q, want %q", name, got, "plain")
		}
	}
}

// farFuture is a time that time.Time.UnixNano cannot hold (it covers 1678 to 2262), and that
// ext4 can (up to 2446; an early date such as 1600 it would clamp to 1901 itself).
var farFuture = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)

// owned gives an entry an owner.
func owned(e entry, uid, gid int) entry { e.hdr.Uid, e.hdr.Gid = uid, gid; return e }

func TestUnpackRefusesWhatIsNoArchive(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		data       []byte
	}{
		{"empty file", "empty file: not a tar archive", nil},
		{"empty gzip stream", "empty file: not a tar archive", gzipped(t, nil)},
		{"xz cut short", "xz -d: exit status 1", []byte("\xfd7zXZ\x00\x00\x04")},
		{"zstd cut short", "zstd -d: exit status 1", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}},
		{"a text file", "not a tar archive (no tar header at its start)", []byte("hello world\n")},
		{"a block of text", "not a tar archive (no tar header at its start)", bytes.Repeat([]byte("not a tar header "), 64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if program, _, cut := strings.Cut(tt.name, " cut short"); cut {
				needProgram(t, program)
			}
			s := newSandbox(t)
			if _, err := s.unpackInto(t, tt.data); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("unpack error = %v, want one containing %q", err, tt.want)
			}
			s.assertUntouched(t)
		})
	}
	t.Run("archive with no entries", func(t *testing.T) {
		s := newSandbox(t)
		if _, err := s.unpackInto(t, tarball(t, tar.FormatUnknown)); err != nil {
			t.Fatalf("unpack of an archive with no entries: %v", err)
		}
	})
}

// helloBzip2 is `tar -c hello | bzip2`, hello holding "hi": the standard library reads
// bzip2 but cannot write it.
const helloBzip2 = "QlpoOTFBWSZTWTHQMBMAAHDbgMkAQAB/gAAIYmSeAAgIIABUNIaJiaaekZPTUEkUyNMmg0NB91iOhBzAEIzbvSRAyigQyYm6HYDdwQQe66Xic6x7SlD4EAuumf8oVmapEQH4u5IpwoSBjoGAmA=="

func TestUnpackReadsBzip2(t *testing.T) {
	data, err := base64.StdEncoding.DecodeString(helloBzip2)
	if err != nil {
		t.Fatal(err)
	}
	s := newSandbox(t)
	if _, err := s.unpackInto(t, data); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(s.root, "hello")); got != "hi" {
		t.Errorf("hello = %q, want %q", got, "hi")
	}
}

// needProgram skips the test (fails it, in CI) when program is not installed.
func needProgram(t *testing.T, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		testenv.Skip(t, program+" is not installed (.ci/run installs it)")
	}
}

// compressed compresses b with the host's program (gzip, bzip2, xz or zstd).
func compressed(t *testing.T, program string, b []byte) []byte {
	t.Helper()
	needProgram(t, program)
	cmd := exec.Command(program, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -c: %v", program, err)
	}
	return out
}

// Each compression is told by its content and read by the host's program for it.
func TestUnpackReadsEveryCompression(t *testing.T) {
	plain := tarball(t, tar.FormatUnknown, fileEntry("hello", "hi", 0o644))
	for _, program := range []string{"gzip", "bzip2", "xz", "zstd"} {
		t.Run(program, func(t *testing.T) {
			s := newSandbox(t)
			if _, err := s.unpackInto(t, compressed(t, program, plain)); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(s.root, "hello")); got != "hi" {
				t.Errorf("hello = %q, want %q", got, "hi")
			}
		})
	}
}

// A compressed archive's checksum is checked: the tar reader stops before the compressed
// stream's trailer, and a damaged body or checksum used to unpack as if nothing were wrong.
// The decompressor's own message says what is wrong.
func TestUnpackChecksTheCompressedChecksum(t *testing.T) {
	// Padded as tar(1) pads to its 10240-byte records: the reader stops before the padding.
	archive := tarball(t, tar.FormatUnknown, fileEntry("hello", "hi", 0o644))
	archive = append(archive, make([]byte, 10240-len(archive)%10240)...)
	bz, err := base64.StdEncoding.DecodeString(helloBzip2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		at   int // the byte to damage, from the end
	}{
		{"gzip", gzipped(t, archive), 8},            // the trailer: CRC-32, then the size
		{"bzip2", bz, 6},                            // the stream's combined CRC, after the one block
		{"xz", compressed(t, "xz", archive), 20},    // the block's CRC-64, before the index
		{"zstd", compressed(t, "zstd", archive), 1}, // the frame's content checksum
	} {
		t.Run(tt.name, func(t *testing.T) {
			damaged := slices.Clone(tt.data)
			damaged[len(damaged)-tt.at] ^= 1
			s := newSandbox(t)
			if _, err := s.unpackInto(t, damaged); err == nil || !strings.Contains(err.Error(), tt.name+" -d: exit status") {
				t.Errorf("damaged: unpack error %v, want %s's own", err, tt.name)
			}
			s.assertUntouched(t)
		})
	}
}

// Without the program a compression needs, the error names it and its Debian package.
func TestUnpackNamesAMissingDecompressor(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for program, pkg := range map[string]string{"gzip": "gzip", "xz": "xz-utils"} {
		data := []byte{0x1f, 0x8b, 8, 0}
		if program == "xz" {
			data = []byte("\xfd7zXZ\x00\x00\x04")
		}
		s := newSandbox(t)
		want := "compressed with " + program + ", and no " + program + " program is installed to read it (Debian package " + pkg + ")"
		if _, err := s.unpackInto(t, data); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: unpack error %v, want one containing %q", program, err, want)
		}
	}
}

// An entry refused half-way through a large compressed archive stops the decompressor, which
// was still writing: the unpack returns the entry's error, and leaves no process behind.
func TestUnpackStopsTheDecompressorEarly(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<20) // 16 MiB, far more than a pipe holds
	data := gzipped(t, tarball(t, tar.FormatUnknown, fileEntry("../escape", "x", 0o644), fileEntry("big", big, 0o644)))
	s := newSandbox(t)
	if _, err := s.unpackInto(t, data); err == nil || !strings.Contains(err.Error(), "tar entry ../escape: path escapes the root") {
		t.Fatalf("unpack error %v, want the escape refused", err)
	}
	if kids := testenv.Children(os.Getpid()); len(kids) > 0 {
		t.Errorf("processes left behind: %v", kids)
	}
}

// A compressed archive given as a pipe (`--from /dev/stdin`, `<(docker export c)`), which
// the decompressor cannot read from its start itself, is copied to it.
func TestUnpackReadsACompressedPipe(t *testing.T) {
	s := newSandbox(t)
	fifo := filepath.Join(s.base, "image.tar.gz")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	data := gzipped(t, tarball(t, tar.FormatUnknown, fileEntry("hello", "hi", 0o644)))
	written := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, err = w.Write(data)
			w.Close()
		}
		written <- err
	}()
	if err := unpackFile(s.tree(t), fifo, logger{io.Discard}, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(s.root, "hello")); got != "hi" {
		t.Errorf("hello = %q, want %q", got, "hi")
	}
}

func TestUnpackKeepsOwners(t *testing.T) {
	testenv.RequireRoot(t)
	s := newSandbox(t)
	data := tarball(t, tar.FormatUnknown, owned(dirEntry("d", 0o755), 1234, 5678),
		owned(fileEntry("d/f", "x", 0o4755), 1234, 5678), owned(symlinkEntry("d/l", "f"), 1234, 5678))
	if _, err := s.unpackInto(t, data); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"d", "d/f", "d/l"} {
		fi, err := os.Lstat(filepath.Join(s.root, name))
		if err != nil {
			t.Fatal(err)
		}
		if st := statOf(fi); st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: owner %d:%d, want 1234:5678", name, st.Uid, st.Gid)
		}
	}
	if fi, _ := os.Lstat(filepath.Join(s.root, "d/f")); fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("d/f lost its setuid bit after chown: %v", fi.Mode())
	}
}

func TestUnpackDevices(t *testing.T) {
	testenv.RequireRoot(t)
	s := newSandbox(t)
	data := tarball(t, tar.FormatUnknown,
		nodeEntry("dev/null", tar.TypeChar, 1, 3), nodeEntry("dev/loop9", tar.TypeBlock, 7, 9))
	log, err := s.unpackInto(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log, "skipping device") {
		testenv.Skip(t, "mknod is not permitted here: "+log)
	}
	for name, want := range map[string]struct {
		mode uint32
		dev  uint64
	}{"dev/null": {syscall.S_IFCHR, 1<<8 | 3}, "dev/loop9": {syscall.S_IFBLK, 7<<8 | 9}} {
		fi, err := os.Lstat(filepath.Join(s.root, name))
		if err != nil {
			t.Fatal(err)
		}
		if st := statOf(fi); st.Mode&syscall.S_IFMT != want.mode || st.Rdev != want.dev || st.Mode&0o777 != 0o666 {
			t.Errorf("%s: mode %o rdev %#x, want type %o rdev %#x perm 666", name, st.Mode, st.Rdev, want.mode, want.dev)
		}
	}
}

func TestUnpackSkipsDevicesWithoutRoot(t *testing.T) {
	s := newSandbox(t)
	tr := s.tree(t)
	var log bytes.Buffer
	// A hard link to a device not made is skipped with it, not an error that ends the build.
	data := tarball(t, tar.FormatUnknown, nodeEntry("dev/null", tar.TypeChar, 1, 3), hardlinkEntry("dev/null2", "dev/null"))
	if err := unpack(tr, tar.NewReader(bytes.NewReader(data)), logger{&log}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "skipping device dev/null") {
		t.Errorf("log %q does not say the device was skipped", log.String())
	}
	if !strings.Contains(log.String(), "skipping dev/null2: a hard link to the device dev/null") {
		t.Errorf("log %q does not say the hard link to it was skipped", log.String())
	}
	for _, name := range []string{"dev/null", "dev/null2"} {
		if _, err := os.Lstat(filepath.Join(s.root, name)); err == nil {
			t.Errorf("%s was made without root", name)
		}
	}
}

// A global PAX header's name is never used: one that would escape the root is no error.
func TestUnpackIgnoresAGlobalHeadersName(t *testing.T) {
	s := newSandbox(t)
	global := entry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "../../g", PAXRecords: map[string]string{"comment": "x"}}}
	data := tarball(t, tar.FormatPAX, global, fileEntry("f", "x", 0o644))
	if err := unpack(s.tree(t), tar.NewReader(bytes.NewReader(data)), logger{io.Discard}, false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(s.root, "f")); got != "x" {
		t.Errorf("f = %q, want the entry after the global header", got)
	}
}

func TestUnpackKeepsFileCapabilitiesAndUserXattrs(t *testing.T) {
	// vfs_cap_data, revision 2 (capability.h): cap_net_raw (13) permitted and effective.
	netRaw := string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	ping := fileEntry("bin/ping", "x", 0o755)
	ping.hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": netRaw, "SCHILY.xattr.user.origin": "image",
		"SCHILY.xattr.trusted.overlay.opaque": "y"}
	dir := dirEntry("ro", 0o555)
	dir.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.origin": "dir"}
	s := newSandbox(t)
	var log string
	var err error
	asOwnerOnly(t, func() { log, err = s.unpackInto(t, tarball(t, tar.FormatPAX, ping, dir)) })
	if err != nil {
		t.Fatal(err)
	}
	get := func(p, attr string) string {
		buf := make([]byte, 64)
		n, err := unix.Lgetxattr(filepath.Join(s.root, p), attr, buf)
		if err != nil {
			return err.Error()
		}
		return string(buf[:n])
	}
	if got := get("bin/ping", "user.origin"); got != "image" {
		t.Errorf("bin/ping user.origin = %q, want image", got)
	}
	if got := get("ro", "user.origin"); got != "dir" {
		t.Errorf("ro user.origin = %q, want dir (set before the directory became read-only)", got)
	}
	if got := get("bin/ping", "trusted.overlay.opaque"); got == "y" || !strings.Contains(log, "skipping extended attribute trusted.overlay.opaque") {
		t.Errorf("trusted.overlay.opaque = %q, log %q: want it skipped and said", got, log)
	}
	if os.Geteuid() == 0 {
		if got := get("bin/ping", "security.capability"); got != netRaw {
			t.Errorf("bin/ping security.capability = %x, want %x (cap_net_raw)", got, netRaw)
		}
	}
}

// Directory metadata comes deepest first and the root last: until its turn a directory is
// the builder's and 0755, so nobody can swap what is inside one still being finished (an
// archive's "./" given to a local uid, finished before "x/", let that uid trade x for a file
// of theirs and get it chowned to root and made setuid).
func TestFinishDirsOrderEndsAtTheRoot(t *testing.T) {
	var order []string
	for _, n := range []string{"a/", "./", "a/b/c/", "x/", "a/b/"} {
		order = append(order, n)
	}
	slices.SortStableFunc(order, func(a, b string) int { return depth(b) - depth(a) })
	if want := []string{"a/b/c/", "a/b/", "a/", "x/", "./"}; !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
}

// setMeta changes the entry it opened, of the entry's type: a name that meanwhile leads to
// something else (a file where the archive made a directory) is refused, and left alone.
func TestSetMetaRefusesAnEntryThatChanged(t *testing.T) {
	s := newSandbox(t)
	tr := s.tree(t)
	if err := os.WriteFile(filepath.Join(s.root, "x"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	u := &unpacker{t: tr, root: os.Geteuid() == 0}
	hdr := dirEntry("x/", 0o6755).hdr
	if err := u.setMeta(tr.fd, "x", &hdr); err == nil || !strings.Contains(err.Error(), "changed while unpacking") {
		t.Errorf("setMeta of a directory entry on a file: %v, want it refused", err)
	}
	if fi, err := os.Stat(filepath.Join(s.root, "x")); err != nil || fi.Mode().Perm() != 0o644 || fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		t.Errorf("the file: %v %v, want it as it was (0644)", fi.Mode(), err)
	}
}

// makeWritableAt (the clean-up of a failed build by a user who is not root) gives read-only
// directories their owner's bits through their own fds, and never follows a symlink to a
// directory outside, which a local user could swap in for one of the tree's directories.
func TestMakeWritableNeverFollowsASymlink(t *testing.T) {
	s := newSandbox(t)
	for _, d := range []string{"ro", "ro/sub"} {
		if err := os.Mkdir(filepath.Join(s.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(s.outside, filepath.Join(s.root, "ro", "link")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(s.root, "ro", "sub"), filepath.Join(s.root, "ro"), s.outside} {
		if err := os.Chmod(d, 0o500); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(s.root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	makeWritableAt(fd)
	for d, want := range map[string]os.FileMode{"root/ro": 0o700, "root/ro/sub": 0o700, "outside": 0o500} {
		if fi, err := os.Stat(filepath.Join(s.base, d)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", d, fi.Mode().Perm(), err, want)
		}
	}
	os.Chmod(s.outside, 0o755)
}

// Without root, no set-id program comes out (a user's unpack must not make setuid files for
// others to run), no security.* attribute but none, and each file keeps the archive's mtime,
// not its atime.
func TestUnpackWithoutRootDropsSetIDAndSecurityXattrs(t *testing.T) {
	suid := fileEntry("bin/su", "x", 0o6755)
	suid.hdr.AccessTime = testTime.Add(time.Hour)
	suid.hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02", "SCHILY.xattr.security.ima": "sig"}
	s := newSandbox(t)
	tr := s.tree(t)
	var log bytes.Buffer
	if err := unpack(tr, tar.NewReader(bytes.NewReader(tarball(t, tar.FormatPAX, suid))), logger{&log}, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.root, "bin/su")
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/su unpacked without root: %v, want 0755 and no set-id bits", fi.Mode())
	}
	if !fi.ModTime().Equal(testTime) {
		t.Errorf("bin/su mtime %v, want the archive's %v (not its atime)", fi.ModTime(), testTime)
	}
	for _, attr := range []string{"security.capability", "security.ima"} {
		if n, err := unix.Getxattr(path, attr, nil); err == nil || n > 0 {
			t.Errorf("%s was set without root (%d bytes)", attr, n)
		}
	}
}

// A directory of GNU tar's incremental format ('D') is a directory with its own mode and
// owner, as GNU tar unpacks it; it used to be skipped, and made implicitly as 0755.
func TestUnpackGNUDumpDir(t *testing.T) {
	s := newSandbox(t)
	dumpdir := dirEntry("d/", 0o750)
	dumpdir.hdr.Typeflag = gnuDumpDir
	dumpdir.body = "Yf\x00\x00"
	dumpdir.hdr.Size = int64(len(dumpdir.body))
	log, err := s.unpackInto(t, tarball(t, tar.FormatGNU, dumpdir, fileEntry("d/f", "x", 0o644)))
	if err != nil {
		t.Fatalf("unpack: %v (log %q)", err, log)
	}
	if strings.Contains(log, "skipping") {
		t.Errorf("log = %q, want nothing skipped", log)
	}
	if got := modeOf(t, filepath.Join(s.root, "d")); got != os.ModeDir|0o750 {
		t.Errorf("d is %v, want a directory 0750", got)
	}
	if got := readFile(t, filepath.Join(s.root, "d/f")); got != "x" {
		t.Errorf("d/f = %q", got)
	}
}
