package rootfs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stdInterp is path's PT_INTERP as the standard library's debug/elf reads it: the oracle the
// tests hold readELF to. ok is false when path cannot be read as ELF.
func stdInterp(path string) (interp string, ok bool) {
	f, err := elf.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", false
			}
			return strings.TrimRight(string(b), "\x00"), true
		}
	}
	return "", true
}

// hostELFFiles are programs and libraries of this host, dynamic and static, found by the
// loader's own paths where it can.
func hostELFFiles(t *testing.T) []string {
	files := []string{"/bin/sh", "/bin/ls", "/usr/bin/env", "/usr/bin/id", "/bin/busybox", os.Args[0]}
	if interp, ok := stdInterp("/bin/sh"); ok && interp != "" {
		files = append(files, interp)
	}
	for _, dir := range libraryDirs() {
		if matches, _ := filepath.Glob(filepath.Join(dir, "lib[cm].so.6")); len(matches) > 0 {
			files = append(files, matches...)
		}
	}
	var found []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			found = append(found, f)
		}
	}
	if len(found) < 3 {
		t.Fatalf("found only %v of %v on this host", found, files)
	}
	return found
}

// readELF reads what debug/elf reads, on real files: class, machine, interpreter, DT_NEEDED,
// DT_RPATH and DT_RUNPATH.
func TestReadELFAgreesWithDebugELF(t *testing.T) {
	for _, path := range hostELFFiles(t) {
		std, err := elf.Open(path)
		if err != nil {
			t.Errorf("debug/elf: %v", err)
			continue
		}
		wantInterp, _ := stdInterp(path)
		wantNeeded, _ := std.ImportedLibraries()
		wantRpath, _ := std.DynString(elf.DT_RPATH)
		wantRunpath, _ := std.DynString(elf.DT_RUNPATH)
		class, machine := byte(std.Class), uint16(std.Machine)
		std.Close()

		got, err := readELF(path)
		if err != nil {
			t.Errorf("readELF(%s): %v", path, err)
			continue
		}
		if got.class != class || got.machine != machine || got.interp != wantInterp {
			t.Errorf("%s: class %d, machine %d, interp %q; debug/elf says %d, %d, %q",
				path, got.class, got.machine, got.interp, class, machine, wantInterp)
		}
		if !slices.Equal(got.needed, wantNeeded) || !slices.Equal(got.rpath, wantRpath) || !slices.Equal(got.runpath, wantRunpath) {
			t.Errorf("%s: needed %q, rpath %q, runpath %q; debug/elf says %q, %q, %q",
				path, got.needed, got.rpath, got.runpath, wantNeeded, wantRpath, wantRunpath)
		}
	}
}

// testELF describes a file for makeELF to write.
type testELF struct {
	class   byte
	order   binary.ByteOrder
	machine uint16
	interp  string
	dynamic [][2]uint64 // tag, value; the string offsets are into strtab
	strtab  string
}

// The layout makeELF writes, which the damage cases below change.
const (
	testBase     = 0x10000 // where the one PT_LOAD maps the whole file
	testInterpAt = 0x200   // file offsets of the interpreter, the string table and the
	testStrtabAt = 0x300   // dynamic section
	testDynAt    = 0x400
)

// makeELF writes an ELF file of e's class and byte order by hand: a header, three program
// headers (PT_LOAD of the whole file, PT_INTERP, PT_DYNAMIC) and what they point to. It
// covers what the host's files do not: 32-bit, big-endian, DT_RPATH and DT_RUNPATH.
func makeELF(e testELF) []byte {
	// Where elf(5) puts each field, for each class: the header's e_phoff, e_phentsize and
	// e_phnum; a program header's size and its p_offset, p_vaddr, p_filesz and p_memsz; the
	// size of a word (addresses, offsets, sizes, and a dynamic entry's tag and value).
	type layout struct{ phoff, phentsize, phnum, ehsize, phsize, offset, vaddr, filesz, memsz, word int }
	l := layout{32, 54, 56, 64, 56, 8, 16, 32, 40, 8}
	if e.class == elfClass32 {
		l = layout{28, 42, 44, 52, 32, 4, 8, 16, 20, 4}
	}
	o := e.order
	put := func(b []byte, v uint64) { // a word of the class
		if l.word == 8 {
			o.PutUint64(b, v)
		} else {
			o.PutUint32(b, uint32(v))
		}
	}
	dyn := append(slices.Clone(e.dynamic), [2]uint64{dtStrtab, testBase + testStrtabAt},
		[2]uint64{dtStrsz, uint64(len(e.strtab))}, [2]uint64{dtNull, 0})
	total := testDynAt + len(dyn)*2*l.word
	b := make([]byte, total)
	copy(b, []byte{0x7f, 'E', 'L', 'F', e.class, elfDataLSB, 1})
	if e.order == binary.BigEndian {
		b[5] = elfDataMSB
	}
	o.PutUint16(b[18:], e.machine)
	type prog struct{ typ, off, size uint64 }
	progs := []prog{{ptLoad, 0, uint64(total)}, {ptInterp, testInterpAt, uint64(len(e.interp) + 1)},
		{ptDynamic, testDynAt, uint64(len(dyn) * 2 * l.word)}}
	put(b[l.phoff:], uint64(l.ehsize))
	o.PutUint16(b[l.phentsize:], uint16(l.phsize))
	o.PutUint16(b[l.phnum:], uint16(len(progs)))
	for i, p := range progs {
		h := b[l.ehsize+l.phsize*i:]
		o.PutUint32(h, uint32(p.typ))
		put(h[l.offset:], p.off)
		put(h[l.vaddr:], testBase+p.off)
		put(h[l.filesz:], p.size)
		put(h[l.memsz:], p.size)
	}
	for i, d := range dyn {
		put(b[testDynAt+2*l.word*i:], d[0])
		put(b[testDynAt+2*l.word*i+l.word:], d[1])
	}
	copy(b[testInterpAt:], e.interp)
	copy(b[testStrtabAt:], e.strtab)
	return b
}

