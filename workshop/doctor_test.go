package workshop

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containkit/contain/rootfs"
	"golang.org/x/sys/unix"
)

func TestDoctorParseKernelRelease(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    []int
		ok      bool
	}{
		{"6.18.44-fc-v657", []int{6, 18, 44}, true},
		{"5.15.0-91-generic", []int{5, 15, 0}, true},
		{"6.1.0-18-amd64", []int{6, 1, 0}, true},
		{"5.12", []int{5, 12}, true},
		{"6.8.0+", []int{6, 8, 0}, true},
		{"4.19.0rc1", []int{4, 19, 0}, true},
		{"6", nil, false},
		{"linux", nil, false},
		{"", nil, false},
	} {
		got, err := parseKernelRelease(tc.release)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("parseKernelRelease(%q) = %v, %v; want %v, ok=%v", tc.release, got, err, tc.want, tc.ok)
		}
	}
}

func TestDoctorVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		have, want []int
		ok         bool
	}{
		{[]int{5, 12}, []int{5, 12}, true},
		{[]int{5, 12, 0}, []int{5, 12}, true},
		{[]int{5, 11, 99}, []int{5, 12}, false},
		{[]int{6, 0}, []int{5, 12}, true},
		{[]int{4, 19}, []int{5, 12}, false},
		{[]int{1, 26, 8}, []int{1, 26}, true},
		{[]int{1, 25, 999}, []int{1, 26}, false},
		{[]int{1, 27}, []int{1, 26}, true},
		{[]int{2}, []int{1, 26}, true},
		{nil, []int{1}, false},
	} {
		if got := versionAtLeast(tc.have, tc.want); got != tc.ok {
			t.Errorf("versionAtLeast(%v, %v) = %v, want %v", tc.have, tc.want, got, tc.ok)
		}
	}
}

func TestDoctorParseGoVersion(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want []int
		ok   bool
	}{
		{"go version go1.26.8 linux/amd64\n", []int{1, 26, 8}, true},
		{"go version go1.26 linux/amd64", []int{1, 26}, true},
		{"go version go1.19.8 linux/amd64", []int{1, 19, 8}, true},
		{"go version go1.26rc1 linux/amd64", []int{1, 25, 999}, true},
		{"go version go1.27beta2 linux/arm64", []int{1, 26, 999}, true},
		{"go version devel go1.27-4b0b5e3 Tue Jan 6 10:00:00 2026 +0000 linux/amd64", []int{1, 27}, true},
		{"go version go1.26.1-X:nodwarf5 linux/amd64", []int{1, 26, 1}, true},
		{"bash: go: command not found", nil, false},
	} {
		got, err := parseGoVersion(tc.out)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("parseGoVersion(%q) = %v, %v; want %v, ok=%v", tc.out, got, err, tc.want, tc.ok)
		}
	}
	// The decision the doctor makes with it.
	for out, ok := range map[string]bool{
		"go version go1.26.0 linux/amd64":  true,
		"go version go1.26rc2 linux/amd64": false,
		"go version go1.25.9 linux/amd64":  false,
	} {
		v, _ := parseGoVersion(out)
		if got := versionAtLeast(v, minGo); got != ok {
			t.Errorf("%q: at least 1.26 = %v, want %v", out, got, ok)
		}
	}
}

func TestDoctorCgroupModeOf(t *testing.T) {
	const ext4 = 0xef53
	for _, tc := range []struct {
		name          string
		root, unified int64
		want          string
	}{
		{"pure v2", unix.CGROUP2_SUPER_MAGIC, 0, cgroupV2},
		{"v2 with a stray unified dir", unix.CGROUP2_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC, cgroupV2},
		{"hybrid", unix.TMPFS_MAGIC, unix.CGROUP2_SUPER_MAGIC, cgroupHybrid},
		{"v1", unix.TMPFS_MAGIC, 0, cgroupV1},
		{"v1, unified is a plain dir", unix.TMPFS_MAGIC, unix.TMPFS_MAGIC, cgroupV1},
		{"nothing mounted", 0, 0, cgroupNone},
		{"a plain directory", ext4, 0, cgroupNone},
	} {
		if got := cgroupModeOf(tc.root, tc.unified); got != tc.want {
			t.Errorf("%s: cgroupModeOf(%#x, %#x) = %q, want %q", tc.name, tc.root, tc.unified, got, tc.want)
		}
	}
}

