package cgroups

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// kernelDevices is a reference for what the v1 device controller does with each line written
// to devices.allow or devices.deny (security/device_cgroup.c, devcgroup_update_access), kept
// apart from the code under test: an "a" line resets the cgroup to its default; otherwise a
// line that agrees with the default takes access away from the exception for the same device,
// and one that disagrees adds it.
type kernelDevices struct {
	allowAll bool
	ex       map[string]string // "c 1:3" -> the access letters it has, in "rwm" order
}

func (k *kernelDevices) write(file, line string) {
	f := strings.Fields(line)
	allow := file == "devices.allow"
	if f[0] == "a" {
		k.allowAll, k.ex = allow, map[string]string{}
		return
	}
	dev := f[0] + " " + f[1]
	have := k.ex[dev]
	var next strings.Builder
	for _, c := range "rwm" {
		in := strings.ContainsRune(f[2], c)
		if (allow != k.allowAll && (in || strings.ContainsRune(have, c))) ||
			(allow == k.allowAll && !in && strings.ContainsRune(have, c)) {
			next.WriteRune(c)
		}
	}
	if next.Len() == 0 {
		delete(k.ex, dev)
	} else {
		k.ex[dev] = next.String()
	}
}

// list is what devices.list would read.
func (k *kernelDevices) list() string {
	if k.allowAll {
		return "a *:* rwm"
	}
	var lines []string
	for dev, access := range k.ex {
		lines = append(lines, dev+" "+access)
	}
	return strings.Join(lines, "\n")
}

func (k *kernelDevices) clone() *kernelDevices {
	return &kernelDevices{k.allowAll, maps.Clone(k.ex)}
}

// allows reports whether the cgroup allows access c to dev.
func (k *kernelDevices) allows(dev string, c rune) bool {
	return strings.ContainsRune(k.ex[dev], c) != k.allowAll
}

func deviceWrites(lines ...string) []write {
	var w []write
	for _, l := range lines {
		file, rule, _ := strings.Cut(l, " ")
		w = append(w, write{"devices", "devices." + file, rule})
	}
	return w
}

// checkTransition applies rules to a cgroup in state from, once as they are and once as the
// changes deviceTransition makes of them, and wants the same end; and, write by write along the
// changes, every access that both the start and the end allow still allowed, and nothing
// allowed that the start denies until nothing is left that the end denies (access is taken
// away first, then given).
func checkTransition(t *testing.T, from *kernelDevices, rules []write) {
	t.Helper()
	want := from.clone()
	for _, r := range rules {
		want.write(r.file, r.value)
	}
	diff, ok := deviceTransition(from.list(), rules)
	if !ok {
		t.Fatalf("deviceTransition(%q, %v): not ok", from.list(), rules)
	}
	devs := map[string]bool{}
	for dev := range maps.Keys(from.ex) {
		devs[dev] = true
	}
	for dev := range maps.Keys(want.ex) {
		devs[dev] = true
	}
	got := from.clone()
	for i, d := range diff {
		if strings.HasPrefix(d.value, "a") {
			t.Fatalf("change %d is %q: it empties the list", i, d.value)
		}
		got.write(d.file, d.value)
		withinStart, withinEnd := true, true
		for dev := range devs {
			for _, c := range "rwm" {
				before, after, now := from.allows(dev, c), want.allows(dev, c), got.allows(dev, c)
				if before && after && !now {
					t.Fatalf("from %q by %v: after change %d (%v) %s %c is denied; the start and the end allow it", from.list(), rules, i, d, dev, c)
				}
				withinStart = withinStart && (before || !now)
				withinEnd = withinEnd && (after || !now)
			}
		}
		if !withinStart && !withinEnd {
			t.Fatalf("from %q by %v: after change %d (%v) the cgroup allows what the start denies and what the end denies", from.list(), rules, i, d)
		}
	}
	if !maps.Equal(got.ex, want.ex) || got.allowAll {
		t.Errorf("from %q by %v: changes %v end at %q, the rules at %q", from.list(), rules, diff, got.list(), want.list())
	}
}

func TestDeviceTransition(t *testing.T) {
	running := &kernelDevices{ex: map[string]string{"c 1:3": "rwm", "c 1:5": "rwm", "c 136:*": "rwm", "c 5:1": "rw"}}
	// The default spec's list as contain writes it, and the same with one device more and one less.
	base := []string{"deny a *:* rwm", "allow c 1:3 rwm", "allow c 1:5 rwm", "allow c 136:* rwm", "allow c 5:1 rw"}
	checkTransition(t, running, deviceWrites(base...))
	checkTransition(t, running, deviceWrites(append(base, "allow c 10:200 rwm")...))
	checkTransition(t, running, deviceWrites(append(base[:3:3], "allow c 5:1 r")...))
	checkTransition(t, running, deviceWrites("deny c 136:* m", "allow b 8:* r"))
	if diff, _ := deviceTransition(running.list(), deviceWrites(base...)); len(diff) != 0 {
		t.Errorf("the same rules again: changes %v, want none", diff)
	}
	if diff, _ := deviceTransition(running.list(), deviceWrites(append(base, "allow c 10:200 rwm", "deny c 5:1 w")...)); fmt.Sprint(diff) != "[{devices devices.deny c 5:1 w} {devices devices.allow c 10:200 rwm}]" {
		t.Errorf("one device more, one access less: changes %v", diff)
	}

	// Where it cannot, the rules are written as they are.
	for _, c := range []struct{ list, rules string }{
		{"a *:* rwm", "deny a *:* rwm;allow c 1:3 rwm"},      // a privileged container: exceptions unlisted
		{"c 1:3 rwm", "deny a *:* rwm;allow a *:* rwm"},      // ends allowing all
		{"c 1:3 rwm", "deny a *:* rwm;allow c 1:3 rwx"},      // a letter the kernel refuses
		{"c 1:3 rwm", "deny a *:* rwm;allow c x:3 rwm"},      // a device number the kernel refuses
		{"c 1:3 rwm", "deny a *:* rwm;allow c 1:3"},          // no access
		{"c 1:3 rwm\nweird", "deny a *:* rwm;allow c 1:3 r"}, // a list line not understood
	} {
		if diff, ok := deviceTransition(c.list, deviceWrites(strings.Split(c.rules, ";")...)); ok {
			t.Errorf("deviceTransition(%q, %q) = %v, ok; want the rules as they are", c.list, c.rules, diff)
		}
	}
}

// TestDeviceTransitionRandom checks thousands of random lists and rule lists against the
// reference.
func TestDeviceTransitionRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	devs := []string{"c 1:3", "c 1:5", "c 136:*", "b 8:0", "c *:*", "b *:*", "c 10:*"}
	access := func() string {
		var b strings.Builder
		for b.Len() == 0 {
			for _, c := range "rwm" {
				if r.IntN(2) == 0 {
					b.WriteRune(c)
				}
			}
		}
		return b.String()
	}
	for range 5000 {
		from := &kernelDevices{ex: map[string]string{}}
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
		checkTransition(t, from, deviceWrites(lines...))
		if t.Failed() {
			return
		}
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
