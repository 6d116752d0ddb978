package isolate

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maxHostname is HOST_NAME_MAX from limits.h: sethostname(2) refuses longer names.
const maxHostname = 64

// Validate checks a spec before anything is created, so bad input changes nothing.
// It returns warnings for fields this runtime does not apply yet: they are said, never
// silently dropped.
func Validate(spec *specs.Spec) (warnings []string, err error) {
	if spec.Process == nil {
		return nil, errors.New("config: process is missing")
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, errors.New("config: root.path is missing")
	}
	if spec.Linux == nil {
		return nil, errors.New("config: linux section is missing (this runtime runs Linux containers)")
	}
	checks := []func(*specs.Spec) error{
		validateProcess, validateNamespaces, validateHostname, validateMounts, validateSysctl,
		validateDevices, validateHooks, validateResources, refuseIntelRdt, validateAnnotations,
		validateNetDevices, validateSeccomp,
	}
	for _, check := range checks {
		if err := check(spec); err != nil {
			return nil, err
		}
	}
	warnings = append(versionWarnings(spec), unsupported(spec)...)
	warnings = append(warnings, mountWarnings(spec)...)
	return append(warnings, capabilityWarnings(spec.Process.Capabilities)...), nil
}

// mountWarnings names what the mounts ask for that the kernel would not do as written.
func mountWarnings(spec *specs.Spec) []string {
	var w []string
	privateRoot := rootBaseline(spec.Linux.RootfsPropagation)&unix.MS_PRIVATE != 0
	for _, m := range spec.Mounts {
		opts, _ := parseMountOptions(m.Options)
		if !filepath.IsAbs(m.Destination) {
			w = append(w, fmt.Sprintf("config: mount destination %q is relative: taken as /%s (relative destinations are deprecated)", m.Destination, m.Destination))
		}
		if (m.Type == "bind" || opts.bind) && len(opts.data) > 0 {
			w = append(w, fmt.Sprintf("config: mount %s: options %q mean nothing to a bind mount and are ignored", m.Destination, opts.data))
		}
		if fsWide := filesystemFlags(m.Options); (m.Type == "bind" || opts.bind) && len(fsWide) > 0 {
			w = append(w, fmt.Sprintf("config: mount %s: options %q belong to the whole filesystem, not to a bind mount of it, and are ignored", m.Destination, fsWide))
		}
		if m.Type == "cgroup2" && !isCgroup2Only() {
			// A config made on a cgroup v2 host, run on a v1 or hybrid one: the controllers
			// are in the v1 hierarchies, where the container's programs must look for limits.
			w = append(w, fmt.Sprintf("config: mount %s: type cgroup2, but this host's controllers are in cgroup v1 hierarchies: the container gets the host's layout (the v1 hierarchies and the cgroup2 one)", m.Destination))
		}
		if opts.tmpcopyup && m.Type != "tmpfs" {
			w = append(w, fmt.Sprintf("config: mount %s: tmpcopyup is for tmpfs mounts only and is ignored", m.Destination))
		}
		if opts.tmpcopyup && m.Type == "tmpfs" && mountDestination(m) == "/dev" {
			w = append(w, "config: mount /dev: tmpcopyup is ignored there: the runtime makes /dev itself, and never copies the image's device nodes")
		}
		if (m.Type == "cgroup" || m.Type == "cgroup2") && len(opts.data) > 0 && !freshCgroup2(spec) {
			// Only a cgroup2 mount of its own takes options; a bind of the host's hierarchies
			// or one mount per v1 hierarchy keeps the host's.
			w = append(w, fmt.Sprintf("config: mount %s: options %q apply only to a cgroup2 mount of the container's own (a cgroup namespace on a cgroup v2 host) and are ignored", m.Destination, opts.data))
		}
		if opts.propagation&unix.MS_SLAVE != 0 && privateRoot {
			w = append(w, fmt.Sprintf("config: mount %s: it can only be a slave of the host's mounts when linux.rootfsPropagation is slave or shared; with %q it stays private", m.Destination, cmp.Or(spec.Linux.RootfsPropagation, "private (the default)")))
		}
	}
	if !devIsOurs(spec) && len(spec.Linux.Devices) > 0 {
		w = append(w, fmt.Sprintf("config: linux.devices are not made: /dev is a bind mount of %s, which holds what it holds", devMount(spec).Source))
	}
	return w
}

