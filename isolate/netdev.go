package isolate

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/containkit/contain/internal/rtnl"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// linux.netDevices (config-linux.md, "Network Devices"): host network devices moved into the
// container's new network namespace, renamed if the spec says so, with their permanent
// global addresses and up. The runtime does it, from the host's namespace, right after init
// is cloned (its network namespace exists from that moment) and before any hook runs:
//
//  1. read the device's addresses: a move to another namespace drops them;
//  2. check that the new name is free in the container's namespace: the kernel moves a device
//     under its own name and renames it after, so a taken name would fail only then;
//  3. move and rename it with one RTM_NEWLINK (IFLA_NET_NS_FD, IFLA_IFNAME; the kernel
//     numbers a "%d" template);
//  4. from a netlink socket made inside the container's namespace, add the addresses back
//     and set the device up.
//
// A device that fails after the move is moved back. Otherwise nothing moves it back: when the
// namespace goes, the kernel returns a physical device to the host's and destroys a virtual
// one (network_namespaces(7)), as the spec says. The rtnetlink(7) messages go through
// internal/rtnl (golang.org/x/sys/unix alone): a few messages do not need a netlink library
// in the runtime's binary.

// netns is the two ends of a move: netlink sockets in the runtime's (the host's) network
// namespace and in the container's, and an fd of each namespace.
type netns struct {
	host, inside     int // NETLINK_ROUTE sockets
	hostNS, insideNS int // nsfs fds, for IFLA_NET_NS_FD
}

func (n *netns) close() {
	for _, fd := range []int{n.host, n.inside, n.hostNS, n.insideNS} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// moveNetDevices moves the spec's network devices into the network namespace of init (its
// pidfd). The namespace is named by an fd opened through the pidfd, never by pid: init runs
// meanwhile, and one that failed and was reaped could leave its pid to another process.
func moveNetDevices(devices map[string]specs.LinuxNetDevice, pidfd int) error {
	if len(devices) == 0 {
		return nil
	}
	n := &netns{host: -1, inside: -1, hostNS: -1, insideNS: -1}
	defer n.close()
	var err error
	if n.host, err = rtnl.Socket(); err != nil {
		return err
	}
	if n.hostNS, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return &pathError{"open", "/proc/thread-self/ns/net", err}
	}
	if n.inside, n.insideNS, err = enterToOpen(pidfd); err != nil {
		return err
	}
	for hostName, d := range devices {
		if err := n.move(hostName, cmp.Or(d.Name, hostName)); err != nil {
			return fmt.Errorf("linux.netDevices %q: %w", hostName, err)
		}
	}
	return nil
}

// move moves the host's device hostName into the container's namespace as name, with its
// permanent global addresses, and up. A device that was moved and then failed is moved back,
// under its own name: left in the container's namespace, it would go with it, destroyed if
// virtual, or back to the host without its addresses if physical.
func (n *netns) move(hostName, name string) error {
	index, err := linkIndex(n.host, hostName)
	if err != nil {
		return err
	}
	if index == 0 {
		return fmt.Errorf("the host has no network device %q", hostName)
	}
	addrs, err := permanentAddrs(n.host, index)
	if err != nil {
		return err
	}
	// The kernel moves the device under its own name and then renames it: a new name taken
	// in the container's namespace would fail only after the move. So it is checked first.
	if !strings.Contains(name, "%d") {
		taken, err := linkIndex(n.inside, name)
		if err != nil {
			return err
		}
		if taken != 0 {
			return &pathError{"move to the container's network namespace as", name, netDeviceHint(unix.EEXIST)}
		}
	}
	move := newLinkRequest(index, 0, 0)
	move.Attr(unix.IFLA_NET_NS_FD, binary.NativeEndian.AppendUint32(nil, uint32(n.insideNS)))
	move.Attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	if _, err := move.Do(n.host); err != nil {
		if still, _ := linkIndex(n.host, hostName); still == 0 { // moved, then the rename failed
			n.moveBack(index, hostName)
		}
		return &pathError{"move to the container's network namespace as", name, netDeviceHint(err)}
	}
	// The kernel keeps the index when the container's namespace has no device with it, and
	// a new namespace has only lo (1).
	err = nil
	for _, a := range addrs {
		if _, aerr := a.request(index).Do(n.inside); aerr != nil {
			err = fmt.Errorf("add address %s back: %w", a, aerr)
			break
		}
	}
	if err == nil {
		if _, uerr := newLinkRequest(index, unix.IFF_UP, unix.IFF_UP).Do(n.inside); uerr != nil {
			err = fmt.Errorf("set %s up: %w", name, uerr)
		}
	}
	if err != nil {
		n.moveBack(index, hostName)
	}
	return err
}

// moveBack returns device index from the container's namespace to the host's, under its host
// name; the addresses it had there are not put back. Best effort: the move's error is what
// the caller reports.
func (n *netns) moveBack(index int, hostName string) {
	back := newLinkRequest(index, 0, 0)
	back.Attr(unix.IFLA_NET_NS_FD, binary.NativeEndian.AppendUint32(nil, uint32(n.hostNS)))
	back.Attr(unix.IFLA_IFNAME, append([]byte(hostName), 0))
	back.Do(n.inside)
}

// linkIndex is the index of the device called name in the namespace of the netlink socket
// fd, or 0 when it has none.
func linkIndex(fd int, name string) (int, error) {
	get := newLinkRequest(0, 0, 0)
	get.Type = unix.RTM_GETLINK
	get.Attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	msgs, err := get.Do(fd)
	switch {
	case err == unix.ENODEV:
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("netlink RTM_GETLINK %s: %w", name, err)
	}
	for _, m := range msgs {
		if m.Type == unix.RTM_NEWLINK && len(m.Data) >= unix.SizeofIfInfomsg {
			return int((*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0])).Index), nil
		}
	}
	return 0, nil
}

