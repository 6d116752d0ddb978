package workshop

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// Doctor checks that this machine can run the workshop and prints one line per item:
//
//	✓ what (value)
//	✗ what (value): fix: the command or step that fixes it
//
// It only reads: it never writes a sysctl, loads a module or installs a package; the fixes
// are printed for a person to run. It returns the number of ✗ lines.
func Doctor(w io.Writer) (problems int) {
	repo := repoDir()
	for _, it := range []item{
		checkKernel(),
		checkRoot(),
		checkCgroups("/sys/fs/cgroup"),
		checkPropagation(),
		checkOverlay(),
		checkUserns(),
		checkBusybox("/bin/busybox"),
		checkRootfs(rootfs.DefaultDir()),
		checkGo(),
		checkDisk("free disk for the repository", repo),
		checkDisk("free disk for /var/lib", "/var/lib"),
	} {
		fmt.Fprintln(w, it)
		if !it.ok {
			problems++
		}
	}
	return problems
}

// item is one line of the doctor's report. note, when set, follows a ✓ line after " — ".
type item struct {
	ok    bool
	what  string
	value string
	fix   string
	note  string
}

func (it item) String() string {
	if !it.ok {
		return fmt.Sprintf("✗ %s (%s): fix: %s", it.what, it.value, it.fix)
	}
	if it.note != "" {
		return fmt.Sprintf("✓ %s (%s) — %s", it.what, it.value, it.note)
	}
	return fmt.Sprintf("✓ %s (%s)", it.what, it.value)
}

// repoDir is the repository the doctor is run for: the one around the working directory, else
// the one around the running binary (bin/workshop), else the working directory.
func repoDir() string {
	if root, err := RepoRoot("."); err == nil {
		return root
	}
	if exe, err := os.Executable(); err == nil {
		if root, err := RepoRoot(filepath.Dir(exe)); err == nil {
			return root
		}
	}
	return "."
}

// --- kernel ---------------------------------------------------------------------------------

// minKernel is the oldest kernel with everything the runtime calls: mount_setattr(2) (5.12),
// openat2(2) (5.6), close_range(2) (5.9), pidfd_open(2) (5.3).
var minKernel = []int{5, 12}

func checkKernel() item {
	it := item{what: "kernel ≥ 5.12"}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		it.value, it.fix = "uname: "+err.Error(), "run it on Linux: vagrant up, then vagrant ssh"
		return it
	}
	release := unix.ByteSliceToString(u.Release[:])
	it.value = release
	v, err := parseKernelRelease(release)
	it.ok = err == nil && versionAtLeast(v, minKernel)
	it.fix = "use a kernel with mount_setattr, openat2 and close_range: the workshop VM (vagrant up), or Debian 12 (apt-get install linux-image-amd64, reboot)"
	return it
}

// parseKernelRelease reads the leading numbers of a kernel release: "6.18.44-amd64" is
// [6 18 44], "5.15.0-91-generic" is [5 15 0].
func parseKernelRelease(release string) ([]int, error) {
	end := strings.IndexFunc(release, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if end >= 0 {
		release = release[:end]
	}
	v, err := parseNumbers(strings.TrimSuffix(release, "."))
	if err != nil || len(v) < 2 {
		return nil, fmt.Errorf("kernel release %q: want MAJOR.MINOR", release)
	}
	return v, nil
}

// parseNumbers parses "1.26.3" into [1 26 3].
func parseNumbers(s string) ([]int, error) {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("version %q: %q is not a number", s, part)
		}
		v = append(v, n)
	}
	return v, nil
}

// versionAtLeast compares versions part by part; a missing part counts as 0.
func versionAtLeast(have, want []int) bool {
	for i := range max(len(have), len(want)) {
		h, w := at(have, i), at(want, i)
		if h != w {
			return h > w
		}
	}
	return true
}

