package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/containkit/contain/internal/testenv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func devNum(v int64) *int64 { return &v }

func devRule(allow bool, typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access}
}

// The rule lists the decision table runs over.
var deviceRuleLists = map[string][]specs.LinuxDeviceCgroup{
	// The runtime-spec's default devices behind a default deny, as runc writes them.
	"oci-default": {
		devRule(false, "a", nil, nil, "rwm"),
		devRule(true, "c", devNum(1), devNum(3), "rwm"),   // null
		devRule(true, "c", devNum(1), devNum(5), "rwm"),   // zero
		devRule(true, "c", devNum(1), devNum(7), "rwm"),   // full
		devRule(true, "c", devNum(1), devNum(8), "rwm"),   // random
		devRule(true, "c", devNum(1), devNum(9), "rwm"),   // urandom
		devRule(true, "c", devNum(5), devNum(0), "rwm"),   // tty
		devRule(true, "c", devNum(5), devNum(2), "rwm"),   // ptmx
		devRule(true, "c", devNum(136), nil, "rwm"),       // pts/*
		devRule(true, "c", devNum(1), devNum(3), "rw"),    // a repeat changes nothing
		devRule(false, "c", devNum(5), devNum(1), "rwm"),  // console: denied again
		devRule(true, "", devNum(10), devNum(200), "rwm"), // tun, type "" is all
	},
	"allow-all":         {devRule(true, "a", nil, nil, "rwm")},
	"allow-all-empty":   {devRule(true, "", nil, nil, "")},
	"deny-all":          {devRule(false, "a", nil, nil, "rwm")},
	"empty":             nil,
	"deny-then-allow":   {devRule(false, "c", devNum(1), devNum(3), "rwm"), devRule(true, "a", nil, nil, "rwm")},
	"allow-then-deny-w": {devRule(true, "a", nil, nil, "rwm"), devRule(false, "c", devNum(1), devNum(3), "w")},
	"wildcards": {
		devRule(false, "a", nil, nil, ""),
		devRule(true, "c", nil, nil, "m"),
		devRule(true, "b", nil, nil, "m"),
		devRule(true, "b", devNum(8), nil, "r"),
		devRule(true, "c", nil, devNum(5), "rw"),
		devRule(false, "a", devNum(8), devNum(0), "rwm"),
	},
	"access-subsets": {
		devRule(false, "a", nil, nil, "rwm"),
		devRule(true, "c", devNum(1), devNum(3), "r"),
		devRule(true, "c", devNum(1), devNum(3), "w"),
		devRule(true, "c", devNum(1), devNum(5), "rw"),
		devRule(false, "c", devNum(1), devNum(5), "r"),
		devRule(true, "c", devNum(1), devNum(7), "mw"),
	},
}

// refAllowed is the semantics, written plainly: each requested access is decided by the last
// rule that matches the device and names that access, default deny; a request with no access
// bits is decided by the last rule that matches the device.
func refAllowed(rules []specs.LinuxDeviceCgroup, typ, major, minor, access uint32) bool {
	matches := func(r specs.LinuxDeviceCgroup) bool {
		switch {
		case r.Type == "b" && typ != 1, r.Type == "c" && typ != 2:
			return false
		case r.Major != nil && uint32(*r.Major) != major:
			return false
		case r.Minor != nil && uint32(*r.Minor) != minor:
			return false
		}
		return true
	}
	names := func(r specs.LinuxDeviceCgroup, bit uint32) bool {
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		return bit == 1 && strings.Contains(access, "m") ||
			bit == 2 && strings.Contains(access, "r") ||
			bit == 4 && strings.Contains(access, "w")
	}
	if access == 0 {
		verdict := false
		for _, r := range rules {
			if matches(r) {
				verdict = r.Allow
			}
		}
		return verdict
	}
	for bit := uint32(1); bit < 1<<16; bit <<= 1 {
		if access&bit == 0 {
			continue
		}
		verdict := false
		for _, r := range rules {
			if matches(r) && names(r, bit) {
				verdict = r.Allow
			}
		}
		if !verdict {
			return false
		}
	}
	return true
}

