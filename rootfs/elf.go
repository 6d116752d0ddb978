package rootfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// This file reads the little of an ELF file (elf(5)) that copying a host program needs: its
// class and machine, its program interpreter (PT_INTERP), and from its dynamic section
// (PT_DYNAMIC) the libraries it needs (DT_NEEDED) and where the loader looks for them
// (DT_RPATH, DT_RUNPATH). It reads them as the kernel and ld.so(8) do, through the program
// headers; section headers, which `strip` may remove, are not read.
//
// Why not debug/elf: contain is one binary, and every process of it, the two of each
// container included, runs the package initialisers of everything linked in. debug/elf links
// debug/dwarf, internal/zstd, compress/zlib and compress/flate, and made each start of the
// binary cost about 0.8 ms more CPU on the development VM in a slow hour (docs/performance.md,
// 2026-11-27, afternoon). Reading program headers takes less code than that measurement.

// ELF constants, named as in elf(5).
const (
	elfClass32 = 1 // EI_CLASS: ELFCLASS32
	elfClass64 = 2 // ELFCLASS64
	elfDataLSB = 1 // EI_DATA: ELFDATA2LSB
	elfDataMSB = 2 // ELFDATA2MSB

	ptLoad    = 1 // p_type: PT_LOAD
	ptDynamic = 2 // PT_DYNAMIC
	ptInterp  = 3 // PT_INTERP

	dtNull    = 0  // d_tag: DT_NULL, the end of the dynamic section
	dtNeeded  = 1  // DT_NEEDED
	dtStrtab  = 5  // DT_STRTAB
	dtStrsz   = 10 // DT_STRSZ
	dtRpath   = 15 // DT_RPATH
	dtRunpath = 29 // DT_RUNPATH
)

// Limits on what a file may ask us to read: a damaged or hostile file must not make us
// allocate without end. Real programs and libraries stay far below them.
const (
	maxProgs   = 512     // program headers
	maxDynamic = 1 << 20 // bytes of dynamic section
	maxStrtab  = 4 << 20 // bytes of dynamic string table
	maxInterp  = 4096    // bytes of interpreter path (PATH_MAX)
)

// errNotELF says that a file does not start with the ELF magic number (a script, say).
var errNotELF = errors.New("not an ELF file")

// elfFile is what rootfs knows of an ELF file.
type elfFile struct {
	class   byte   // elfClass32 or elfClass64
	machine uint16 // e_machine: the architecture
	interp  string // PT_INTERP, the program interpreter; "" for a static program
	needed  []string
	rpath   []string // DT_RPATH entries, each a colon-separated list of directories
	runpath []string // DT_RUNPATH entries, likewise
}

// elfProg is a program header: what the kernel maps or reads.
type elfProg struct {
	typ                   uint32
	offset, vaddr, filesz uint64
}

// elfHeader is the part of the ELF header that the rest is read with.
type elfHeader struct {
	class     byte
	order     binary.ByteOrder
	machine   uint16
	phoff     uint64
	phentsize uint16
	phnum     uint16
}

// readELF reads path's ELF headers and dynamic section. It says errNotELF (wrapped) for a file
// that is not ELF at all, and another error for one that claims to be and is damaged.
func readELF(path string) (*elfFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := parseELF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ef, nil
}