// netDeviceHint explains the errnos of a move.
func netDeviceHint(err error) error {
	switch err {
	case unix.EEXIST:
		return fmt.Errorf("%w (the container's network namespace has a device of that name; end the name with %%d for the kernel to number it)", err)
	case unix.EINVAL:
		return fmt.Errorf("%w (this device cannot change namespace, as lo cannot, or the name is not valid)", err)
	}
	return err
}

// enterToOpen opens, from inside the network namespace of the process pidfd, a
// NETLINK_ROUTE socket (a socket belongs to the namespace it was made in, wherever it is
// used from) and an fd of the namespace itself. A thread enters the namespace (setns(2)
// takes a pidfd since Linux 5.8), opens both and goes back. It is a goroutine's own thread:
// one that could not go back is never unlocked, and Go ends it with the goroutine.
func enterToOpen(pidfd int) (sock, nsfd int, err error) {
	type opened struct {
		sock, nsfd int
		err        error
	}
	done := make(chan opened, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- opened{-1, -1, &pathError{"open", "/proc/thread-self/ns/net", err}}
			return
		}
		defer unix.Close(own)
		if err := unix.Setns(pidfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- opened{-1, -1, &pathError{"setns", "init's network namespace", err}}
			return
		}
		o := opened{-1, -1, nil}
		if o.sock, o.err = rtnl.Socket(); o.err == nil {
			if o.nsfd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				o.err = &pathError{"open", "/proc/thread-self/ns/net (init's)", err}
			}
		}
		if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
			o.err = &pathError{"setns", "back to the runtime's network namespace", err}
		} else {
			runtime.UnlockOSThread()
		}
		if o.err != nil {
			for _, fd := range []int{o.sock, o.nsfd} {
				if fd >= 0 {
					unix.Close(fd)
				}
			}
			o.sock, o.nsfd = -1, -1
		}
		done <- o
	}()
	o := <-done
	return o.sock, o.nsfd, o.err
}

// newLinkRequest is an RTM_NEWLINK for the device index, acknowledged: its flags changed
// where change says (IFF_UP), and the attributes the caller adds.
func newLinkRequest(index int, flags, change uint32) *rtnl.Request {
	info := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: int32(index), Flags: flags, Change: change}
	return rtnl.NewRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK, rtnl.Bytes(&info))
}

// netAddr is an address of a device, as RTM_GETADDR gives it and RTM_NEWADDR takes it: the
// struct ifaddrmsg and the attributes that name the address.
type netAddr struct {
	msg   unix.IfAddrmsg
	attrs []netAttr
}

type netAttr struct {
	typ   uint16
	value []byte
}

func (a netAddr) String() string {
	for _, at := range a.attrs {
		if at.typ == unix.IFA_LOCAL || at.typ == unix.IFA_ADDRESS {
			return fmt.Sprintf("%s/%d", ipString(at.value), a.msg.Prefixlen)
		}
	}
	return fmt.Sprintf("(family %d)/%d", a.msg.Family, a.msg.Prefixlen)
}

// ipString writes an IPv4 address dotted and an IPv6 one in eight groups, for messages.
// (net/netip would do it, but as a dependency of this package it would make Go initialise
// packages init never uses before it: see isolate/initproc.)
func ipString(b []byte) string {
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	var groups []string
	for i := 0; i+1 < len(b); i += 2 {
		groups = append(groups, strconv.FormatUint(uint64(b[i])<<8|uint64(b[i+1]), 16))
	}
	return strings.Join(groups, ":")
}

// request is the RTM_NEWADDR that adds a to the device index.
func (a netAddr) request(index int) *rtnl.Request {
	msg := a.msg
	msg.Index = uint32(index)
	r := rtnl.NewRequest(unix.RTM_NEWADDR, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL, rtnl.Bytes(&msg))
	for _, at := range a.attrs {
		r.Attr(at.typ, at.value)
	}
	return r
}

// permanentAddrs lists the addresses of device index that the spec says a move keeps: the
// permanent ones (IFA_F_PERMANENT: not from autoconfiguration or DHCP with a lifetime) of
// global scope, of any family. The attributes that name the address are kept; the label
// (it starts with the device's old name) and the lifetimes are not.
func permanentAddrs(fd, index int) ([]netAddr, error) {
	dump := unix.IfAddrmsg{Family: unix.AF_UNSPEC}
	msgs, err := rtnl.NewRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP, rtnl.Bytes(&dump)).Do(fd)
	if err != nil {
		return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
	}
	var addrs []netAddr
	for _, m := range msgs {
		if m.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		a := netAddr{msg: *(*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))}
		if int(a.msg.Index) != index || a.msg.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		flags := uint32(a.msg.Flags)
		rtnl.Attrs(m.Data[unix.SizeofIfAddrmsg:], func(typ uint16, value []byte) {
			switch typ {
			case unix.IFA_FLAGS: // the flags that do not fit in the message's byte
				if len(value) >= 4 {
					flags = binary.NativeEndian.Uint32(value)
				}
			case unix.IFA_ADDRESS, unix.IFA_LOCAL, unix.IFA_BROADCAST:
			default:
				return
			}
			a.attrs = append(a.attrs, netAttr{typ, append([]byte(nil), value...)})
		})
		if flags&unix.IFA_F_PERMANENT != 0 {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}
