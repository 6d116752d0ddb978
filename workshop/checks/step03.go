package checks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/containkit/contain/internal/probe"
)

func init() {
	register(3,
		Check{
			Name: "the container has a tmpfs of its own on /mnt",
			Hint: "in child(), mount a tmpfs on /mnt with unix.Mount (fstype \"tmpfs\"); see mount(2)",
			Run: func(e *Env) error {
				r, sb, err := reportInSharedSandbox(e)
				if err != nil {
					return err
				}
				// Count rather than look: a host may already have a tmpfs on /mnt.
				inside := 0
				for _, m := range r.Mounts {
					if m.MountPoint == "/mnt" && m.FSType == "tmpfs" {
						inside++
					}
				}
				if inside <= sb.before.count("/mnt", "tmpfs") {
					return fmt.Errorf("inside, no tmpfs is mounted on /mnt (mounts there: %s)", mountsOn(r.Mounts, "/mnt"))
				}
				return nil
			},
		},
		Check{
			Name: "nothing mounted inside reaches the host, even where / is shared",
			Hint: "before mounting anything, make every mount private: unix.Mount(\"\", \"/\", \"\", unix.MS_REC|unix.MS_PRIVATE, \"\"), " +
				"in a new mount namespace (unix.CLONE_NEWNS); see mount_namespaces(7)",
			Run: func(e *Env) error {
				r, sb, err := reportInSharedSandbox(e)
				if err != nil {
					return err
				}
				if leaked := sb.after.minus(sb.before); len(leaked) > 0 {
					return fmt.Errorf("after the step exited, the host (a sandbox whose / is shared, as on systemd hosts) has new mounts: %s",
						strings.Join(leaked, "; "))
				}
				// A mount still shared inside is still wired to the host's peer group: the
				// next mount under it would appear there too.
				var shared []string
				for _, m := range r.Mounts {
					for _, tag := range m.Optional {
						if strings.HasPrefix(tag, "shared:") {
							shared = append(shared, m.MountPoint+" ("+tag+")")
						}
					}
				}
				switch {
				case slices.ContainsFunc(shared, func(m string) bool { return strings.HasPrefix(m, "/ (") }):
					return fmt.Errorf("inside, %d mount(s) are still shared with the host, / itself among them: nothing was made private", len(shared))
				case len(shared) > 0:
					return fmt.Errorf("inside, %d mount(s) are still shared with the host, %s first: "+
						"MS_PRIVATE makes only / private, MS_REC|MS_PRIVATE every mount below it too", len(shared), shared[0])
				}
				return nil
			},
		},
		Check{
			Name: "the mount, pid and uts namespaces are new, and only those",
			Hint: "the clone flags are unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS, and no other CLONE_NEW* yet",
			Run: func(e *Env) error {
				host, err := Host()
				if err != nil {
					return err
				}
				r, sb, err := reportInSharedSandbox(e)
				if err != nil {
					return err
				}
				host.Namespaces["mnt"] = sb.mntns // the step ran in the sandbox's mount namespace
				return namespaces(host, r, "uts", "pid", "mnt")
			},
		},
	)
}

// sharedSandbox runs its arguments in a throwaway mount namespace whose mounts are all shared,
// the way "/" is on systemd hosts (this machine's may be private), and records that
// namespace's mount table before and after, into the file named by its first argument.
// "--propagation private" first cuts every tie to the real host's peer groups, so the step's
// mounts can reach the sandbox and never the host; the sandbox dies with sh.
const sharedSandbox = `out=$1; shift
mount --make-rshared / || exit 125
{ echo "mntns $(stat -L -c %i /proc/self/ns/mnt)"; echo "@@ before"; cat /proc/self/mountinfo; } >"$out" || exit 125
"$@"
status=$?
{ echo "@@ after"; cat /proc/self/mountinfo; } >>"$out" || exit 125
exit $status`

// sandbox is what the shared sandbox recorded.
type sandbox struct {
	mntns         uint64
	before, after mountTable
}

// reportInSharedSandbox runs `probe report` through the step inside the shared sandbox. Every
// run of step 03 goes there: a step without CLONE_NEWNS would otherwise mount on the real host.
func reportInSharedSandbox(e *Env) (*probe.Report, *sandbox, error) {
	var sb *sandbox
	r, err := e.reportInSandbox(3, []string{"--mount", "--propagation", "private"}, sharedSandbox,
		"shared sandbox (unshare --mount, mount --make-rshared /)", func(data []byte) (err error) {
			sb, err = parseSandbox(data)
			return err
		})
	return r, sb, err
}

