package isolate

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The fds init inherits from the parent, after stdio. They move up by the number of fds the
// caller preserved (--preserve-fds N), which come first, at 3 to 3+N-1: see shiftInitFDs.
var (
	initConfigFD = 3 // pipe: the initConfig as JSON, then EOF
	initSyncFD   = 4 // socket: messages both ways
	execFifoFD   = 5 // create only: the exec fifo, opened O_PATH; start is its reader
)

// InitArg is the argument that makes the runtime's binary act as a container's init.
const InitArg = "init"

// initConfig is everything init needs to know, sent by the parent over the config pipe.
//
// It carries the parts of the spec that init applies rather than the whole spec: decoding
// the full specs.Linux type costs about a millisecond of reflection in a fresh process, paid
// by every container start. Init rebuilds a *specs.Spec from these parts (see spec).
type initConfig struct {
	Process    *specs.Process  `json:"process"`
	Hostname   string          `json:"hostname,omitempty"`
	Domainname string          `json:"domainname,omitempty"`
	Mounts     []specs.Mount   `json:"mounts,omitempty"`
	Readonly   bool            `json:"readonly,omitempty"` // root.readonly
	Linux      initLinuxConfig `json:"linux"`
	Rootfs     string          `json:"rootfs"` // absolute host path
	Bundle     string          `json:"bundle"`
	Terminal   bool            `json:"terminal,omitempty"`
	// DieWithParent: a foreground run owns its container, so init asks for SIGKILL when the
	// parent dies (PR_SET_PDEATHSIG). Init sets it itself rather than through SysProcAttr,
	// whose check that the parent is still alive compares getppid(2) with the parent's pid,
	// and getppid returns 0 in a pid namespace that was joined rather than created.
	DieWithParent bool `json:"die_with_parent,omitempty"`
	// ExecFifo: a create. Init waits for `contain start` on the exec fifo (execFifoFD) instead of
	// the parent's "start" message, and outlives the parent once it is ready.
	ExecFifo bool `json:"exec_fifo,omitempty"`
	// Hooks: init runs createContainer and startContainer, and pauses before pivot_root for
	// the parent's prestart and createRuntime (see hooks.go).
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	// NetDevices: the runtime moves linux.netDevices into init's network namespace, and init
	// waits for it (awaitGoAhead) before it sets anything up: a sysctl such as
	// net.ipv4.conf.eth1.forwarding names a device that is not there before the move.
	NetDevices bool `json:"net_devices,omitempty"`
	// NoNewKeyring: the container keeps its caller's session keyring (runc's
	// --no-new-keyring) instead of an anonymous one of its own.
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	// Throwaway: the rootfs is shared by runs (the quick form's default rootfs), so init puts
	// a copy-on-write overlay over it (see throwawayRoot) and the container's writes go with
	// its mount namespace.
	Throwaway bool `json:"throwaway,omitempty"`
	// CgroupTasks: the v1 cgroup's "tasks" files, which init's thread joins first thing
	// (cgroups.JoinSelf); on v2, and in a hybrid host's cgroup2 part, init was cloned into
	// its cgroup.
	CgroupTasks []string `json:"cgroup_tasks,omitempty"`
	// CgroupPath: the container's cgroup in every hierarchy (such as /contain/ID), which a
	// writable cgroup mount without a cgroup namespace binds (see cgroupMount).
	CgroupPath string `json:"cgroup_path,omitempty"`
	// Raw: the process's args and env as bytes, when they are not all UTF-8 (see rawArgs).
	Raw *rawArgs `json:"raw,omitempty"`
	// KeyringRules: what linux.seccomp says of the keyring calls (see keyrings.go).
	KeyringRules []keyringRule `json:"keyring_rules,omitempty"`
	// State: the container's state for the hooks init runs (createContainer, startContainer):
	// its id, bundle, annotations and ociVersion. Through the config pipe, which takes any
	// size, where a sync message holds 64 KiB (annotations may be larger); init adds its own
	// pid, as the container sees it (runtime.md, "State"), and the status.
	State *specs.State `json:"state,omitempty"`
	// JoinFDs: init's fds of the namespaces the spec joins by path, which the runtime opened
	// and checked (openNamespaces), by type, the pid namespace's aside (the runtime joins it).
	JoinFDs map[string]int `json:"join_fds,omitempty"`
}

