package isolate

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// linux.netDevices (config-linux.md, "Network Devices"): host network devices moved into the
// container's new network namespace, renamed if the spec says so, with their permanent
// global addresses and up. The runtime does it, from the host's namespace, right after init
// is cloned (its network namespace exists from that moment) and before any hook runs:
//
//  1. read the device's addresses: a move to another namespace drops them;
//  2. move and rename it with one RTM_NEWLINK (IFLA_NET_NS_PID and IFLA_IFNAME): the kernel
//     checks the new name in the container's namespace, and fills in a "%d" template;
//  3. from a netlink socket made inside the container's namespace, add the addresses back
//     and set the device up.
//
// Nothing moves the device back: when the namespace goes, the kernel returns a physical
// device to the host's and destroys a virtual one (network_namespaces(7)), as the spec says.
// rtnetlink(7) messages are built here with golang.org/x/sys/unix: a few messages do not
// need a netlink library.

// moveNetDevices moves the spec's network devices into the network namespace of init (pid,
// pidfd).
func moveNetDevices(devices map[string]specs.LinuxNetDevice, pid, pidfd int) error {
	if len(devices) == 0 {
		return nil
	}
	host, err := netlinkSocket()
	if err != nil {
		return err
	}
	defer unix.Close(host)
	inside, err := netlinkSocketIn(pidfd)
	if err != nil {
		return err
	}
	defer unix.Close(inside)
	for hostName, d := range devices {
		if err := moveNetDevice(host, inside, hostName, cmp.Or(d.Name, hostName), pid); err != nil {
			return fmt.Errorf("linux.netDevices %q: %w", hostName, err)
		}
	}
	return nil
}

func moveNetDevice(host, inside int, hostName, name string, pid int) error {
	index, err := ifIndex(hostName)
	if err != nil {
		return err
	}
	addrs, err := permanentAddrs(host, index)
	if err != nil {
		return err
	}
	// The kernel moves the device under its own name and then renames it: a new name taken
	// in the container's namespace would fail only after the move. So it is checked first.
	if !strings.Contains(name, "%d") {
		taken, err := linkExists(inside, name)
		if err != nil {
			return err
		}
		if taken {
			return &pathError{"move to the container's network namespace as", name, netDeviceHint(unix.EEXIST)}
		}
	}
	move := newLinkRequest(index, 0, 0)
	move.attr(unix.IFLA_NET_NS_PID, binary.NativeEndian.AppendUint32(nil, uint32(pid)))
	move.attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	if err := move.do(host); err != nil {
		return &pathError{"move to the container's network namespace as", name, netDeviceHint(err)}
	}
	// The kernel keeps the index when the container's namespace has no device with it, and
	// a new namespace has only lo (1).
	for _, a := range addrs {
		a.index = index
		if err := a.request().do(inside); err != nil {
			return fmt.Errorf("add address %s back: %w", a, err)
		}
	}
	if err := newLinkRequest(index, unix.IFF_UP, unix.IFF_UP).do(inside); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// linkExists says whether the namespace of the netlink socket fd has a device called name.
func linkExists(fd int, name string) (bool, error) {
	get := newLinkRequest(0, 0, 0)
	get.typ = unix.RTM_GETLINK
	get.attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	msgs, err := netlinkExchange(fd, get.typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK, get.buf)
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		switch {
		case m.Header.Type == unix.RTM_NEWLINK:
			return true, nil
		case m.Header.Type == unix.NLMSG_ERROR:
			if err := netlinkErrno(m.Data); err != nil && err != unix.ENODEV {
				return false, fmt.Errorf("netlink RTM_GETLINK %s: %w", name, err)
			}
		}
	}
	return false, nil
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

// ifIndex is the index of the host's network device name (SIOCGIFINDEX, netdevice(7)).
func ifIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socket AF_INET: %w", err)
	}
	defer unix.Close(fd)
	req, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("device name %q: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, req); err != nil {
		if err == unix.ENODEV {
			return 0, fmt.Errorf("the host has no network device %q", name)
		}
		return 0, fmt.Errorf("ioctl SIOCGIFINDEX %s: %w", name, err)
	}
	return int(req.Uint32()), nil
}

// netlinkSocket opens a NETLINK_ROUTE socket in this thread's network namespace.
func netlinkSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("socket NETLINK_ROUTE: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind NETLINK_ROUTE: %w", err)
	}
	return fd, nil
}

// netlinkSocketIn opens a NETLINK_ROUTE socket in the network namespace of the process
// pidfd: a socket belongs to the namespace it was made in, wherever it is used from. The
// thread enters the namespace (setns(2) takes a pidfd since Linux 5.8), makes the socket
// and goes back; a thread that could not go back is never unlocked, so Go ends it.
func netlinkSocketIn(pidfd int) (int, error) {
	runtime.LockOSThread()
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return -1, &pathError{"open", "/proc/thread-self/ns/net", err}
	}
	defer unix.Close(own)
	if err := unix.Setns(pidfd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return -1, &pathError{"setns", "init's network namespace", err}
	}
	fd, sockErr := netlinkSocket()
	if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
		if sockErr == nil {
			unix.Close(fd)
		}
		return -1, &pathError{"setns", "back to the runtime's network namespace", err}
	}
	runtime.UnlockOSThread()
	return fd, sockErr
}

