package probe

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ParseMountinfo parses /proc/self/mountinfo (or a copy of it); see proc_pid_mountinfo(5). Each line is
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// with zero or more optional fields (shared:N, master:N, propagate_from:N, unbindable)
// before the "-" separator.
func ParseMountinfo(data []byte) ([]Mount, error) {
	mounts := []Mount{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		m, err := parseMountLine(line)
		if err != nil {
			return mounts, err
		}
		mounts = append(mounts, m)
	}
	return mounts, sc.Err()
}

// parseMountLine parses one mountinfo line.
func parseMountLine(line string) (Mount, error) {
	bad := func(why string) (Mount, error) {
		return Mount{}, fmt.Errorf("parse mountinfo line %q: %s", line, why)
	}
	// Single spaces: the kernel escapes a space in a field as \040, and an empty field (a
	// mount made with no source) stays a field between two spaces, which Fields would drop.
	fields := strings.Split(line, " ")
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+3 {
		return bad("want 6 fields, optional fields, '-', 3 fields")
	}
	var m Mount
	var err error
	if m.ID, err = strconv.Atoi(fields[0]); err != nil {
		return bad("mount id is not a number")
	}
	if m.Parent, err = strconv.Atoi(fields[1]); err != nil {
		return bad("parent id is not a number")
	}
	major, minor, ok := strings.Cut(fields[2], ":")
	if !ok {
		return bad("device is not major:minor")
	}
	if m.Major, err = strconv.Atoi(major); err != nil {
		return bad("major is not a number")
	}
	if m.Minor, err = strconv.Atoi(minor); err != nil {
		return bad("minor is not a number")
	}
	m.Root = unescapeOctal(fields[3])
	m.MountPoint = unescapeOctal(fields[4])
	m.Options = unescapeOctal(fields[5])
	m.Optional = append([]string{}, fields[6:sep]...)
	m.FSType = unescapeOctal(fields[sep+1])
	m.Source = unescapeOctal(fields[sep+2])
	if len(fields) > sep+3 {
		m.SuperOptions = unescapeOctal(fields[sep+3])
	}
	return m, nil
}

// unescapeOctal undoes the kernel's escaping of space, tab, newline and backslash in
// mountinfo paths, written as \040 \011 \012 \134.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
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

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
