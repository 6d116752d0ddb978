package isolate

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestValidateID(t *testing.T) {
	valid := []string{"a", "abc", "A-1_b.c+d", "0", strings.Repeat("x", MaxIDLength)}
	invalid := []string{"", "..", ".", "../x", "a/b", "a b", "-a", ".a", "a\x00b", "é", strings.Repeat("x", MaxIDLength+1)}
	for _, id := range valid {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range invalid {
		if err := ValidateID(id); err == nil {
			t.Errorf("ValidateID(%q) = nil, want an error", id)
		}
	}
}

func TestValidateRefusesBadSpecs(t *testing.T) {
	cases := []struct {
		name   string
		change func(*specs.Spec)
		want   string
	}{
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process is missing"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"empty program", func(s *specs.Spec) { s.Process.Args = []string{""} }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "absolute"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, "unknown namespace type"},
		// "Joining" the runtime's own (the host's) namespaces: the rootfs mounted and pivoted
		// into the host's mount namespace, the host renamed.
		{"the host's mount namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount", Path: "/proc/self/ns/mnt"}, {Type: "uts"}}
		}, `mount path "/proc/self/ns/mnt" is this runtime's own mount namespace, the host's`},
		{"the host's uts namespace with a hostname", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}, {Type: "uts", Path: "/proc/self/ns/uts"}}
		}, "would rename the host"},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, "listed twice"},
		{"no mount namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "pid"}}
		}, "mount namespace"},
		{"relative namespace path", func(s *specs.Spec) {
			s.Linux.Namespaces[1].Path = "proc/1/ns/net"
		}, "must be absolute"},
		{"hostname too long", func(s *specs.Spec) { s.Hostname = strings.Repeat("h", 65) }, "limit is 64"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}}
		}, "uts namespace"},
		{"mount without destination", func(s *specs.Spec) { s.Mounts[0].Destination = "" }, "is the container's root"},
		{"mount over the root", func(s *specs.Spec) { s.Mounts[0].Destination = "a/.." }, "is the container's root"},
		{"bind over /proc", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/", Type: "bind", Source: "/tmp", Options: []string{"rbind"}})
		}, `type "bind" from "/tmp": only a proc filesystem (type proc, or a bind of one)`},
		{"remount of a mount made anew", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"remount", "ro"}})
		}, "option remount changes a mount that exists"},
		{"mount with neither a type nor bind", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "/x"})
		}, "no type, and no bind or rbind option"},
		{"idmap without a user namespace", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}})
		}, "idmapped mounts need a user namespace"},
		{"uid that setresuid reads as unchanged", func(s *specs.Spec) { s.Process.User.UID = 1<<32 - 1 }, "id 4294967295 is out of range"},
		{"gid above runc's range", func(s *specs.Spec) { s.Process.User.GID = 1 << 31 }, "out of range (0 to 2147483647)"},
		{"additional gid out of range", func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{1<<32 - 1} }, "out of range"},
		{"env without =", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FOO") }, `process.env "FOO": want KEY=VALUE`},
		{"env without a name", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "=bar") }, "want KEY=VALUE"},
		{"rlimit twice", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1}, {Type: "RLIMIT_NOFILE", Soft: 2, Hard: 2}}
		}, "RLIMIT_NOFILE is listed twice"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, "not namespaced"},
		{"sysctl name with ..", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4..x": "1"} }, "malformed name"},
		{"oomScoreAdj past 1000", func(s *specs.Spec) { n := 1001; s.Process.OOMScoreAdj = &n }, "outside -1000..1000"},
		{"oomScoreAdj below -1000", func(s *specs.Spec) { n := -1001; s.Process.OOMScoreAdj = &n }, "outside -1000..1000"},
		{"domainname too long", func(s *specs.Spec) { s.Domainname = strings.Repeat("d", 65) }, "domainname is 65 bytes long"},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}, {Type: "uts"}}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "new network namespace"},
		{"kernel.hostname beside hostname", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "other"}
		}, `linux.sysctl "kernel.hostname" conflicts with the "hostname" field`},
		{"kernel.domainname beside domainname", func(s *specs.Spec) {
			s.Domainname = "example.org"
			s.Linux.Sysctl = map[string]string{"kernel.domainname": "other"}
		}, `conflicts with the "domainname" field`},
		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FLY", Soft: 1, Hard: 1}}
		}, "unknown type"},
		{"rlimit soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}}
		}, "above hard"},
		{"user namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		}, "user namespaces"},
		{"bad device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "q"}}
		}, "unknown type"},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, "rootfsPropagation"},
		{"relative hook path", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "touch", Args: []string{"touch", "/x"}}}}
		}, `hooks.createRuntime[0]: path "touch" must be absolute`},
		{"hook timeout 0", func(s *specs.Spec) {
			zero := 0
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}, {Path: "/bin/true", Timeout: &zero}}}
		}, "hooks.poststop[1] (/bin/true): timeout 0 must be greater than zero"},
		{"weightDevice without a weight", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{}}}}
		}, "weightDevice[0] (0:0): give weight or leafWeight"},
		{"intelRdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }, "linux.intelRdt"},
		{"NUL in an argument", func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c\x00x"} }, `process.args[1] "-c\x00x" holds a NUL byte`},
		{"NUL in the environment", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "X=a\x00b") }, "process.env[1]"},
		{"NUL in a hook's environment", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Env: []string{"A=\x00"}}}}
		}, "hooks.poststop[0].env[0]"},
		{"console too wide", func(s *specs.Spec) {
			s.Process.Terminal, s.Process.ConsoleSize = true, &specs.Box{Height: 24, Width: 1 << 16}
		}, "at most 65535"},
		{"empty annotation key", func(s *specs.Spec) { s.Annotations = map[string]string{"": "x"} }, "a key must not be empty"},
		{"netDevices without a network namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}, {Type: "uts"}}
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"dummy0": {}}
		}, "need a new network namespace"},
		{"netDevices name with a slash", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"dummy0": {Name: "a/b"}}
		}, `"a/b" is not a network device name`},
		{"netDevices name too long", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"abcdefghijklmnop": {}}
		}, "is not a network device name"},
		{"netDevices two templates", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"d0": {Name: "a%d%d"}}
		}, "is not a network device name"},
		{"netDevices %s", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"d0": {Name: "a%s"}}
		}, "is not a network device name"},
		{"netDevices a no-break space", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"d0": {Name: "a\xa0b"}}
		}, "is not a network device name"},
		{"netDevices one name twice", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"d0": {Name: "eth1"}, "d1": {Name: "eth1"}}
		}, `both want the name "eth1"`},
		{"time namespace by path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time", Path: "/proc/self/ns/time"})
		}, "cannot be joined"},
		// A negative number would be the device cgroup's wildcard: "b *:* rwm".
		{"device with a negative major", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "b", Major: -1, Minor: 0}}
		}, "are not a device's"},
		{"device with a minor past 20 bits", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 1 << 20}}
		}, "are not a device's"},
		{"device with a major past 12 bits", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 4096, Minor: 1}}
		}, "are not a device's"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := DefaultSpec()
			tc.change(spec)
			_, err := Validate(spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateWarnsAboutUnsupported(t *testing.T) {
	spec := DefaultSpec()
	// A rule contain does not apply (one of the keyring calls alone would be applied, unwarned).
	spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}}}
	spec.Solaris, spec.Windows = &specs.Solaris{}, &specs.Windows{}
	spec.Process.User.Username = "root"
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "mnt/rel", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind", "mode=700", "rslave", "sync", "ro", "lazytime"}})
	warnings, err := Validate(spec)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, field := range []string{"linux.seccomp", "solaris", "windows", "process.user.username",
		`"mnt/rel" is relative: taken as /mnt/rel`, `options ["mode=700"] mean nothing to a bind mount`,
		`options ["sync" "lazytime"] belong to the whole filesystem`,
		"mount /data: it can only be a slave of the host's mounts when linux.rootfsPropagation is slave or shared"} {
		if !strings.Contains(joined, field) {
			t.Errorf("no warning for %s in %q", field, joined)
		}
	}
	if w, err := Validate(DefaultSpec()); err != nil || len(w) != 0 {
		t.Errorf("default spec gives warnings %q, error %v", w, err)
	}
	spec = DefaultSpec()
	for i, m := range spec.Mounts {
		if m.Destination == "/sys/fs/cgroup" {
			spec.Mounts[i].Type, spec.Mounts[i].Source = "cgroup2", "cgroup2"
		}
	}
	w, _ := Validate(spec)
	if got := strings.Contains(strings.Join(w, "\n"), "type cgroup2, but this host's controllers are in cgroup v1"); got == isCgroup2Only() {
		t.Errorf("a cgroup2 mount, pure v2 host %v: warnings %q", isCgroup2Only(), w)
	}
	spec = DefaultSpec()
	spec.Version = "banana"
	spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedIdle}
	umask := uint32(0o4022)
	spec.Process.User.Umask = &umask
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind", "tmpcopyup"}})
	spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 3}}
	for i, m := range spec.Mounts {
		switch m.Destination {
		case "/sys/fs/cgroup":
			spec.Mounts[i].Options = append(m.Options, "bogusopt")
		case "/dev":
			spec.Mounts[i] = specs.Mount{Destination: "/dev", Type: "bind", Source: "/tmp/mydev", Options: []string{"rbind"}}
		}
	}
	if isCgroup2Only() { // a cgroup2 mount of its own takes options: take the namespace away
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.CgroupNamespace })
	}
	warnings, err = Validate(spec)
	joined = strings.Join(warnings, "\n")
	for _, field := range []string{`ociVersion "banana" is not a SemVer`, "process.scheduler is not supported yet and is ignored\n",
		"mount /data: tmpcopyup is for tmpfs mounts only", `mount /sys/fs/cgroup: options ["bogusopt"] apply only to a cgroup2 mount`,
		"linux.devices are not made: /dev is a bind mount of /tmp/mydev",
		"process.user.umask 04022 has bits above 0777, which umask(2) ignores: 022 is applied"} {
		if err != nil || !strings.Contains(joined+"\n", field) {
			t.Errorf("no warning %q in %q (error %v)", field, joined, err)
		}
	}
	if w, err := Validate(DefaultSpec()); err != nil || len(w) != 0 {
		t.Errorf("default spec gives warnings %q, error %v", w, err)
	}
	spec = DefaultSpec()
	for i, m := range spec.Mounts {
		if m.Destination == "/sys/fs/cgroup" {
			spec.Mounts[i].Type, spec.Mounts[i].Source = "cgroup2", "cgroup2"
		}
	}
	w, _ = Validate(spec)
	if got := strings.Contains(strings.Join(w, "\n"), "type cgroup2, but this host's controllers are in cgroup v1"); got == isCgroup2Only() {
		t.Errorf("a cgroup2 mount, pure v2 host %v: warnings %q", isCgroup2Only(), w)
	}
	spec.Linux.RootfsPropagation = "rslave"
	if w, err := Validate(spec); err != nil || strings.Contains(strings.Join(w, "\n"), "can only be a slave") {
		t.Errorf("a slave mount under a slave root gives warnings %q, error %v", w, err)
	}
}

