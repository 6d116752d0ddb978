package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Hooks are programs the spec asks the runtime to run at points of the lifecycle, each with
// the container's state as JSON on its stdin (runtime-spec config.md, "POSIX-platform Hooks";
// runtime.md, "Lifecycle"):
//
//	prestart, createRuntime  the runtime's namespace, after the container's namespaces exist,
//	                         before pivot_root (the parent runs them while init waits)
//	createContainer          the container's namespaces, before pivot_root (init)
//	startContainer           the container, after start, before the process execs (init)
//	poststart                the runtime's namespace, after start (a failure stops the container)
//	poststop                 the runtime's namespace, once the container is gone (warnings only)

// runHooks runs hooks in order; the first that fails, or outlives its timeout, stops them.
func runHooks(kind string, hooks []specs.Hook, state specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	stdin, err := encodeJSON(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, stdin); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// runPostHooks runs every poststart or poststop hook, even after one fails: the spec wants a
// warning for each failure and the rest of the lifecycle to go on.
func runPostHooks(kind string, hooks []specs.Hook, state specs.State) error {
	var errs []error
	for i := range hooks {
		errs = append(errs, runHooks(kind, hooks[i:i+1], state))
	}
	return errors.Join(errs...)
}

// noEnv stands for a hook's "env": [] on its way to init, in JSON that leaves an empty list
// out (omitempty): no environment entry can hold a NUL, which ends each in execve(2).
const noEnv = "\x00"

// forInit is the hooks init runs, with an empty environment marked (noEnv), so that init
// tells it from none given, which withEnv fills in.
func forInit(h *specs.Hooks) *specs.Hooks {
	if h == nil {
		return nil
	}
	mark := func(hooks []specs.Hook) []specs.Hook {
		out := slices.Clone(hooks)
		for i := range out {
			if out[i].Env != nil && len(out[i].Env) == 0 {
				out[i].Env = []string{noEnv}
			}
		}
		return out
	}
	c := *h
	c.CreateContainer, c.StartContainer = mark(h.CreateContainer), mark(h.StartContainer)
	return &c
}

// withEnv gives the hooks that name no environment env, the container process's: hooks run
// by init would otherwise get init's own (GOGC=off, GOMAXPROCS=1, GODEBUG, contain's notes),
// where runc gives them the process's.
func withEnv(hooks []specs.Hook, env []string) []specs.Hook {
	out := slices.Clone(hooks)
	for i := range out {
		if out[i].Env == nil {
			out[i].Env = env
		}
	}
	return out
}

func runHook(h specs.Hook, stdin []byte) error {
	ctx := context.Background()
	if h.Timeout != nil { // above zero: Validate refused the spec otherwise (validateHooks)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if h.Env != nil && len(h.Env) == 0 || slices.Equal(h.Env, []string{noEnv}) {
		cmd.Env = []string{} // "env": [] is no environment; nil would be ours
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The hook in a process group of its own, which a timeout ends whole; and a hook that
	// leaves a child holding its output open is waited for hookOutputWait at most after it
	// exits: `timeout` bounds the runtime, not only the hook's own process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	cmd.WaitDelay = hookOutputWait
	err := asCaller(cmd.Start)
	if err == nil {
		awaitHook(cmd.Process.Pid)
		err = cmd.Wait()
	}
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, tail(msg, maxHookOutput))
		}
		return err
	}
	return nil
}

// hookOutputWait is how long a hook's output is waited for after the hook exited (a child it
// left may hold it open); maxHookOutput is the most of it an error quotes: its end.
const (
	hookOutputWait = time.Second
	maxHookOutput  = 4 << 10
)

// tail is the last n bytes of s, marked as such when s is longer.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("(the last %d bytes of %d) %s", n, len(s), s[len(s)-n:])
}

// awaitHook waits in Go's poller until the hook has exited, before cmd.Wait reaps it. os/exec
// feeds the hook its stdin, and collects its output, from goroutines of this process, and
// cmd.Wait itself waits in waitid(2), which holds the one P the runtime and init run with:
// the hook would read its stdin only once sysmon took that P (a run with three hooks took 56
// ms, now 19; 9 without hooks). A hook is our child, not yet reaped, so its pid names it
// until cmd.Wait.
func awaitHook(pid int) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // cmd.Wait waits all the same
	}
	awaitExit(pidfd)
	unix.Close(pidfd)
}

// pausesForHooks says whether init must stop before pivot_root for the hooks that run there.
func pausesForHooks(h *specs.Hooks) bool {
	return h != nil && len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer) > 0 //nolint:staticcheck // prestart is deprecated, still run
}

// initHooks says whether init runs hooks itself, and so needs the container's state.
func initHooks(h *specs.Hooks) bool {
	return pausesForHooks(h) || h != nil && len(h.StartContainer) > 0
}
