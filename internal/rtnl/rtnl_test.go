package rtnl

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsg builds one netlink message: header, payload, padding.
func nlmsg(typ uint16, seq uint32, payload []byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, unix.SizeofNlMsghdr, Align(unix.SizeofNlMsghdr+len(payload)))
	ne.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(payload)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint32(b[8:], seq)
	b = append(b, payload...)
	return b[:cap(b)]
}

// A datagram's messages of this request (its sequence number) are kept, others skipped; the
// answer ends at NLMSG_DONE, or at NLMSG_ERROR with its errno (an acknowledgement: none).
func TestParse(t *testing.T) {
	const seq = 7
	var dump []byte
	dump = append(dump, nlmsg(unix.RTM_NEWLINK, seq, []byte("first"))...)
	dump = append(dump, nlmsg(unix.RTM_NEWLINK, 99, []byte("another request's"))...)
	dump = append(dump, nlmsg(unix.RTM_NEWADDR, seq, []byte("second!"))...)
	msgs, end, err := Parse(dump, seq)
	if err != nil || end || len(msgs) != 2 || string(msgs[0].Data) != "first" || msgs[1].Type != unix.RTM_NEWADDR || string(msgs[1].Data) != "second!" {
		t.Fatalf("Parse = %+v, end %v, %v; want the two messages of seq 7, more to come", msgs, end, err)
	}
	if msgs, end, err := Parse(nlmsg(unix.NLMSG_DONE, seq, []byte{0, 0, 0, 0}), seq); err != nil || !end || len(msgs) != 0 {
		t.Errorf("NLMSG_DONE: %v, end %v, %v; want the end", msgs, end, err)
	}
	nlmsgerr := func(errno unix.Errno) []byte {
		payload := make([]byte, unix.SizeofNlMsgerr)
		binary.NativeEndian.PutUint32(payload, uint32(-int32(errno)))
		return nlmsg(unix.NLMSG_ERROR, seq, payload)
	}
	if _, end, err := Parse(nlmsgerr(unix.EPERM), seq); !end || !errors.Is(err, unix.EPERM) {
		t.Errorf("NLMSG_ERROR -EPERM: end %v, %v; want the end with EPERM", end, err)
	}
	if _, end, err := Parse(nlmsgerr(0), seq); !end || err != nil {
		t.Errorf("an acknowledgement: end %v, %v; want the end, no error", end, err)
	}
	if _, _, err := Parse([]byte{200, 0, 0, 0, 16, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}, seq); err == nil {
		t.Error("a message longer than the datagram: no error")
	}
}

// Attributes are written with their padding and read back the same, a short one ending the
// walk.
func TestAttrs(t *testing.T) {
	r := NewRequest(unix.RTM_NEWLINK, 0, []byte{1, 2, 3, 4})
	r.Attr(unix.IFLA_IFNAME, []byte("eth0\x00"))
	r.Attr(unix.IFLA_MTU, []byte{0, 0, 1, 0})
	if len(r.Payload())%4 != 0 {
		t.Errorf("payload of %d bytes: not padded", len(r.Payload()))
	}
	var got []string
	Attrs(append(r.Payload()[4:], 9, 0), func(typ uint16, value []byte) { got = append(got, string(value)) })
	if !slices.Equal(got, []string{"eth0\x00", "\x00\x00\x01\x00"}) {
		t.Errorf("attributes read back: %q", got)
	}
}

// A request to the kernel: a dump of this namespace's links answers with lo among them, and
// a request for a device that does not exist with ENODEV.
func TestDoAsksTheKernel(t *testing.T) {
	fd, err := Socket()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	all := unix.IfInfomsg{Family: unix.AF_UNSPEC}
	msgs, err := NewRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP, Bytes(&all)).Do(fd)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("RTM_GETLINK dump: %d messages, %v", len(msgs), err)
	}
	get := NewRequest(unix.RTM_GETLINK, unix.NLM_F_ACK, Bytes(&all))
	get.Attr(unix.IFLA_IFNAME, []byte("no-such-dev0\x00"))
	if _, err := get.Do(fd); !errors.Is(err, unix.ENODEV) {
		t.Errorf("RTM_GETLINK of a missing device: %v, want ENODEV", err)
	}
}