func TestDoctorControllers(t *testing.T) {
	got := controllersOfV1Dirs([]string{"blkio", "cpu,cpuacct", "cpuset", "memory", "net_cls,net_prio", "pids", "systemd", "unified", "name=foo"})
	want := []string{"blkio", "cpu", "cpuacct", "cpuset", "memory", "net_cls", "net_prio", "pids"}
	if !slices.Equal(got, want) {
		t.Errorf("controllersOfV1Dirs = %v, want %v", got, want)
	}
	if m := missingControllers([]string{"cpu", "io", "memory", "pids"}, stepControllers); len(m) != 0 {
		t.Errorf("missing from a full v2 = %v", m)
	}
	if m := missingControllers([]string{"hugetlb"}, stepControllers); !slices.Equal(m, []string{"cpu", "memory", "pids"}) {
		t.Errorf("missing from hugetlb only = %v", m)
	}
	// A fake v2 root and a fake hybrid tree, read from a temporary directory.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := v2Controllers(dir); !slices.Equal(got, []string{"cpuset", "cpu", "io", "memory", "pids"}) {
		t.Errorf("v2Controllers = %v", got)
	}
	for _, d := range []string{"cpu,cpuacct", "memory", "unified", "systemd"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("cpu,cpuacct", filepath.Join(dir, "cpu")); err != nil {
		t.Fatal(err)
	}
	if got := v1Controllers(dir); !slices.Equal(got, []string{"cpu", "cpuacct", "memory"}) {
		t.Errorf("v1Controllers = %v", got)
	}
}

