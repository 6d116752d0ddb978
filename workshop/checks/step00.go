package checks

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func init() {
	register(0,
		Check{
			Name: "the command runs as a child of the program",
			Hint: "parent() must start /proc/self/exe as a new process (cmd.Run), and child() must exec the command",
			Run: func(e *Env) error {
				out, err := e.Run("", e.Probe, "report")
				if err != nil {
					return err
				}
				r, err := decodeReport(out)
				if err != nil {
					return err
				}
				if r.PID == out.Pid || r.PPID != out.Pid {
					return fmt.Errorf("the command ran as pid %d with parent %d; the program was pid %d", r.PID, r.PPID, out.Pid)
				}
				return nil
			},
		},
		Check{
			Name: "the exit status is the command's",
			Hint: "parent() must return the child's exit code (exec.ExitError), and child() must exec the command",
			Run: func(e *Env) error {
				for _, code := range []int{0, 3, 42} {
					out, err := e.Run("", e.Probe, "exit", fmt.Sprint(code))
					if err != nil {
						return err
					}
					if out.Code != code {
						return fmt.Errorf("probe exit %d: the program exited %d (stderr: %s)", code, out.Code, firstLine(out.Stderr))
					}
				}
				return nil
			},
		},
		Check{
			Name: "death by signal N exits 128+N",
			Hint: "parent() already has the signal case written (128+N, from syscall.WaitStatus.Signaled): when this fails, the command never ran (start from the first check) or child() did not become it with syscall.Exec",
			Run: func(e *Env) error {
				out, err := e.Run("", "/bin/sh", "-c", "kill -TERM $$")
				if err != nil {
					return err
				}
				if out.Code != 128+15 {
					return fmt.Errorf("a command killed by SIGTERM: the program exited %d, want 143", out.Code)
				}
				return nil
			},
		},
		Check{
			Name: "stdin, stdout and stderr pass through unchanged",
			Hint: "parent() already gives the child our own os.Stdin, os.Stdout and os.Stderr: when this fails, the command never ran (start from the first check) or child() did not become it with syscall.Exec",
			Run: func(e *Env) error {
				data := make([]byte, 256<<10)
				rand.Read(data)
				out, err := e.Run(string(data), "/bin/cat")
				if err != nil {
					return err
				}
				if !bytes.Equal([]byte(out.Stdout), data) {
					return fmt.Errorf("cat: %d bytes in, %d bytes out, or different", len(data), len(out.Stdout))
				}
				out, err = e.Run("", "/bin/sh", "-c", "echo to-out; echo to-err >&2")
				if err != nil {
					return err
				}
				if out.Stdout != "to-out\n" || out.Stderr != "to-err\n" {
					return fmt.Errorf("stdout %q, stderr %q: want to-out and to-err", out.Stdout, out.Stderr)
				}
				return nil
			},
		},
		Check{
			Name: "a command given by name is found in PATH, and gets the program's environment",
			Hint: "child() must look the command up in PATH (exec.LookPath: syscall.Exec takes a path, not a name) and give it os.Environ()",
			Run: func(e *Env) error {
				marker := uniqueName("env-")
				withMarker := func(ctx context.Context, args ...string) *exec.Cmd {
					cmd := e.Command(ctx, args...)
					cmd.Env = append(os.Environ(), "CONTAIN_CHECK_MARKER="+marker)
					return cmd
				}
				out, err := e.RunCmd("", withMarker, "sh", "-c", `echo "$CONTAIN_CHECK_MARKER"`)
				if err != nil {
					return err
				}
				switch {
				case out.Code != 0:
					return fmt.Errorf("the command sh, by name: the program exited %d (stderr: %s)", out.Code, firstLine(out.Stderr))
				case out.Stdout != marker+"\n":
					return fmt.Errorf("the program had CONTAIN_CHECK_MARKER=%s in its environment; the command saw %q", marker, strings.TrimSpace(out.Stdout))
				}
				return nil
			},
		},
	)
}
