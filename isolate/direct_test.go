package isolate

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// directSpec is a spec a run starts directly, on a kernel that has procfs's pidns option:
// the default one.
func directSpec() *specs.Spec { return DefaultSpec() }

// Each thing a direct start does not cover sends the run through init, with a reason.
func TestDirectStartRefusals(t *testing.T) {
	t.Setenv(NoDirectStartEnv, "")
	if why := hostRefusal(); why != "" {
		t.Skip("every run goes through init on this host: " + why)
	}
	if why := directStartRefusal(RunOptions{Spec: directSpec()}); why != "" {
		t.Fatalf("the default spec: refused for %q", why)
	}
	for want, edit := range map[string]func(o *RunOptions){
		"a terminal":       func(o *RunOptions) { o.Spec.Process.Terminal = true },
		"a console socket": func(o *RunOptions) { o.ConsoleSocket = "/run/x.sock" },
		"hooks":            func(o *RunOptions) { o.Spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}} },
		"network devices":  func(o *RunOptions) { o.Spec.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}} },
		"a user other":     func(o *RunOptions) { o.Spec.Process.User.UID = 1000 },
		"a memory limit under": func(o *RunOptions) {
			limit := int64(4 << 20)
			o.Spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
		},
		"propagation or bind options on /sys/fs/cgroup": func(o *RunOptions) {
			for i, m := range o.Spec.Mounts {
				if m.Type == "cgroup" {
					o.Spec.Mounts[i].Options = append(slices.Clone(m.Options), "rslave")
				}
			}
		},
		"RLIMIT_STACK": func(o *RunOptions) {
			o.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_STACK", Hard: 1 << 20, Soft: 1 << 20}}
		},
		"a namespace to join": func(o *RunOptions) { o.Spec.Linux.Namespaces[1].Path = "/proc/1/ns/net" },
		"a user namespace": func(o *RunOptions) {
			o.Spec.Linux.Namespaces = append(o.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		},
		"no new pid": func(o *RunOptions) {
			o.Spec.Linux.Namespaces = slices.DeleteFunc(o.Spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.PIDNamespace })
		},
		"a mount in /proc": func(o *RunOptions) {
			o.Spec.Mounts = append(o.Spec.Mounts, specs.Mount{Destination: "/proc/cpuinfo", Type: "bind", Source: "/tmp/cpuinfo", Options: []string{"bind"}})
		},
		"not one proc": func(o *RunOptions) {
			o.Spec.Mounts = slices.DeleteFunc(o.Spec.Mounts, func(m specs.Mount) bool { return m.Type == "proc" })
		},
		NoDirectStartEnv: func(*RunOptions) { t.Setenv(NoDirectStartEnv, "1") },
	} {
		o := RunOptions{Spec: directSpec()}
		edit(&o)
		if why := directStartRefusal(o); !strings.Contains(why, want) {
			t.Errorf("%s: refused for %q", want, why)
		}
		t.Setenv(NoDirectStartEnv, "")
	}
}

// goLockedOffMain never runs its function on the main thread, where a goroutine started from
// a goroutine that then waits usually runs. The test plays the main thread with its own.
func TestGoLockedOffMain(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the new goroutine queues on this P
	mine := unix.Gettid()
	defer func(was func(int) bool) { isMainThread = was }(isMainThread)
	isMainThread = func(tid int) bool { return tid == mine }
	for range 20 {
		ran := make(chan int)
		goLockedOffMain(func() { ran <- unix.Gettid() })
		if tid := <-ran; tid == mine {
			t.Fatalf("ran on the thread it must leave alone (%d)", tid)
		}
	}
}
