package isolate

import (
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The kernel's keyrings (keyrings(7)) are not namespaced. Without a user namespace a
// container's root is the host's uid 0, and its processes reach the user keyrings of their uid
// on the host, root's included: they can link one into their own session keyring and read,
// add or clear its keys, and request_key(2) makes the host run /sbin/request-key. A session
// keyring of the container's own (joinNewSessionKeyring) does not change that. Engines'
// default seccomp profiles refuse the three keyring calls; contain does not apply seccomp
// profiles yet, but it applies what a spec's profile says of these three calls, with a filter
// of its own, so that an engine's default closes this under contain as under runc.

// keyringCalls are the system calls of the kernel's key management.
var keyringCalls = []string{"add_key", "keyctl", "request_key"}

// KeyringProfile is the seccomp profile of the quick form: the keyring calls refused with
// EPERM, as Docker's default profile refuses them, and everything else allowed. It is all
// of a profile that contain applies, so it runs with no warning.
func KeyringProfile() *specs.LinuxSeccomp {
	eperm := uint(unix.EPERM)
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: slices.Clone(keyringCalls), Action: specs.ActErrno, ErrnoRet: &eperm}}}
}

// keyringsOnly reports whether contain applies all of the profile s: it allows by default,
// its rules name only keyring calls, with no argument conditions and with actions the filter
// takes as they are (not a log, nor a tracer or listener, which there are none of), and it
// asks for no flags, architectures or listener.
func keyringsOnly(s *specs.LinuxSeccomp) bool {
	if s.DefaultAction != specs.ActAllow || len(s.Flags) > 0 || len(s.Architectures) > 0 ||
		s.ListenerPath != "" || s.ListenerMetadata != "" {
		return false
	}
	for _, sc := range s.Syscalls {
		if len(sc.Args) > 0 || slices.ContainsFunc(sc.Names, func(n string) bool { return !slices.Contains(keyringCalls, n) }) ||
			sc.Action == specs.ActLog || sc.Action == specs.ActTrace || sc.Action == specs.ActNotify {
			return false
		}
	}
	return true
}

// seccompActions are the actions of config-linux.md; seccompFlags its flags.
var (
	seccompActions = []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillProcess, specs.ActKillThread,
		specs.ActTrap, specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify}
	seccompFlags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow,
		specs.LinuxSeccompFlagWaitKillableRecv, "SECCOMP_FILTER_FLAG_TSYNC"}
)

// validateSeccomp refuses a profile with an action or a flag that is no seccomp one: it is a
// mistake, and a filter built from it would do something else than its author meant (runc
// refuses them too).
func validateSeccomp(spec *specs.Spec) error {
	s := spec.Linux.Seccomp
	if s == nil {
		return nil
	}
	if !slices.Contains(seccompActions, s.DefaultAction) {
		return fmt.Errorf("config: linux.seccomp.defaultAction %q is not a seccomp action (%v)", s.DefaultAction, seccompActions)
	}
	for i, sc := range s.Syscalls {
		if !slices.Contains(seccompActions, sc.Action) {
			return fmt.Errorf("config: linux.seccomp.syscalls[%d].action %q is not a seccomp action (%v)", i, sc.Action, seccompActions)
		}
	}
	for _, f := range s.Flags {
		if !slices.Contains(seccompFlags, f) {
			return fmt.Errorf("config: linux.seccomp.flags: %q is not a seccomp filter flag (%v)", f, seccompFlags)
		}
	}
	return nil
}

// keyringRule is what a seccomp profile says of one keyring call: the filter's return value
// for it (seccomp(2): SECCOMP_RET_ERRNO with the errno, SECCOMP_RET_KILL_PROCESS...).
type keyringRule struct {
	Call string `json:"call"`
	Ret  uint32 `json:"ret"`
}

// keyringRules resolves what the profile s says of each keyring call, as a seccomp library
// would: the first rule that names the call with no argument conditions, else the default
// action. The calls it allows are left out; nil when it allows them all, or when there is no
// profile (runc's "unconfined").
func keyringRules(s *specs.LinuxSeccomp) []keyringRule {
	if s == nil {
		return nil
	}
	var rules []keyringRule
	for _, call := range keyringCalls {
		action, errnoRet := s.DefaultAction, s.DefaultErrnoRet
		for _, sc := range s.Syscalls {
			if len(sc.Args) == 0 && slices.Contains(sc.Names, call) {
				action, errnoRet = sc.Action, sc.ErrnoRet
				break
			}
		}
		if ret, allowed := seccompReturn(action, errnoRet); !allowed {
			rules = append(rules, keyringRule{Call: call, Ret: ret})
		}
	}
	return rules
}