// validateNetDevices checks linux.netDevices before anything moves: they go into a network
// namespace of the container's own (moved into the host's, or one joined by path, they would
// never come back by themselves), under names the kernel takes (dev_valid_name: 1 to 15
// bytes, not "." or "..", no "/", ":" or white space, which for the kernel includes 0xA0;
// one "%d" in the new name is a template the kernel numbers, and no other "%"), each new name
// once. A name the kernel would refuse fails here, not after the move.
func validateNetDevices(spec *specs.Spec) error {
	devices := spec.Linux.NetDevices
	if len(devices) == 0 {
		return nil
	}
	if !hasNewNamespace(spec, specs.NetworkNamespace) {
		return errors.New("config: linux.netDevices need a new network namespace (linux.namespaces: network, without a path)")
	}
	names := map[string]string{}
	for hostName, d := range devices {
		name := cmp.Or(d.Name, hostName)
		for _, n := range []string{hostName, strings.Replace(name, "%d", "0", 1)} {
			if len(n) == 0 || len(name) >= unix.IFNAMSIZ || len(n) >= unix.IFNAMSIZ || n == "." || n == ".." ||
				strings.ContainsAny(n, "/: \t\n\v\f\r%") || strings.IndexByte(n, 0xa0) >= 0 {
				return fmt.Errorf("config: linux.netDevices %q: %q is not a network device name (1 to %d bytes, no \"/\", \":\" or spaces)", hostName, n, unix.IFNAMSIZ-1)
			}
		}
		if other, ok := names[name]; ok && !strings.Contains(name, "%d") {
			return fmt.Errorf("config: linux.netDevices %q and %q both want the name %q in the container", other, hostName, name)
		}
		names[name] = hostName
	}
	return nil
}

// onProcFS says whether path is absolute and on a proc filesystem.
func onProcFS(path string) bool {
	var fs unix.Statfs_t
	return filepath.IsAbs(path) && unix.Statfs(path, &fs) == nil && fs.Type == unix.PROC_SUPER_MAGIC
}

// noNUL refuses a value that execve(2) cannot pass: its arguments and environment are C
// strings, which end at their first NUL byte (the exec would fail with EINVAL, late and
// without naming the field).
func noNUL(field string, values []string) error {
	for i, v := range values {
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("config: %s[%d] %q holds a NUL byte, which execve(2) cannot pass", field, i, v)
		}
	}
	return nil
}

// validateAnnotations refuses an empty key (config.md: keys MUST NOT be an empty string).
func validateAnnotations(spec *specs.Spec) error {
	if _, ok := spec.Annotations[""]; ok {
		return errors.New("config: annotations: a key must not be empty")
	}
	return nil
}

// filesystemFlags are the options among opts that are flags of a filesystem (its superblock:
// sync, lazytime...) or remount, which mount_setattr(2) cannot set on a bind mount.
func filesystemFlags(opts []string) []string {
	var names []string
	for _, o := range opts {
		if f, ok := flagOptions[o]; ok && f.flag != 0 && f.attr == 0 {
			names = append(names, o)
		}
	}
	return names
}

