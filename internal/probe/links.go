package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// readLinks lists the network interfaces of the probe's network namespace. It asks the kernel
// over netlink and falls back to /proc/net/dev. It never reads /sys/class/net: sysfs shows the
// network namespace of whoever mounted it, so an un-remounted /sys lists the host's interfaces.
func readLinks() ([]Link, []error) {
	links, err := netlinkLinks()
	if err == nil {
		return links, nil
	}
	errs := []error{err}
	names, err := procNetDevNames()
	if err != nil {
		return []Link{}, append(errs, err)
	}
	links = []Link{}
	for _, name := range names {
		links = append(links, Link{Name: name, Loopback: name == "lo"})
	}
	return links, errs
}

// netlinkLinks dumps the links with an RTM_GETLINK request on a NETLINK_ROUTE socket; see
// netlink(7) and rtnetlink(7).
func netlinkLinks() ([]Link, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("socket netlink_route: %w", err)
	}
	defer unix.Close(fd)
	// A dump always ends, but a receive timeout keeps a broken kernel from hanging the probe.
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	const seq = 1
	if err := unix.Sendto(fd, getLinkRequest(seq), 0, kernel); err != nil {
		return nil, fmt.Errorf("sendto netlink_route: %w", err)
	}
	links := []Link{}
	buf := make([]byte, 64*1024)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recvfrom netlink_route: %w", err)
		}
		batch, done, err := parseLinkMessages(buf[:n], seq)
		if err != nil {
			return nil, err
		}
		links = append(links, batch...)
		if done {
			slices.SortFunc(links, func(a, b Link) int { return a.Index - b.Index })
			return links, nil
		}
	}
}

// getLinkRequest builds a struct nlmsghdr followed by a struct ifinfomsg asking for a dump
// of all links of any family.
func getLinkRequest(seq uint32) []byte {
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))                   // nlmsg_len
	ne.PutUint16(req[4:], unix.RTM_GETLINK)                   // nlmsg_type
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP) // nlmsg_flags
	ne.PutUint32(req[8:], seq)                                // nlmsg_seq
	req[unix.SizeofNlMsghdr] = unix.AF_UNSPEC                 // ifi_family; the rest stays zero
	return req
}

// parseLinkMessages parses one datagram of an RTM_GETLINK dump: RTM_NEWLINK messages, and
// NLMSG_DONE (done) or NLMSG_ERROR at the end.
func parseLinkMessages(b []byte, seq uint32) (links []Link, done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofNlMsghdr {
		size := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		if size < unix.SizeofNlMsghdr || size > len(b) {
			return links, false, errors.New("parse netlink message: bad nlmsg_len")
		}
		if ne.Uint32(b[8:]) == seq {
			payload := b[unix.SizeofNlMsghdr:size]
			switch typ {
			case unix.NLMSG_DONE:
				return links, true, nil
			case unix.NLMSG_ERROR:
				err := netlinkError(payload)
				return links, err == nil, err
			case unix.RTM_NEWLINK:
				if link, ok := parseIfInfo(payload); ok {
					links = append(links, link)
				}
			}
		}
		b = b[min(nlmsgAlign(size), len(b)):]
	}
	return links, false, nil
}

// netlinkError turns the payload of an NLMSG_ERROR (a struct nlmsgerr) into an error.
func netlinkError(payload []byte) error {
	if len(payload) < 4 {
		return errors.New("rtm_getlink: truncated nlmsgerr")
	}
	code := int32(binary.NativeEndian.Uint32(payload))
	if code == 0 { // an acknowledgement, not an error
		return nil
	}
	return fmt.Errorf("rtm_getlink: %w", syscall.Errno(-code))
}

// parseIfInfo reads a struct ifinfomsg and its IFLA_IFNAME attribute.
func parseIfInfo(b []byte) (Link, bool) {
	if len(b) < unix.SizeofIfInfomsg {
		return Link{}, false
	}
	ne := binary.NativeEndian
	flags := ne.Uint32(b[8:])
	link := Link{
		Index:    int(int32(ne.Uint32(b[4:]))),
		Up:       flags&unix.IFF_UP != 0,
		Loopback: flags&unix.IFF_LOOPBACK != 0,
	}
	attrs := b[unix.SizeofIfInfomsg:]
	for len(attrs) >= unix.SizeofRtAttr {
		size := int(ne.Uint16(attrs[0:]))
		typ := ne.Uint16(attrs[2:])
		if size < unix.SizeofRtAttr || size > len(attrs) {
			break
		}
		if typ == unix.IFLA_IFNAME {
			link.Name = cString(attrs[unix.SizeofRtAttr:size])
		}
		attrs = attrs[min(nlmsgAlign(size), len(attrs)):]
	}
	return link, true
}

// nlmsgAlign rounds n up to the 4-byte alignment of netlink messages and attributes.
func nlmsgAlign(n int) int {
	return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
}

// procNetDevNames lists the interface names in /proc/net/dev, which, like netlink, shows the
// network namespace of the reading process; see proc_pid_net(5).
func procNetDevNames() ([]string, error) {
	data, err := readFile("/proc/net/dev")
	if err != nil {
		return nil, err
	}
	return parseNetDev(data), nil
}

// parseNetDev returns the names in the "name: counters..." lines after the two header lines.
func parseNetDev(data []byte) []string {
	names := []string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 0; sc.Scan(); line++ {
		name, _, ok := strings.Cut(sc.Text(), ":")
		if line < 2 || !ok {
			continue
		}
		names = append(names, strings.TrimSpace(name))
	}
	return names
}
