package checks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/probe"
	"github.com/containkit/contain/isolate"
)

func init() {
	register(6,
		Check{
			Name: "the container's / is an overlay",
			Hint: "parent() must mount an overlay (unix.Mount with type \"overlay\") and give the child its merged directory as the rootfs",
			Run: func(e *Env) error {
				r, err := e.Report(6)
				if err != nil {
					return err
				}
				return rootIsOverlay(r)
			},
		},
		Check{
			Name: "the container's writes land in its own upper directory",
			Hint: "upperdir= must be <dir>/upper, with dir = isolate.WorkshopRunDir/06-overlay-<the parent's pid>",
			Run: func(e *Env) error {
				name := uniqueName("written-here-")
				c, err := holdContainer(e, "echo x > /"+name)
				if err != nil {
					return err
				}
				defer c.release()
				upper := filepath.Join(overlayDir(c.pid()), "upper", name)
				if _, err := os.Stat(upper); err != nil {
					if _, err := os.Stat(filepath.Join(e.Rootfs, name)); err == nil {
						return fmt.Errorf("the container wrote /%s into the image itself, not into %s", name, upper)
					}
					return fmt.Errorf("the container wrote /%s, but the host has no %s: %w", name, upper, err)
				}
				return nil
			},
		},
		Check{
			Name: "the image stays as it was: new files stay out of it, deleted ones stay in it",
			Hint: "the image must be the overlay's lowerdir, never its upperdir, and the child must get the merged directory",
			Run: func(e *Env) error {
				created, deleted := uniqueName("new-"), uniqueName("deleted-")
				if err := os.WriteFile(filepath.Join(e.Rootfs, deleted), []byte("image\n"), 0o644); err != nil {
					return err
				}
				defer os.Remove(filepath.Join(e.Rootfs, deleted))
				defer os.Remove(filepath.Join(e.Rootfs, created))
				script := fmt.Sprintf("echo x > /%s && rm /%s && test ! -e /%s", created, deleted, deleted)
				out, err := e.Run("", "/bin/sh", "-c", script)
				if err != nil {
					return err
				}
				if out.Code != 0 {
					return fmt.Errorf("%q inside exited %d: %s", script, out.Code, firstLine(out.Stderr))
				}
				if _, err := os.Stat(filepath.Join(e.Rootfs, created)); err == nil {
					return fmt.Errorf("the container made /%s and it is now in the image %s", created, e.Rootfs)
				}
				if _, err := os.Stat(filepath.Join(e.Rootfs, deleted)); err != nil {
					return fmt.Errorf("the container deleted /%s and it is gone from the image %s too", deleted, e.Rootfs)
				}
				return nil
			},
		},
		Check{
			Name: "a second container does not see the first one's files",
			Hint: "each run needs an upper directory of its own (named after the parent's pid), on top of the untouched image",
			Run: func(e *Env) error {
				name := uniqueName("first-")
				defer os.Remove(filepath.Join(e.Rootfs, name))
				first, err := holdContainer(e, "echo x > /"+name)
				if err != nil {
					return err
				}
				defer first.release()
				out, err := e.Run("", "/bin/sh", "-c", "test -e /"+name)
				if err != nil {
					return err
				}
				switch out.Code {
				case 0:
					return fmt.Errorf("while the first container runs, a second one sees the /%s it wrote", name)
				case 1:
					return nil
				default:
					return fmt.Errorf("the second container exited %d: %s", out.Code, firstLine(out.Stderr))
				}
			},
		},
		Check{
			Name: "the overlay is unmounted and its directory removed afterwards, also when the command fails",
			Hint: "unmount merged and remove the directory in a defer, after the child exits: then every return path cleans up " +
				"(the check removed what its own runs left; sudo workshop reset removes what runs of yours left)",
			Run: func(e *Env) error {
				// The first run shows there was an overlay to clean up: without one, nothing
				// left behind would prove nothing.
				for _, command := range [][]string{{"/bin/probe", "report"}, {"/bin/sh", "-c", "exit 3"}, {"/no/such/command"}} {
					out, err := e.Run("", command...)
					if err != nil {
						return err
					}
					if command[0] == "/bin/probe" {
						r, err := decodeReport(out)
						if err != nil {
							return err
						}
						if err := rootIsOverlay(r); err != nil {
							return fmt.Errorf("%w: there was no overlay to clean up", err)
						}
					}
					dir := overlayDir(out.Pid)
					// What is left, the check takes away after it (removingLeftovers).
					if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
						return fmt.Errorf("after %q (exit %d), %s is still there", strings.Join(command, " "), out.Code, dir)
					}
					mounted, err := mountedBelow(dir)
					if err != nil {
						return err
					}
					if mounted {
						return fmt.Errorf("after %q, the host still has a mount under %s", strings.Join(command, " "), dir)
					}
				}
				return nil
			},
		},
	)
	for i, c := range suites[6] {
		suites[6][i].Run = removingLeftovers(c.Run)
	}
}

