package isolate

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
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
// is cloned (its network namespace exists from that moment) and before any hook runs; init
// waits for it before it sets anything up (initConfig.NetDevices). For each device:
//
//  1. read the device's addresses: a move to another namespace drops them;
//  2. decide its name in the container's namespace, and check that it is free there: the
//     kernel moves a device under its own name and renames it after, so a taken name would
//     fail only then; a "%d" template gets its first free number, as the kernel gives it;
//  3. move and rename it with one RTM_NEWLINK (IFLA_NET_NS_FD, IFLA_IFNAME), and find it in
//     the container's namespace by that name (its index may change there);
//  4. from a netlink socket made inside the container's namespace, add the addresses back
//     and set the device up.
//
// Devices go in the order of their host names. A `run` that fails before the container's
// program starts, or a `create` that fails (a device, a hook, a mount, a program not found),
// moves every device it moved back to the host, with its addresses and up as it was:
// runtime.md, "Errors": an operation that fails leaves the environment as if it had never
// been attempted. Once the program has started, or `create` has succeeded, nothing moves them
// back, as config-linux.md says ("MUST NOT attempt to move the interface out of the namespace
// before deletion"): when the namespace goes, the kernel returns a physical device to the
// host's and destroys a virtual one (network_namespaces(7)). So a created container that
// `start` fails, or that is deleted unstarted, loses them so too. The rtnetlink(7) messages
// go through internal/rtnl (golang.org/x/sys/unix alone): a few messages do not need a
// netlink library in the runtime's binary.

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

// netDevices is the devices a container's namespace got from the host, and the sockets and
// namespace fds that can move them back, while its `run` or `create` may still fail. The fd
// of the container's namespace keeps it, and the devices in it, after its init is gone.
type netDevices struct {
	n     *netns
	moved []movedDevice
}

// moveNetDevices moves the spec's network devices into the network namespace of init (its
// pidfd), in the order of their host names. The namespace is named by an fd opened through
// the pidfd, never by pid: init runs meanwhile, and one that failed and was reaped could
// leave its pid to another process. When one device fails, those already moved go back.
func moveNetDevices(devices map[string]specs.LinuxNetDevice, pidfd int) (*netDevices, error) {
	if len(devices) == 0 {
		return nil, nil
	}
	n := &netns{host: -1, inside: -1, hostNS: -1, insideNS: -1}
	nd := &netDevices{n: n}
	var err error
	if n.host, err = rtnl.Socket(); err != nil {
		nd.release(false, nil)
		return nil, err
	}
	if n.hostNS, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		nd.release(false, nil)
		return nil, &pathError{"open", "/proc/thread-self/ns/net", err}
	}
	if n.inside, n.insideNS, err = enterToOpen(pidfd); err != nil {
		nd.release(false, nil)
		return nil, err
	}
	hostNames := make([]string, 0, len(devices))
	for hostName := range devices {
		hostNames = append(hostNames, hostName)
	}
	slices.Sort(hostNames) // the same order every time: "%d" numbers the same, one failure moves the same
	for _, hostName := range hostNames {
		d, err := n.move(hostName, cmp.Or(devices[hostName].Name, hostName))
		if d.index != 0 { // in the container's namespace, whether or not it failed after
			nd.moved = append(nd.moved, d)
		}
		if err != nil {
			err = fmt.Errorf("linux.netDevices %q: %w", hostName, err)
			if berr := nd.putBack(); berr != nil {
				err = fmt.Errorf("%w; %w", err, berr)
			}
			nd.release(false, nil)
			return nil, err
		}
	}
	return nd, nil
}

// release is the end of the runtime's hold on the devices: with putBack (the run or the
// create failed), they go back to the host as they were (a failure to is logged); without,
// they stay in the container's namespace, and go where the kernel sends them when it goes.
// Then the sockets and fds are closed. Once is enough; nil does nothing.
func (nd *netDevices) release(putBack bool, log *slog.Logger) {
	if nd == nil || nd.n == nil {
		return
	}
	if putBack {
		if err := nd.putBack(); err != nil && log != nil {
			log.Warn(err.Error())
		}
	}
	nd.n.close()
	nd.n = nil
}