func validateProcess(spec *specs.Spec) error {
	p := spec.Process
	if len(p.Args) == 0 || p.Args[0] == "" {
		return errors.New("config: process.args must name a program")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("config: process.cwd %q must be an absolute path", p.Cwd)
	}
	if err := validateUser(p.User); err != nil {
		return err
	}
	for _, kv := range p.Env {
		if key, _, ok := strings.Cut(kv, "="); !ok || key == "" {
			return fmt.Errorf("config: process.env %q: want KEY=VALUE", kv)
		}
	}
	if err := errors.Join(noNUL("process.args", p.Args), noNUL("process.env", p.Env)); err != nil {
		return err
	}
	// config.md: consoleSize MUST be ignored without a terminal.
	if b := p.ConsoleSize; p.Terminal && b != nil && (b.Height > math.MaxUint16 || b.Width > math.MaxUint16) {
		// struct winsize holds 16 bits each (TIOCSWINSZ)
		return fmt.Errorf("config: process.consoleSize %dx%d: a terminal has at most 65535 rows and columns", b.Width, b.Height)
	}
	seen := map[string]bool{}
	for _, r := range p.Rlimits {
		if _, ok := rlimitByName[r.Type]; !ok {
			return fmt.Errorf("config: process.rlimits: unknown type %q", r.Type)
		}
		if seen[r.Type] { // config.md: a duplicate type MUST be an error
			return fmt.Errorf("config: process.rlimits: %s is listed twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return fmt.Errorf("config: process.rlimits %s: soft %d is above hard %d", r.Type, r.Soft, r.Hard)
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fmt.Errorf("config: process.oomScoreAdj %d is outside -1000..1000", *p.OOMScoreAdj)
	}
	// A capability name this runtime does not know is a warning (capabilityWarnings).
	return nil
}

// maxID is the largest uid or gid a process may be given, as in runc: setresuid(2) reads
// (uid_t)-1 as "leave it unchanged", which would leave the process root.
const maxID = math.MaxInt32

func validateUser(u specs.User) error {
	ids := append([]uint32{u.UID, u.GID}, u.AdditionalGids...)
	for _, id := range ids {
		if id > maxID {
			return fmt.Errorf("config: process.user: id %d is out of range (0 to %d)", id, maxID)
		}
	}
	return nil
}

func validateNamespaces(spec *specs.Spec) error {
	if !hasNamespace(spec, specs.MountNamespace) {
		return errors.New("config: linux.namespaces: a mount namespace is required (the rootfs is mounted in it)")
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range spec.Linux.Namespaces {
		if _, ok := namespaceFlags[ns.Type]; !ok {
			return fmt.Errorf("config: linux.namespaces: unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("config: linux.namespaces: %q is listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Type == specs.UserNamespace {
			return errors.New("config: linux.namespaces: contain does not support user namespaces yet (no uid and gid mappings): run without one (podman: no --uidmap, --gidmap or --userns)")
		}
		if ns.Type == specs.TimeNamespace && ns.Path != "" {
			// timens_install: EUSERS unless the caller is single-threaded, and init is Go.
			return fmt.Errorf("config: linux.namespaces: the time namespace %s cannot be joined: setns(2) takes a time namespace only from a single-threaded process, and init is a Go program; leave out path for a new one", ns.Path)
		}
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return fmt.Errorf("config: linux.namespaces: %s path %q must be absolute", ns.Type, ns.Path)
		}
		if err := refuseHostNamespace(spec, ns); err != nil {
			return err
		}
	}
	return nil
}

// refuseHostNamespace refuses a namespace "joined" by path that is the runtime's own (the
// host's) where joining it would change the host: init mounts the rootfs in the mount
// namespace it is in, makes every mount there private and pivot_roots, which moves the root
// of every process of that namespace (pivot_root(2)); hostname and domainname are set in the
// uts namespace. (sysctls need a namespace made new.) A namespace is the same one when both
// paths lead to the same nsfs inode: a /proc/PID/ns link, or a file bound from one (ip
// netns's /run/netns/NAME). A path that cannot be looked at fails where the runtime opens it.
func refuseHostNamespace(spec *specs.Spec, ns specs.LinuxNamespace) error {
	var theirs unix.Stat_t
	if ns.Path == "" || unix.Stat(ns.Path, &theirs) != nil {
		return nil // a missing path fails where it is opened (openNamespaces)
	}
	return refuseHostNamespaceFile(spec, ns, &theirs)
}

// refuseHostNamespaceFile is refuseHostNamespace for the namespace file theirs describes: the
// runtime checks again on the fd it opens, which init then joins.
func refuseHostNamespaceFile(spec *specs.Spec, ns specs.LinuxNamespace, theirs *unix.Stat_t) error {
	name, changes := "", ""
	switch {
	case ns.Type == specs.MountNamespace:
		name, changes = "mnt", "contain would mount the rootfs in it and pivot_root every process in it"
	case ns.Type == specs.UTSNamespace && (spec.Hostname != "" || spec.Domainname != ""):
		name, changes = "uts", "hostname and domainname would rename the host"
	default:
		return nil
	}
	var ours unix.Stat_t
	if unix.Stat("/proc/self/ns/"+name, &ours) != nil {
		return nil
	}
	if theirs.Dev == ours.Dev && theirs.Ino == ours.Ino {
		return fmt.Errorf("config: linux.namespaces: %s path %q is this runtime's own %s namespace, the host's: %s", ns.Type, ns.Path, ns.Type, changes)
	}
	return nil
}

func validateHostname(spec *specs.Spec) error {
	if len(spec.Hostname) > maxHostname {
		return fmt.Errorf("config: hostname is %d bytes long, the limit is %d", len(spec.Hostname), maxHostname)
	}
	if len(spec.Domainname) > maxHostname {
		return fmt.Errorf("config: domainname is %d bytes long, the limit is %d", len(spec.Domainname), maxHostname)
	}
	// A uts namespace of the container's own, new or joined by path (as runc allows): without
	// one, sethostname would rename the host.
	if (spec.Hostname != "" || spec.Domainname != "") && !hasNamespace(spec, specs.UTSNamespace) {
		return errors.New("config: hostname and domainname need a uts namespace of the container's (else they would change the host's)")
	}
	return nil
}

func validateMounts(spec *specs.Spec) error {
	for _, m := range spec.Mounts {
		if filepath.Join("/", m.Destination) == "/" {
			return fmt.Errorf("config: mount destination %q is the container's root (root.path is that)", m.Destination)
		}
		opts, err := parseMountOptions(m.Options)
		if err != nil {
			return fmt.Errorf("config: mount %s: %w", m.Destination, err)
		}
		if opts.flags&unix.MS_REMOUNT != 0 && m.Type != "bind" && !opts.bind {
			// mount(2) would say only EINVAL: remount changes a mount that is there already.
			return fmt.Errorf("config: mount %s: option remount changes a mount that exists, and a %s mount is made here anew: drop it", m.Destination, m.Type)
		}
		if m.Type == "" && !opts.bind {
			// mount(2) would say only ENODEV, for a filesystem type named "".
			return fmt.Errorf("config: mount %s: no type, and no bind or rbind option: say what to mount (\"type\": \"tmpfs\", say, or \"options\": [\"rbind\"] for a bind mount)", m.Destination)
		}
		if filepath.Join("/", m.Destination) == "/proc" && m.Type != "proc" && !((m.Type == "bind" || opts.bind) && onProcFS(m.Source)) {
			// Another filesystem there would be trusted as procfs: init waits for start
			// through /proc/self/fd, and programs read their limits and ids there. A bind of
			// a procfs is one (podman -v /proc:/proc); runc refuses the rest too
			// (checkProcMount). bindMount checks the source it opens once more.
			return fmt.Errorf("config: mount %s: type %q from %q: only a proc filesystem (type proc, or a bind of one) may be mounted at /proc", m.Destination, m.Type, m.Source)
		}
		// config.md: with no mappings of its own and no user namespace, idmap MUST fail.
		if m.UIDMappings != nil || m.GIDMappings != nil || opts.idmap {
			return fmt.Errorf("config: mount %s: idmapped mounts need a user namespace, which this runtime does not make yet", m.Destination)
		}
	}
	for _, p := range append(append([]string(nil), spec.Linux.MaskedPaths...), spec.Linux.ReadonlyPaths...) {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("config: masked or read-only path %q must be absolute", p)
		}
	}
	switch spec.Linux.RootfsPropagation {
	case "", "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
		return nil
	}
	return fmt.Errorf("config: linux.rootfsPropagation: unknown value %q", spec.Linux.RootfsPropagation)
}

// validateSysctl allows only namespaced sysctls, and only when the container has its own copy
// of that namespace: anything else would change the host. See sysctl(8), namespaces(7).
func validateSysctl(spec *specs.Spec) error {
	for key := range spec.Linux.Sysctl {
		ns, ok := sysctlNamespace(key)
		if !ok {
			return fmt.Errorf("config: linux.sysctl %q is not namespaced: it would change the host", key)
		}
		if !hasNewNamespace(spec, ns) {
			return fmt.Errorf("config: linux.sysctl %q needs a new %s namespace", key, ns)
		}
		if strings.Contains(key, "/") || strings.Contains(key, "..") || strings.HasSuffix(key, ".") {
			return fmt.Errorf("config: linux.sysctl %q: malformed name", key)
		}
		// Two settings of one name: which wins would depend on the order the runtime applies
		// them in. runc refuses the pair too.
		if field := sysctlField(spec, key); field != "" {
			return fmt.Errorf("config: linux.sysctl %q conflicts with the %q field: set only one of them", key, field)
		}
	}
	return nil
}

// sysctlField names the spec's field that also sets sysctl key, when the spec sets it.
func sysctlField(spec *specs.Spec, key string) string {
	switch {
	case key == "kernel.hostname" && spec.Hostname != "":
		return "hostname"
	case key == "kernel.domainname" && spec.Domainname != "":
		return "domainname"
	}
	return ""
}

func sysctlNamespace(key string) (specs.LinuxNamespaceType, bool) {
	switch key {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
		"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
		return specs.IPCNamespace, true
	case "kernel.hostname", "kernel.domainname":
		return specs.UTSNamespace, true
	}
	switch {
	case strings.HasPrefix(key, "fs.mqueue."):
		return specs.IPCNamespace, true
	case strings.HasPrefix(key, "net."):
		return specs.NetworkNamespace, true
	}
	return "", false
}

// freshCgroup2 reports whether the container's cgroup mount is a cgroup2 filesystem of its
// own, which takes mount options: see mounter.cgroupMount.
func freshCgroup2(spec *specs.Spec) bool {
	return hasNewNamespace(spec, specs.CgroupNamespace) && isCgroup2Only()
}

// validateHooks checks what config.md asks of every hook: "path MUST be absolute" (a hook is
// never looked up in the runtime's PATH) and "If set, timeout MUST be greater than zero".
func validateHooks(spec *specs.Spec) error {
	h := spec.Hooks
	if h == nil {
		return nil
	}
	for _, kind := range []struct {
		name  string
		hooks []specs.Hook
	}{{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop}} {
		for i, hook := range kind.hooks {
			if !filepath.IsAbs(hook.Path) {
				return fmt.Errorf("config: hooks.%s[%d]: path %q must be absolute", kind.name, i, hook.Path)
			}
			field := fmt.Sprintf("hooks.%s[%d]", kind.name, i)
			if err := errors.Join(noNUL(field+".args", hook.Args), noNUL(field+".env", hook.Env)); err != nil {
				return err
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return fmt.Errorf("config: hooks.%s[%d] (%s): timeout %d must be greater than zero", kind.name, i, hook.Path, *hook.Timeout)
			}
		}
	}
	return nil
}

// validateResources checks what config-linux.md requires of linux.resources beyond its types.
func validateResources(spec *specs.Spec) error {
	r := spec.Linux.Resources
	if r == nil || r.BlockIO == nil {
		return nil
	}
	for i, d := range r.BlockIO.WeightDevice {
		if d.Weight == nil && d.LeafWeight == nil {
			// "You MUST specify at least one of weight or leafWeight in a given entry."
			return fmt.Errorf("config: linux.resources.blockIO.weightDevice[%d] (%d:%d): give weight or leafWeight", i, d.Major, d.Minor)
		}
	}
	return nil
}

// refuseIntelRdt: config-linux.md wants the container in a resctrl group when intelRdt is
// set, and an error without a resctrl filesystem. This runtime does not manage resctrl.
func refuseIntelRdt(spec *specs.Spec) error {
	if spec.Linux.IntelRdt != nil {
		return errors.New("config: linux.intelRdt: this runtime does not manage Intel RDT (resctrl) groups; remove it from the spec")
	}
	return nil
}

// versionWarnings: config.md's ociVersion is REQUIRED, in SemVer. A spec of another major
// version may mean other things by the same fields. runc does not check; a warning costs
// nothing and tells a hand-written spec from a generated one.
func versionWarnings(spec *specs.Spec) []string {
	v := spec.Version
	switch {
	case v == "":
		return []string{"config: ociVersion is missing: read as runtime-spec " + specs.Version}
	case !isSemVer(v):
		return []string{fmt.Sprintf("config: ociVersion %q is not a SemVer 2.0.0 version: read as runtime-spec %s", v, specs.Version)}
	case !strings.HasPrefix(v, "1."):
		return []string{fmt.Sprintf("config: ociVersion %s: this runtime implements runtime-spec %s (major version 1)", v, specs.Version)}
	}
	return nil
}

// isSemVer checks the form of semver.org 2.0.0: MAJOR.MINOR.PATCH, numbers without leading
// zeros, then an optional -pre-release and +build of dot-separated [0-9A-Za-z-] identifiers.
func isSemVer(v string) bool {
	v, build, hasBuild := strings.Cut(v, "+")
	core, pre, hasPre := strings.Cut(v, "-")
	if (hasBuild && !identifiers(build)) || (hasPre && !identifiers(pre)) {
		return false
	}
	nums := strings.Split(core, ".")
	if len(nums) != 3 {
		return false
	}
	for _, n := range nums {
		if n == "" || (len(n) > 1 && n[0] == '0') || strings.Trim(n, "0123456789") != "" {
			return false
		}
	}
	return true
}

func identifiers(s string) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" || strings.Trim(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") != "" {
			return false
		}
	}
	return true
}