// initLinuxConfig is the part of specs.Linux that init applies.
type initLinuxConfig struct {
	Namespaces        []specs.LinuxNamespace `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice    `json:"devices,omitempty"`
	Sysctl            map[string]string      `json:"sysctl,omitempty"`
	MaskedPaths       []string               `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string               `json:"readonlyPaths,omitempty"`
	RootfsPropagation string                 `json:"rootfsPropagation,omitempty"`
}

// newInitConfig takes from a validated spec what init needs.
func newInitConfig(spec *specs.Spec, rootfs, bundle string, execFifo bool) initConfig {
	l := spec.Linux
	return initConfig{
		Process: spec.Process, Hostname: spec.Hostname, Domainname: spec.Domainname,
		Mounts: spec.Mounts, Readonly: spec.Root.Readonly,
		Linux: initLinuxConfig{
			Namespaces: l.Namespaces, Devices: l.Devices, Sysctl: l.Sysctl,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths,
			RootfsPropagation: l.RootfsPropagation,
		},
		Rootfs: rootfs, Bundle: bundle, Terminal: spec.Process.Terminal, DieWithParent: true,
		ExecFifo: execFifo, Hooks: forInit(spec.Hooks), NetDevices: len(l.NetDevices) > 0, Raw: rawArgsOf(spec.Process),
	}
}

// waitsForState says whether init waits for the runtime's message with the container's state
// before it sets anything up: for its hooks, which need the state, and for the network
// devices the runtime moves in first (initConfig.NetDevices).
func waitsForState(hooks *specs.Hooks, netDevices bool) bool {
	return initHooks(hooks) || netDevices
}

// spec rebuilds the spec that init works from.
func (c *initConfig) spec() *specs.Spec {
	return &specs.Spec{
		Process: c.Process, Hostname: c.Hostname, Domainname: c.Domainname, Mounts: c.Mounts,
		Root: &specs.Root{Path: c.Rootfs, Readonly: c.Readonly},
		Linux: &specs.Linux{
			Namespaces: c.Linux.Namespaces, Devices: c.Linux.Devices, Sysctl: c.Linux.Sysctl,
			MaskedPaths: c.Linux.MaskedPaths, ReadonlyPaths: c.Linux.ReadonlyPaths,
			RootfsPropagation: c.Linux.RootfsPropagation,
		},
	}
}

// IsInit reports whether this process was started as a container's init: then it must call
// [Init] from a package initialiser, before any other work (package initproc does).
func IsInit() bool { return len(os.Args) > 1 && os.Args[1] == InitArg }

// Init is the container's first process: it builds the container from inside and execs the
// user's program. It never returns. It must run in a package initialiser (see package
// initproc): Go runs those on the main thread, with the main goroutine locked to it, and
// namespaces joined, capabilities and credentials set here belong to the calling thread,
// which is the one execve(2) keeps.
//
// The same function is the exec stage ("init exec", see exec.go), which exits once the
// program it started in a running container runs.
func Init() {
	if unix.Gettid() != unix.Getpid() {
		// Not the main thread, so not a package initialiser: nothing keeps this goroutine
		// on one thread, and a credential set on one thread would be lost on another.
		fmt.Fprintln(os.Stderr, "contain init: isolate.Init must run in a package initialiser (import isolate/initproc)")
		os.Exit(1)
	}
	onOneThread = true
	if isExecStage() {
		// The stage joins the container's pid namespace on this thread, after which this
		// thread can start no thread of this process (clone(2): EINVAL), and the stage needs
		// more. Locking the thread starts the runtime's template thread now, while this one
		// is still like every other: Go starts each later thread from it.
		runtime.LockOSThread()
	}
	relaxedFromStart()
	startedOnOneCPU()
	err := initMain()
	if err == nil && isExecStage() {
		os.Exit(0)
	}
	if err == nil {
		err = errors.New("init: returned without exec") // unreachable: exec does not return
	}
	text := errorText(err)
	if startFifo >= 0 {
		// After `contain start` (see waitExecFifo): start reads it from the fifo.
		unix.Write(startFifo, []byte(text))
	} else if sendMessage(initSyncFD, message{Type: msgError, Text: text, Status: execStatus(err)}) != nil {
		fmt.Fprintln(os.Stderr, "contain init:", text)
	}
	os.Exit(1)
}

