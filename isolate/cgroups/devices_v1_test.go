package cgroups

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// kernelDevices is a reference for what the v1 device controller does with each line written
// to devices.allow or devices.deny (security/device_cgroup.c, devcgroup_update_access), kept
// apart from the code under test: an "a" line resets the cgroup to its default; otherwise a
// line that agrees with the default takes access away from the exception for the same devices,
// and one that disagrees adds it. Majors and minors are 32-bit numbers, 4294967295 being "*",
// and only the first three access letters are read. Exceptions keep the kernel's order, new
// ones last, so that devices.list reads the same on every run.
type kernelDevices struct {
	allowAll bool
	ex       map[string]string // "c 1:3" -> the access letters it has, in "rwm" order
	order    []string          // the keys of ex, as the kernel lists them
}

// kernelNumber is a major or minor as the kernel keeps and prints it.
func kernelNumber(s string) string {
	n, err := strconv.ParseUint(s, 10, 32)
	if s == "*" || err != nil || n == math.MaxUint32 {
		return "*"
	}
	return strconv.FormatUint(n, 10)
}

func (k *kernelDevices) write(file, line string) {
	f := strings.Fields(line)
	allow := file == "devices.allow"
	if f[0] == "a" {
		k.allowAll, k.ex, k.order = allow, map[string]string{}, nil
		return
	}
	major, minor, _ := strings.Cut(f[1], ":")
	dev := f[0] + " " + kernelNumber(major) + ":" + kernelNumber(minor)
	letters := f[2][:min(3, len(f[2]))]
	have := k.ex[dev]
	var next strings.Builder
	for _, c := range "rwm" {
		in := strings.ContainsRune(letters, c)
		if (allow != k.allowAll && (in || strings.ContainsRune(have, c))) ||
			(allow == k.allowAll && !in && strings.ContainsRune(have, c)) {
			next.WriteRune(c)
		}
	}
	switch _, had := k.ex[dev]; {
	case next.Len() == 0:
		delete(k.ex, dev)
		k.order = slices.DeleteFunc(k.order, func(d string) bool { return d == dev })
	case !had:
		k.order = append(k.order, dev)
		fallthrough
	default:
		k.ex[dev] = next.String()
	}
}

// list is what devices.list would read.
func (k *kernelDevices) list() string {
	if k.allowAll {
		return "a *:* rwm"
	}
	var lines []string
	for _, dev := range k.order {
		lines = append(lines, dev+" "+k.ex[dev])
	}
	return strings.Join(lines, "\n")
}

func (k *kernelDevices) clone() *kernelDevices {
	return &kernelDevices{k.allowAll, maps.Clone(k.ex), slices.Clone(k.order)}
}

// allows reports whether a "deny all" cgroup allows access to the device "c 10:200": whether
// one exception covers it, its type, major, minor and every letter asked for.
func (k *kernelDevices) allows(dev, access string) bool {
	typ, nums, _ := strings.Cut(dev, " ")
	major, minor, _ := strings.Cut(nums, ":")
	for ex, letters := range k.ex {
		et, enums, _ := strings.Cut(ex, " ")
		emajor, eminor, _ := strings.Cut(enums, ":")
		if et == typ && (emajor == "*" || emajor == major) && (eminor == "*" || eminor == minor) &&
			strings.Trim(access, letters) == "" {
			return true
		}
	}
	return false
}

// concreteDevices are the devices the checks ask about: every type, major and minor that
// the tests' rules name, and others that only their wildcards cover.
var concreteDevices = func() (devs []string) {
	for _, t := range []string{"b", "c"} {
		for _, major := range []string{"1", "8", "10", "136", "99"} {
			for _, minor := range []string{"0", "3", "5", "200"} {
				devs = append(devs, t+" "+major+":"+minor)
			}
		}
	}
	return devs
}()

var accessSets = []string{"r", "w", "m", "rw", "rm", "wm", "rwm"}

func deviceWrites(lines ...string) []write {
	var w []write
	for _, l := range lines {
		file, rule, _ := strings.Cut(l, " ")
		w = append(w, write{"devices", "devices." + file, rule})
	}
	return w
}

