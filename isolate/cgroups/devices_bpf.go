// Device filter for cgroup v2.
//
// Cgroup v2 has no devices.allow/devices.deny files. Its device controller is an eBPF program
// of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup (kernel documentation:
// Documentation/admin-guide/cgroup-v2.rst, "Device controller"). The kernel runs the programs of
// the cgroup and of all its ancestors on every mknod(2) and on every open(2) of a device node
// (block devices once more when the block layer opens them); each program sees
// struct bpf_cgroup_dev_ctx { __u32 access_type; __u32 major; __u32 minor; } and returns 1 to
// allow or 0 to deny, and every program must allow. So setDeviceFilter compiles the OCI rule list
// into such a program, as runc and crun do.
//
// Semantics are those of the v1 controller as runc and crun apply them: rules are read in order,
// the last rule that matches wins, and nothing is allowed unless a rule allows it. Precisely, a
// request is allowed when each access it asks for (m, r, w) is allowed by the last rule that
// matches the device's type, major and minor and names that access. So "deny w" after "allow
// all" refuses an O_RDWR open (runc's filter, which skips a rule that does not name every
// requested access, lets it through), and "allow r" plus a later "allow w" permits it, as v1
// merges them. A request that asks for no access (the block layer's check for an ioctl-only
// open, flags 3) follows the last rule that matches the device at all, as in runc.
//
// The program walks the rules from last to first, keeping the accesses still undecided in r3:
//
//	r2 = ctx->access_type & 0xffff       device type (1 block, 2 char)
//	r3 = ctx->access_type >> 16          requested access (1 mknod, 2 read, 4 write)
//	r4 = ctx->major; r5 = ctx->minor
//	if r3 == 0: r3 = devcgAccNone        "no access" is a bit of its own that every rule names
//	per rule, last first:
//	  if r2 != type || r4 != major || r5 != minor: next rule   (only the fields the rule sets)
//	  deny:  if r3 & access: return 0    an undecided access is denied
//	  allow: r3 &^= access; if r3 == 0: return 1               all accesses decided, all allowed
//	return 0                             default deny, also for access bits no rule knows
//
// Every jump goes forward to the end of its own rule's block, so the program has no loops and
// any length fits the 16-bit jump offsets. An empty rule list denies every device.

package cgroups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// devFilterName is the name the kernel keeps for our programs (bpf_prog_info.name, at most 15
// bytes of [A-Za-z0-9_.]); setDeviceFilter replaces only programs of that name, so a device
// program that someone else (systemd, a nested manager) attached to the same cgroup stays.
const devFilterName = "contain_devices"

// setDeviceFilter compiles rules into a BPF_PROG_TYPE_CGROUP_DEVICE program, loads it and
// attaches it to the cgroup2 directory open as dirFD, replacing a filter attached earlier by
// this function (so `contain update` can change the rules).
//
// The new program is attached (BPF_F_ALLOW_MULTI) before the old one is detached: in between
// both run and both must allow, so an update never lets through what either rule list denies.
// An attached program stays attached when its fd is closed, until it is detached or the cgroup
// is removed. Needs CAP_SYS_ADMIN (or CAP_BPF) and Linux 4.15 or later.
func setDeviceFilter(dirFD int, rules []specs.LinuxDeviceCgroup) error {
	insns, err := compileDeviceFilter(rules)
	if err != nil {
		return fmt.Errorf("device filter: %w", err)
	}
	prog, err := loadDeviceFilter(insns)
	if err != nil {
		return err
	}
	defer unix.Close(prog)

	old, err := ourDeviceFilters(dirFD)
	defer func() {
		for _, fd := range old {
			unix.Close(fd)
		}
	}()
	if err != nil {
		return err
	}

	attach := bpfAttachAttr{
		targetFD:    uint32(dirFD),
		attachBPFFD: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return devFilterError("bpf_prog_attach", err)
	}
	for _, fd := range old {
		detach := bpfAttachAttr{
			targetFD:    uint32(dirFD),
			attachBPFFD: uint32(fd),
			attachType:  unix.BPF_CGROUP_DEVICE,
		}
		_, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach))
		if err != nil && !errors.Is(err, unix.ENOENT) { // ENOENT: someone detached it already
			return devFilterError("bpf_prog_detach old device filter", err)
		}
	}
	return nil
}