// reportInSandbox runs `probe report` through the step of that number under unshare(1) with
// unshareArgs and script (see inSandbox), and hands what the script recorded to parse. what
// names the sandbox when it could not be set up (the script exits 125 then).
func (e *Env) reportInSandbox(step int, unshareArgs []string, script, what string, parse func([]byte) error) (*probe.Report, error) {
	if _, err := exec.LookPath("unshare"); err != nil {
		return nil, fmt.Errorf("this check needs unshare(1) (and mount(8), for step 03) from util-linux: %w", err)
	}
	f, err := os.CreateTemp(e.Dir, "sandbox-")
	if err != nil {
		return nil, err
	}
	record := f.Name()
	f.Close()
	defer os.Remove(record)
	out, err := e.RunCmd("", e.inSandbox(unshareArgs, script, record), e.ProbeIn(step), "report")
	if err != nil {
		return nil, err
	}
	if out.Code == 125 {
		return nil, fmt.Errorf("could not set up the %s: %s", what, firstLine(out.Stderr))
	}
	data, err := os.ReadFile(record)
	if err != nil {
		return nil, err
	}
	if err := parse(data); err != nil {
		return nil, err
	}
	if out.Code != 0 {
		return nil, &ProgramFailed{"probe report", out.Code, out.Stderr}
	}
	return decodeReport(out)
}

// inSandbox makes the step's command run under unshare(1) with unshareArgs, by /bin/sh -c
// script with the record file as its first argument and the step's command line after it:
// the way the checks of steps that could change the host run it in a throwaway namespace.
func (e *Env) inSandbox(unshareArgs []string, script, record string) func(context.Context, ...string) *exec.Cmd {
	return func(ctx context.Context, args ...string) *exec.Cmd {
		step := e.Command(ctx, args...)
		argv := append(append(append([]string{"unshare"}, unshareArgs...), "--", "/bin/sh", "-c", script, "sh", record, step.Path), step.Args[1:]...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		// Its own process group, so that a timeout kills the step under sh too.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = step.WaitDelay
		return cmd
	}
}

// parseSandbox reads the shared sandbox's record.
func parseSandbox(data []byte) (*sandbox, error) {
	first, rest, _ := strings.Cut(string(data), "\n")
	before, after, ok := strings.Cut(rest, "@@ after\n")
	before, found := strings.CutPrefix(before, "@@ before\n")
	if !ok || !found || !strings.HasPrefix(first, "mntns ") {
		return nil, errors.New("the sandbox's record is incomplete: did the step kill its shell?")
	}
	ino, err := strconv.ParseUint(strings.TrimPrefix(first, "mntns "), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("the sandbox's mount namespace: %q", first)
	}
	return &sandbox{mntns: ino, before: parseMountTable(before), after: parseMountTable(after)}, nil
}

// mountTable is a mount namespace's mounts as "mountpoint fstype source", one per mount.
type mountTable []string

// parseMountTable reads /proc/PID/mountinfo: field 5 is the mount point, and after the "-"
// separator come the filesystem type and the source; see proc_pid_mountinfo(5).
func parseMountTable(text string) mountTable {
	var t mountTable
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(fields) {
			continue
		}
		t = append(t, fields[4]+" "+fields[sep+1]+" "+fields[sep+2])
	}
	return t
}

func (t mountTable) count(mountPoint, fstype string) int {
	n := 0
	for _, m := range t {
		f := strings.Fields(m)
		if f[0] == mountPoint && f[1] == fstype {
			n++
		}
	}
	return n
}

// minus lists the mounts of t that old does not have (as many times as t has more of them).
func (t mountTable) minus(old mountTable) []string {
	seen := map[string]int{}
	for _, m := range old {
		seen[m]++
	}
	var extra []string
	for _, m := range t {
		if seen[m] > 0 {
			seen[m]--
			continue
		}
		extra = append(extra, fmt.Sprintf("%s on %s (source %s)", strings.Fields(m)[1], strings.Fields(m)[0], strings.Fields(m)[2]))
	}
	return extra
}

// mountsOn describes what r's mount table has on a mount point.
func mountsOn(mounts []probe.Mount, mountPoint string) string {
	var on []string
	for _, m := range mounts {
		if m.MountPoint == mountPoint {
			on = append(on, m.FSType)
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ", ")
}
