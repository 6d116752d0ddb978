package isolate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capabilityNames lists capabilities by number, as in capabilities(7) and linux/capability.h.
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
	"CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// CapabilityName returns the capability's name as the spec writes it ("CAP_CHOWN") for
// "CAP_CHOWN", "chown" or "Chown", and whether there is such a capability.
func CapabilityName(name string) (string, bool) {
	n, ok := capabilityByName(name)
	if !ok {
		return "", false
	}
	return capabilityNames[n], true
}

// capabilityByName maps "CAP_CHOWN" (or "chown") to its number.
func capabilityByName(name string) (int, bool) {
	upper := strings.ToUpper(name)
	if !strings.HasPrefix(upper, "CAP_") {
		upper = "CAP_" + upper
	}
	for i, n := range capabilityNames {
		if n == upper {
			return i, true
		}
	}
	return 0, false
}

// lastCap is the highest capability this kernel knows, found once: the loops below ask for
// it on every turn. prctl(PR_CAPBSET_READ) fails with EINVAL for a capability the kernel
// does not know (prctl(2)), so two calls, from the highest one this package names, usually
// find it: less than opening /proc/sys/kernel/cap_last_cap, a sysctl file that procfs looks
// up afresh at every open (a run's runtime and init each paid 0.05-0.07 ms for it with 50
// containers starting at once). The file stays the answer where prctl fails otherwise.
var lastCap = sync.OnceValue(func() int {
	c := len(capabilityNames) - 1
	known, err := capabilityKnown(c)
	if err != nil {
		return lastCapFromProc()
	}
	for !known && c > 0 { // an older kernel
		c--
		known, _ = capabilityKnown(c)
	}
	for c < 63 { // a newer kernel
		if next, _ := capabilityKnown(c + 1); !next {
			break
		}
		c++
	}
	return c
})

// capabilityKnown reports whether the kernel knows capability c; err is an error other than
// EINVAL (a seccomp filter refusing prctl, say).
func capabilityKnown(c int) (bool, error) {
	_, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
	if err == unix.EINVAL {
		return false, nil
	}
	return err == nil, err
}

// lastCapFromProc reads /proc/sys/kernel/cap_last_cap (capabilities(7)).
func lastCapFromProc() int {
	data, err := readFileUpTo("/proc/sys/kernel/cap_last_cap", 64)
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(data)); err == nil {
			return n
		}
	}
	return len(capabilityNames) - 1
}

// capSet is a capability bitmask, bit N for capability N.
type capSet uint64

func (s capSet) has(c int) bool { return s&(1<<uint(c)) != 0 }

// names are the capabilities in s, by name.
func (s capSet) names() []string {
	var n []string
	for c := 0; c <= lastCap(); c++ {
		if s.has(c) {
			n = append(n, capName(c))
		}
	}
	return n
}

// capsetHint says which rule of capabilities(7) the sets break, for capset(2)'s EPERM: an
// effective capability must be permitted, and an inheritable one in the bounding set.
func capsetHint(s capSets) string {
	if extra := s.effective &^ s.permitted; extra != 0 {
		return fmt.Sprintf(" (effective %v not in permitted: an effective capability must be permitted, capabilities(7))", extra.names())
	}
	if extra := s.inheritable &^ s.bounding; extra != 0 {
		return fmt.Sprintf(" (inheritable %v not in bounding: an inheritable capability must be in the bounding set, capabilities(7))", extra.names())
	}
	return ""
}

// capSets are the five sets of capabilities(7) that a process carries across execve(2).
type capSets struct {
	bounding, effective, permitted, inheritable, ambient capSet
}

// capabilityWarnings names the spec's capabilities that the container will not get: those
// this kernel does not know, those outside the runtime's own bounding set, and ambient ones
// not also permitted and inheritable (see resolveCapabilities). The runtime works them out
// before it starts the process, from its own bounding set, which init's and the exec stage's
// are copies of: init itself then says nothing, and no warning costs a message per start
// (runc's default spec has three such ambient capabilities).
func capabilityWarnings(c *specs.LinuxCapabilities) []string {
	var warnings []string
	resolveCapabilities(c, ownBoundingSet(), func(w string) { warnings = append(warnings, w) })
	return warnings
}

