package isolate

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// LoopbackUp brings up "lo" in the current network namespace. A new network namespace has a
// loopback device that is down: without this, even 127.0.0.1 is unreachable.
// It uses the SIOCSIFFLAGS ioctl of netdevice(7), the call `ip link set lo up` boils down to.
// Taught in steps/08-net-ns.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket AF_INET: %w", err)
	}
	defer unix.Close(fd)
	req, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("ifreq lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, req); err != nil {
		return fmt.Errorf("ioctl SIOCGIFFLAGS lo: %w", err)
	}
	req.SetUint16(req.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, req); err != nil {
		return fmt.Errorf("ioctl SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}