// runDeviceFilter interprets the instruction subset the compiler emits, as the kernel would,
// and returns r0. Anything else fails the test.
func runDeviceFilter(t *testing.T, prog []bpfInsn, typ, major, minor, access uint32) uint64 {
	t.Helper()
	ctx := [3]uint32{access<<16 | typ, major, minor}
	var reg [11]uint64
	var set [11]bool
	set[regR1] = true
	for pc, steps := 0, 0; ; pc, steps = pc+1, steps+1 {
		if pc < 0 || pc >= len(prog) || steps > len(prog) {
			t.Fatalf("pc %d out of the program (%d instructions) or a loop", pc, len(prog))
		}
		in := prog[pc]
		dst, src := in.regs&0xf, in.regs>>4
		if bpfRegs(1, 2) != 0x21 { // big-endian bit-fields
			dst, src = in.regs>>4, in.regs&0xf
		}
		use := func(r uint8) uint64 {
			if !set[r] {
				t.Fatalf("pc %d: r%d read before written", pc, r)
			}
			return reg[r]
		}
		def := func(r uint8, v uint64) {
			if r == regR1 || r > 9 {
				t.Fatalf("pc %d: writes r%d", pc, r)
			}
			reg[r], set[r] = v, true
		}
		imm64 := uint64(int64(in.imm))
		switch in.code {
		case bpfClassLdx | bpfSizeW | bpfModeMem:
			if src != regR1 || in.off < 0 || in.off > 8 || in.off%4 != 0 {
				t.Fatalf("pc %d: load r%d+%d is not the context", pc, src, in.off)
			}
			def(dst, uint64(ctx[in.off/4]))
		case bpfClassAlu | bpfMov | bpfSrcX:
			def(dst, uint64(uint32(use(src))))
		case bpfClassAlu | bpfMov | bpfSrcK:
			def(dst, uint64(uint32(in.imm)))
		case bpfClassAlu | bpfAnd | bpfSrcK:
			def(dst, uint64(uint32(use(dst))&uint32(in.imm)))
		case bpfClassAlu | bpfRsh | bpfSrcK:
			def(dst, uint64(uint32(use(dst))>>uint32(in.imm)))
		case bpfClassAlu64 | bpfMov | bpfSrcK:
			def(dst, imm64)
		case bpfClassJmp | bpfOpJa:
			pc += int(in.off)
		case bpfClassJmp | bpfJeq | bpfSrcK:
			if use(dst) == imm64 {
				pc += int(in.off)
			}
		case bpfClassJmp | bpfJne | bpfSrcK:
			if use(dst) != imm64 {
				pc += int(in.off)
			}
		case bpfClassJmp | bpfJset | bpfSrcK:
			if use(dst)&imm64 != 0 {
				pc += int(in.off)
			}
		case bpfClassJmp | bpfOpExit:
			return use(regR0)
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, in.code)
		}
	}
}

// checkDeviceFilterShape checks what the verifier checks statically: the program ends in exit
// and every jump lands inside it, forward.
func checkDeviceFilterShape(t *testing.T, prog []bpfInsn) {
	t.Helper()
	if len(prog) == 0 || prog[len(prog)-1].code != bpfClassJmp|bpfOpExit {
		t.Fatalf("program does not end in exit")
	}
	for pc, in := range prog {
		if in.code&0x07 != bpfClassJmp || in.code == bpfClassJmp|bpfOpExit {
			continue
		}
		if to := pc + 1 + int(in.off); in.off < 0 || to >= len(prog) {
			t.Fatalf("pc %d: jump to %d (program has %d instructions)", pc, to, len(prog))
		}
	}
}

func TestDeviceFilterDecisionTable(t *testing.T) {
	types := []uint32{0, devcgDevBlock, devcgDevChar, 3}
	majors := []uint32{0, 1, 5, 8, 10, 136, 4095, 1 << 20, 1<<32 - 1}
	minors := []uint32{0, 1, 2, 3, 5, 7, 8, 9, 200, 1<<20 - 1}
	var accesses []uint32
	for a := uint32(0); a < 16; a++ {
		accesses = append(accesses, a)
	}
	accesses = append(accesses, 0x8000, 0x8002, 0xffff)

	for name, rules := range deviceRuleLists {
		t.Run(name, func(t *testing.T) {
			prog, err := compileDeviceFilter(rules)
			if err != nil {
				t.Fatal(err)
			}
			checkDeviceFilterShape(t, prog)
			n := 0
			for _, typ := range types {
				for _, major := range majors {
					for _, minor := range minors {
						for _, access := range accesses {
							want := refAllowed(rules, typ, major, minor, access)
							got := runDeviceFilter(t, prog, typ, major, minor, access)
							if got != 0 && got != 1 || (got == 1) != want {
								t.Fatalf("type %d %d:%d access %#x: program returns %d, want allowed=%v",
									typ, major, minor, access, got, want)
							}
							n++
						}
					}
				}
			}
			t.Logf("%d rules, %d instructions, %d requests agree", len(rules), len(prog), n)
		})
	}
}

