// Step 08 gives the container a network of its own: a new network namespace.
//
// A network namespace holds network devices, addresses, routes, firewall rules, sockets and
// port numbers. With CLONE_NEWNET the child starts in an empty one: no eth0, only a loopback
// device "lo", and that one down. The child brings lo up (without it even 127.0.0.1 is
// unreachable) and mounts a sysfs of its own: a sysfs lists the network devices of the
// namespace that mounted it, so one mounted from the host's would show the host's devices.
//
// Run it (as root: creating namespaces needs CAP_SYS_ADMIN):
//
//	sudo go run ./steps/08-net-ns /bin/sh -c 'ip link; ls /sys/class/net; ping -c 1 127.0.0.1'
//
// Man pages: network_namespaces(7), netdevice(7), sysfs(5), clone(2), ioctl(2), mount(2).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("08-net-ns", rootfs.Default, parent, child) // step 00
}

// parent runs the child in new namespaces and returns its exit status.
func parent(rootfs string, command []string) (int, error) {
	// SOLUTION BEGIN: ask for a new network namespace too.
	// HINT: clone(2) and network_namespaces(7): the flag is unix.CLONE_NEWNET.
	// EXERCISE: var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET
	// SOLUTION END
	o := isolate.Overlay{Lower: rootfs, Dir: filepath.Join(isolate.WorkshopRunDir, fmt.Sprintf("08-net-ns-%d", os.Getpid()))}
	defer o.Remove()                  // step 06 (deferred first: it also cleans up a failed Mount)
	if err := o.Mount(); err != nil { // step 06
		return 0, err
	}
	return isolate.RunChild(cloneflags, append([]string{o.Merged()}, command...)...) // step 00
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	if err := isolate.SetHostname(hostname); err != nil { // step 01
		return err
	}
	if err := isolate.MakeMountsPrivate(); err != nil { // step 03
		return err
	}
	if err := isolate.MakeDev(rootfs); err != nil { // step 04
		return err
	}
	if err := isolate.BindRootfs(rootfs); err != nil { // step 05
		return err
	}
	if err := isolate.PivotRoot(rootfs); err != nil { // step 05
		return err
	}
	if err := isolate.MountProc(); err != nil { // step 04
		return err
	}
	if err := isolate.MountMqueue(); err != nil { // step 07
		return err
	}
	// SOLUTION BEGIN: bring the loopback device "lo" up: a new network namespace starts with it down.
	// HINT: netdevice(7): on any socket, ioctl SIOCGIFFLAGS reads the flags of the device an
	// HINT: ifreq names and SIOCSIFFLAGS writes them; add unix.IFF_UP. In Go: unix.Socket,
	// HINT: unix.NewIfreq("lo"), unix.IoctlIfreq, and the ifreq's Uint16 and SetUint16.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd) // close-on-exec too: the command never sees it
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
	// SOLUTION END
	// A sysfs lists the network devices of the network namespace of the process that mounts it:
	// mounted here, after the pivot, /sys/class/net lists the container's, and none of the host's.
	// SOLUTION BEGIN: mount a sysfs on /sys, so that /sys/class/net lists our devices.
	// HINT: sysfs(5), mount(2): make the directory (os.MkdirAll), then unix.Mount("sysfs",
	// HINT: "/sys", "sysfs", flags, "") with unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC.
	if err := os.MkdirAll("/sys", 0o555); err != nil {
		return fmt.Errorf("mkdir /sys: %w", err)
	}
	// Read-only: most of sysfs is not namespaced, and a write there would change the host.
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount sysfs /sys: %w", err)
	}
	// SOLUTION END
	return isolate.Exec(command) // step 00
}