// resolveCapabilities turns spec names into bitmasks. Capabilities this kernel or this
// process does not have are dropped with a warning: asking for them would fail capset(2)
// with EPERM (this host's bounding set lacks CAP_SYS_RESOURCE, for example). So are names
// this runtime does not know (a capability newer than it): config.md asks for a warning and
// says a runtime SHOULD NOT fail on a capability it cannot grant, and runc skips them too.
// Each reason is one warning, naming every capability it skips once, whatever the sets that
// list it: an engine's config can name a dozen (buildah's RUN steps ask for 14 ambient ones).
func resolveCapabilities(c *specs.LinuxCapabilities, have capSet, warn func(string)) capSets {
	if c == nil {
		return capSets{}
	}
	last := lastCap()
	var unnamed, unknown, outside, renamed []string
	mask := func(names []string) capSet {
		var s capSet
		for _, name := range names {
			n, named := capabilityByName(name)
			if named && name != capabilityNames[n] {
				renamed = appendNew(renamed, strconv.Quote(name)+" as "+capabilityNames[n])
			}
			switch {
			case !named:
				unnamed = appendNew(unnamed, name)
			case n > last:
				unknown = appendNew(unknown, name)
			case !have.has(n):
				outside = appendNew(outside, name)
			default:
				s |= 1 << uint(n)
			}
		}
		return s
	}
	s := capSets{
		bounding: mask(c.Bounding), effective: mask(c.Effective), permitted: mask(c.Permitted),
		inheritable: mask(c.Inheritable), ambient: mask(c.Ambient),
	}
	// capabilities(7): "a capability can be raised in the ambient set only if it is in both
	// the permitted and the inheritable sets". runc and crun skip the others too.
	var ambient []string
	for n := 0; n <= last; n++ {
		if s.ambient.has(n) && !(s.permitted.has(n) && s.inheritable.has(n)) {
			ambient = append(ambient, capName(n))
			s.ambient &^= 1 << uint(n)
		}
	}
	if len(unnamed) > 0 {
		warn(capabilitiesAre(unnamed, "", "not one this runtime knows: skipped"))
	}
	if len(renamed) > 0 {
		// config.md names them as capabilities(7) does; runc skips any other spelling.
		warn("capabilities not written as capabilities(7) names them are taken: " + strings.Join(renamed, ", ") + " (runc skips them)")
	}
	if len(unknown) > 0 {
		warn(capabilitiesAre(unknown, "", "not known to this kernel: skipped"))
	}
	if len(outside) > 0 {
		warn(capabilitiesAre(outside, "", "not in this runtime's own bounding set: skipped"))
	}
	if len(ambient) > 0 {
		warn(capabilitiesAre(ambient, "ambient ", "not also permitted and inheritable: skipped"))
	}
	return s
}

// capabilitiesAre writes "capability CAP_A is WHAT" or "capabilities CAP_A, CAP_B are WHAT".
func capabilitiesAre(names []string, kind, what string) string {
	if len(names) == 1 {
		return kind + "capability " + names[0] + " is " + what
	}
	return kind + "capabilities " + strings.Join(names, ", ") + " are " + what
}

// appendNew appends name unless list has it already.
func appendNew(list []string, name string) []string {
	if slices.Contains(list, name) {
		return list
	}
	return append(list, name)
}

// ownBoundingSet reads the calling thread's bounding set with prctl(PR_CAPBSET_READ).
func ownBoundingSet() capSet {
	var s capSet
	for c := 0; c <= lastCap(); c++ {
		if ok, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && ok == 1 {
			s |= 1 << uint(c)
		}
	}
	return s
}

// ownPermittedSet reads the calling thread's permitted capabilities with capget(2).
func ownPermittedSet() (capSet, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return capSet(data[0].Permitted) | capSet(data[1].Permitted)<<32, nil
}

// dropBoundingSet removes from the bounding set every capability not in keep. It must run
// before setuid(2), while the process still has CAP_SETPCAP.
func dropBoundingSet(keep capSet) error {
	for c := 0; c <= lastCap(); c++ {
		if keep.has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_CAPBSET_DROP %s: %w", capName(c), err)
		}
	}
	return nil
}

// applyCapabilities sets effective, permitted and inheritable with capset(2), then raises the
// ambient set. Ambient capabilities must already be permitted and inheritable.
func applyCapabilities(s capSets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(s.effective), Permitted: uint32(s.permitted), Inheritable: uint32(s.inheritable)},
		{Effective: uint32(s.effective >> 32), Permitted: uint32(s.permitted >> 32), Inheritable: uint32(s.inheritable >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w%s", err, capsetHint(s))
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_CAP_AMBIENT_CLEAR_ALL: %w", err)
	}
	for c := 0; c <= lastCap(); c++ {
		if !s.ambient.has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("prctl PR_CAP_AMBIENT_RAISE %s: %w", capName(c), err)
		}
	}
	return nil
}

func capName(c int) string {
	if c < len(capabilityNames) {
		return capabilityNames[c]
	}
	return "CAP_" + strconv.Itoa(c)
}