// checkTransition applies rules to a "deny all" cgroup in state from, once as they are and
// once as the changes deviceTransition makes of them, and wants the same end; and, write by
// write along the changes, device by device and for every set of access letters, nothing
// allowed that neither the start nor the end allows, and what both allow still allowed, unless
// an exception both loses and gains letters (see devices_v1.go). It returns the changes, and
// whether the second check was made.
func checkTransition(t *testing.T, from *kernelDevices, rules []write) (changes []write, kept bool) {
	t.Helper()
	want := from.clone()
	for _, r := range rules {
		want.write(r.file, r.value)
	}
	diff, ok := deviceTransition(from.list(), rules)
	if !ok {
		t.Fatalf("deviceTransition(%q, %v): not ok", from.list(), rules)
	}
	kept = true
	for dev, old := range from.ex {
		if now, ok := want.ex[dev]; ok && strings.Trim(old, now) != "" && strings.Trim(now, old) != "" {
			kept = false
		}
	}
	got := from.clone()
	for i, d := range diff {
		if strings.HasPrefix(d.value, "a") {
			t.Fatalf("change %d is %q: it empties the list", i, d.value)
		}
		got.write(d.file, d.value)
		for _, dev := range concreteDevices {
			for _, access := range accessSets {
				before, after, now := from.allows(dev, access), want.allows(dev, access), got.allows(dev, access)
				if kept && before && after && !now || !before && !after && now {
					t.Fatalf("from %q by %v, changes %v: after change %d, %s %s is allowed=%v; the start says %v, the end %v",
						from.list(), rules, diff, i, dev, access, now, before, after)
				}
			}
		}
	}
	if !maps.Equal(got.ex, want.ex) || got.allowAll {
		t.Errorf("from %q by %v: changes %v end at %q, the rules at %q", from.list(), rules, diff, got.list(), want.list())
	}
	return diff, kept
}

// devicesFrom is a "deny all" cgroup with the exceptions given as list lines.
func devicesFrom(lines ...string) *kernelDevices {
	k := &kernelDevices{ex: map[string]string{}}
	for _, l := range lines {
		k.write("devices.allow", l)
	}
	return k
}

func TestDeviceTransition(t *testing.T) {
	running := devicesFrom("c 1:3 rwm", "c 1:5 rwm", "c 136:* rwm", "c 5:1 rw")
	// The default spec's list as contain writes it, and the same with one device more and one less.
	base := []string{"deny a *:* rwm", "allow c 1:3 rwm", "allow c 1:5 rwm", "allow c 136:* rwm", "allow c 5:1 rw"}
	checkTransition(t, running, deviceWrites(base...))
	checkTransition(t, running, deviceWrites(append(base, "allow c 10:200 rwm")...))
	checkTransition(t, running, deviceWrites(append(base[:3:3], "allow c 5:1 r")...))
	checkTransition(t, running, deviceWrites("deny c 136:* m", "allow b 8:* r"))
	if diff, _ := checkTransition(t, running, deviceWrites(base...)); len(diff) != 0 {
		t.Errorf("the same rules again: changes %v, want none", diff)
	}
	if diff, _ := checkTransition(t, running, deviceWrites(append(base, "allow c 10:200 rwm", "deny c 5:1 w")...)); fmt.Sprint(diff) != "[{devices devices.allow c 10:200 rwm} {devices devices.deny c 5:1 w}]" {
		t.Errorf("one device more, one access less: changes %v", diff)
	}
	// A wildcard narrowed to one of its devices, and widened from one: the device keeps its
	// access throughout (the allow comes first).
	checkTransition(t, devicesFrom("c 1:3 rwm", "c 10:* rwm"), deviceWrites("deny a *:* rwm", "allow c 1:3 rwm", "allow c 10:200 rwm"))
	checkTransition(t, devicesFrom("c 1:3 rwm", "c 10:200 rw"), deviceWrites("deny a *:* rwm", "allow c 1:3 rwm", "allow c 10:* rw"))
	// An exception that loses one letter and gains another, inside a wildcard that covers both:
	// the gain comes first, since the wildcard already grants it. The check of what both lists
	// allow is made here too.
	if _, kept := checkTransition(t, devicesFrom("c 10:* rw", "c 10:200 r"), deviceWrites("deny a *:* rwm", "allow c 10:* r", "allow c 10:200 w")); kept {
		t.Error("an exception that loses and gains letters: want the check of what both allow left out")
	}
	if diff, _ := checkTransition(t, devicesFrom("c 10:* rw", "c 10:200 r"), deviceWrites("deny a *:* rwm", "allow c 10:* r", "allow c 10:200 w")); fmt.Sprint(diff) != "[{devices devices.allow c 10:200 w} {devices devices.deny c 10:* w} {devices devices.deny c 10:200 r}]" {
		t.Errorf("a gain the wildcard covers: changes %v, want it first", diff)
	}
	// The kernel's "*" written as a number, and a number with a leading zero.
	checkTransition(t, devicesFrom("c 1:3 rwm"), deviceWrites("deny a *:* rwm", "allow c 1:3 rwm", "allow c 4294967295:3 rw", "deny c *:3 w"))
	checkTransition(t, devicesFrom("c 1:3 rwm"), deviceWrites("deny a *:* rwm", "allow c 01:3 rwm", "allow c 10:200 r"))
	// Gained access goes in the spec's own lines: a parent that is "deny all" too checks each.
	if diff, _ := checkTransition(t, devicesFrom("c 1:3 rwm"), deviceWrites("deny a *:* rwm", "allow c 1:3 rwm", "allow c 10:200 r", "allow c 10:200 w")); fmt.Sprint(diff) != "[{devices devices.allow c 10:200 r} {devices devices.allow c 10:200 w}]" {
		t.Errorf("two allow rules for one device: changes %v, want one line each", diff)
	}

	// Where it cannot, the rules are written as they are.
	for _, c := range []struct{ list, rules string }{
		{"a *:* rwm", "deny a *:* rwm;allow c 1:3 rwm"},        // a privileged container: exceptions unlisted
		{"c 1:3 rwm", "deny a *:* rwm;allow a *:* rwm"},        // ends allowing all
		{"c 1:3 rwm", "deny a *:* rwm;allow c 1:3 rwx"},        // a letter the kernel refuses
		{"c 1:3 rwm", "deny a *:* rwm;allow c 1:3 rrrw"},       // more letters than the kernel reads
		{"c 1:3 rwm", "deny a *:* rwm;allow c x:3 rwm"},        // a device number the kernel refuses
		{"c 1:3 rwm", "deny a *:* rwm;allow c 4294967296:3 r"}, // one over 32 bits
		{"c 1:3 rwm", "deny a *:* rwm;allow c 1:3"},            // no access
		{"c 1:3 rwm\nweird", "deny a *:* rwm;allow c 1:3 r"},   // a list line not understood
	} {
		if diff, ok := deviceTransition(c.list, deviceWrites(strings.Split(c.rules, ";")...)); ok {
			t.Errorf("deviceTransition(%q, %q) = %v, ok; want the rules as they are", c.list, c.rules, diff)
		}
	}
}

