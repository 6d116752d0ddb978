package checks

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/containkit/contain/internal/probe"
)

func init() {
	register(8,
		Check{
			Name: "the container sees one network device, lo, and it is up",
			Hint: "pass unix.CLONE_NEWNET to the child; then, in the child, set unix.IFF_UP on \"lo\" with ioctl SIOCGIFFLAGS and SIOCSIFFLAGS (netdevice(7))",
			Run: func(e *Env) error {
				r, err := e.Report(8) // probe reads links over netlink, never from /sys/class/net
				if err != nil {
					return err
				}
				if len(r.Links) != 1 || r.Links[0].Name != "lo" {
					return fmt.Errorf("the container sees the devices %s: want lo alone (is the network namespace new?)", linkNames(r.Links))
				}
				if !r.Links[0].Up {
					return fmt.Errorf("lo is down inside: a new network namespace starts with it down, bring it up")
				}
				return nil
			},
		},
		Check{
			Name: "a port the host holds is free inside",
			Hint: "ports belong to a network namespace: with unix.CLONE_NEWNET the container gets its own",
			Run: func(e *Env) error {
				// Listen on the host's loopback only: nothing outside this machine can connect.
				ln, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					return fmt.Errorf("listen on the host: %w", err)
				}
				defer ln.Close()
				port := ln.Addr().(*net.TCPAddr).Port
				var res probe.BindResult
				if err := e.Action(8, &res, "bind", strconv.Itoa(port)); err != nil {
					return err
				}
				if !res.OK {
					return fmt.Errorf("the host listens on 127.0.0.1:%d, and inside %s: the container shares the host's ports", port, res.Error)
				}
				return nil
			},
		},
		Check{
			Name: "the sysfs inside lists lo alone as a network device",
			Hint: "mount a fresh sysfs on /sys in the child, after pivot_root: a sysfs lists the devices of the network namespace that mounted it",
			Run: func(e *Env) error {
				var ls probe.LsResult
				if err := e.Action(8, &ls, "ls", "/sys/class/net"); err != nil {
					return err
				}
				if !ls.OK {
					return fmt.Errorf("ls /sys/class/net inside: %s (is a sysfs mounted on /sys?)", ls.Error)
				}
				if len(ls.Names) != 1 || ls.Names[0] != "lo" {
					return fmt.Errorf("/sys/class/net inside lists %s: want lo alone (was that sysfs mounted from the container's network namespace?)", strings.Join(ls.Names, ", "))
				}
				return nil
			},
		},
		Check{
			Name: "the sysfs inside is read-only, nosuid, nodev and noexec",
			Hint: "mount it with unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC: most of sysfs is not namespaced, and a write there would change the host",
			Run: func(e *Env) error {
				r, err := e.Report(8)
				if err != nil {
					return err
				}
				return mountedWith(r, "/sys", "ro", "nosuid", "nodev", "noexec")
			},
		},
		Check{
			Name: "the network namespace is new, with the uts, pid, mount and ipc ones",
			Hint: "the clone flags are step 07's plus unix.CLONE_NEWNET",
			Run: func(e *Env) error {
				host, err := Host()
				if err != nil {
					return err
				}
				r, err := e.Report(8)
				if err != nil {
					return err
				}
				return namespaces(host, r, "uts", "pid", "mnt", "ipc", "net")
			},
		},
	)
}

// linkNames lists the names of links, for messages: "lo, eth0".
func linkNames(links []probe.Link) string {
	if len(links) == 0 {
		return "(none)"
	}
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.Name
	}
	return strings.Join(names, ", ")
}