// putBack moves every device back to the host (moveBack), the last moved first.
func (nd *netDevices) putBack() error {
	var errs []error
	for _, d := range slices.Backward(nd.moved) {
		if err := nd.n.moveBack(d); err != nil {
			errs = append(errs, fmt.Errorf("linux.netDevices %q could not be put back as it was: %w", d.hostName, err))
		}
	}
	nd.moved = nil
	return errors.Join(errs...)
}

// movedDevice is a device moved into the container's namespace, and what moveBack needs to
// put it back as it was.
type movedDevice struct {
	index    int // in the container's namespace; 0: not moved
	hostName string
	addrs    []netAddr // its permanent addresses on the host, of every scope
	up       bool      // it was up on the host
}

// move moves the host's device hostName into the container's namespace as name, with its
// permanent global addresses, and up. When it fails after the move, the device it returns
// has an index: the caller moves it back (left in the container's namespace, it would go
// with it, destroyed if virtual, or back to the host without its addresses if physical).
func (n *netns) move(hostName, name string) (movedDevice, error) {
	index, flags, err := linkOf(n.host, hostName)
	if err != nil {
		return movedDevice{}, err
	}
	if index == 0 {
		return movedDevice{}, fmt.Errorf("the host has no network device %q", hostName)
	}
	addrs, err := permanentAddrs(n.host, index)
	if err != nil {
		return movedDevice{}, err
	}
	d := movedDevice{hostName: hostName, addrs: addrs, up: flags&unix.IFF_UP != 0}
	global := slices.DeleteFunc(slices.Clone(addrs), func(a netAddr) bool { return a.msg.Scope != unix.RT_SCOPE_UNIVERSE })
	if name, err = n.freeName(hostName, name); err != nil {
		return movedDevice{}, err
	}
	move := newLinkRequest(index, 0, 0)
	move.Attr(unix.IFLA_NET_NS_FD, binary.NativeEndian.AppendUint32(nil, uint32(n.insideNS)))
	move.Attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	op := "netlink RTM_NEWLINK " + hostName + " into the container's network namespace as"
	if _, err := move.Do(n.host); err != nil {
		if still, _, _ := linkOf(n.host, hostName); still == 0 { // moved, then the rename failed
			d.index, _, _ = linkOf(n.inside, hostName)
		}
		return d, &pathError{op, name, netDeviceHint(err)}
	}
	// Found by name: the index may have changed. A new namespace holds the fallback devices
	// of the tunnel modules the host has loaded (tunl0, sit0, gre0...), and a device moved
	// in that meets one's index gets a new one.
	if d.index, _, err = linkOf(n.inside, name); err != nil || d.index == 0 {
		return d, &pathError{"netlink RTM_GETLINK, after the move,", name, cmp.Or(err, error(unix.ENODEV))}
	}
	for _, a := range global {
		if _, err := a.request(d.index).Do(n.inside); err != nil {
			return d, fmt.Errorf("netlink RTM_NEWADDR %s to %s: %w", a, name, err)
		}
	}
	if _, err := newLinkRequest(d.index, unix.IFF_UP, unix.IFF_UP).Do(n.inside); err != nil {
		return d, fmt.Errorf("netlink RTM_NEWLINK %s up: %w", name, err)
	}
	return d, nil
}