func at(v []int, i int) int {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// --- root -----------------------------------------------------------------------------------

func checkRoot() item {
	uid := os.Geteuid()
	return item{
		ok:    uid == 0,
		what:  "running as root",
		value: fmt.Sprintf("euid %d", uid),
		fix:   "sudo workshop doctor (namespaces, mounts and cgroups need root until step 11)",
	}
}

// --- cgroups --------------------------------------------------------------------------------

// Cgroup modes: where the controllers are. See cgroups(7) and the kernel's
// Documentation/admin-guide/cgroup-v2.rst.
const (
	cgroupV2     = "v2"     // /sys/fs/cgroup is cgroup2: one hierarchy holds every controller
	cgroupHybrid = "hybrid" // v1 controllers, plus a cgroup2 at /sys/fs/cgroup/unified
	cgroupV1     = "v1"     // v1 controllers only
	cgroupNone   = "none"   // nothing at /sys/fs/cgroup
)

// cgroupModeOf decides the mode from the filesystem types (statfs f_type) of /sys/fs/cgroup
// and of /sys/fs/cgroup/unified (0 when it is missing).
func cgroupModeOf(rootType, unifiedType int64) string {
	switch {
	case rootType == unix.CGROUP2_SUPER_MAGIC:
		return cgroupV2
	case rootType == unix.TMPFS_MAGIC && unifiedType == unix.CGROUP2_SUPER_MAGIC:
		return cgroupHybrid
	case rootType == unix.TMPFS_MAGIC:
		return cgroupV1
	}
	return cgroupNone
}

// stepControllers are the controllers the cgroups step (10) and later ones use.
var stepControllers = []string{"cpu", "memory", "pids"}

func checkCgroups(root string) item {
	it := item{what: "cgroups", fix: "boot with cgroup v2 (Debian 12's default: drop systemd.unified_cgroup_hierarchy=0 from the kernel command line) or use the workshop VM"}
	mode := cgroupModeOf(fsType(root), fsType(filepath.Join(root, "unified")))
	var have []string
	switch mode {
	case cgroupV2:
		have = v2Controllers(root)
		it.value = fmt.Sprintf("v2, controllers: %s", listOrNone(have))
	case cgroupHybrid:
		have = v1Controllers(root)
		it.value = fmt.Sprintf("hybrid: v1 controllers %s; cgroup2 at %s/unified holds %s",
			listOrNone(have), root, listOrNone(v2Controllers(filepath.Join(root, "unified"))))
	case cgroupV1:
		have = v1Controllers(root)
		it.value = fmt.Sprintf("v1, controllers: %s", listOrNone(have))
	default:
		it.value = "no cgroup filesystem at " + root
		it.fix = "mount -t cgroup2 none " + root + " (or use the workshop VM)"
		return it
	}
	missing := missingControllers(have, stepControllers)
	it.ok = len(missing) == 0
	if !it.ok {
		it.value += "; steps 10+ need " + strings.Join(missing, ", ")
	}
	it.note = "steps 10+ need the cpu, memory and pids controllers; steps 00-09 need none"
	if mode != cgroupV2 {
		// Step 10 takes its v1 path here, and its check can only say so (checks.Caveat).
		it.note += "; on this host step 10 runs its cgroup v1 path, and its cgroup v2 TODOs (the limits' files, CLONE_INTO_CGROUP) are checked only on a cgroup v2 host such as the workshop VM"
	}
	return it
}

// fsType is the statfs(2) f_type of path, 0 when it cannot be read.
func fsType(path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	return int64(st.Type)
}

// v2Controllers lists a cgroup2 directory's cgroup.controllers.
func v2Controllers(dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

// v1Controllers lists the controllers mounted as v1 hierarchies under root.
func v1Controllers(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() { // cpu -> cpu,cpuacct style symlinks are aliases: skipped
			names = append(names, e.Name())
		}
	}
	return controllersOfV1Dirs(names)
}

// controllersOfV1Dirs turns v1 mount directory names ("cpu,cpuacct", "memory", "unified",
// "systemd") into controller names: comma lists are split, and the named hierarchies that hold
// no controller (systemd, unified) are left out.
func controllersOfV1Dirs(names []string) []string {
	var out []string
	for _, name := range names {
		if name == "unified" || name == "systemd" || strings.HasPrefix(name, "name=") {
			continue
		}
		out = append(out, strings.Split(name, ",")...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// missingControllers lists the controllers of need that have lacks.
func missingControllers(have, need []string) []string {
	var missing []string
	for _, c := range need {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, " ")
}

// --- propagation ----------------------------------------------------------------------------

func checkPropagation() item {
	it := item{ok: true, what: "propagation of /",
		note: "steps 03 and 05 work with either: they make / private in their own mount namespace"}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err == nil {
		it.value, err = rootPropagation(data)
	}
	if err != nil {
		it.ok, it.value, it.fix = false, err.Error(), "mount -t proc proc /proc"
	}
	return it
}

// rootPropagation returns the propagation type of the mount at "/" in a mountinfo file (see
// proc_pid_mountinfo(5)): the last "/" line is the one on top, the one this process sees.
func rootPropagation(mountinfo []byte) (string, error) {
	found := false
	var optional []string
	for _, m := range parseMountinfo(mountinfo) {
		if m.point == "/" {
			found, optional = true, m.optional
		}
	}
	if !found {
		return "", errors.New("no / in /proc/self/mountinfo")
	}
	return propagationOf(optional), nil
}

// propagationOf names the propagation type told by a mount's optional fields: shared:N
// (a peer group), master:N (receives from one), unbindable, or none of them: private.
func propagationOf(optional []string) string {
	var shared, slave, unbindable bool
	for _, f := range optional {
		switch {
		case strings.HasPrefix(f, "shared:"):
			shared = true
		case strings.HasPrefix(f, "master:"):
			slave = true
		case f == "unbindable":
			unbindable = true
		}
	}
	switch {
	case shared && slave:
		return "shared and slave"
	case shared:
		return "shared"
	case slave:
		return "slave"
	case unbindable:
		return "unbindable"
	}
	return "private"
}

// mountEntry is what the doctor and reset read from one mountinfo line.
type mountEntry struct {
	id       int
	point    string
	optional []string
	fstype   string
}

// parseMountinfo reads mountinfo lines (proc_pid_mountinfo(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Lines it cannot read are skipped.
func parseMountinfo(data []byte) []mountEntry {
	var out []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if sep < 6 || sep+1 >= len(f) {
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		out = append(out, mountEntry{id: id, point: unescapeMountinfo(f[4]),
			optional: f[6:sep], fstype: f[sep+1]})
	}
	return out
}

// unescapeMountinfo undoes the kernel's octal escapes of space, tab, newline and backslash.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// --- overlay --------------------------------------------------------------------------------

func checkOverlay() item {
	it := item{what: "overlayfs for step 06", fix: "modprobe overlay (or use the workshop VM)"}
	filesystems, _ := os.ReadFile("/proc/filesystems")
	switch {
	case hasFilesystem(filesystems, "overlay"):
		it.ok, it.value = true, "in /proc/filesystems"
	case overlayModuleExists():
		it.ok, it.value = true, "a module, loaded by the first overlay mount"
	default:
		it.value = "not in /proc/filesystems, no overlay module"
		return it
	}
	// The upper and work directories live under WorkshopRunDir: an overlay cannot be the
	// upper layer of another overlay (overlay-on-overlay hosts: containers, some live CDs).
	runParent := filepath.Dir(isolate.WorkshopRunDir)
	if fsType(runParent) == unix.OVERLAYFS_SUPER_MAGIC {
		it.ok = false
		it.value += "; but " + runParent + " is itself an overlay, which cannot hold an upper layer"
		it.fix = "mount -t tmpfs tmpfs " + runParent + " (or use the workshop VM)"
	}
	return it
}

// hasFilesystem reports whether /proc/filesystems lists name ("nodev\toverlay" or "\text4").
func hasFilesystem(procFilesystems []byte, name string) bool {
	for line := range strings.Lines(string(procFilesystems)) {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// overlayModuleExists reports whether the running kernel has overlay as a loadable module.
func overlayModuleExists() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	dep, err := os.ReadFile(filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]), "modules.dep"))
	return err == nil && bytes.Contains(dep, []byte("/overlay.ko"))
}

// --- user namespaces ------------------------------------------------------------------------

// The sysctls that restrict user namespaces; read here, never written.
const (
	sysctlUsernsClone  = "/proc/sys/kernel/unprivileged_userns_clone"             // Debian before 11
	sysctlAppArmorNS   = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns" // Ubuntu 23.10+
	sysctlMaxUserNamsp = "/proc/sys/user/max_user_namespaces"
)

func checkUserns() item {
	value, fix := usernsVerdict(readSysctl(sysctlUsernsClone), readSysctl(sysctlAppArmorNS), readSysctl(sysctlMaxUserNamsp))
	return item{ok: fix == "", what: "user namespaces (for step 11, still to come)", value: value, fix: fix}
}

// readSysctl returns a /proc/sys file's value, "" when it does not exist.
func readSysctl(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// usernsVerdict decides from the three sysctls ("" for one this kernel lacks) whether an
// unprivileged user may create a user namespace; fix is empty when it may.
func usernsVerdict(clone, apparmor, maxNS string) (value, fix string) {
	var blocked, fixes []string
	if clone == "0" {
		blocked = append(blocked, "kernel.unprivileged_userns_clone=0")
		fixes = append(fixes, "sudo sysctl -w kernel.unprivileged_userns_clone=1")
	}
	if apparmor == "1" {
		blocked = append(blocked, "kernel.apparmor_restrict_unprivileged_userns=1")
		fixes = append(fixes, "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
	}
	if maxNS == "0" {
		blocked = append(blocked, "user.max_user_namespaces=0")
		fixes = append(fixes, "sudo sysctl -w user.max_user_namespaces=15000")
	}
	if len(blocked) == 0 {
		if maxNS == "" {
			maxNS = "unknown"
		}
		return "unrestricted, max_user_namespaces " + maxNS, ""
	}
	return "restricted: " + strings.Join(blocked, ", "),
		strings.Join(fixes, " && ") + " (until reboot; for the workshop VM only)"
}

// --- busybox --------------------------------------------------------------------------------

func checkBusybox(path string) item {
	it := item{what: "static busybox", value: path, fix: "sudo apt-get install busybox-static"}
	static, err := rootfs.IsStatic(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		it.value = path + " missing; the default rootfs would copy host programs instead"
	case err != nil:
		it.value = err.Error()
	case !static:
		it.value = path + " is dynamically linked"
	default:
		it.ok, it.value = true, path+", static"
	}
	return it
}

// --- default rootfs -------------------------------------------------------------------------

func checkRootfs(dir string) item {
	marker, err := os.ReadFile(filepath.Join(dir, rootfs.MarkerName))
	entries, _ := os.ReadDir(dir)
	value, ok := rootfsVerdict(dir, marker, err == nil, len(entries) > 0)
	return item{ok: ok, what: "default rootfs", value: value,
		fix: fmt.Sprintf("sudo mv %s %s.old, or set CONTAIN_ROOTFS to another directory", dir, dir)}
}

// rootfsVerdict says what the default rootfs directory holds: a tree with rootfs's marker is
// contain's (rootfs rebuilds it in place when its version is older); an empty or missing one
// is built on first use; anything else is someone else's, which rootfs refuses to touch.
func rootfsVerdict(dir string, marker []byte, hasMarker, nonEmpty bool) (string, bool) {
	switch {
	case hasMarker:
		return fmt.Sprintf("%s, complete: %s", dir, strings.TrimSpace(string(marker))), true
	case !nonEmpty:
		return dir + " not built yet: built on first use, offline", true
	}
	return dir + " is not empty and was not made by contain", false
}

// --- go -------------------------------------------------------------------------------------

// minGo is the Go the module asks for (go.mod: go 1.26.0).
var minGo = []int{1, 26}

func checkGo() item {
	it := item{what: "go ≥ 1.26", fix: "sudo bash workshop/provision.sh (installs the pinned Go 1.26 in /usr/local/go), or see https://go.dev/doc/install"}
	gobin := findGo()
	if gobin == "" {
		it.value = "no go on PATH or at /usr/local/go/bin/go"
		return it
	}
	out, err := exec.Command(gobin, "version").Output()
	if err != nil {
		it.value = fmt.Sprintf("%s version: %v", gobin, err)
		return it
	}
	line := strings.TrimSpace(string(out))
	it.value = gobin + ": " + strings.TrimPrefix(line, "go version ")
	v, err := parseGoVersion(line)
	it.ok = err == nil && versionAtLeast(v, minGo)
	return it
}

// findGo finds go on PATH, else at /usr/local/go/bin/go (sudo's secure_path drops it).
func findGo() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go"
	}
	return ""
}

// parseGoVersion reads `go version` output: "go version go1.26.3 linux/amd64" is [1 26 3].
// A release candidate or beta ("go1.26rc1") comes before its release, so it is [1 25 999];
// a development build ("devel go1.27-abcdef") counts as its version.
func parseGoVersion(out string) ([]int, error) {
	for _, f := range strings.Fields(out) {
		if !strings.HasPrefix(f, "go1") {
			continue
		}
		s, _, _ := strings.Cut(strings.TrimPrefix(f, "go"), "-")
		pre := strings.IndexAny(s, "rb") // rc or beta
		if pre >= 0 {
			s = s[:pre]
		}
		v, err := parseNumbers(s)
		if err != nil {
			return nil, err
		}
		if pre >= 0 {
			v = beforeRelease(v)
		}
		return v, nil
	}
	return nil, fmt.Errorf("no go version in %q", out)
}

// beforeRelease is a version just below v ([1 26] → [1 25 999]), for pre-releases.
func beforeRelease(v []int) []int {
	if len(v) >= 2 && v[len(v)-1] > 0 {
		return append(slices.Clone(v[:len(v)-1]), v[len(v)-1]-1, 999)
	}
	return v
}

// --- disk -----------------------------------------------------------------------------------

const minFree = 1 << 30 // a rootfs, overlays and Go's build cache

func checkDisk(what, path string) item {
	it := item{what: what + " ≥ 1 GiB", fix: "free space on the filesystem of " + path + " (apt-get clean, go clean -cache) or give the VM a bigger disk"}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		it.value = fmt.Sprintf("statfs %s: %v", path, err)
		return it
	}
	free := st.Bavail * uint64(st.Bsize)
	it.ok = free >= minFree
	it.value = fmt.Sprintf("%s free on %s", formatBytes(free), path)
	return it
}

// formatBytes writes n in GiB with one decimal, or in MiB below 1 GiB.
func formatBytes(n uint64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