// The semantics, spelled out for the cases that matter, so that the reference cannot drift.
func TestDeviceFilterCases(t *testing.T) {
	const m, r, w = devcgAccMknod, devcgAccRead, devcgAccWrite
	const b, c = devcgDevBlock, devcgDevChar
	cases := []struct {
		list              string
		typ, major, minor uint32
		access            uint32
		allowed           bool
	}{
		{"oci-default", c, 1, 3, r | w, true},
		{"oci-default", c, 1, 3, m, true},
		{"oci-default", c, 1, 4, r, false},
		{"oci-default", b, 1, 3, r, false},
		{"oci-default", c, 136, 7, r | w, true},
		{"oci-default", c, 5, 1, r, false},
		{"oci-default", b, 10, 200, r | w, true},
		{"oci-default", c, 1, 3, 0, true},
		{"oci-default", c, 1, 4, 0, false},
		{"oci-default", c, 1, 3, 8, false}, // an access bit no rule knows
		{"allow-all", b, 8, 0, r | w | m, true},
		{"allow-all-empty", c, 4, 1, r | w | m, true},
		{"deny-all", c, 1, 3, r, false},
		{"empty", c, 1, 3, r, false},
		{"empty", c, 1, 3, 0, false},
		{"deny-then-allow", c, 1, 3, r | w, true},
		{"allow-then-deny-w", c, 1, 3, r, true},
		{"allow-then-deny-w", c, 1, 3, r | w, false}, // O_RDWR needs w
		{"allow-then-deny-w", c, 1, 3, w, false},
		{"allow-then-deny-w", c, 1, 3, 0, false}, // the last rule matching the device denies
		{"allow-then-deny-w", c, 1, 5, r | w, true},
		{"wildcards", c, 99, 1, m, true},
		{"wildcards", c, 99, 1, r, false},
		{"wildcards", b, 8, 1, r, true},
		{"wildcards", b, 8, 1, w, false},
		{"wildcards", b, 8, 0, r, false}, // denied again by the last rule
		{"wildcards", b, 8, 0, m, false},
		{"wildcards", c, 42, 5, r | w, true},
		{"wildcards", b, 42, 5, r, false},
		{"access-subsets", c, 1, 3, r | w, true}, // r and w from two rules
		{"access-subsets", c, 1, 3, m, false},
		{"access-subsets", c, 1, 5, w, true},
		{"access-subsets", c, 1, 5, r, false},
		{"access-subsets", c, 1, 5, r | w, false},
		{"access-subsets", c, 1, 7, m | w, true},
		{"access-subsets", c, 1, 7, m | r, false},
	}
	for _, tc := range cases {
		rules := deviceRuleLists[tc.list]
		prog, err := compileDeviceFilter(rules)
		if err != nil {
			t.Fatal(err)
		}
		got := runDeviceFilter(t, prog, tc.typ, tc.major, tc.minor, tc.access) == 1
		ref := refAllowed(rules, tc.typ, tc.major, tc.minor, tc.access)
		if got != tc.allowed || ref != tc.allowed {
			t.Errorf("%s: type %d %d:%d access %#x: program %v, reference %v, want %v",
				tc.list, tc.typ, tc.major, tc.minor, tc.access, got, ref, tc.allowed)
		}
	}
}

func TestDeviceFilterBadRules(t *testing.T) {
	for _, tc := range []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{devRule(true, "x", nil, nil, "rwm"), `invalid device type "x"`},
		{devRule(true, "c", nil, nil, "rx"), `invalid device access "rx"`},
		{devRule(true, "c", devNum(-1), nil, "r"), "invalid device major -1"},
		{devRule(true, "c", devNum(1), devNum(1<<40), "r"), "invalid device minor 1099511627776"},
	} {
		rules := []specs.LinuxDeviceCgroup{devRule(false, "a", nil, nil, ""), tc.rule}
		_, err := compileDeviceFilter(rules)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "rule 1: ") {
			t.Errorf("%+v: got error %v, want %q", tc.rule, err, tc.want)
		}
		// setDeviceFilter refuses before touching the kernel: no fd is needed.
		if err := setDeviceFilter(-1, rules); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("setDeviceFilter: got %v, want %q", err, tc.want)
		}
	}
}

// cgroup2Root is where the test may make a cgroup2 directory: /sys/fs/cgroup on a pure v2 host,
// /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Root(t *testing.T) string {
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	testenv.Skip(t, "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	return ""
}

// The kernel's verifier accepts every program the decision table checks.
func TestDeviceFilterVerifier(t *testing.T) {
	testenv.RequireRoot(t)
	for name, rules := range deviceRuleLists {
		prog, err := compileDeviceFilter(rules)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := loadDeviceFilter(prog)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		unix.Close(fd)
	}
}

func TestDeviceFilterCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.CheckLeaks(t)
	dir := filepath.Join(cgroup2Root(t), fmt.Sprintf("contain-test-devbpf-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The cgroup stays busy for a moment after its last process is reaped.
		err := unix.Rmdir(dir)
		for deadline := time.Now().Add(5 * time.Second); errors.Is(err, unix.EBUSY) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			err = unix.Rmdir(dir)
		}
		if err != nil {
			t.Errorf("rmdir %s: %v", dir, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s still there: %v", dir, err)
		}
	})
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) }) // runs before the rmdir above

	// A device program someone else attached (allow all, named otherwise) must survive updates.
	foreign := attachForeignDeviceFilter(t, fd)

	tmp := t.TempDir()
	script := fmt.Sprintf(`head -c1 /dev/zero >/dev/null; echo zero-read=$?
echo x >/dev/zero; echo zero-write=$?
echo x >/dev/null; echo null=$?
mknod %s/null c 1 3; echo mknod=$?
`, tmp)
	run := func() map[string]string {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sh in %s: %v\n%s%s", dir, err, out, stderr.String())
		}
		got := map[string]string{"denials": fmt.Sprint(strings.Count(stderr.String(), "Operation not permitted"))}
		for _, line := range strings.Fields(string(out)) {
			k, v, _ := strings.Cut(line, "=")
			got[k] = v
		}
		t.Logf("%v\n%s", got, stderr.String())
		return got
	}
	expect := func(got, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s=%s, want %s (all: %v)", k, got[k], v, got)
			}
		}
	}
	attached := func() []uint32 {
		t.Helper()
		ids, err := queryDeviceFilters(fd)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	// Only /dev/null, read and write: no /dev/zero, no mknod.
	if err := setDeviceFilter(fd, []specs.LinuxDeviceCgroup{
		devRule(false, "a", nil, nil, "rwm"),
		devRule(true, "c", devNum(1), devNum(3), "rw"),
	}); err != nil {
		t.Fatal(err)
	}
	expect(run(), map[string]string{"zero-read": "1", "zero-write": "2", "null": "0", "mknod": "1", "denials": "3"})
	first := attached()
	if len(first) != 2 || !slices.Contains(first, foreign) {
		t.Fatalf("attached programs %v, want the foreign %d and ours", first, foreign)
	}

	// The update: /dev/zero read-only, /dev/null with mknod.
	if err := setDeviceFilter(fd, []specs.LinuxDeviceCgroup{
		devRule(false, "a", nil, nil, "rwm"),
		devRule(true, "c", devNum(1), devNum(3), "rwm"),
		devRule(true, "c", devNum(1), devNum(5), "r"),
	}); err != nil {
		t.Fatal(err)
	}
	expect(run(), map[string]string{"zero-read": "0", "zero-write": "2", "null": "0", "mknod": "0", "denials": "1"})
	second := attached()
	if len(second) != 2 || !slices.Contains(second, foreign) || slices.Equal(slices.Sorted(slices.Values(first)), slices.Sorted(slices.Values(second))) {
		t.Fatalf("attached programs %v after the update (before: %v), want the foreign %d and a new one of ours", second, first, foreign)
	}
	ours, err := ourDeviceFilters(fd)
	for _, f := range ours {
		unix.Close(f)
	}
	if err != nil || len(ours) != 1 {
		t.Fatalf("our filters after the update: %d (%v), want 1", len(ours), err)
	}
}

// attachForeignDeviceFilter attaches an allow-all device program under another name and
// returns its id.
func attachForeignDeviceFilter(t *testing.T, dirFD int) uint32 {
	t.Helper()
	insns, err := compileDeviceFilter([]specs.LinuxDeviceCgroup{devRule(true, "a", nil, nil, "")})
	if err != nil {
		t.Fatal(err)
	}
	license := []byte("GPL\x00")
	load := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		insns:    unsafe.Pointer(&insns[0]),
		license:  unsafe.Pointer(&license[0]),
	}
	copy(load.progName[:], "test_foreign")
	prog, err := bpfProgLoad(&load)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer unix.Close(prog)
	attach := bpfAttachAttr{
		targetFD:    uint32(dirFD),
		attachBPFFD: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		t.Fatalf("attach: %v", err)
	}
	ids, err := queryDeviceFilters(dirFD)
	if err != nil || len(ids) != 1 {
		t.Fatalf("attached after the foreign one: %v, %v", ids, err)
	}
	return ids[0]
}

// A program the verifier rejects comes back with the verifier's reason in the error.
func TestDeviceFilterVerifierLog(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := loadDeviceFilter([]bpfInsn{bpfExit()}) // r0 never set
	if err == nil || !strings.Contains(err.Error(), "verifier log:") || !strings.Contains(err.Error(), "R0") {
		t.Fatalf("got %v, want the verifier log naming R0", err)
	}
	t.Log(err)
}