// errorText is err's text for the runtime, its end when it is longer than a message takes
// (a failed hook's output is in it).
func errorText(err error) string {
	text := err.Error()
	if len(text) > maxErrorText {
		text = "..." + text[len(text)-maxErrorText+3:]
	}
	return text
}

// startFifo is the exec fifo's write end once `contain start` opened it, or -1: what fails
// after that (a startContainer hook, the exec) is written there for start to report.
var startFifo = -1

// initMain does what every process of the runtime inside a container does first: find its
// fds and become non-dumpable (see selfexe.go); then it is init or the exec stage.
func initMain() error {
	if err := shiftInitFDs(); err != nil {
		return err
	}
	if err := setNonDumpable(); err != nil {
		return err
	}
	// Only fds 0-2 and the preserved ones may reach what this process starts: the program,
	// and before it the hooks it runs (createContainer, startContainer: the image's programs,
	// which must not get the sync socket or the exec fifo) and the program's children. What
	// else it inherited (from contain's caller, the config pipe, the sync socket) is closed by
	// every execve from now on; this process keeps using its own. See close_range(2).
	if err := unix.CloseRange(uint(3+preservedFDs), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	if isExecStage() {
		nameSelf("contain:exec")
		return execStage()
	}
	nameSelf("contain:init")
	return initContainer()
}

// nameSelf gives this process a name that says what it is until it execs the program:
// ps(1) and /proc/PID/comm otherwise show the last part of the path it was executed by,
// "17" (/proc/self/fd/17, the read-only mount of this binary: see selfexe.go). runc's init
// calls itself "runc:[2:INIT]". A name is at most 15 bytes (prctl(2), PR_SET_NAME); a
// failure only leaves the number.
func nameSelf(name string) {
	if p, err := unix.BytePtrFromString(name); err == nil {
		unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
	}
}

func initContainer() error {
	cfg, err := readInitConfig()
	if err != nil {
		return err
	}
	spec := cfg.spec()
	if initHooks(cfg.Hooks) {
		// The hooks init runs start processes, and Go threads, once this thread has joined
		// the container's cgroups (pids.max counts each thread) and, for startContainer, become
		// the container's user (so does RLIMIT_NPROC). Locking the thread starts Go's template
		// thread now, as root, outside them, and Go starts each later thread from it: the
		// limits count the hooks alone (clone(2): EAGAIN), as they did when main locked it.
		runtime.LockOSThread()
	}
	if cfg.DieWithParent {
		// If the parent died before this point, the sync socket is closed and init fails at
		// waitForStart: no container outlives a foreground run.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_SET_PDEATHSIG: %w", err)
		}
	}
	if err := enterCgroup(cfg, spec); err != nil {
		return err
	}
	if waitsForState(cfg.Hooks, cfg.NetDevices) {
		if err := awaitGoAhead(); err != nil {
			return err
		}
	}
	var hookState specs.State
	if cfg.State != nil {
		hookState = *cfg.State
		hookState.Status, hookState.Pid = specs.StateCreating, unix.Getpid()
	}
	if err := joinNamespaces(spec, cfg.JoinFDs); err != nil {
		return err
	}
	if err := setupRootfs(cfg, spec, hookState); err != nil {
		return err
	}
	if err := setupNamespaces(spec); err != nil {
		return err
	}
	if err := setupKernelFiles(spec); err != nil {
		return err
	}
	if err := setupProcess(cfg); err != nil {
		return err
	}
	// After the session keyring is joined (a keyctl), before the capabilities go.
	if err := filterKeyrings(cfg.KeyringRules); err != nil {
		return err
	}
	path, err := becomeUser(spec.Process)
	if err != nil {
		return err
	}
	if err := waitForStart(cfg.ExecFifo); err != nil {
		return err
	}
	if cfg.Hooks != nil {
		hookState.Status = specs.StateCreated
		if err := runHooks("startContainer", withEnv(cfg.Hooks.StartContainer, spec.Process.Env), hookState); err != nil {
			return err
		}
	}
	if err := everyCPU(); err != nil {
		return err
	}
	return &pathError{"exec", path, unix.Exec(path, spec.Process.Args, spec.Process.Env)}
}

