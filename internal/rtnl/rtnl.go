// Package rtnl speaks rtnetlink(7) over a NETLINK_ROUTE socket: it builds a request, sends it
// and walks the answer, with golang.org/x/sys/unix and nothing else. The runtime moves network
// devices with it (isolate/netdev.go), and probe lists the links it reports.
//
// A netlink message is a struct nlmsghdr (length, type, flags, sequence number, port), then a
// payload padded to 4 bytes; a route message's payload is a fixed struct (ifinfomsg,
// ifaddrmsg...) followed by attributes, each a struct rtattr (length, type) and its value,
// padded to 4 bytes too. See netlink(7) and rtnetlink(7).
package rtnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seq numbers the one request a socket has at a time: its answers carry it back.
const seq = 1

// Message is one message of an answer: its type (RTM_NEWLINK, NLMSG_ERROR...) and payload.
type Message struct {
	Type uint16
	Data []byte
}

// Socket opens a NETLINK_ROUTE socket. It belongs to the network namespace of the calling
// thread, wherever it is used from afterwards. An answer always ends, but a receive timeout
// keeps a broken kernel from hanging the caller.
func Socket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("socket NETLINK_ROUTE: %w", err)
	}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	return fd, nil
}

// Request is one request: its type, flags, and payload (a fixed struct, then attributes).
type Request struct {
	Type, Flags uint16
	payload     []byte
}

// NewRequest starts a request whose payload begins with body (see Bytes).
func NewRequest(typ, flags uint16, body []byte) *Request {
	return &Request{Type: typ, Flags: flags, payload: append([]byte(nil), body...)}
}

// Attr appends one attribute: a struct rtattr, the value, padding.
func (r *Request) Attr(typ uint16, value []byte) {
	r.payload = binary.NativeEndian.AppendUint16(r.payload, uint16(unix.SizeofRtAttr+len(value)))
	r.payload = binary.NativeEndian.AppendUint16(r.payload, typ)
	r.payload = append(r.payload, value...)
	r.payload = append(r.payload, make([]byte, Align(len(r.payload))-len(r.payload))...)
}

// Payload is the request's payload as it stands: the fixed struct and the attributes.
func (r *Request) Payload() []byte { return r.payload }

// Do sends the request on fd and reads the answer to its end: NLMSG_DONE after a dump
// (NLM_F_DUMP), or NLMSG_ERROR, the acknowledgement a request with NLM_F_ACK gets. An
// NLMSG_ERROR that carries an error code is returned as that errno, with the messages before
// it; the end itself is not among the messages.
func (r *Request) Do(fd int) ([]Message, error) {
	msg := binary.NativeEndian.AppendUint32(nil, uint32(unix.SizeofNlMsghdr+len(r.payload))) // nlmsg_len
	msg = binary.NativeEndian.AppendUint16(msg, r.Type)                                      // nlmsg_type
	msg = binary.NativeEndian.AppendUint16(msg, r.Flags|unix.NLM_F_REQUEST)                  // nlmsg_flags
	msg = binary.NativeEndian.AppendUint32(msg, seq)                                         // nlmsg_seq
	msg = binary.NativeEndian.AppendUint32(msg, 0)                                           // nlmsg_pid: the kernel's
	msg = append(msg, r.payload...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var all []Message
	for {
		buf := make([]byte, 64*1024) // a new one each time: the messages are slices of it
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return all, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, end, err := Parse(buf[:n], seq)
		all = append(all, msgs...)
		if end || err != nil {
			return all, err
		}
	}
}

// Parse walks one datagram of an answer: the messages of sequence number seq (others are
// skipped), and whether the answer ended in it (NLMSG_DONE, or NLMSG_ERROR with the error it
// carries, if any).
func Parse(b []byte, seq uint32) (msgs []Message, end bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofNlMsghdr {
		size, typ := int(ne.Uint32(b[0:])), ne.Uint16(b[4:])
		if size < unix.SizeofNlMsghdr || size > len(b) {
			return msgs, false, errors.New("netlink: a message longer than its datagram")
		}
		if ne.Uint32(b[8:]) == seq {
			payload := b[unix.SizeofNlMsghdr:size]
			switch typ {
			case unix.NLMSG_DONE:
				return msgs, true, nil
			case unix.NLMSG_ERROR:
				return msgs, true, Errno(payload)
			}
			msgs = append(msgs, Message{Type: typ, Data: payload})
		}
		b = b[min(Align(size), len(b)):]
	}
	return msgs, false, nil
}

// Errno reads the payload of an NLMSG_ERROR (a struct nlmsgerr): 0 is an acknowledgement,
// anything else a negative errno.
func Errno(payload []byte) error {
	if len(payload) < 4 {
		return errors.New("netlink: truncated nlmsgerr")
	}
	if code := int32(binary.NativeEndian.Uint32(payload)); code != 0 {
		return unix.Errno(-code)
	}
	return nil
}

// Attrs calls each for every attribute in b, the attributes after a message's fixed struct.
func Attrs(b []byte, each func(typ uint16, value []byte)) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofRtAttr {
		size, typ := int(ne.Uint16(b[0:])), ne.Uint16(b[2:])
		if size < unix.SizeofRtAttr || size > len(b) {
			return
		}
		each(typ, b[unix.SizeofRtAttr:size])
		b = b[min(Align(size), len(b)):]
	}
}

// Align rounds n up to the 4 bytes netlink aligns messages and attributes to.
func Align(n int) int {
	return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
}

// Bytes is a copy of the struct at p, such as a unix.IfInfomsg, as the kernel lays it out.
func Bytes[T any](p *T) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))...)
}