// ociVersion: SemVer 2.0.0, major version 1, or a warning.
func TestVersionWarnings(t *testing.T) {
	for v, want := range map[string]string{
		"1.0.2": "", "1.3.0": "", "1.2.0-rc.1+dev": "", "1.10.0": "",
		"":       "ociVersion is missing",
		"banana": "not a SemVer", "1.0": "not a SemVer", "01.0.0": "not a SemVer", "1.0.0-": "not a SemVer", "1.0.0+a..b": "not a SemVer",
		"2.0.0": "major version 1",
	} {
		w := versionWarnings(&specs.Spec{Version: v})
		if got := strings.Join(w, ""); (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("ociVersion %q: warnings %q, want %q", v, got, want)
		}
	}
}

func TestUniqueEnvKeepsTheLastValue(t *testing.T) {
	got := uniqueEnv([]string{"FOO=first", "PATH=/nonexistent", "BAR", "FOO=last", "PATH=/bin", "BAR=1"})
	if want := []string{"FOO=last", "PATH=/bin", "BAR=1"}; !slices.Equal(got, want) {
		t.Errorf("uniqueEnv = %q, want %q", got, want)
	}
}

func TestParseMountOptions(t *testing.T) {
	o, err := parseMountOptions([]string{"rbind", "ro", "nosuid", "rslave", "mode=755", "x-gvfs-hide", "rw", "ro"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.bind || !o.recursive {
		t.Errorf("rbind not recognised: %+v", o)
	}
	if o.flags != unix.MS_RDONLY|unix.MS_NOSUID {
		t.Errorf("flags = %#x, want MS_RDONLY|MS_NOSUID", o.flags)
	}
	if o.propagation != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("propagation = %#x, want MS_SLAVE|MS_REC", o.propagation)
	}
	if len(o.data) != 1 || o.data[0] != "mode=755" {
		t.Errorf("data = %q, want [mode=755]", o.data)
	}
	// As runc and the kernel take them: an option with commas is the options between them
	// (a flag among them is a flag), an empty one is none; a NUL is refused.
	o, err = parseMountOptions([]string{"", "size=1,mode=2", "uid=0,ro"})
	if err != nil || !slices.Equal(o.data, []string{"size=1", "mode=2", "uid=0"}) || o.flags != unix.MS_RDONLY {
		t.Errorf("data %q flags %#x (%v), want [size=1 mode=2 uid=0] and MS_RDONLY", o.data, o.flags, err)
	}
	if _, err := parseMountOptions([]string{"size=1\x00ro"}); err == nil {
		t.Error("an option with a NUL was accepted")
	}
}

// Whether a mount ends read-only: the plain option decides over the recursive one, whatever
// their order ("rrw,ro" and "ro,rrw" leave the top read-only, "rro,rw" writable).
func TestMountEndsReadOnly(t *testing.T) {
	for options, want := range map[string]bool{
		"ro": true, "rw": false, "": false, "rro": true, "rrw": false,
		"rrw,ro": true, "ro,rrw": true, "rro,rw": false, "rw,rro": false, "ro,rw": false, "nosuid,ro": true,
	} {
		o, err := parseMountOptions(strings.Split(options, ","))
		if options == "" {
			o, err = parseMountOptions(nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := o.endsReadOnly(); got != want {
			t.Errorf("%q: endsReadOnly() = %v, want %v", options, got, want)
		}
	}
}

func TestMountAttrNamesOnlyWhatIsAsked(t *testing.T) {
	const atime = unix.MOUNT_ATTR__ATIME
	for _, tt := range []struct {
		options          []string
		set, clr         uint64
		flags            uintptr
		recursive, recAt bool
	}{
		// A bind mount keeps the source's other flags: nothing is cleared that was not asked.
		{[]string{"bind", "ro", "noexec"}, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOEXEC, 0, unix.MS_RDONLY | unix.MS_NOEXEC, false, false},
		{[]string{"rw", "suid"}, 0, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, 0, false, false},
		{[]string{"ro", "rw"}, 0, unix.MOUNT_ATTR_RDONLY, 0, false, false},
		// The runtime-spec's recursive options; "bind" stays a bind of one mount. They are
		// attributes alone, never mount(2) flags: MS_RDONLY would make a new filesystem
		// itself read-only, which no plain "rw" undoes.
		{[]string{"bind", "rro", "rnosuid"}, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, 0, 0, false, true},
		{[]string{"rbind", "rrw"}, 0, unix.MOUNT_ATTR_RDONLY, 0, true, true},
		{[]string{"rnosymfollow"}, unix.MOUNT_ATTR_NOSYMFOLLOW, 0, 0, false, true},
		// Each atime option sets or clears one flag, as in mount(8) and runc, and the kernel
		// makes the mode: strictatime over noatime over relatime.
		{[]string{"noatime"}, unix.MOUNT_ATTR_NOATIME, atime, unix.MS_NOATIME, false, false},
		{[]string{"noatime", "relatime"}, unix.MOUNT_ATTR_NOATIME, atime, unix.MS_NOATIME | unix.MS_RELATIME, false, false},
		{[]string{"noatime", "norelatime"}, unix.MOUNT_ATTR_NOATIME, atime, unix.MS_NOATIME, false, false},
		{[]string{"noatime", "atime"}, unix.MOUNT_ATTR_RELATIME, atime, 0, false, false},
		{[]string{"strictatime", "atime"}, unix.MOUNT_ATTR_STRICTATIME, atime, unix.MS_STRICTATIME, false, false},
		{[]string{"strictatime", "norelatime"}, unix.MOUNT_ATTR_STRICTATIME, atime, unix.MS_STRICTATIME, false, false},
		{[]string{"strictatime", "nostrictatime"}, unix.MOUNT_ATTR_RELATIME, atime, 0, false, false},
		{[]string{"rstrictatime"}, unix.MOUNT_ATTR_STRICTATIME, atime, 0, false, true},
		{[]string{"ratime"}, unix.MOUNT_ATTR_RELATIME, atime, 0, false, true},
		// A filesystem's own flags mean nothing to mount_setattr(2).
		{[]string{"iversion", "lazytime", "sync"}, 0, 0, unix.MS_I_VERSION | unix.MS_LAZYTIME | unix.MS_SYNCHRONOUS, false, false},
	} {
		o, err := parseMountOptions(tt.options)
		if err != nil {
			t.Fatalf("%q: %v", tt.options, err)
		}
		// A row's set and clr are the recursive attributes when it has an "r" option, the
		// top mount's otherwise; the other pair must stay empty.
		a, other := o.attr(), o.rAttr()
		if tt.recAt {
			a, other = other, a
		}
		if a.Attr_set != tt.set || a.Attr_clr != tt.clr || other.Attr_set|other.Attr_clr != 0 || o.flags != tt.flags ||
			o.recursive != tt.recursive || o.recAttr != tt.recAt || len(o.data) != 0 {
			t.Errorf("%q: set %#x clr %#x (other %+v) flags %#x recursive %v recAttr %v data %q; want %#x %#x %#x %v %v none",
				tt.options, a.Attr_set, a.Attr_clr, other, o.flags, o.recursive, o.recAttr, o.data, tt.set, tt.clr, tt.flags, tt.recursive, tt.recAt)
		}
	}
	// A plain flag is the top mount's alone, beside a recursive one: "rro,rw" is read-only
	// below and writable on top (config.md: "rw" is not "rrw").
	o, _ := parseMountOptions([]string{"rbind", "rro", "rw"})
	if r, a := o.rAttr(), o.attr(); r.Attr_set != unix.MOUNT_ATTR_RDONLY || a.Attr_clr != unix.MOUNT_ATTR_RDONLY || a.Attr_set != 0 {
		t.Errorf("rbind,rro,rw: recursive %+v, top %+v; want RDONLY set below and cleared on top", r, a)
	}
	o, _ = parseMountOptions([]string{"rmode=1", "idmap"})
	if len(o.data) != 1 || o.data[0] != "rmode=1" || !o.idmap {
		t.Errorf("rmode=1,idmap: data %q idmap %v; want [rmode=1] and idmap", o.data, o.idmap)
	}
}

func TestCapabilityNames(t *testing.T) {
	for name, want := range map[string]int{"CAP_CHOWN": 0, "chown": 0, "CAP_SYS_ADMIN": 21, "CAP_CHECKPOINT_RESTORE": 40} {
		if got, ok := capabilityByName(name); !ok || got != want {
			t.Errorf("capabilityByName(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := capabilityByName("CAP_FLY"); ok {
		t.Error("CAP_FLY was accepted")
	}
	// Another spelling than capabilities(7)'s is taken, and said out loud: runc skips it.
	var said []string
	sets := resolveCapabilities(&specs.LinuxCapabilities{Bounding: []string{"chown", "cap_kill", "CAP_NET_RAW"}, Effective: []string{"chown"}},
		1<<41-1, func(w string) { said = append(said, w) })
	if !sets.bounding.has(0) || !sets.bounding.has(5) || !sets.bounding.has(13) || len(said) != 1 ||
		!strings.Contains(said[0], `"chown" as CAP_CHOWN, "cap_kill" as CAP_KILL`) {
		t.Errorf("bounding %#x, warnings %q: want all three, and one warning naming the two", sets.bounding, said)
	}
	var all capSet = 1<<41 - 1
	var warned []string
	sets = resolveCapabilities(&specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_SYS_RESOURCE"}},
		all&^(1<<24), func(w string) { warned = append(warned, w) })
	if !sets.bounding.has(5) || sets.bounding.has(24) || len(warned) != 1 {
		t.Errorf("bounding = %#x, warnings %q: want CAP_KILL only and one warning", sets.bounding, warned)
	}
	warned = nil
	sets = resolveCapabilities(&specs.LinuxCapabilities{Permitted: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"}},
		all, func(w string) { warned = append(warned, w) })
	if sets.ambient != 0 || len(warned) != 1 {
		t.Errorf("ambient = %#x, warnings %q: want none raised (not inheritable) and one warning", sets.ambient, warned)
	}
	// A name this runtime does not know is skipped with a warning, as config.md asks.
	warned = nil
	sets = resolveCapabilities(&specs.LinuxCapabilities{Bounding: []string{"CAP_FLY", "CAP_KILL"}, Effective: []string{"CAP_FLY"}},
		all, func(w string) { warned = append(warned, w) })
	if sets.bounding != 1<<5 || sets.effective != 0 || !slices.Equal(warned, []string{"capability CAP_FLY is not one this runtime knows: skipped"}) {
		t.Errorf("CAP_FLY: bounding %#x effective %#x, warnings %q", sets.bounding, sets.effective, warned)
	}
	// One warning a reason, each capability named once, whatever the sets that list it.
	warned = nil
	both := []string{"CAP_SYS_RESOURCE", "CAP_KILL", "CAP_CHOWN"}
	resolveCapabilities(&specs.LinuxCapabilities{Bounding: both, Effective: both, Permitted: both, Ambient: both},
		all&^(1<<24), func(w string) { warned = append(warned, w) })
	want := []string{
		"capability CAP_SYS_RESOURCE is not in this runtime's own bounding set: skipped",
		"ambient capabilities CAP_CHOWN, CAP_KILL are not also permitted and inheritable: skipped",
	}
	if !slices.Equal(warned, want) {
		t.Errorf("warnings %q, want %q", warned, want)
	}
}

// lastCap probes with prctl(PR_CAPBSET_READ): it must agree with the kernel's own count.
func TestLastCapIsTheKernels(t *testing.T) {
	if got, want := lastCap(), lastCapFromProc(); got != want {
		t.Errorf("lastCap() = %d; /proc/sys/kernel/cap_last_cap says %d", got, want)
	}
	if known, err := capabilityKnown(lastCap() + 1); known || err != nil {
		t.Errorf("capability %d, past the last: known %v, err %v; want false, nil", lastCap()+1, known, err)
	}
}

// features names every mount option the runtime takes, each one taken as an option (not
// passed on to the filesystem as data), the recursive ones included.
func TestFeaturesMountOptionsAreKnown(t *testing.T) {
	opts := Features().MountOptions
	for _, want := range []string{"rro", "rnosuid", "ratime", "nosymfollow", "rbind", "rslave", "tmpcopyup"} {
		if !slices.Contains(opts, want) {
			t.Errorf("features lacks %s: %q", want, opts)
		}
	}
	for _, o := range opts {
		if parsed, err := parseMountOptions([]string{o}); err != nil || len(parsed.data) != 0 {
			t.Errorf("features names %q, which parseMountOptions takes as %+v, %v", o, parsed, err)
		}
	}
}

// config.md: consoleSize MUST be ignored without a terminal; with one, it must fit a winsize.
func TestConsoleSizeOnlyWithATerminal(t *testing.T) {
	spec := DefaultSpec()
	spec.Process.ConsoleSize = &specs.Box{Height: 70000, Width: 80}
	if _, err := Validate(spec); err != nil {
		t.Errorf("consoleSize 80x70000 without a terminal: %v, want it ignored", err)
	}
	spec.Process.Terminal = true
	if _, err := Validate(spec); err == nil || !strings.Contains(err.Error(), "65535") {
		t.Errorf("consoleSize 80x70000 with a terminal: %v, want refused", err)
	}
}
