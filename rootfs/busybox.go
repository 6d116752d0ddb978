package rootfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// busyboxPaths are where Debian's busybox-static installs busybox.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// ErrNoBusybox is in the error of a busybox build on a host without a static busybox: it says
// how to get one that works in any rootfs (errors.Is finds it).
var ErrNoBusybox = errors.New("install Debian's busybox-static (apt-get install busybox-static)")

// findBusybox returns the host's static busybox. A dynamic one is refused: the rootfs has no
// loader or libc for it.
func findBusybox() (string, error) {
	var dynamic string
	for _, p := range busyboxPaths {
		if !isFile(p) {
			continue
		}
		static, err := IsStatic(p)
		if err != nil {
			return "", fmt.Errorf("busybox: %w", err)
		}
		if static {
			return p, nil
		}
		dynamic = p
	}
	if dynamic != "" {
		return "", fmt.Errorf("busybox %s is dynamically linked: %w", dynamic, ErrNoBusybox)
	}
	return "", fmt.Errorf("no busybox in %s: %w", strings.Join(busyboxPaths, " or "), ErrNoBusybox)
}

// isFile reports whether p is (or links to) a regular file.
func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// copyBusybox copies busybox to /bin/busybox and links every applet to it.
func copyBusybox(t *tree, bb string, log logger) error {
	applets, err := listApplets(bb)
	if err != nil {
		return err
	}
	if err := copyHostFile(t, "bin/busybox", bb, 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", bb, err)
	}
	n := 0
	for _, applet := range applets {
		made, err := linkApplet(t, applet)
		if err != nil {
			return fmt.Errorf("link applet /%s: %w", applet, err)
		}
		if made {
			n++
		}
	}
	log.printf("rootfs: copied %s with %d applet links into %s", bb, n, t.dir)
	return nil
}

// listApplets asks busybox where each applet lives ("usr/bin/env", "bin/sh", ...).
func listApplets(bb string) ([]string, error) {
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", bb, err)
	}
	var applets []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		rel, err := cleanName(strings.TrimSpace(sc.Text()))
		if err != nil || rel == "." || rel == "bin/busybox" {
			continue
		}
		applets = append(applets, rel)
	}
	return applets, sc.Err()
}

// linkApplet links rel to /bin/busybox unless something (such as /bin/probe) is there.
func linkApplet(t *tree, rel string) (bool, error) {
	return linkUnlessExists(t, rel, "/bin/busybox")
}

// linkUnlessExists makes rel in the tree a symlink to target, unless something is there, and
// says whether it made it.
func linkUnlessExists(t *tree, rel, target string) (bool, error) {
	dirfd, name, err := t.openParent(rel)
	if err != nil {
		return false, err
	}
	defer unix.Close(dirfd)
	if ok, err := exists(dirfd, name); ok || err != nil {
		return false, err
	}
	if err := unix.Symlinkat(target, dirfd, name); err != nil {
		return false, err
	}
	return true, nil
}

// copyHostFile copies the host file src (symlinks followed) to rel in the tree unless rel
// exists.
func copyHostFile(t *tree, rel, src string, mode uint32) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	dirfd, name, err := t.openParent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	if ok, err := exists(dirfd, name); ok || err != nil {
		return err
	}
	return createFile(dirfd, name, f, mode)
}
