package probe

import (
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/internal/rtnl"
)

// ifinfo builds an RTM_NEWLINK message: a struct ifinfomsg with an IFLA_IFNAME attribute,
// and another attribute after it to check that attributes are walked with their padding.
func ifinfo(index int32, flags uint32, name string) rtnl.Message {
	info := unix.IfInfomsg{Index: index, Flags: flags}
	r := rtnl.NewRequest(unix.RTM_NEWLINK, 0, rtnl.Bytes(&info))
	r.Attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	r.Attr(unix.IFLA_MTU, []byte{0, 0, 1, 0})
	return rtnl.Message{Type: unix.RTM_NEWLINK, Data: r.Payload()}
}

func TestParseIfInfo(t *testing.T) {
	var links []Link
	for _, m := range []rtnl.Message{
		ifinfo(1, unix.IFF_LOOPBACK, "lo"),
		{Type: unix.RTM_NEWADDR, Data: ifinfo(9, 0, "an-address").Data},
		ifinfo(2, unix.IFF_UP|unix.IFF_BROADCAST, "veth-c0ffee"),
		{Type: unix.RTM_NEWLINK, Data: []byte{1, 2, 3}}, // shorter than an ifinfomsg
	} {
		if link, ok := parseIfInfo(m); ok {
			links = append(links, link)
		}
	}
	want := []Link{{Name: "lo", Index: 1, Loopback: true}, {Name: "veth-c0ffee", Index: 2, Up: true}}
	if !reflect.DeepEqual(links, want) {
		t.Errorf("links = %+v, want %+v", links, want)
	}
}

func TestParseNetDev(t *testing.T) {
	data := "Inter-|   Receive                            |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes\n" +
		"    lo:       0       0    0    0    0     0          0         0        0\n" +
		"  eth0: 1234 5 0 0 0 0 0 0 99\n"
	if got := parseNetDev([]byte(data)); !slices.Equal(got, []string{"lo", "eth0"}) {
		t.Errorf("parseNetDev = %v, want [lo eth0]", got)
	}
}

func TestReadLinksHasLoopback(t *testing.T) {
	links, errs := readLinks()
	if len(errs) > 0 {
		t.Logf("netlink failed, fell back to /proc/net/dev: %v", errs)
	}
	if !slices.ContainsFunc(links, func(l Link) bool { return l.Name == "lo" && l.Loopback }) {
		t.Errorf("links = %+v, want lo among them", links)
	}
}