// ourDeviceFilters returns fds of the device programs named devFilterName that are attached
// directly to the cgroup (not inherited from its ancestors).
func ourDeviceFilters(dirFD int) (fds []int, err error) {
	ids, err := queryDeviceFilters(dirFD)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		get := bpfGetIDAttr{id: id}
		fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
		if errors.Is(err, unix.ENOENT) { // detached and freed since the query
			continue
		}
		if err != nil {
			return fds, devFilterError(fmt.Sprintf("bpf_prog_get_fd_by_id %d", id), err)
		}
		var info bpfProgInfo
		get2 := bpfInfoAttr{fd: uint32(fd), infoLen: uint32(unsafe.Sizeof(info)), info: unsafe.Pointer(&info)}
		if _, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&get2), unsafe.Sizeof(get2)); err != nil {
			unix.Close(fd)
			return fds, devFilterError(fmt.Sprintf("bpf_obj_get_info_by_fd prog %d", id), err)
		}
		if unix.ByteSliceToString(info.name[:]) != devFilterName {
			unix.Close(fd)
			continue
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// queryDeviceFilters lists the ids of the device programs attached to the cgroup itself.
func queryDeviceFilters(dirFD int) ([]uint32, error) {
	var ids []uint32
	for range 10 { // the list can grow between the two calls: ENOSPC, ask again
		q := bpfQueryAttr{targetFD: uint32(dirFD), attachType: unix.BPF_CGROUP_DEVICE, progCnt: uint32(len(ids))}
		if len(ids) > 0 {
			q.progIDs = unsafe.Pointer(&ids[0])
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&q), unsafe.Sizeof(q))
		switch {
		case err == nil && (len(ids) > 0 || q.progCnt == 0):
			return ids[:q.progCnt], nil
		case err == nil || errors.Is(err, unix.ENOSPC):
			ids = make([]uint32, q.progCnt+1)
		default:
			return nil, devFilterError("bpf_prog_query", err)
		}
	}
	return nil, errors.New("bpf_prog_query: the list of attached device programs keeps changing")
}

// loadDeviceFilter loads the program and returns its fd. It loads without a verifier log first
// (cheaper) and, only if that fails, again with one to explain the failure.
func loadDeviceFilter(insns []bpfInsn) (int, error) {
	license := []byte("GPL\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		insns:    unsafe.Pointer(&insns[0]),
		license:  unsafe.Pointer(&license[0]),
	}
	copy(attr.progName[:], devFilterName)
	fd, err := bpfProgLoad(&attr)
	if err == nil {
		return fd, nil
	}
	log := make([]byte, 64<<10)
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = unsafe.Pointer(&log[0])
	fd, err = bpfProgLoad(&attr)
	if err == nil { // it failed once, then loaded: keep it
		return fd, nil
	}
	e := devFilterError("bpf_prog_load cgroup device filter", err)
	if v := strings.TrimSpace(unix.ByteSliceToString(log)); v != "" {
		e = fmt.Errorf("%w; verifier log:\n%s", e, v)
	}
	return -1, e
}

