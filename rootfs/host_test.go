package rootfs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/containkit/contain/internal/testenv"
)

// hostELF writes at path an ELF file made by makeELF for this machine's class and machine,
// with the host's loader and the dynamic section given: enough for the copier, which reads
// headers and never runs what it copies.
func hostELF(t *testing.T, path string, dynamic [][2]uint64, strtab string) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		testenv.Skip(t, "makeELF's files are little-endian here; this host is big-endian")
	}
	sh, err := readELF(lookProgram("sh")) // for the machine, and a loader that exists
	if err != nil || sh.interp == "" {
		testenv.Skip(t, "no dynamically linked sh on this host")
	}
	data := makeELF(testELF{class: sh.class, order: binary.LittleEndian, machine: sh.machine, interp: sh.interp,
		dynamic: dynamic, strtab: strtab})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// A program whose libraries are found through $ORIGIN finds them in the rootfs too: it keeps
// its host path, /bin/NAME links to it, and $ORIGIN/../lib there holds the library. Copied to
// /bin/NAME itself, its $ORIGIN was /bin, and the loader found nothing.
func TestHostProgramWithOrigin(t *testing.T) {
	s := newSandbox(t)
	host := filepath.Join(s.base, "opt/app")
	const strtab = "\x00libaud.so\x00$ORIGIN/../lib\x00"
	hostELF(t, filepath.Join(host, "bin/prog"), [][2]uint64{{dtNeeded, 1}, {dtRunpath, 11}}, strtab)
	hostELF(t, filepath.Join(host, "lib/libaud.so"), nil, "\x00")
	c := &hostCopier{t: s.tree(t), copied: map[string]bool{}}
	if err := c.program("prog", filepath.Join(host, "bin/prog")); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(s.root, "bin/prog"))
	if err != nil {
		t.Fatalf("/bin/prog: %v, want a link to the program at its host path", err)
	}
	origin := filepath.Dir(target) // as the loader sees it in the container
	for _, p := range []string{target, filepath.Join(origin, "../lib/libaud.so")} {
		if fi, err := os.Lstat(filepath.Join(s.root, p)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s in the rootfs: %v, %v; want the file", p, fi, err)
		}
	}
}

// A program that is a script gets the interpreter its #! line names, at that path, and with
// `#!/usr/bin/env NAME` the program NAME as well.
func TestHostScriptGetsItsInterpreter(t *testing.T) {
	s := newSandbox(t)
	host := filepath.Join(s.base, "opt/app")
	interp := filepath.Join(host, "bin/interp")
	hostELF(t, interp, nil, "\x00")
	for name, first := range map[string]string{"scr": "#!" + interp + " -x", "envscr": "#!/usr/bin/env -S sh -e"} {
		if err := os.WriteFile(filepath.Join(host, "bin", name), []byte(first+"\necho hi\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat("/usr/bin/env"); err != nil {
		testenv.Skip(t, "no /usr/bin/env on this host")
	}
	c := &hostCopier{t: s.tree(t), copied: map[string]bool{}}
	for _, name := range []string{"scr", "envscr"} {
		if err := c.program(name, filepath.Join(host, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"bin/scr", interp, "bin/envscr", "/usr/bin/env", "bin/sh"} {
		if _, err := os.Stat(filepath.Join(s.root, p)); err != nil {
			t.Errorf("%s in the rootfs: %v", p, err)
		}
	}
}