func TestDoctorPropagation(t *testing.T) {
	const (
		private = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
		shared  = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		slave   = "22 1 8:1 / / rw,relatime master:7 - ext4 /dev/sda1 rw\n"
		both    = "22 1 8:1 / / rw,relatime shared:3 master:7 - ext4 /dev/sda1 rw\n"
		proc    = "23 22 0:5 / /proc rw,nosuid shared:12 - proc proc rw\n"
		spaced  = "24 22 0:40 / /mnt/with\\040space rw shared:9 - tmpfs tmpfs rw\n"
	)
	for _, tc := range []struct {
		name, mountinfo, want string
	}{
		{"private", private + proc, "private"},
		{"shared (systemd)", shared + proc, "shared"},
		{"slave", slave, "slave"},
		{"shared and slave", both, "shared and slave"},
		{"stacked: the last / is on top", shared + proc + "30 22 0:33 / / rw - overlay overlay rw\n", "private"},
		{"an escaped mount point is not /", private + spaced, "private"},
		{"unbindable", "22 1 8:1 / / rw unbindable - ext4 /dev/sda1 rw\n", "unbindable"},
	} {
		got, err := rootPropagation([]byte(tc.mountinfo))
		if err != nil || got != tc.want {
			t.Errorf("%s: rootPropagation = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := rootPropagation([]byte(proc)); err == nil {
		t.Error("rootPropagation without a / line: want an error")
	}
	if _, err := rootPropagation([]byte("garbage\n\n")); err == nil {
		t.Error("rootPropagation of garbage: want an error")
	}
	m := parseMountinfo([]byte(spaced))
	if len(m) != 1 || m[0].point != "/mnt/with space" || m[0].fstype != "tmpfs" || m[0].id != 24 {
		t.Errorf("parseMountinfo(%q) = %+v", spaced, m)
	}
}

func TestDoctorUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:            "/plain",
		`/a\040b`:           "/a b",
		`/tab\011x\134y`:    "/tab\tx\\y",
		`/trailing\04`:      `/trailing\04`,
		`/not\9999octal`:    `/not\9999octal`,
		`/nl\012`:           "/nl\n",
		`/two\040\040space`: "/two  space",
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDoctorHasFilesystem(t *testing.T) {
	procFilesystems := []byte("nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n\tvfat\n")
	for name, want := range map[string]bool{"overlay": true, "ext4": true, "tmpfs": true, "btrfs": false, "nodev": false, "over": false} {
		if got := hasFilesystem(procFilesystems, name); got != want {
			t.Errorf("hasFilesystem(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDoctorUsernsVerdict(t *testing.T) {
	for _, tc := range []struct {
		name, clone, apparmor, max string
		ok                         bool
		fixHas                     []string
	}{
		{"Debian 12", "1", "", "63457", true, nil},
		{"no such sysctls", "", "", "", true, nil},
		{"old Debian", "0", "", "63457", false, []string{"sudo sysctl -w kernel.unprivileged_userns_clone=1"}},
		{"Ubuntu 24.04", "", "1", "63457", false, []string{"sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"}},
		{"Ubuntu 24.04, restriction lifted", "", "0", "63457", true, nil},
		{"max 0", "1", "0", "0", false, []string{"user.max_user_namespaces=15000"}},
		{"all three", "0", "1", "0", false, []string{"unprivileged_userns_clone=1", "apparmor_restrict_unprivileged_userns=0", "max_user_namespaces=15000"}},
	} {
		value, fix := usernsVerdict(tc.clone, tc.apparmor, tc.max)
		if (fix == "") != tc.ok {
			t.Errorf("%s: usernsVerdict = %q, %q; want ok=%v", tc.name, value, fix, tc.ok)
		}
		for _, s := range tc.fixHas {
			if !strings.Contains(fix, s) {
				t.Errorf("%s: fix %q lacks %q", tc.name, fix, s)
			}
		}
		if strings.Contains(fix, "echo") || strings.Contains(fix, "> /proc") {
			t.Errorf("%s: fix %q must be a sysctl command for a person to run", tc.name, fix)
		}
	}
}

func TestDoctorRootfsVerdict(t *testing.T) {
	for _, tc := range []struct {
		name                string
		marker              string
		hasMarker, nonEmpty bool
		ok                  bool
		has                 string
	}{
		{"complete", "contain-rootfs 1\n", true, true, true, "complete: contain-rootfs 1"},
		{"missing", "", false, false, true, "built on first use"},
		{"someone else's", "", false, true, false, "not made by contain"},
	} {
		value, ok := rootfsVerdict("/var/lib/contain/rootfs", []byte(tc.marker), tc.hasMarker, tc.nonEmpty)
		if ok != tc.ok || !strings.Contains(value, tc.has) {
			t.Errorf("%s: rootfsVerdict = %q, %v; want ok=%v and %q", tc.name, value, ok, tc.ok, tc.has)
		}
	}
	// The real reading, against temporary directories.
	dir := t.TempDir()
	if it := checkRootfs(filepath.Join(dir, "absent")); !it.ok {
		t.Errorf("absent rootfs: %v", it)
	}
	if err := os.WriteFile(filepath.Join(dir, "stray"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if it := checkRootfs(dir); it.ok || !strings.Contains(it.String(), "fix: ") {
		t.Errorf("foreign rootfs: %v", it)
	}
	if err := os.WriteFile(filepath.Join(dir, rootfs.MarkerName), []byte("contain-rootfs 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if it := checkRootfs(dir); !it.ok {
		t.Errorf("complete rootfs: %v", it)
	}
}

// writeELF writes a minimal 64-bit little-endian ELF executable with program headers of the
// given types: enough for debug/elf.
func writeELF(t *testing.T, path string, progs ...elf.ProgType) {
	t.Helper()
	var b bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: uint16(len(progs)), Shentsize: 64,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	must(t, binary.Write(&b, binary.LittleEndian, hdr))
	for _, p := range progs {
		must(t, binary.Write(&b, binary.LittleEndian, elf.Prog64{Type: uint32(p), Align: 8}))
	}
	must(t, os.WriteFile(path, b.Bytes(), 0o755))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDoctorStaticELF(t *testing.T) {
	dir := t.TempDir()
	static, dynamic, text := filepath.Join(dir, "static"), filepath.Join(dir, "dynamic"), filepath.Join(dir, "script")
	writeELF(t, static, elf.PT_LOAD, elf.PT_NOTE)
	writeELF(t, dynamic, elf.PT_PHDR, elf.PT_INTERP, elf.PT_LOAD, elf.PT_DYNAMIC)
	must(t, os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755))

	if ok, err := rootfs.IsStatic(static); err != nil || !ok {
		t.Errorf("rootfs.IsStatic(static) = %v, %v", ok, err)
	}
	if ok, err := rootfs.IsStatic(dynamic); err != nil || ok {
		t.Errorf("rootfs.IsStatic(dynamic) = %v, %v", ok, err)
	}
	if _, err := rootfs.IsStatic(text); err == nil {
		t.Error("rootfs.IsStatic(a script): want an error")
	}
	if _, err := rootfs.IsStatic(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rootfs.IsStatic(absent) = %v, want not exist", err)
	}

	for path, ok := range map[string]bool{static: true, dynamic: false, text: false, filepath.Join(dir, "absent"): false} {
		it := checkBusybox(path)
		if it.ok != ok {
			t.Errorf("checkBusybox(%s) = %v, want ok=%v", path, it, ok)
		}
		if !ok && !strings.Contains(it.String(), "fix: sudo apt-get install busybox-static") {
			t.Errorf("checkBusybox(%s) = %q: want the apt-get fix", path, it)
		}
	}
}

func TestDoctorItemString(t *testing.T) {
	for _, tc := range []struct {
		it   item
		want string
	}{
		{item{ok: true, what: "kernel", value: "6.1"}, "✓ kernel (6.1)"},
		{item{ok: true, what: "cgroups", value: "v2", note: "steps 10+"}, "✓ cgroups (v2) — steps 10+"},
		{item{what: "static busybox", value: "missing", fix: "sudo apt-get install busybox-static", note: "ignored"},
			"✗ static busybox (missing): fix: sudo apt-get install busybox-static"},
	} {
		if got := tc.it.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if got := formatBytes(3 << 29); got != "1.5 GiB" {
		t.Errorf("formatBytes(1.5 GiB) = %q", got)
	}
	if got := formatBytes(512 << 20); got != "512 MiB" {
		t.Errorf("formatBytes(512 MiB) = %q", got)
	}
}

// TestDoctorReport runs the real doctor, which only reads, and checks the shape of its
// report: one ✓ or ✗ line per item, and a fix on every ✗ line. Its verdicts depend on the
// machine, so they are logged, not asserted.
func TestDoctorReport(t *testing.T) {
	var out bytes.Buffer
	problems := Doctor(&out)
	t.Logf("doctor (%d problems):\n%s", problems, out.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 11 {
		t.Errorf("got %d lines, want 11", len(lines))
	}
	bad := 0
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "✓ "):
		case strings.HasPrefix(l, "✗ ") && strings.Contains(l, "): fix: "):
			bad++
		default:
			t.Errorf("line %q: want '✓ what (value)' or '✗ what (value): fix: ...'", l)
		}
	}
	if bad != problems {
		t.Errorf("Doctor returned %d, printed %d ✗ lines", problems, bad)
	}
}