func readInitConfig() (*initConfig, error) {
	var cfg initConfig
	if err := readConfig(os.NewFile(uintptr(initConfigFD), "config-pipe"), &cfg); err != nil {
		return nil, fmt.Errorf("init: read config: %w", err)
	}
	cfg.Raw.restore(cfg.Process)
	return &cfg, nil
}

// joinNamespaces enters the namespaces the spec names by path, with setns(2), through the fds
// the runtime opened (fds, by type): by path, every one after a joined mount namespace would
// be looked up in that namespace, not the runtime's, where the spec says paths are and where
// they were checked. The pid namespace is joined by the parent (it only applies to children),
// and a mount namespace can only be joined by a thread that does not share its filesystem
// information with others, hence unshare(CLONE_FS) first: every Go thread shares it.
func joinNamespaces(spec *specs.Spec, fds map[string]int) error {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" || ns.Type == specs.PIDNamespace {
			continue
		}
		fd, ok := fds[string(ns.Type)]
		if !ok {
			return fmt.Errorf("%s namespace %s: the runtime sent no fd of it", ns.Type, ns.Path)
		}
		if ns.Type == specs.MountNamespace {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare CLONE_FS: %w", err)
			}
		}
		err := unix.Setns(fd, int(namespaceFlags[ns.Type]))
		unix.Close(fd)
		if err != nil {
			return &pathError{"setns", ns.Path, err}
		}
	}
	return nil
}

// setupRootfs builds the container's filesystem view and pivots into it.
func setupRootfs(cfg *initConfig, spec *specs.Spec, hookState specs.State) error {
	return setupRootfsWith(cfg, spec, hookState, nil)
}

// setupRootfsWith is setupRootfs that, given later, leaves the mounts a direct start makes
// from inside the container's namespaces resolved in later, unmounted (see direct.go).
func setupRootfsWith(cfg *initConfig, spec *specs.Spec, hookState specs.State, later *laterMounts) error {
	baseline := rootBaseline(spec.Linux.RootfsPropagation)
	if err := setPropagation("/", baseline); err != nil {
		return err
	}
	if cfg.Throwaway {
		merged, err := throwawayRoot(cfg.Rootfs)
		if err != nil {
			return err
		}
		cfg.Rootfs = merged
		if spec.Hostname != "" {
			if err := hostnameInEtc(merged, spec.Hostname); err != nil {
				return err
			}
		}
	}
	if baseline&unix.MS_SHARED != 0 {
		if err := makeParentMountPrivate(cfg.Rootfs); err != nil {
			return err
		}
	}
	if err := BindRootfs(cfg.Rootfs); err != nil {
		return err
	}
	rootfd, err := unix.Open(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", cfg.Rootfs, err}
	}
	defer unix.Close(rootfd)
	m := &mounter{rootfd: rootfd, bundle: cfg.Bundle, spec: spec, cgroupPath: cfg.CgroupPath, later: later}
	defer m.closeReadOnlyLater()
	if err := m.mountAll(); err != nil {
		return err
	}
	if devIsOurs(spec) {
		if err := makeDevices(rootfd, spec.Linux.Devices, m.devFS); err != nil {
			return err
		}
	}
	cwd, err := mkdirAllInRoot(rootfd, spec.Process.Cwd)
	if err != nil {
		return fmt.Errorf("process.cwd: %w", err)
	}
	unix.Close(cwd)
	if err := m.finishReadOnly(); err != nil {
		return err
	}
	if pausesForHooks(cfg.Hooks) {
		if err := pauseForHooks(cfg.Hooks, hookState, spec.Process.Env); err != nil {
			return err
		}
	}
	if err := PivotRoot(cfg.Rootfs); err != nil {
		return err
	}
	if p := spec.Linux.RootfsPropagation; p != "" {
		return setPropagation("/", rootfsPropagation(p))
	}
	return nil
}

// setupNamespaces gives the new uts and network namespaces their names and loopback.
func setupNamespaces(spec *specs.Spec) error {
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("setdomainname %q: %w", spec.Domainname, err)
		}
	}
	if hasNewNamespace(spec, specs.NetworkNamespace) {
		return LoopbackUp()
	}
	return nil
}