func validateDevices(spec *specs.Spec) error {
	for _, d := range spec.Linux.Devices {
		if !filepath.IsAbs(d.Path) {
			return fmt.Errorf("config: linux.devices: path %q must be absolute", d.Path)
		}
		if _, err := deviceMode(d); err != nil {
			return err
		}
		if d.Type == "p" {
			continue // a fifo has no numbers
		}
		// A device's numbers, as dev_t holds them: 12 bits of major, 20 of minor. A negative
		// one would be a wildcard in the device cgroup's rule (b *:* rwm: every block device
		// of the host), and a larger one would make another device than the spec names.
		if d.Major < 0 || d.Major > maxMajor || d.Minor < 0 || d.Minor > maxMinor {
			return fmt.Errorf("config: linux.devices: %s: device numbers %d:%d are not a device's (major 0 to %d, minor 0 to %d)", d.Path, d.Major, d.Minor, maxMajor, maxMinor)
		}
	}
	return nil
}

// maxMajor and maxMinor are the largest device numbers Linux has (MINORBITS in
// include/linux/kdev_t.h is 20, and dev_t is 32 bits).
const maxMajor, maxMinor = 1<<12 - 1, 1<<20 - 1

// unsupported lists what the spec asks for that this runtime does not apply yet.
func unsupported(spec *specs.Spec) []string {
	var w []string
	add := func(cond bool, field, why string) {
		if cond {
			w = append(w, notApplied("config", field, why))
		}
	}
	l := spec.Linux
	if l.Seccomp != nil {
		if warning := seccompWarning(l.Seccomp); warning != "" {
			w = append(w, warning)
		}
	}
	add(l.Personality != nil, "linux.personality", "")
	add(len(l.TimeOffsets) > 0, "linux.timeOffsets", "")
	add(l.MemoryPolicy != nil, "linux.memoryPolicy", "")
	add(l.MountLabel != "", "linux.mountLabel", "no SELinux")
	w = append(w, processUnsupported("config", spec.Process)...)
	add(len(l.UIDMappings)+len(l.GIDMappings) > 0, "linux.uidMappings/gidMappings", "no user namespace")
	for _, other := range []struct {
		field string
		set   bool
	}{{"solaris", spec.Solaris != nil}, {"windows", spec.Windows != nil}, {"vm", spec.VM != nil},
		{"zos", spec.ZOS != nil}, {"freebsd", spec.FreeBSD != nil}} {
		add(other.set, other.field, "this runtime runs Linux containers")
	}
	return w
}