// TestDeviceTransitionRandom checks thousands of random lists and rule lists against the
// reference, wildcards overlapping.
func TestDeviceTransitionRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	devs := []string{"c 1:3", "c 1:5", "c 136:*", "b 8:0", "b 8:*", "c *:*", "b *:*", "c 10:*", "c 10:200", "c *:3"}
	access := func() string { return accessSets[r.IntN(len(accessSets))] }
	checked := 0
	for range 4000 {
		from := devicesFrom()
		for range r.IntN(5) {
			from.write("devices.allow", devs[r.IntN(len(devs))]+" "+access())
		}
		var lines []string
		if r.IntN(4) != 0 {
			lines = append(lines, "deny a *:* rwm")
		}
		for range r.IntN(6) {
			verb := [...]string{"allow", "deny"}[r.IntN(2)]
			lines = append(lines, verb+" "+devs[r.IntN(len(devs))]+" "+access())
		}
		if _, kept := checkTransition(t, from, deviceWrites(lines...)); kept {
			checked++
		}
		if t.Failed() {
			return
		}
	}
	if checked < 3000 {
		t.Errorf("what both lists allow was checked in %d of 4000 cases; want most", checked)
	}
}

// TestV1DeviceUpdateWritesOnlyChanges: an update of a container's device rules, on a cgroup
// whose devices.list reads like a running container's, writes the changes and no "deny all";
// a Create writes the rules as they are (nothing runs in the new cgroup yet).
func TestV1DeviceUpdateWritesOnlyChanges(t *testing.T) {
	rules := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"},
	}}
	listed := func(root string) string {
		leaf := filepath.Join(root, "devices", "contain", "c1")
		if err := os.WriteFile(filepath.Join(leaf, "devices.list"), []byte("c 1:3 rwm\nc 136:* rwm\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return leaf
	}
	c, root := v1Fixture(t)
	leaf := listed(root)
	if _, err := c.Update(rules); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, leaf, map[string]string{"devices.deny": "c 136:* rwm", "devices.allow": "c 10:200 rwm"})

	c, root = v1Fixture(t)
	leaf = listed(root)
	var leaves []string
	for _, mount := range c.mounts() {
		leaves = append(leaves, filepath.Join(mount, c.path))
	}
	asMadeByMkdir(t, leaves...)
	if _, err := c.Create(rules); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, leaf, map[string]string{"devices.deny": "a *:* rwm", "devices.allow": "c 1:3 rwmc 10:200 rwm"})
}
