package cgroups

import (
	"maps"
	"slices"
	"strings"
)

// Cgroup v1's device controller keeps, per cgroup, a default ("allow all" or "deny all") and a
// list of exceptions to it; devices.list shows the exceptions of a "deny all" cgroup, one
// "TYPE MAJOR:MINOR ACCESS" a line (or just "a *:* rwm" when it allows all). A spec's rule
// list usually starts with "deny all" (runc's and contain's default spec do), and writing
// that line empties the list at once: the rules after it build it up again, one write(2)
// each. At create nothing runs in the cgroup yet, but on an update the running container
// could not open even /dev/null in between. So the v1 driver reads devices.list first and,
// where the list stays "deny all" with exceptions, writes only what changes: a deny for each
// access an exception loses, then an allow for each it gains: in between, the container can
// use what both lists allow and nothing the new one denies. devices_v1_test.go checks each
// step against a model of the kernel's rules.

// devAccess is a set of the access letters r (read), w (write) and m (mknod).
type devAccess uint8

// parseAccess reads "rw", "m"...; ok is false for an empty set or another letter, which the
// kernel refuses.
func parseAccess(s string) (a devAccess, ok bool) {
	for _, c := range s {
		i := strings.IndexRune("rwm", c)
		if i < 0 {
			return 0, false
		}
		a |= 1 << i
	}
	return a, a != 0
}

func (a devAccess) String() string {
	var b strings.Builder
	for i, c := range "rwm" {
		if a&(1<<i) != 0 {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// devKey is an exception's device: "c 1:3", "b 8:*". The kernel matches exceptions by these
// three exactly, wildcards included, when it adds or removes access.
type devKey string

// devExceptions is a "deny all" cgroup's exception list, in the kernel's order (new ones last).
type devExceptions struct {
	keys   []devKey
	access map[devKey]devAccess
}

// parseDeviceLine splits a devices.allow/deny/list line; all is true for an "a" line, which
// the kernel takes as "all devices" whatever follows the type.
func parseDeviceLine(line string) (key devKey, access devAccess, all bool, ok bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", 0, false, false
	}
	if f[0] == "a" {
		return "", 0, true, true
	}
	if len(f) != 3 || (f[0] != "b" && f[0] != "c") {
		return "", 0, false, false
	}
	major, minor, found := strings.Cut(f[1], ":")
	access, good := parseAccess(f[2])
	if !found || !deviceNumber(major) || !deviceNumber(minor) || !good {
		return "", 0, false, false
	}
	return devKey(f[0] + " " + f[1]), access, false, true
}

// deviceNumber reports whether s is a major or minor as the kernel prints it: digits or "*".
func deviceNumber(s string) bool {
	return s == "*" || (s != "" && strings.Trim(s, "0123456789") == "")
}

// readDenyAllList parses devices.list. ok is false when the cgroup allows all devices (its
// exceptions, then denials, are not listed) or a line is not understood.
func readDenyAllList(list string) (ex devExceptions, ok bool) {
	ex.access = map[devKey]devAccess{}
	for line := range strings.Lines(list) {
		key, access, all, ok := parseDeviceLine(line)
		if !ok || all {
			return ex, false
		}
		ex.add(key, access)
	}
	return ex, true
}

// add is the kernel's dev_exception_add: an exception for the same device gains the access.
func (e *devExceptions) add(key devKey, a devAccess) {
	if _, ok := e.access[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.access[key] |= a
}

// remove is dev_exception_rm: the exception for the same device loses the access, and goes
// when it has none left.
func (e *devExceptions) remove(key devKey, a devAccess) {
	left, ok := e.access[key]
	if !ok {
		return
	}
	if left &^= a; left != 0 {
		e.access[key] = left
		return
	}
	delete(e.access, key)
	e.keys = slices.DeleteFunc(e.keys, func(k devKey) bool { return k == key })
}

// deviceTransition returns the writes that take a "deny all" cgroup whose devices.list reads
// current to the state the device writes rules leave, changing only what differs. ok is false
// when it cannot (the list allows all, or the rules end in "allow all", or a line is not
// understood): then the rules are written as they are.
func deviceTransition(current string, rules []write) (diff []write, ok bool) {
	have, ok := readDenyAllList(current)
	if !ok {
		return nil, false
	}
	want := devExceptions{slices.Clone(have.keys), maps.Clone(have.access)}
	for _, r := range rules {
		key, access, all, ok := parseDeviceLine(r.value)
		allow := r.file == "devices.allow"
		switch {
		case !ok || (all && allow):
			return nil, false
		case all:
			want = devExceptions{access: map[devKey]devAccess{}}
		case allow:
			want.add(key, access)
		default:
			want.remove(key, access)
		}
	}
	for _, key := range have.keys {
		if lost := have.access[key] &^ want.access[key]; lost != 0 {
			diff = append(diff, write{"devices", "devices.deny", string(key) + " " + lost.String()})
		}
	}
	for _, key := range want.keys {
		if gained := want.access[key] &^ have.access[key]; gained != 0 {
			diff = append(diff, write{"devices", "devices.allow", string(key) + " " + gained.String()})
		}
	}
	return diff, true
}