// processUnsupported lists the fields of a process that this runtime does not apply yet: a
// container's (whose prefix is "config") or one that exec starts (prefix "exec").
func processUnsupported(prefix string, p *specs.Process) []string {
	var w []string
	add := func(cond bool, field, why string) {
		if cond {
			w = append(w, notApplied(prefix, field, why))
		}
	}
	add(p.ApparmorProfile != "", "process.apparmorProfile", "no AppArmor")
	add(p.SelinuxLabel != "", "process.selinuxLabel", "no SELinux")
	add(p.Scheduler != nil, "process.scheduler", "")
	add(p.IOPriority != nil, "process.ioPriority", "")
	add(p.ExecCPUAffinity != nil, "process.execCPUAffinity", "")
	add(p.User.Username != "", "process.user.username", "Windows only")
	add(p.CommandLine != "", "process.commandLine", "Windows only")
	if u := p.User.Umask; u != nil && *u > 0o777 {
		w = append(w, fmt.Sprintf("config: process.user.umask %#o has bits above 0777, which umask(2) ignores: %#o is applied", *u, *u&0o777))
	}
	return w
}

// seccompWarning says what of a seccomp profile contain applies: what it says of the keyring
// calls (see keyrings.go), and nothing else yet; "" when that is all the profile says.
func seccompWarning(s *specs.LinuxSeccomp) string {
	if _, ok := keyringABIs(); !ok {
		return notApplied("config", "linux.seccomp", "seccomp filters")
	}
	if keyringsOnly(s) {
		return ""
	}
	return "config: linux.seccomp is not supported yet: of its rules only those of the keyring calls (add_key, keyctl, request_key) are applied " +
		"(a log as an allow, a trace or notify as an error, there being no tracer or listener), the rest is ignored: other calls, flags, architectures, listener"
}

func notApplied(prefix, field, why string) string {
	if why != "" {
		why = " (" + why + ")"
	}
	return fmt.Sprintf("%s: %s is not supported yet and is ignored%s", prefix, field, why)
}

// namespaceFlags maps spec namespace types to clone(2) flags.
var namespaceFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// hasNewNamespace reports whether the container gets a fresh namespace of type t.
func hasNewNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}

// hasNamespace reports whether the container has its own namespace of type t, new or joined.
func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}
