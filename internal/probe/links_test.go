package probe

import (
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsg builds one netlink message: header, payload, padding.
func nlmsg(typ uint16, seq uint32, payload []byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, unix.SizeofNlMsghdr, nlmsgAlign(unix.SizeofNlMsghdr+len(payload)))
	ne.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(payload)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint32(b[8:], seq)
	b = append(b, payload...)
	return b[:cap(b)]
}

// ifinfo builds a struct ifinfomsg with an IFLA_IFNAME attribute, and another attribute after
// it to check that attributes are walked with their padding.
func ifinfo(index int32, flags uint32, name string) []byte {
	ne := binary.NativeEndian
	b := make([]byte, unix.SizeofIfInfomsg)
	ne.PutUint32(b[4:], uint32(index))
	ne.PutUint32(b[8:], flags)
	attr := func(typ uint16, value []byte) {
		size := unix.SizeofRtAttr + len(value)
		a := make([]byte, nlmsgAlign(size))
		ne.PutUint16(a[0:], uint16(size))
		ne.PutUint16(a[2:], typ)
		copy(a[unix.SizeofRtAttr:], value)
		b = append(b, a...)
	}
	attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	attr(unix.IFLA_MTU, []byte{0, 0, 1, 0})
	return b
}

func TestParseLinkMessages(t *testing.T) {
	const seq = 7
	var dump []byte
	dump = append(dump, nlmsg(unix.RTM_NEWLINK, seq, ifinfo(1, unix.IFF_LOOPBACK, "lo"))...)
	dump = append(dump, nlmsg(unix.RTM_NEWLINK, 99, ifinfo(9, 0, "other-request"))...)
	dump = append(dump, nlmsg(unix.RTM_NEWLINK, seq, ifinfo(2, unix.IFF_UP|unix.IFF_BROADCAST, "veth-c0ffee"))...)
	links, done, err := parseLinkMessages(dump, seq)
	if err != nil || done {
		t.Fatalf("parseLinkMessages = %v, done %v, %v; want more to come", links, done, err)
	}
	want := []Link{{Name: "lo", Index: 1, Loopback: true}, {Name: "veth-c0ffee", Index: 2, Up: true}}
	if !reflect.DeepEqual(links, want) {
		t.Errorf("links = %+v, want %+v", links, want)
	}

	links, done, err = parseLinkMessages(nlmsg(unix.NLMSG_DONE, seq, []byte{0, 0, 0, 0}), seq)
	if err != nil || !done || len(links) != 0 {
		t.Errorf("NLMSG_DONE: %v, done %v, %v; want done", links, done, err)
	}
}

func TestParseLinkMessagesError(t *testing.T) {
	payload := make([]byte, unix.SizeofNlMsgerr)
	code := -int32(unix.EPERM)
	binary.NativeEndian.PutUint32(payload, uint32(code))
	_, _, err := parseLinkMessages(nlmsg(unix.NLMSG_ERROR, 1, payload), 1)
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("NLMSG_ERROR -EPERM: err = %v, want EPERM", err)
	}
	if _, _, err := parseLinkMessages([]byte{200, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 1); err == nil {
		t.Error("a message longer than the datagram: no error")
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