func bpfProgLoad(attr *bpfProgLoadAttr) (int, error) {
	for try := 0; ; try++ {
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
		// EAGAIN: the verifier was interrupted by a signal; bpf(2) asks to try again.
		if errors.Is(err, unix.EAGAIN) && try < 5 {
			continue
		}
		return fd, err
	}
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// devFilterError is "op: errno", with a hint for the errnos people hit.
func devFilterError(op string, err error) error {
	var h string
	switch {
	case errors.Is(err, unix.EPERM) && strings.HasPrefix(op, "bpf_prog_attach"):
		h = "a device program is attached to this cgroup without BPF_F_ALLOW_MULTI, or CAP_SYS_ADMIN is missing"
	case errors.Is(err, unix.EPERM):
		h = "needs CAP_SYS_ADMIN or CAP_BPF"
	case errors.Is(err, unix.EBADF):
		h = "the target is not an open cgroup2 directory"
	case errors.Is(err, unix.ENOSYS):
		h = "the kernel has no bpf(2): needs CONFIG_BPF_SYSCALL"
	case errors.Is(err, unix.EACCES) && strings.HasPrefix(op, "bpf_prog_load"):
		h = "the verifier rejected the program"
	case errors.Is(err, unix.EINVAL) && strings.HasPrefix(op, "bpf_prog_load"):
		h = "the kernel lacks BPF_PROG_TYPE_CGROUP_DEVICE: needs CONFIG_CGROUP_BPF, Linux 4.15+"
	}
	if h != "" {
		return fmt.Errorf("%s: %w (%s)", op, err, h)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Access bits and device types of struct bpf_cgroup_dev_ctx (linux/bpf.h: BPF_DEVCG_ACC_*,
// BPF_DEVCG_DEV_*).
const (
	devcgAccMknod = 1
	devcgAccRead  = 2
	devcgAccWrite = 4
	devcgAccAll   = devcgAccMknod | devcgAccRead | devcgAccWrite
	devcgDevBlock = 1
	devcgDevChar  = 2

	// devcgAccNone stands for a request with no access bits. The access field is 16 bits
	// (access_type >> 16), so bit 16 can never come from the kernel. Every rule names it.
	devcgAccNone = 1 << 16
)

// Registers: r1 holds the context on entry; r0 the verdict on exit.
const (
	regR0 = iota
	regR1
	regR2 // device type
	regR3 // accesses still undecided
	regR4 // major
	regR5 // minor
)

// compileDeviceFilter turns the rule list into the program described at the top of the file.
func compileDeviceFilter(rules []specs.LinuxDeviceCgroup) ([]bpfInsn, error) {
	p := []bpfInsn{
		bpfLdxW(regR2, regR1, 0), // access_type
		bpfMov32Reg(regR3, regR2),
		bpfAlu32Imm(bpfAnd, regR2, 0xffff),
		bpfAlu32Imm(bpfRsh, regR3, 16),
		bpfLdxW(regR4, regR1, 4), // major
		bpfLdxW(regR5, regR1, 8), // minor
		bpfJmpImm(bpfJne, regR3, 0, 1),
		bpfMov32Imm(regR3, devcgAccNone),
	}
	for i := len(rules) - 1; i >= 0; i-- {
		block, err := compileDeviceRule(rules[i])
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		p = append(p, block...)
	}
	return append(p, bpfMov64Imm(regR0, 0), bpfExit()), nil
}

// compileDeviceRule emits one rule's block. Jumps marked toEnd skip to the next block.
func compileDeviceRule(r specs.LinuxDeviceCgroup) ([]bpfInsn, error) {
	var block []bpfInsn
	var toEnd []int
	skipUnless := func(reg uint8, v int32) {
		toEnd = append(toEnd, len(block))
		block = append(block, bpfJmpImm(bpfJne, reg, v, 0))
	}

	switch r.Type {
	case "", "a":
	case "b":
		skipUnless(regR2, devcgDevBlock)
	case "c":
		skipUnless(regR2, devcgDevChar)
	default:
		return nil, fmt.Errorf("invalid device type %q: want a, b or c", r.Type)
	}
	for _, n := range []struct {
		name string
		v    *int64
		reg  uint8
	}{{"major", r.Major, regR4}, {"minor", r.Minor, regR5}} {
		if n.v == nil {
			continue
		}
		// Immediates are signed 32-bit and compared as 64-bit values: keep them positive.
		// Linux device numbers are far smaller (12-bit major, 20-bit minor).
		if *n.v < 0 || *n.v > math.MaxInt32 {
			return nil, fmt.Errorf("invalid device %s %d", n.name, *n.v)
		}
		skipUnless(n.reg, int32(*n.v))
	}
	access, err := deviceAccess(r.Access)
	if err != nil {
		return nil, err
	}
	access |= devcgAccNone

	if r.Allow {
		block = append(block,
			bpfAlu32Imm(bpfAnd, regR3, int32(^uint32(access))), // these accesses are decided: allowed
		)
		toEnd = append(toEnd, len(block))
		block = append(block,
			bpfJmpImm(bpfJne, regR3, 0, 0), // some still undecided: ask earlier rules
			bpfMov64Imm(regR0, 1),
			bpfExit(),
		)
	} else {
		block = append(block,
			bpfJmpImm(bpfJset, regR3, int32(access), 1), // an undecided access is denied
		)
		toEnd = append(toEnd, len(block))
		block = append(block,
			bpfJa(0),
			bpfMov64Imm(regR0, 0),
			bpfExit(),
		)
	}
	for _, i := range toEnd {
		block[i].off = int16(len(block) - i - 1)
	}
	return block, nil
}

// deviceAccess parses an OCI access string ("rwm" subset; empty means all) into BPF_DEVCG_ACC_*
// bits.
func deviceAccess(s string) (uint32, error) {
	if s == "" {
		return devcgAccAll, nil
	}
	var a uint32
	for _, c := range s {
		switch c {
		case 'r':
			a |= devcgAccRead
		case 'w':
			a |= devcgAccWrite
		case 'm':
			a |= devcgAccMknod
		default:
			return 0, fmt.Errorf("invalid device access %q: want a subset of rwm", s)
		}
	}
	return a, nil
}

// A small eBPF assembler: just the instructions the device filter needs. Encoding from
// linux/bpf_common.h and linux/bpf.h; see Documentation/bpf/standardization/instruction-set.rst.

// bpfInsn is struct bpf_insn { __u8 code; __u8 dst_reg:4, src_reg:4; __s16 off; __s32 imm; }.
type bpfInsn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

const (
	// instruction classes
	bpfClassLdx   = 0x01
	bpfClassAlu   = 0x04 // 32-bit ALU: the result is zero-extended
	bpfClassJmp   = 0x05 // 64-bit compares
	bpfClassAlu64 = 0x07
	// load size and mode
	bpfSizeW   = 0x00
	bpfModeMem = 0x60
	// operand source
	bpfSrcK = 0x00 // the immediate
	bpfSrcX = 0x08 // the source register
	// ALU operations
	bpfAnd = 0x50
	bpfRsh = 0x70
	bpfMov = 0xb0
	// jump operations
	bpfOpJa   = 0x00
	bpfJeq    = 0x10
	bpfJset   = 0x40
	bpfJne    = 0x50
	bpfOpExit = 0x90
)

// bpfRegs packs dst and src the way the C bit-fields lay them out: dst in the low nibble on
// little-endian hosts, in the high nibble on big-endian ones.
func bpfRegs(dst, src uint8) uint8 {
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 { // big-endian
		return dst<<4 | src&0xf
	}
	return src<<4 | dst&0xf
}

func bpfLdxW(dst, src uint8, off int16) bpfInsn { // dst = *(u32 *)(src + off)
	return bpfInsn{code: bpfClassLdx | bpfSizeW | bpfModeMem, regs: bpfRegs(dst, src), off: off}
}

func bpfMov32Reg(dst, src uint8) bpfInsn { // dst = (u32)src
	return bpfInsn{code: bpfClassAlu | bpfMov | bpfSrcX, regs: bpfRegs(dst, src)}
}

func bpfMov32Imm(dst uint8, imm int32) bpfInsn { // dst = (u32)imm
	return bpfInsn{code: bpfClassAlu | bpfMov | bpfSrcK, regs: bpfRegs(dst, 0), imm: imm}
}

func bpfMov64Imm(dst uint8, imm int32) bpfInsn { // dst = (s64)imm
	return bpfInsn{code: bpfClassAlu64 | bpfMov | bpfSrcK, regs: bpfRegs(dst, 0), imm: imm}
}

func bpfAlu32Imm(op, dst uint8, imm int32) bpfInsn { // dst = (u32)(dst op imm)
	return bpfInsn{code: bpfClassAlu | op | bpfSrcK, regs: bpfRegs(dst, 0), imm: imm}
}

func bpfJmpImm(op, dst uint8, imm int32, off int16) bpfInsn { // if dst op (s64)imm: pc += off
	return bpfInsn{code: bpfClassJmp | op | bpfSrcK, regs: bpfRegs(dst, 0), off: off, imm: imm}
}

func bpfJa(off int16) bpfInsn { return bpfInsn{code: bpfClassJmp | bpfOpJa, off: off} }

func bpfExit() bpfInsn { return bpfInsn{code: bpfClassJmp | bpfOpExit} }

// Attributes of bpf(2), from union bpf_attr in linux/bpf.h. User pointers (__aligned_u64) are
// unsafe.Pointer fields followed by bpfPtrPad, so that the garbage collector and stack copying
// see them; that is 8 bytes on 64-bit and on little-endian 32-bit hosts (not on big-endian
// 32-bit ones). Every struct is padded to bpfAttrSize with zeros: the kernel accepts a larger
// attr whose tail is zero, and some commands write output fields (query.revision) past the
// fields we use.

const bpfAttrSize = 128

type bpfPtrPad [(8 - unsafe.Sizeof(uintptr(0))) / 4]uint32

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       unsafe.Pointer
	_           bpfPtrPad
	license     unsafe.Pointer
	_           bpfPtrPad
	logLevel    uint32
	logSize     uint32
	logBuf      unsafe.Pointer
	_           bpfPtrPad
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte // BPF_OBJ_NAME_LEN
	_           [bpfAttrSize - 64]byte
}

// bpfAttachAttr is the BPF_PROG_ATTACH / BPF_PROG_DETACH part of union bpf_attr.
type bpfAttachAttr struct {
	targetFD     uint32
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
	_            [bpfAttrSize - 20]byte
}

// bpfQueryAttr is the BPF_PROG_QUERY part of union bpf_attr.
type bpfQueryAttr struct {
	targetFD    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32 // out
	progIDs     unsafe.Pointer
	_           bpfPtrPad
	progCnt     uint32 // in: room in progIDs; out: programs attached
	_           [bpfAttrSize - 28]byte
}

// bpfGetIDAttr is the BPF_PROG_GET_FD_BY_ID part of union bpf_attr.
type bpfGetIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
	_         [bpfAttrSize - 12]byte
}

// bpfInfoAttr is the BPF_OBJ_GET_INFO_BY_FD part of union bpf_attr.
type bpfInfoAttr struct {
	fd      uint32
	infoLen uint32 // in: size of *info; out: bytes written
	info    unsafe.Pointer
	_       bpfPtrPad
	_       [bpfAttrSize - 16]byte
}

// bpfProgInfo is the head of struct bpf_prog_info (linux/bpf.h), up to its name; the kernel
// fills only as much as we pass.
type bpfProgInfo struct {
	progType uint32
	id       uint32
	tag      [8]byte
	_        [48]byte // jited/xlated lengths and pointers, load_time, uid, map ids
	name     [16]byte
}

// Layout checks: a wrong size fails to compile.
var (
	_ [unsafe.Sizeof(bpfProgLoadAttr{}) - bpfAttrSize]struct{}
	_ [bpfAttrSize - unsafe.Sizeof(bpfProgLoadAttr{})]struct{}
	_ [unsafe.Sizeof(bpfQueryAttr{}) - bpfAttrSize]struct{}
	_ [bpfAttrSize - unsafe.Sizeof(bpfQueryAttr{})]struct{}
	_ [unsafe.Sizeof(bpfAttachAttr{}) - bpfAttrSize]struct{}
	_ [bpfAttrSize - unsafe.Sizeof(bpfAttachAttr{})]struct{}
	_ [unsafe.Sizeof(bpfGetIDAttr{}) - bpfAttrSize]struct{}
	_ [bpfAttrSize - unsafe.Sizeof(bpfGetIDAttr{})]struct{}
	_ [unsafe.Sizeof(bpfInfoAttr{}) - bpfAttrSize]struct{}
	_ [bpfAttrSize - unsafe.Sizeof(bpfInfoAttr{})]struct{}
	_ [unsafe.Offsetof(bpfProgInfo{}.name) - 64]struct{}
	_ [64 - unsafe.Offsetof(bpfProgInfo{}.name)]struct{}
	_ [unsafe.Sizeof(bpfInsn{}) - 8]struct{}
	_ [8 - unsafe.Sizeof(bpfInsn{})]struct{}
)