// setupKernelFiles writes sysctls, then hides and freezes the kernel's files, then makes / read
// only if asked: in that order, because each step takes away what the next one writes to.
func setupKernelFiles(spec *specs.Spec) error {
	if len(spec.Linux.Sysctl) > 0 {
		procSys, err := openProcSys("/proc/sys")
		if err != nil {
			return err
		}
		defer unix.Close(procSys)
		for key, value := range spec.Linux.Sysctl {
			if err := writeSysctl(procSys, key, value); err != nil {
				return err
			}
		}
	}
	if err := maskPaths(spec.Linux.MaskedPaths); err != nil {
		return err
	}
	if err := readonlyPaths(spec.Linux.ReadonlyPaths); err != nil {
		return err
	}
	if spec.Root.Readonly {
		return readonlyRoot()
	}
	return nil
}

// openProcSys opens the container's /proc/sys for writeSysctl, after checking it is a proc
// filesystem: a tmpfs or a bind mounted there would take the writes.
func openProcSys(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &pathError{"open", path, err}
	}
	if err := onProcfs(fd, path); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// writeSysctl writes one of linux.sysctl below procSys. The file is found without following
// a symlink or crossing a mount (openat2(2) RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_XDEV), and must be procfs's own: a mount over part of /proc/sys, or a file the
// image or a volume put there, cannot send the value anywhere else (runc's CVE-2025-52881 was
// a write redirected so). Never O_CREAT: /proc/sys makes no files.
func writeSysctl(procSys int, key, value string) error {
	name := strings.ReplaceAll(key, ".", "/")
	fd, err := unix.Openat2(procSys, name, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV})
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, &pathError{"openat2", "/proc/sys/" + name, err})
	}
	defer unix.Close(fd)
	if err := onProcfs(fd, "/proc/sys/"+name); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, &pathError{"write", "/proc/sys/" + name, err})
	}
	return nil
}

// onProcfs checks that fd is on a proc filesystem.
func onProcfs(fd int, path string) error {
	kind, err := fsType(fd, path)
	if err != nil {
		return err
	}
	if kind != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is not on a proc filesystem (type %#x): refused", path, kind)
	}
	return nil
}

// fsType is the type of the filesystem fd is on (fstatfs(2): PROC_SUPER_MAGIC, ...).
func fsType(fd int, path string) (int64, error) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return 0, &pathError{"fstatfs", path, err}
	}
	return fs.Type, nil
}

// setupProcess sets what the program inherits: oom score, rlimits, its own session, and
// the terminal when there is one.
func setupProcess(cfg *initConfig) error {
	p := cfg.Process
	if err := setOOMScoreAdj(p.OOMScoreAdj); err != nil {
		return err
	}
	if err := setRlimits(p.Rlimits); err != nil {
		return err
	}
	if !cfg.NoNewKeyring {
		if err := joinNewSessionKeyring(); err != nil {
			return err
		}
	}
	// A session of its own: the container's processes are not in the caller's process group,
	// so a Ctrl-C on the host terminal reaches contain (which forwards it) and not both.
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if cfg.Terminal {
		return setupTerminal(initSyncFD, p.ConsoleSize, p.User.UID)
	}
	return nil
}

// becomeUser drops to the spec's user and capabilities and returns the program's path. It
// also leaves one entry per variable in p.Env, the last one given, as runc does: the PATH it
// looks the program up in is then the one the program sees (getenv(3) takes the first). And
// it gives the program a HOME when the spec has none (withHome).
func becomeUser(p *specs.Process) (string, error) {
	return becomeUserKeeping(p, false)
}

