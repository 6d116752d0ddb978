package testenv

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h (ioctl_iflags(2)), which x/sys/unix lacks.
const fsImmutableFL = 0x00000010

// SetImmutable sets or clears the immutable attribute (chattr +i) of a file or directory the
// test made: even root cannot change, rename or remove it then, which is how tests make a
// clean-up fail. A test that sets it clears it again before its temporary files go.
func SetImmutable(t testing.TB, path string, on bool) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		Skip(t, "the filesystem of "+path+" has no file attributes (chattr +i): "+err.Error())
	}
	if err != nil {
		t.Fatalf("FS_IOC_GETFLAGS %s: %v", path, err)
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	if err := unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags)); err != nil {
		t.Fatalf("FS_IOC_SETFLAGS %s: %v", path, err)
	}
}