// Strings of the test files' table, at these offsets.
const testStrtab = "\x00libx.so.1\x00liby.so\x00$ORIGIN/../lib:/opt/lib\x00/rpath\x00"

var testDynamic = [][2]uint64{{dtNeeded, 1}, {dtNeeded, 11}, {dtRunpath, 19}, {dtRpath, 43}}

func TestReadELFOfEveryClassAndOrder(t *testing.T) {
	for _, e := range []testELF{
		{class: elfClass64, order: binary.LittleEndian, machine: 62},
		{class: elfClass32, order: binary.LittleEndian, machine: 3},
		{class: elfClass64, order: binary.BigEndian, machine: 43},
		{class: elfClass32, order: binary.BigEndian, machine: 8},
	} {
		e.interp, e.dynamic, e.strtab = "/lib/ld-test.so.1", testDynamic, testStrtab
		got, err := parseELF(bytes.NewReader(makeELF(e)))
		if err != nil {
			t.Errorf("class %d, %v: %v", e.class, e.order, err)
			continue
		}
		want := elfFile{class: e.class, machine: e.machine, interp: "/lib/ld-test.so.1",
			needed: []string{"libx.so.1", "liby.so"}, rpath: []string{"/rpath"}, runpath: []string{"$ORIGIN/../lib:/opt/lib"}}
		if got.class != want.class || got.machine != want.machine || got.interp != want.interp ||
			!slices.Equal(got.needed, want.needed) || !slices.Equal(got.rpath, want.rpath) || !slices.Equal(got.runpath, want.runpath) {
			t.Errorf("class %d, %v: read %+v, want %+v", e.class, e.order, *got, want)
		}
	}
}

// A file that is not ELF says so (errNotELF: a script needs no libraries); a damaged ELF file
// is an error of its own, and never makes the reader panic or read past its limits.
func TestReadELFRefusesDamage(t *testing.T) {
	good := testELF{class: elfClass64, order: binary.LittleEndian, machine: 62, interp: "/lib/ld.so",
		dynamic: testDynamic, strtab: testStrtab}
	if _, err := parseELF(bytes.NewReader(makeELF(good))); err != nil {
		t.Fatalf("the undamaged file: %v", err)
	}
	le := binary.LittleEndian
	phdr := func(i int) int { return 64 + 56*i } // where makeELF put program header i
	for _, tt := range []struct {
		name   string
		damage func(b []byte) []byte
		notELF bool
	}{
		{"empty", func([]byte) []byte { return nil }, true},
		{"a script", func([]byte) []byte { return []byte("#!/bin/sh\necho hi\n") }, true},
		{"three bytes of magic", func(b []byte) []byte { return b[:3] }, true},
		{"header cut short", func(b []byte) []byte { return b[:40] }, false},
		{"unknown class", func(b []byte) []byte { b[4] = 3; return b }, false},
		{"unknown byte order", func(b []byte) []byte { b[5] = 0; return b }, false},
		{"program headers past the end", func(b []byte) []byte { le.PutUint64(b[32:], 1<<40); return b }, false},
		{"program headers cut short", func(b []byte) []byte { return b[:phdr(1)+10] }, false},
		{"PN_XNUM program headers", func(b []byte) []byte { le.PutUint16(b[56:], 0xffff); return b }, false},
		{"program headers too small", func(b []byte) []byte { le.PutUint16(b[54:], 32); return b }, false},
		{"interpreter past the end", func(b []byte) []byte { le.PutUint64(b[phdr(1)+8:], 1<<20); return b }, false},
		{"interpreter of 1 GiB", func(b []byte) []byte { le.PutUint64(b[phdr(1)+32:], 1<<30); return b }, false},
		{"empty interpreter", func(b []byte) []byte { b[testInterpAt] = 0; return b }, false},
		{"dynamic section of 1 GiB", func(b []byte) []byte { le.PutUint64(b[phdr(2)+32:], 1<<30); return b }, false},
		{"dynamic section at a huge offset", func(b []byte) []byte { le.PutUint64(b[phdr(2)+8:], 1<<63); return b }, false},
		{"string table outside every segment", func(b []byte) []byte {
			le.PutUint64(b[testDynAt+16*len(testDynamic)+8:], 0x99999999) // DT_STRTAB's value
			return b
		}, false},
		{"string table of 1 GiB", func(b []byte) []byte {
			le.PutUint64(b[testDynAt+16*(len(testDynamic)+1)+8:], 1<<30) // DT_STRSZ's value
			return b
		}, false},
		{"a string past the table", func(b []byte) []byte { le.PutUint64(b[testDynAt+8:], 1000); return b }, false},
		{"a string with no end", func(b []byte) []byte {
			le.PutUint64(b[testDynAt+16*(len(testDynamic)+1)+8:], 5) // DT_STRSZ cuts "libx.so.1"
			return b
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseELF(bytes.NewReader(tt.damage(makeELF(good))))
			if err == nil {
				t.Fatal("read without an error")
			}
			if errors.Is(err, errNotELF) != tt.notELF {
				t.Errorf("error %v: errNotELF %v, want %v", err, errors.Is(err, errNotELF), tt.notELF)
			}
		})
	}
}