// netlinkRequest is one rtnetlink request: a header, a fixed body, then attributes.
type netlinkRequest struct {
	typ uint16
	buf []byte // the body and attributes, after the header
}

func newLinkRequest(index int, flags, change uint32) *netlinkRequest {
	info := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: int32(index), Flags: flags, Change: change}
	return &netlinkRequest{typ: unix.RTM_NEWLINK, buf: structBytes(&info, unix.SizeofIfInfomsg)}
}

// attr appends one attribute (struct rtattr, then the data, padded to 4 bytes).
func (r *netlinkRequest) attr(typ uint16, data []byte) {
	r.buf = binary.NativeEndian.AppendUint16(r.buf, uint16(unix.SizeofRtAttr+len(data)))
	r.buf = binary.NativeEndian.AppendUint16(r.buf, typ)
	r.buf = append(r.buf, data...)
	for len(r.buf)%unix.NLMSG_ALIGNTO != 0 {
		r.buf = append(r.buf, 0)
	}
}

// do sends the request with NLM_F_ACK and returns the kernel's answer: nil or an errno.
func (r *netlinkRequest) do(fd int) error {
	flags := uint16(unix.NLM_F_REQUEST | unix.NLM_F_ACK)
	if r.typ == unix.RTM_NEWADDR {
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	}
	msgs, err := netlinkExchange(fd, r.typ, flags, r.buf)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR {
			return netlinkErrno(m.Data)
		}
	}
	return fmt.Errorf("netlink: no answer to message %d", r.typ)
}

// netlinkExchange sends one message and reads the answers until an NLMSG_ERROR (the ack of
// a request) or NLMSG_DONE (the end of a dump).
func netlinkExchange(fd int, typ, flags uint16, body []byte) ([]syscall.NetlinkMessage, error) {
	hdr := unix.NlMsghdr{Len: uint32(unix.SizeofNlMsghdr + len(body)), Type: typ, Flags: flags, Seq: 1}
	msg := append(structBytes(&hdr, unix.SizeofNlMsghdr), body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var all []syscall.NetlinkMessage
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		for _, m := range msgs {
			all = append(all, m)
			if m.Header.Type == unix.NLMSG_ERROR || m.Header.Type == unix.NLMSG_DONE {
				return all, nil
			}
		}
	}
}

// netlinkErrno reads an NLMSG_ERROR's code: 0 is an ack, else a negative errno.
func netlinkErrno(data []byte) error {
	if len(data) < 4 {
		return fmt.Errorf("netlink: short error message")
	}
	if code := int32(binary.NativeEndian.Uint32(data)); code < 0 {
		return unix.Errno(-code)
	}
	return nil
}

// netAddr is an address of a device, as RTM_GETADDR gives it and RTM_NEWADDR takes it.
type netAddr struct {
	msg   unix.IfAddrmsg
	index int
	attrs []syscall.NetlinkRouteAttr
}

func (a netAddr) String() string {
	for _, at := range a.attrs {
		if at.Attr.Type == unix.IFA_LOCAL || at.Attr.Type == unix.IFA_ADDRESS {
			return fmt.Sprintf("%v/%d", at.Value, a.msg.Prefixlen)
		}
	}
	return fmt.Sprintf("(family %d)/%d", a.msg.Family, a.msg.Prefixlen)
}

func (a netAddr) request() *netlinkRequest {
	msg := a.msg
	msg.Index = uint32(a.index)
	r := &netlinkRequest{typ: unix.RTM_NEWADDR, buf: structBytes(&msg, unix.SizeofIfAddrmsg)}
	for _, at := range a.attrs {
		r.attr(at.Attr.Type, at.Value)
	}
	return r
}

// permanentAddrs lists the addresses of device index that the spec says a move keeps: the
// permanent ones (IFA_F_PERMANENT: not from autoconfiguration or DHCP with a lifetime) of
// global scope, of any family. The attributes that name the address are kept; the label
// (it starts with the device's old name) and the lifetimes are not.
func permanentAddrs(fd, index int) ([]netAddr, error) {
	req := unix.IfAddrmsg{Family: unix.AF_UNSPEC}
	msgs, err := netlinkExchange(fd, unix.RTM_GETADDR, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, structBytes(&req, unix.SizeofIfAddrmsg))
	if err != nil {
		return nil, err
	}
	var addrs []netAddr
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR {
			if err := netlinkErrno(m.Data); err != nil {
				return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
			}
		}
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		msg := *(*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
		if int(msg.Index) != index || msg.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
		}
		flags := uint32(msg.Flags)
		a := netAddr{msg: msg}
		for _, at := range attrs {
			switch at.Attr.Type {
			case unix.IFA_FLAGS: // the flags that do not fit in the message's byte
				if len(at.Value) >= 4 {
					flags = binary.NativeEndian.Uint32(at.Value)
				}
				a.attrs = append(a.attrs, at)
			case unix.IFA_ADDRESS, unix.IFA_LOCAL, unix.IFA_BROADCAST:
				a.attrs = append(a.attrs, at)
			}
		}
		if flags&unix.IFA_F_PERMANENT != 0 {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// structBytes copies the first size bytes of the struct at p.
func structBytes[T any](p *T, size int) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(p)), size)...)
}
