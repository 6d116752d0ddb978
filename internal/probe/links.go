package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/rtnl"
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
	fd, err := rtnl.Socket()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	all := unix.IfInfomsg{Family: unix.AF_UNSPEC} // every link, of any family
	msgs, err := rtnl.NewRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP, rtnl.Bytes(&all)).Do(fd)
	if err != nil {
		return nil, fmt.Errorf("rtm_getlink: %w", err)
	}
	links := []Link{}
	for _, m := range msgs {
		if link, ok := parseIfInfo(m); ok {
			links = append(links, link)
		}
	}
	slices.SortFunc(links, func(a, b Link) int { return a.Index - b.Index })
	return links, nil
}

// parseIfInfo reads an RTM_NEWLINK message: its struct ifinfomsg and IFLA_IFNAME attribute.
func parseIfInfo(m rtnl.Message) (Link, bool) {
	b := m.Data
	if m.Type != unix.RTM_NEWLINK || len(b) < unix.SizeofIfInfomsg {
		return Link{}, false
	}
	ne := binary.NativeEndian
	flags := ne.Uint32(b[8:])
	link := Link{
		Index:    int(int32(ne.Uint32(b[4:]))),
		Up:       flags&unix.IFF_UP != 0,
		Loopback: flags&unix.IFF_LOOPBACK != 0,
	}
	rtnl.Attrs(b[unix.SizeofIfInfomsg:], func(typ uint16, value []byte) {
		if typ == unix.IFLA_IFNAME {
			link.Name = cString(value)
		}
	})
	return link, true
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