// becomeUserKeeping is becomeUser that, with keepPermitted, leaves the calling thread its
// permitted and effective capabilities: a direct start's thread, which forks the program
// after this with CLONE_NEWCGROUP (CAP_SYS_ADMIN), for a program run as root, whose execve
// gives it its bounding and inheritable sets whatever its permitted ones were
// (capabilities(7), "Capabilities and execution of programs by root"; see direct.go).
func becomeUserKeeping(p *specs.Process, keepPermitted bool) (string, error) {
	p.Env = withHome(uniqueEnv(p.Env), p.User.UID, "/etc/passwd")
	// The runtime warned about what resolving skips already (capabilityWarnings).
	sets := resolveCapabilities(p.Capabilities, ownBoundingSet(), func(string) {})
	if err := dropBoundingSet(sets.bounding); err != nil {
		return "", err
	}
	// The working directory first as root, as runc does: a user may be given a cwd it could
	// not enter itself (`docker run -u nobody -w /root`). Where root is refused (a network
	// filesystem that maps root to nobody), the user may do better: try again after the switch.
	cwdErr := enterCwd(p.Cwd)
	if cwdErr != nil && !errors.Is(cwdErr, unix.EACCES) && !errors.Is(cwdErr, unix.EPERM) {
		return "", cwdErr
	}
	if err := switchUser(p.User); err != nil {
		return "", err
	}
	if cwdErr != nil {
		if err := enterCwd(p.Cwd); err != nil {
			return "", err
		}
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return "", err
	}
	if keepPermitted {
		own, err := ownPermittedSet()
		if err != nil {
			return "", err
		}
		sets.permitted, sets.effective = own, own
	}
	if err := applyCapabilities(sets); err != nil {
		return "", err
	}
	if p.NoNewPrivileges {
		if err := setNoNewPrivs(); err != nil {
			return "", err
		}
	}
	return path, nil
}

// enterCwd makes path, resolved inside this process's root, the working directory. The
// container's files decide where a path leads, and this runs with every capability: so it is
// resolved as openat2(2) RESOLVE_IN_ROOT does (a symlink to /x stays in the container) with
// RESOLVE_NO_MAGICLINKS. A magic link (/proc/PID/cwd, /proc/self/fd/N) jumps to whatever the
// process it names has open: where the container shares the host's pid namespace, another
// process's directory on the host, or an fd the caller of `contain exec` left open; a program
// started there reaches the host's whole tree through "..". runc's CVE-2024-21626 was that.
func enterCwd(path string) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", "/", err}
	}
	defer unix.Close(root)
	fd, err := openDirInRoot(root, path)
	if err != nil {
		return fmt.Errorf("process.cwd: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(fd); err != nil {
		return &pathError{"fchdir", path, err}
	}
	return nil
}

// waitForStart tells the parent the container is ready and blocks until it may exec: for a
// run, until the parent says start; for a create, until `contain start` opens the exec fifo.
func waitForStart(execFifo bool) error {
	if execFifo {
		// create exits as soon as it reads "ready": stop dying with it before saying so. If it
		// died already, the send below fails and init exits anyway.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_SET_PDEATHSIG: %w", err)
		}
	}
	if err := sendMessage(initSyncFD, message{Type: msgReady}); err != nil {
		return err
	}
	if execFifo {
		return waitExecFifo()
	}
	if _, err := receive(msgStart); err != nil {
		return fmt.Errorf("init: wait for start: %w", err)
	}
	return nil
}

// waitExecFifo is the created state: `contain create` exits, and this process waits, as long
// as it takes, for `contain start`. Opening a FIFO for writing blocks until a reader opens it
// (fifo(7)); start is that reader. The fifo was opened O_PATH before pivot_root, so it is
// reopened through /proc/self/fd. From here on the container outlives the runtime that made it.
func waitExecFifo() error {
	path := fdPath(execFifoFD)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", "exec fifo " + path, fmt.Errorf("%w (create needs /proc mounted in the container)", err)}
	}
	// fd stays open, close-on-exec: its closing at execve tells start the program runs.
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("write exec fifo: %w", err)
	}
	startFifo = fd
	return nil
}

// awaitGoAhead waits for the runtime's word that init may set the container up: when init
// has hooks, once the runtime has the container's pid in its state, and once it has moved the
// network devices in (see waitsForState).
func awaitGoAhead() error {
	if _, err := receive(msgState); err != nil {
		return fmt.Errorf("init: wait for the runtime: %w", err)
	}
	return nil
}

// pauseForHooks lets the parent run prestart and createRuntime hooks (the namespaces exist, the
// root has not moved), then runs createContainer in the container's namespaces.
func pauseForHooks(h *specs.Hooks, state specs.State, env []string) error {
	if err := sendMessage(initSyncFD, message{Type: msgHooks}); err != nil {
		return err
	}
	if _, err := receive(msgResume); err != nil {
		return fmt.Errorf("init: wait for the runtime's hooks: %w", err)
	}
	return runHooks("createContainer", withEnv(h.CreateContainer, env), state)
}