// seccompReturn is the filter's return value for a profile's action. A tracer or a listener
// for SCMP_ACT_TRACE or SCMP_ACT_NOTIFY there is none: the call fails, with ENOSYS as the
// kernel makes a traced call fail that no tracer takes, or EPERM.
func seccompReturn(action specs.LinuxSeccompAction, errnoRet *uint) (ret uint32, allowed bool) {
	errno := func(def unix.Errno) uint32 {
		if errnoRet != nil {
			return unix.SECCOMP_RET_ERRNO | uint32(*errnoRet)&unix.SECCOMP_RET_DATA
		}
		return unix.SECCOMP_RET_ERRNO | uint32(def)
	}
	switch action {
	case specs.ActAllow, specs.ActLog:
		return unix.SECCOMP_RET_ALLOW, true
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, false
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, false
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, false
	case specs.ActTrace:
		return errno(unix.ENOSYS), false
	}
	return errno(unix.EPERM), false // SCMP_ACT_ERRNO, SCMP_ACT_NOTIFY
}

// keyringABI is one system call interface a process of this architecture can use: the
// audit architecture seccomp_data.arch names it by, and the numbers of each keyring call in it.
type keyringABI struct {
	arch    uint32
	numbers map[string][]uint32
}

// keyringABIs are the interfaces of this architecture. A 64-bit x86 process can make i386
// system calls (int 0x80) and x32 ones (the 64-bit numbers with bit 30 set), and a 64-bit Arm
// one 32-bit Arm calls where the kernel has them: each has its own numbers, and a filter
// that knew only the native ones would let the others by. The numbers are the kernel's
// (arch/x86/entry/syscalls/syscall_32.tbl and syscall_64.tbl, include/uapi/asm-generic/
// unistd.h, arch/arm/tools/syscall.tbl).
func keyringABIs() ([]keyringABI, bool) {
	switch runtime.GOARCH {
	case "amd64":
		const x32 = 0x40000000 // __X32_SYSCALL_BIT: x32 calls share the x86-64 arch value
		return []keyringABI{
			{unix.AUDIT_ARCH_X86_64, map[string][]uint32{"add_key": {248, 248 | x32}, "request_key": {249, 249 | x32}, "keyctl": {250, 250 | x32}}},
			{unix.AUDIT_ARCH_I386, map[string][]uint32{"add_key": {286}, "request_key": {287}, "keyctl": {288}}}}, true
	case "arm64":
		return []keyringABI{
			{unix.AUDIT_ARCH_AARCH64, map[string][]uint32{"add_key": {217}, "request_key": {218}, "keyctl": {219}}},
			{unix.AUDIT_ARCH_ARM, map[string][]uint32{"add_key": {309}, "request_key": {310}, "keyctl": {311}}}}, true
	}
	return nil, false
}

// keyringFilter is the classic BPF program (seccomp(2)) that gives each keyring call its
// rule's return value, in every interface of this architecture, and allows everything else.
func keyringFilter(rules []keyringRule) ([]unix.SockFilter, error) {
	abis, ok := keyringABIs()
	if !ok {
		return nil, fmt.Errorf("the keyring calls' filter knows no system call numbers for %s", runtime.GOARCH)
	}
	const (
		archOffset = 4 // struct seccomp_data: nr (int), then arch (__u32)
		nrOffset   = 0
	)
	allow := unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}
	prog := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: archOffset}}
	for _, abi := range abis {
		block := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: nrOffset}}
		for _, r := range rules {
			for _, nr := range abi.numbers[r.Call] {
				block = append(block,
					unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: nr},
					unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: r.Ret})
			}
		}
		block = append(block, allow)
		// Another interface: skip this block, the arch still in the accumulator.
		prog = append(prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: uint8(len(block)), K: abi.arch})
		prog = append(prog, block...)
	}
	return append(prog, allow), nil
}

// filterKeyrings installs the filter of the rules on the calling thread (the one that execs
// the program, or forks it: both inherit it), unless there are none. It needs CAP_SYS_ADMIN or
// no_new_privs: the runtime's processes call it before they drop to the container's user.
func filterKeyrings(rules []keyringRule) error {
	if len(rules) == 0 {
		return nil
	}
	filter, err := keyringFilter(rules)
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_SECCOMP (the keyring calls' filter): %w", err)
	}
	runtime.KeepAlive(filter)
	return nil
}
