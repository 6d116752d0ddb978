package isolate

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A profile's word on each keyring call is its first rule without argument conditions that
// names the call, else its default; what it allows is left out.
func TestKeyringRules(t *testing.T) {
	one := uint(1)
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	for _, tc := range []struct {
		name string
		s    *specs.LinuxSeccomp
		want []keyringRule
	}{
		{"no profile", nil, nil},
		{"allow by default", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, nil},
		{"docker's way: refuse by default, allow a list", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "keyctl"}, Action: specs.ActAllow}}},
			[]keyringRule{{"add_key", eperm}, {"request_key", eperm}}},
		{"refused by name, with an errno", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"add_key"}, Action: specs.ActErrno, ErrnoRet: &one}}},
			[]keyringRule{{"add_key", unix.SECCOMP_RET_ERRNO | 1}}},
		{"a rule with conditions decides nothing", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}}}}, nil},
		{"kill and trace", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActKillProcess},
				{Names: []string{"request_key"}, Action: specs.ActTrace}}},
			[]keyringRule{{"keyctl", unix.SECCOMP_RET_KILL_PROCESS}, {"request_key", unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)}}},
	} {
		if got := keyringRules(tc.s); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The filter covers every interface of the architecture, the 32-bit one included: on x86-64 a
// process can call keyctl as i386's 288 (int 0x80) or as x32's.
func TestKeyringFilterCoversEveryInterface(t *testing.T) {
	abis, ok := keyringABIs()
	if !ok {
		t.Skip("no keyring filter on " + runtime.GOARCH)
	}
	rules := []keyringRule{{"keyctl", unix.SECCOMP_RET_ERRNO | 1}}
	prog, err := keyringFilter(rules)
	if err != nil {
		t.Fatal(err)
	}
	var compared []uint32
	for _, ins := range prog {
		if ins.Code == unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K {
			compared = append(compared, ins.K)
		}
	}
	for _, abi := range abis {
		if !slices.Contains(compared, abi.arch) {
			t.Errorf("the filter never looks for the interface %#x", abi.arch)
		}
		for call, numbers := range abi.numbers {
			for _, nr := range numbers {
				if wanted := call == "keyctl"; slices.Contains(compared, nr) != wanted {
					t.Errorf("interface %#x: %s (%d) compared: %v, want %v", abi.arch, call, nr, !wanted, wanted)
				}
			}
		}
	}
	if runtime.GOARCH == "amd64" && (!slices.Contains(compared, 288) || !slices.Contains(compared, unix.SYS_KEYCTL|0x40000000)) {
		t.Error("i386's keyctl (288) or x32's is not in the filter")
	}
	// The numbers written here are the ones this Go knows for the native interface.
	native := abis[0].numbers
	if native["add_key"][0] != unix.SYS_ADD_KEY || native["keyctl"][0] != unix.SYS_KEYCTL || native["request_key"][0] != unix.SYS_REQUEST_KEY {
		t.Errorf("native numbers %v, want x/sys/unix's %d %d %d", native, unix.SYS_ADD_KEY, unix.SYS_KEYCTL, unix.SYS_REQUEST_KEY)
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K || last.K != unix.SECCOMP_RET_ALLOW {
		t.Errorf("the filter ends with %+v, want: allow", last)
	}
}

// A profile that says nothing but what contain applies (the quick form's) is wholly applied:
// no warning; one that says more is warned about.
func TestSeccompWarningOnlyForWhatIsNotApplied(t *testing.T) {
	if _, ok := keyringABIs(); !ok {
		t.Skip("no keyring filter on " + runtime.GOARCH)
	}
	for _, tc := range []struct {
		s    *specs.LinuxSeccomp
		warn bool
	}{
		{KeyringProfile(), false},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, false},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActErrno}, true},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl", "mount"}, Action: specs.ActErrno}}}, true},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}}}}, true},
		// What a keyring-only profile says besides its rules, that the filter does not do:
		{&specs.LinuxSeccomp{DefaultAction: specs.ActLog}, true},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}}, true},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64}}, true},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/listener.sock"}, true},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActNotify}}}, true},
		{&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"add_key"}, Action: specs.ActTrace}}}, true},
	} {
		if got := seccompWarning(tc.s) != ""; got != tc.warn {
			t.Errorf("%+v: warned %v, want %v", tc.s, got, tc.warn)
		}
	}
}

// An action or a flag that seccomp does not have is refused: a filter built from it would do
// something its author did not mean (it was taken as EPERM).
func TestSeccompUnknownActionsAndFlagsAreRefused(t *testing.T) {
	for want, s := range map[string]*specs.LinuxSeccomp{
		"defaultAction":         {DefaultAction: "SCMP_ACT_ALOW"},
		"syscalls[1].action":    {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActErrno}, {Names: []string{"add_key"}, Action: "SCMP_ACT_BOGUS"}}},
		"flags: \"BOGUS_FLAG\"": {DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "BOGUS_FLAG"}},
	} {
		spec := DefaultSpec()
		spec.Linux.Seccomp = s
		if _, err := Validate(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate = %v, want an error naming it", want, err)
		}
	}
	spec := DefaultSpec()
	spec.Linux.Seccomp = KeyringProfile()
	spec.Linux.Seccomp.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagSpecAllow}
	if _, err := Validate(spec); err != nil {
		t.Errorf("a profile with known flags: %v", err)
	}
}
