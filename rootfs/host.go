package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// hostPrograms are copied to /bin when the host has them; sh is required.
var hostPrograms = []string{
	"sh", "ls", "cat", "echo", "ps", "mount", "umount", "ip", "mkdir", "rmdir", "rm", "sleep",
	"env", "id", "hostname", "true", "false", "grep", "uname", "readlink", "stat", "head",
	"tail", "wc", "touch", "chmod", "ln", "cp", "mv", "kill", "dd", "tr", "sed", "pwd", "date",
	"sort", "cut", "test", "printf", "find", "xargs",
}

// programDirs are searched, in order, for host programs.
var programDirs = []string{"/bin", "/usr/bin", "/sbin", "/usr/sbin"}

// multiarch is Debian's multiarch tuple for each GOARCH: the first library directories.
var multiarch = map[string]string{
	"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "386": "i386-linux-gnu",
	"arm": "arm-linux-gnueabihf", "riscv64": "riscv64-linux-gnu", "ppc64le": "powerpc64le-linux-gnu",
	"s390x": "s390x-linux-gnu", "loong64": "loongarch64-linux-gnu", "mips64le": "mips64el-linux-gnuabi64",
}

// libraryDirs are the loader's default directories (ld.so(8)), multiarch first as on Debian.
func libraryDirs() []string {
	var dirs []string
	if ma := multiarch[runtime.GOARCH]; ma != "" {
		dirs = append(dirs, "/lib/"+ma, "/usr/lib/"+ma)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// hostCopier copies programs with the loader and libraries they need, each library under the
// path the loader will look for it at, each once.
type hostCopier struct {
	t      *tree
	copied map[string]bool
}

// copyHost copies the host programs that exist, with their libraries.
func copyHost(t *tree, log logger) error {
	for _, d := range []string{"bin", "sbin", "usr/bin"} {
		fd, err := t.makeDirs(d)
		if err != nil {
			return fmt.Errorf("mkdir /%s: %w", d, err)
		}
		unix.Close(fd)
	}
	if lookProgram("sh") == "" {
		return errors.New("copy host programs: the host has no sh in " + strings.Join(programDirs, ", "))
	}
	c := &hostCopier{t: t, copied: map[string]bool{}}
	var missing []string
	for _, name := range hostPrograms {
		src := lookProgram(name)
		if src == "" {
			missing = append(missing, name)
			continue
		}
		if err := c.program(name, src); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	line := fmt.Sprintf("rootfs: copied %d host programs and %d libraries into %s",
		len(hostPrograms)-len(missing), len(c.copied), t.dir)
	if len(missing) > 0 {
		line += " (not on this host: " + strings.Join(missing, " ") + ")"
	}
	log.printf("%s", line)
	return nil
}

// lookProgram finds name in programDirs, or returns "".
func lookProgram(name string) string {
	for _, d := range programDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// program copies src (/bin/sh -> dash is copied as /bin/sh) and its libraries. Set-id bits
// are dropped: a rootfs needs no setuid mount.
//
// A program whose library path says $ORIGIN is copied to its host path instead, and /bin/NAME
// links to it: the loader expands a program's $ORIGIN to the directory /proc/self/exe names,
// links resolved, so at /bin/NAME it would look for its libraries beside /bin.
func (c *hostCopier) program(name, src string) error {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	if !usesOrigin(real) {
		if err := copyHostFile(c.t, "bin/"+name, real, 0o755); err != nil {
			return err
		}
		return c.needs(real, filepath.Dir(real))
	}
	if err := copyHostFile(c.t, strings.TrimPrefix(real, "/"), real, 0o755); err != nil {
		return err
	}
	if _, err := linkUnlessExists(c.t, "bin/"+name, real); err != nil {
		return fmt.Errorf("symlink /bin/%s: %w", name, err)
	}
	return c.needs(real, filepath.Dir(real))
}

// usesOrigin reports whether the ELF file's library path (DT_RPATH, DT_RUNPATH) says $ORIGIN.
func usesOrigin(file string) bool {
	f, err := readELF(file)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(append(slices.Clone(f.rpath), f.runpath...), func(p string) bool {
		return strings.Contains(p, "$ORIGIN") || strings.Contains(p, "${ORIGIN}")
	})
}

// interpreter copies the program a script's first line names (#!PATH [ARG]) to that path, with
// what it needs in turn; for `#!/usr/bin/env NAME`, NAME too, to /bin, where env finds it.
func (c *hostCopier) interpreter(script string) error {
	line, err := firstLine(script)
	if err != nil || !strings.HasPrefix(line, "#!") {
		return err
	}
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 || !filepath.IsAbs(fields[0]) {
		return nil
	}
	interp := filepath.Clean(fields[0])
	if c.copied[interp] {
		return nil
	}
	c.copied[interp] = true
	real, err := filepath.EvalSymlinks(interp)
	if err != nil {
		return fmt.Errorf("%s: its interpreter %s: %w", script, interp, err)
	}
	if err := copyHostFile(c.t, strings.TrimPrefix(interp, "/"), real, 0o755); err != nil {
		return err
	}
	if err := c.needs(real, filepath.Dir(real)); err != nil {
		return err
	}
	if filepath.Base(interp) == "env" {
		for _, arg := range fields[1:] {
			if strings.HasPrefix(arg, "-") {
				continue
			}
			if src := lookProgram(arg); src != "" && !strings.Contains(arg, "/") {
				return c.program(arg, src)
			}
			break
		}
	}
	return nil
}

// firstLine reads the first line of file, up to the 256 bytes the kernel reads of a #! line
// (BINPRM_BUF_SIZE).
func firstLine(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", err
	}
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	return line, nil
}

// library copies the library at p (the path the loader asks for) and what it needs.
func (c *hostCopier) library(p string) error {
	if c.copied[p] {
		return nil
	}
	c.copied[p] = true
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	if err := copyHostFile(c.t, strings.TrimPrefix(filepath.Clean(p), "/"), real, uint32(fi.Mode().Perm())); err != nil {
		return fmt.Errorf("copy %s: %w", p, err)
	}
	return c.needs(real, filepath.Dir(p))
}

// needs copies the loader (PT_INTERP) and the libraries (DT_NEEDED) the ELF file asks for;
// origin is what $ORIGIN means for it. A script needs its interpreter.
func (c *hostCopier) needs(file, origin string) error {
	f, err := readELF(file)
	if errors.Is(err, errNotELF) {
		return c.interpreter(file)
	}
	if err != nil {
		return err
	}
	if f.interp != "" {
		if err := c.library(f.interp); err != nil {
			return err
		}
	}
	dirs := searchDirs(f, origin)
	for _, lib := range f.needed {
		p := findLibrary(lib, dirs, f)
		if p == "" {
			return fmt.Errorf("%s needs %s: not found in %s", file, lib, strings.Join(dirs, ":"))
		}
		if err := c.library(p); err != nil {
			return err
		}
	}
	return nil
}

// searchDirs is where the loader looks for f's libraries (ld.so(8)): DT_RPATH unless
// DT_RUNPATH is set, then DT_RUNPATH, then the default directories.
func searchDirs(f *elfFile, origin string) []string {
	var dirs []string
	if len(f.runpath) == 0 {
		dirs = append(dirs, splitPath(f.rpath, origin)...)
	}
	dirs = append(dirs, splitPath(f.runpath, origin)...)
	return append(dirs, libraryDirs()...)
}

// splitPath splits colon-separated search paths and expands $ORIGIN.
func splitPath(paths []string, origin string) []string {
	var dirs []string
	for _, p := range paths {
		for _, d := range strings.Split(p, ":") {
			d = strings.NewReplacer("${ORIGIN}", origin, "$ORIGIN", origin).Replace(d)
			if filepath.IsAbs(d) {
				dirs = append(dirs, filepath.Clean(d))
			}
		}
	}
	return dirs
}

// findLibrary finds lib in dirs, skipping files of another ELF class or machine (a 32-bit
// library in /lib on a 64-bit host), or returns "".
func findLibrary(lib string, dirs []string, want *elfFile) string {
	if strings.Contains(lib, "/") {
		if filepath.IsAbs(lib) && matches(lib, want) {
			return lib
		}
		return ""
	}
	for _, d := range dirs {
		if p := filepath.Join(d, lib); matches(p, want) {
			return p
		}
	}
	return ""
}

// matches reports whether p is an ELF file of want's class and machine.
func matches(p string, want *elfFile) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	h, err := readELFHeader(f)
	return err == nil && h.class == want.class && h.machine == want.machine
}
