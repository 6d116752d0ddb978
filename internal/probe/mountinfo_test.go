package probe

import (
	"reflect"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	data := "" +
		"22 27 0:21 / /proc rw,relatime - proc proc rw\n" +
		"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"40 22 0:45 / /tmp/with\\040space rw shared:12 master:3 - tmpfs my\\040tmpfs rw,size=1024k\n" +
		"41 22 8:1 /dir\\011tab\\012nl\\134bs /mnt/x ro,nosuid propagate_from:7 unbindable - ext4 /dev/sda1 ro\n" +
		// A mount made with no source: an empty field between two spaces.
		"64 43 0:38 / /tmp rw,relatime - tmpfs  rw,size=1024k\n"
	mounts, err := ParseMountinfo([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{ID: 22, Parent: 27, Major: 0, Minor: 21, Root: "/", MountPoint: "/proc", Options: "rw,relatime",
			Optional: []string{}, FSType: "proc", Source: "proc", SuperOptions: "rw"},
		{ID: 36, Parent: 35, Major: 98, Minor: 0, Root: "/mnt1", MountPoint: "/mnt2", Options: "rw,noatime",
			Optional: []string{"master:1"}, FSType: "ext3", Source: "/dev/root", SuperOptions: "rw,errors=continue"},
		{ID: 40, Parent: 22, Major: 0, Minor: 45, Root: "/", MountPoint: "/tmp/with space", Options: "rw",
			Optional: []string{"shared:12", "master:3"}, FSType: "tmpfs", Source: "my tmpfs", SuperOptions: "rw,size=1024k"},
		{ID: 41, Parent: 22, Major: 8, Minor: 1, Root: "/dir\ttab\nnl\\bs", MountPoint: "/mnt/x", Options: "ro,nosuid",
			Optional: []string{"propagate_from:7", "unbindable"}, FSType: "ext4", Source: "/dev/sda1", SuperOptions: "ro"},
		{ID: 64, Parent: 43, Major: 0, Minor: 38, Root: "/", MountPoint: "/tmp", Options: "rw,relatime",
			Optional: []string{}, FSType: "tmpfs", Source: "", SuperOptions: "rw,size=1024k"},
	}
	if !reflect.DeepEqual(mounts, want) {
		t.Errorf("ParseMountinfo:\n got %+v\nwant %+v", mounts, want)
	}
}

func TestParseMountinfoRejectsBadLines(t *testing.T) {
	for _, line := range []string{
		"22 27 0:21 / /proc rw,relatime proc proc rw", // no separator
		"22 27 0:21 / /proc rw - proc",                // too few fields after it
		"x 27 0:21 / /proc rw - proc proc rw",
		"22 27 021 / /proc rw - proc proc rw",
		"22 27 0:x / /proc rw - proc proc rw",
	} {
		if _, err := parseMountLine(line); err == nil {
			t.Errorf("parseMountLine(%q): no error", line)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:          "/plain",
		`/a\040b`:         "/a b",
		`\011\012\134`:    "\t\n\\",
		`/trailing\04`:    `/trailing\04`, // too short to be an escape
		`/not\08x`:        `/not\08x`,     // 8 is not octal
		`/a\040\040b\040`: "/a  b ",
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