// rootIsOverlay says whether the container of the report has an overlay on /.
func rootIsOverlay(r *probe.Report) error {
	for _, m := range r.Mounts {
		if m.MountPoint == "/" {
			if m.FSType != "overlay" {
				return fmt.Errorf("/ inside is a %s filesystem (%s), want overlay", m.FSType, m.Source)
			}
			return nil
		}
	}
	return errors.New("the container's mountinfo has no / at all")
}

// overlayDir is where step 06's parent with this pid keeps its overlay.
func overlayDir(pid int) string {
	return filepath.Join(isolate.WorkshopRunDir, fmt.Sprintf("06-overlay-%d", pid))
}

// removingLeftovers runs a check, then takes away what the runs of the program it made left
// behind: a learner's program that does not clean up would otherwise leave the host a mounted
// overlay for every run of every check. Only a run directory that appeared during the check,
// named after a pid that has exited, is touched: its merged directory unmounted (MNT_DETACH),
// then, once nothing is mounted there, the directory removed.
func removingLeftovers(run func(*Env) error) func(*Env) error {
	return func(e *Env) error {
		before := overlayDirs()
		err := run(e)
		for name := range overlayDirs() {
			if before[name] {
				continue
			}
			var pid int
			if _, err := fmt.Sscanf(name, "06-overlay-%d", &pid); err != nil || isolate.Alive(pid) {
				continue
			}
			dir := filepath.Join(isolate.WorkshopRunDir, name)
			merged := filepath.Join(dir, "merged")
			if at, err := mountedAt(merged); err == nil && at {
				// Never through a symlink: merged could be one, to anywhere on the host.
				unix.Unmount(merged, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
			}
			if mounted, err := mountedBelow(dir); err == nil && !mounted {
				os.RemoveAll(dir)
			}
		}
		return err
	}
}

// overlayDirs lists step 06's run directories that exist now.
func overlayDirs() map[string]bool {
	entries, _ := os.ReadDir(isolate.WorkshopRunDir)
	dirs := map[string]bool{}
	for _, entry := range entries {
		if strings.HasPrefix(entry.Name(), "06-overlay-") {
			dirs[entry.Name()] = true
		}
	}
	return dirs
}

// mountedBelow says whether the host has a mount on dir or beneath it.
func mountedBelow(dir string) (bool, error) {
	return anyMountPoint(func(point string) bool { return point == dir || strings.HasPrefix(point, dir+"/") })
}

// mountedAt says whether the host has a mount on path itself.
func mountedAt(path string) (bool, error) {
	return anyMountPoint(func(point string) bool { return point == path })
}

// anyMountPoint says whether a mount point of the host's matches.
func anyMountPoint(match func(point string) bool) (bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	mounts, err := probe.ParseMountinfo(data)
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if match(m.MountPoint) {
			return true, nil
		}
	}
	return false, nil
}

// uniqueName is prefix and 12 random hex digits: a name for a check's files and IPC objects
// that no other run uses.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// heldContainer is a run of the program kept going until release: its shell did its setup,
// printed "ready", and now waits for stdin to close.
type heldContainer struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  *os.File // our end of its stdin
	stderr bytes.Buffer
}

// holdContainer runs `sh -c SETUP` in the program and returns once SETUP succeeded inside.
func holdContainer(e *Env, setup string) (*heldContainer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	c := &heldContainer{cancel: cancel}
	c.cmd = e.Command(ctx, "/bin/sh", "-c", setup+" && echo ready && read line")
	inR, inW, err := os.Pipe()
	if err != nil {
		cancel()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		cancel()
		return nil, err
	}
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr, c.stdin = inR, outW, &c.stderr, inW
	err = c.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		cancel()
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Scan()
		lines <- sc.Text() // "" when the program exited without a line
	}()
	select {
	case line := <-lines:
		if line == "ready" {
			return c, nil
		}
		code := c.release()
		return nil, fmt.Errorf("%q inside did not get ready (exit %d): %s", setup, code, firstLine(line+"\n"+c.stderr.String()))
	case <-ctx.Done():
		c.release()
		return nil, fmt.Errorf("%q inside: not ready after %v, killed", setup, e.Timeout)
	}
}

func (c *heldContainer) pid() int { return c.cmd.Process.Pid }

// release lets the container finish (or kills it when time ran out) and returns its status.
func (c *heldContainer) release() int {
	c.stdin.Close()
	c.cmd.Wait()
	c.cancel()
	if c.cmd.ProcessState == nil {
		return -1
	}
	ws := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