// readPrograms reads path's program headers.
func readPrograms(path string) ([]elfProg, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := readELFHeader(f)
	if err == nil {
		var progs []elfProg
		if progs, err = h.programs(f); err == nil {
			return progs, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", path, err)
}

// parseELF reads an ELF file from r.
func parseELF(r io.ReaderAt) (*elfFile, error) {
	h, err := readELFHeader(r)
	if err != nil {
		return nil, err
	}
	progs, err := h.programs(r)
	if err != nil {
		return nil, err
	}
	ef := &elfFile{class: h.class, machine: h.machine}
	for _, p := range progs {
		switch p.typ {
		case ptInterp:
			if ef.interp, err = readInterp(r, p); err != nil {
				return nil, err
			}
		case ptDynamic:
			if err := h.readDynamic(r, p, progs, ef); err != nil {
				return nil, err
			}
		}
	}
	return ef, nil
}

// readELFHeader reads the ELF identification and the header fields the program headers are
// found with.
func readELFHeader(r io.ReaderAt) (elfHeader, error) {
	var b [64]byte // the size of an ELF64 header; an ELF32 one is 52
	n, err := r.ReadAt(b[:], 0)
	if n < 4 || !bytes.Equal(b[:4], []byte{0x7f, 'E', 'L', 'F'}) {
		if err != nil && err != io.EOF {
			return elfHeader{}, err
		}
		return elfHeader{}, errNotELF
	}
	h := elfHeader{class: b[4]}
	switch b[5] {
	case elfDataLSB:
		h.order = binary.LittleEndian
	case elfDataMSB:
		h.order = binary.BigEndian
	default:
		return elfHeader{}, fmt.Errorf("ELF: unknown data encoding %d", b[5])
	}
	switch {
	case h.class == elfClass64 && n >= 64:
		h.phoff = h.order.Uint64(b[32:])
		h.phentsize, h.phnum = h.order.Uint16(b[54:]), h.order.Uint16(b[56:])
	case h.class == elfClass32 && n >= 52:
		h.phoff = uint64(h.order.Uint32(b[28:]))
		h.phentsize, h.phnum = h.order.Uint16(b[42:]), h.order.Uint16(b[44:])
	case h.class == elfClass32 || h.class == elfClass64:
		return elfHeader{}, errors.New("ELF: header truncated")
	default:
		return elfHeader{}, fmt.Errorf("ELF: unknown class %d", h.class)
	}
	h.machine = h.order.Uint16(b[18:])
	return h, nil
}

// programs reads the program header table.
func (h elfHeader) programs(r io.ReaderAt) ([]elfProg, error) {
	size := 56 // sizeof(Elf64_Phdr)
	if h.class == elfClass32 {
		size = 32 // sizeof(Elf32_Phdr)
	}
	if h.phnum > maxProgs { // includes PN_XNUM (0xffff), a count kept elsewhere
		return nil, fmt.Errorf("ELF: %d program headers", h.phnum)
	}
	if h.phnum > 0 && int(h.phentsize) < size {
		return nil, fmt.Errorf("ELF: program headers of %d bytes, want %d", h.phentsize, size)
	}
	progs := make([]elfProg, h.phnum)
	b := make([]byte, size)
	for i := range progs {
		if _, err := r.ReadAt(b, int64(h.phoff)+int64(i)*int64(h.phentsize)); err != nil {
			return nil, fmt.Errorf("ELF: read program header %d: %w", i, err)
		}
		p := &progs[i]
		p.typ = h.order.Uint32(b)
		if h.class == elfClass64 {
			p.offset, p.vaddr, p.filesz = h.order.Uint64(b[8:]), h.order.Uint64(b[16:]), h.order.Uint64(b[32:])
		} else {
			p.offset, p.vaddr, p.filesz = uint64(h.order.Uint32(b[4:])), uint64(h.order.Uint32(b[8:])), uint64(h.order.Uint32(b[16:]))
		}
	}
	return progs, nil
}

// readInterp reads the path PT_INTERP names, which ends with a NUL.
func readInterp(r io.ReaderAt, p elfProg) (string, error) {
	b, err := readSegment(r, p.offset, p.filesz, maxInterp)
	if err != nil {
		return "", fmt.Errorf("ELF: read PT_INTERP: %w", err)
	}
	interp, _, _ := bytes.Cut(b, []byte{0})
	if len(interp) == 0 {
		return "", errors.New("ELF: empty PT_INTERP")
	}
	return string(interp), nil
}

// readDynamic reads the dynamic section (an array of tag and value pairs up to DT_NULL) and
// the strings its DT_NEEDED, DT_RPATH and DT_RUNPATH entries point to in DT_STRTAB. The
// string table is given by its address in memory, found in the file through the PT_LOAD
// segment that maps it.
func (h elfHeader) readDynamic(r io.ReaderAt, p elfProg, progs []elfProg, ef *elfFile) error {
	b, err := readSegment(r, p.offset, p.filesz, maxDynamic)
	if err != nil {
		return fmt.Errorf("ELF: read PT_DYNAMIC: %w", err)
	}
	entry := 16 // sizeof(Elf64_Dyn)
	if h.class == elfClass32 {
		entry = 8
	}
	type ref struct {
		tag uint64
		off uint64
	}
	var refs []ref
	var strtab, strsz uint64
	for i := 0; i+entry <= len(b); i += entry {
		var tag, val uint64
		if h.class == elfClass64 {
			tag, val = h.order.Uint64(b[i:]), h.order.Uint64(b[i+8:])
		} else {
			tag, val = uint64(h.order.Uint32(b[i:])), uint64(h.order.Uint32(b[i+4:]))
		}
		if tag == dtNull {
			break
		}
		switch tag {
		case dtNeeded, dtRpath, dtRunpath:
			refs = append(refs, ref{tag, val})
		case dtStrtab:
			strtab = val
		case dtStrsz:
			strsz = val
		}
	}
	if len(refs) == 0 {
		return nil
	}
	off, ok := fileOffset(progs, strtab)
	if !ok {
		return fmt.Errorf("ELF: DT_STRTAB at %#x is in no PT_LOAD segment", strtab)
	}
	strs, err := readSegment(r, off, strsz, maxStrtab)
	if err != nil {
		return fmt.Errorf("ELF: read DT_STRTAB: %w", err)
	}
	for _, ref := range refs {
		if ref.off >= uint64(len(strs)) {
			return fmt.Errorf("ELF: dynamic string at %d, past DT_STRTAB's %d bytes", ref.off, len(strs))
		}
		s, _, terminated := bytes.Cut(strs[ref.off:], []byte{0})
		if !terminated {
			return fmt.Errorf("ELF: dynamic string at %d has no end", ref.off)
		}
		switch ref.tag {
		case dtNeeded:
			ef.needed = append(ef.needed, string(s))
		case dtRpath:
			ef.rpath = append(ef.rpath, string(s))
		case dtRunpath:
			ef.runpath = append(ef.runpath, string(s))
		}
	}
	return nil
}

// fileOffset finds where in the file the memory address addr is: in the PT_LOAD segment
// whose file-backed part holds it.
func fileOffset(progs []elfProg, addr uint64) (uint64, bool) {
	for _, p := range progs {
		if p.typ == ptLoad && addr >= p.vaddr && addr-p.vaddr < p.filesz {
			return p.offset + (addr - p.vaddr), true
		}
	}
	return 0, false
}

// readSegment reads size bytes at off, refusing more than limit.
func readSegment(r io.ReaderAt, off, size, limit uint64) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%d bytes, more than %d", size, limit)
	}
	if off > 1<<62 {
		return nil, fmt.Errorf("offset %#x", off)
	}
	b := make([]byte, size)
	if _, err := r.ReadAt(b, int64(off)); err != nil {
		return nil, err
	}
	return b, nil
}