// freeName is the name device hostName gets in the container's namespace: name, when that is
// free there, or for a template ("eth%d") the template with its first free number, as the
// kernel numbers one (dev_alloc_name). A name taken is an error, as config-linux.md wants,
// and it must be found before the move: the kernel moves a device under its own name and
// renames it after, so a taken name would fail only once the device is in.
func (n *netns) freeName(hostName, name string) (string, error) {
	if !strings.Contains(name, "%d") {
		taken, _, err := linkOf(n.inside, name)
		if err != nil {
			return "", err
		}
		if taken != 0 {
			return "", &pathError{"netlink RTM_NEWLINK " + hostName + " into the container's network namespace as", name, netDeviceHint(unix.EEXIST)}
		}
		return name, nil
	}
	for i := 0; ; i++ {
		candidate := strings.Replace(name, "%d", strconv.Itoa(i), 1)
		if len(candidate) >= unix.IFNAMSIZ {
			return "", fmt.Errorf("%s: no free name of the template %q in the container's network namespace", hostName, name)
		}
		taken, _, err := linkOf(n.inside, candidate)
		if err != nil {
			return "", err
		}
		if taken == 0 {
			return candidate, nil
		}
	}
}

// moveBack returns device d from the container's namespace to the host's, under its host
// name, with its permanent addresses, and up if it was. A move between namespaces takes a
// device down and drops its addresses (and the routes through it, which are not put back).
// An address that is back already is no error: the kernel makes an IPv6 link-local one
// itself. It goes as far as it can, and says what it could not do.
func (n *netns) moveBack(d movedDevice) error {
	back := newLinkRequest(d.index, 0, 0)
	back.Attr(unix.IFLA_NET_NS_FD, binary.NativeEndian.AppendUint32(nil, uint32(n.hostNS)))
	back.Attr(unix.IFLA_IFNAME, append([]byte(d.hostName), 0))
	if _, err := back.Do(n.inside); err != nil {
		return &pathError{"netlink RTM_NEWLINK, back to the host's network namespace,", d.hostName, err}
	}
	index, _, err := linkOf(n.host, d.hostName)
	if err != nil || index == 0 {
		return &pathError{"netlink RTM_GETLINK, after the move back,", d.hostName, cmp.Or(err, error(unix.ENODEV))}
	}
	var errs []error
	for _, a := range d.addrs {
		if _, err := a.request(index).Do(n.host); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("netlink RTM_NEWADDR %s to %s: %w", a, d.hostName, err))
		}
	}
	if d.up {
		if _, err := newLinkRequest(index, unix.IFF_UP, unix.IFF_UP).Do(n.host); err != nil {
			errs = append(errs, fmt.Errorf("netlink RTM_NEWLINK %s up: %w", d.hostName, err))
		}
	}
	return errors.Join(errs...)
}

// linkOf is the index and the flags (IFF_UP...) of the device called name in the namespace
// of the netlink socket fd; index 0 when it has none.
func linkOf(fd int, name string) (index int, flags uint32, err error) {
	get := newLinkRequest(0, 0, 0)
	get.Type = unix.RTM_GETLINK
	get.Attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	msgs, err := get.Do(fd)
	switch {
	case errors.Is(err, unix.ENODEV):
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("netlink RTM_GETLINK %s: %w", name, err)
	}
	for _, m := range msgs {
		if m.Type == unix.RTM_NEWLINK && len(m.Data) >= unix.SizeofIfInfomsg {
			info := (*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
			return int(info.Index), info.Flags, nil
		}
	}
	return 0, 0, nil
}

// netDeviceHint explains the errnos of a move.
func netDeviceHint(err error) error {
	switch {
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w (the container's network namespace has a device of that name; end the name with %%d for the kernel to number it)", err)
	case errors.Is(err, unix.EINVAL):
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

// permanentAddrs lists the permanent addresses of device index (IFA_F_PERMANENT: not from
// autoconfiguration or DHCP with a lifetime), of any family and scope: the spec says a move
// keeps those of global scope, and a move back puts them all back. The attributes that name
// the address, and its flags, are kept; the label (it starts with the device's old name) and
// the lifetimes are not.
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
		if int(a.msg.Index) != index {
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
