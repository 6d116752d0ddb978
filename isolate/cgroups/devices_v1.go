package cgroups

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Cgroup v1's device controller keeps, per cgroup, a default ("allow all" or "deny all") and a
// list of exceptions to it; devices.list shows the exceptions of a "deny all" cgroup, one
// "TYPE MAJOR:MINOR ACCESS" a line (or just "a *:* rwm" when it allows all). An access is
// allowed when one exception covers it whole: its type, its major and minor (or "*"), and
// every letter asked for. A spec's rule list usually starts with "deny all" (runc's and
// contain's default spec do), and writing that line empties the list at once: the rules after
// it build it up again, one write(2) each. At create nothing runs in the cgroup yet, but on an
// update the running container could not open even /dev/null in between. So the v1 driver
// reads devices.list first and, where the list stays "deny all" with exceptions, writes only
// what changes, in this order:
//
//  1. Access an exception gains, where that grants nothing the old list did not: the exception
//     loses nothing, so it ends as the new list has it; or one old exception already covers
//     its devices with all of its access, old and gained. Such an allow also keeps a device
//     reachable when a wildcard that covered it goes in step 4 ("c 10:*" narrowed to
//     "c 10:200").
//  2. Access lost by the exceptions that also gain access, but could not in step 1.
//  3. The access those gain.
//  4. Access lost by every other exception.
//
// No step allows what neither list allows, and what both allow stays allowed throughout,
// device by device, unless an exception both loses and gains letters ("r" to "w") outside
// any one old exception's reach: its gain must wait for its loss (together they would allow
// "rw", which neither list does), and a device it shares with an overlapping exception can
// lack, for that moment, a letter both lists give it. Whole devices added, removed or
// narrowed, the updates engines make, never meet that. devices_v1_test.go checks each step
// against a model of the kernel's rules.

// devAccess is a set of the access letters r (read), w (write) and m (mknod).
type devAccess uint8

// parseAccess reads "rw", "m"...; ok is false for an empty set, another letter, or more than
// the three letters the kernel reads.
func parseAccess(s string) (a devAccess, ok bool) {
	if len(s) > 3 {
		return 0, false
	}
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

// devKey is an exception's devices: a type ('b' or 'c') and a major and minor, -1 for "*".
// The kernel adds and removes access by these three exactly, wildcards included.
type devKey struct {
	typ          byte
	major, minor int64
}

func (k devKey) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return string(k.typ) + " " + num(k.major) + ":" + num(k.minor)
}

// covers reports whether every device of o is one of k's.
func (k devKey) covers(o devKey) bool {
	return k.typ == o.typ && (k.major < 0 || k.major == o.major) && (k.minor < 0 || k.minor == o.minor)
}

// deviceLine is one parsed devices.allow/deny/list line.
type deviceLine struct {
	key    devKey
	access devAccess
	all    bool // an "a" line: all devices, whatever follows the type
}

// parseDeviceLine reads a line as the kernel does; ok is false for one it would refuse.
func parseDeviceLine(line string) (d deviceLine, ok bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return d, false
	}
	if f[0] == "a" {
		return deviceLine{all: true}, true
	}
	if len(f) != 3 || (f[0] != "b" && f[0] != "c") {
		return d, false
	}
	major, minor, found := strings.Cut(f[1], ":")
	d.key.typ = f[0][0]
	var good1, good2, good3 bool
	d.key.major, good1 = deviceNumber(major)
	d.key.minor, good2 = deviceNumber(minor)
	d.access, good3 = parseAccess(f[2])
	return d, found && good1 && good2 && good3
}

// deviceNumber reads a major or minor: "*" or a number the kernel keeps in 32 bits, where
// 4294967295 is its "*" (-1 for both).
func deviceNumber(s string) (int64, bool) {
	if s == "*" {
		return -1, true
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || s[0] == '+' {
		return 0, false
	}
	if n == math.MaxUint32 {
		return -1, true
	}
	return int64(n), true
}

// devExceptions is a "deny all" cgroup's exception list, in the kernel's order (new ones last).
type devExceptions struct {
	keys   []devKey
	access map[devKey]devAccess
}

// readDenyAllList parses devices.list. ok is false when the cgroup allows all devices (its
// exceptions, then denials, are not listed) or a line is not understood.
func readDenyAllList(list string) (ex devExceptions, ok bool) {
	ex.access = map[devKey]devAccess{}
	for line := range strings.Lines(list) {
		d, ok := parseDeviceLine(line)
		if !ok || d.all {
			return ex, false
		}
		ex.add(d.key, d.access)
	}
	return ex, true
}

// add is the kernel's dev_exception_add: an exception for the same devices gains the access.
func (e *devExceptions) add(key devKey, a devAccess) {
	if _, ok := e.access[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.access[key] |= a
}

// remove is dev_exception_rm: the exception for the same devices loses the access, and goes
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

// coveredByOne reports whether one exception covers every device of key with all of a.
func (e *devExceptions) coveredByOne(key devKey, a devAccess) bool {
	for _, k := range e.keys {
		if k.covers(key) && e.access[k]&a == a {
			return true
		}
	}
	return false
}

// deviceTransition returns the writes that take a "deny all" cgroup whose devices.list reads
// current to the state the device writes rules leave, changing only what differs, in the
// order above. ok is false when it cannot (the list allows all, or the rules end in "allow
// all", or a line is not understood): then the rules are written as they are.
func deviceTransition(current string, rules []write) (diff []write, ok bool) {
	have, ok := readDenyAllList(current)
	if !ok {
		return nil, false
	}
	want := devExceptions{slices.Clone(have.keys), maps.Clone(have.access)}
	var allows []deviceLine
	for _, r := range rules {
		d, ok := parseDeviceLine(r.value)
		allow := r.file == "devices.allow"
		switch {
		case !ok || (d.all && allow):
			return nil, false
		case d.all:
			want = devExceptions{access: map[devKey]devAccess{}}
		case allow:
			want.add(d.key, d.access)
			allows = append(allows, d)
		default:
			want.remove(d.key, d.access)
		}
	}
	var gainEarly, denyEarly, gainLate, denyLate []write
	late := map[devKey]bool{}
	for _, key := range want.keys {
		old := have.access[key]
		gained, lost := want.access[key]&^old, old&^want.access[key]
		switch {
		case gained == 0:
		case lost == 0 || have.coveredByOne(key, old|gained):
			gainEarly = append(gainEarly, allowLines(key, gained, allows)...)
		default:
			late[key] = true
			gainLate = append(gainLate, allowLines(key, gained, allows)...)
		}
	}
	for _, key := range have.keys {
		if lost := have.access[key] &^ want.access[key]; lost != 0 {
			deny := write{"devices", "devices.deny", key.String() + " " + lost.String()}
			if late[key] {
				denyEarly = append(denyEarly, deny)
			} else {
				denyLate = append(denyLate, deny)
			}
		}
	}
	return slices.Concat(gainEarly, denyEarly, gainLate, denyLate), true
}

// allowLines writes the access key gains as the spec's allow rules for key grouped it: each
// line a part of one rule's access. A parent cgroup that is "deny all" too checks each write
// against one of its own exceptions, and the rules as given passed that check.
func allowLines(key devKey, gained devAccess, allows []deviceLine) []write {
	var lines []write
	for _, d := range allows {
		if part := d.access & gained; d.key == key && part != 0 {
			lines = append(lines, write{"devices", "devices.allow", key.String() + " " + part.String()})
			gained &^= part
		}
	}
	return lines
}
