package isolate

import (
	"encoding/json"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// The parent and init talk over a SOCK_SEQPACKET socket pair: one message per packet, and file
// descriptors (the pty master) travel with a message as SCM_RIGHTS, see unix(7). Init's end is
// close-on-exec, so the parent reads end-of-file at the very moment execve(2) succeeds.
type message struct {
	Type  string `json:"type"` // msgReady, msgStart, msgError, msgWarning, msgPty
	Text  string `json:"text,omitempty"`
	Errno int    `json:"errno,omitempty"`
}

const (
	msgReady   = "ready"   // init → parent: the container is built, waiting to exec
	msgStart   = "start"   // parent → init: exec the process now
	msgError   = "error"   // init → parent: setup failed; Text says why
	msgWarning = "warning" // init → parent: something to tell the user
	msgPty     = "pty"     // init → parent: the pty master fd rides along
	msgState   = "state"   // parent → init: the container's state (Text), for init's hooks
	msgHooks   = "hooks"   // init → parent: before pivot_root, run prestart/createRuntime now
	msgResume  = "resume"  // parent → init: those hooks ran, go on
)

func sendMessage(fd int, m message, fds ...int) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, data, oob, nil, 0); err != nil {
		return fmt.Errorf("sendmsg %s: %w", m.Type, err)
	}
	return nil
}

// receiveMessage reads one message and any fds sent with it; io.EOF when the peer closed
// (for init's peer: it exec'd or died).
func receiveMessage(fd int) (message, []int, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return message{}, nil, fmt.Errorf("recvmsg: %w", err)
		}
		if n == 0 {
			return message{}, nil, io.EOF
		}
		var fds []int
		if oobn > 0 {
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return message{}, nil, fmt.Errorf("parse control message: %w", err)
			}
			for _, c := range cmsgs {
				got, err := unix.ParseUnixRights(&c)
				if err == nil {
					fds = append(fds, got...)
				}
			}
		}
		var m message
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return message{}, fds, fmt.Errorf("decode message: %w", err)
		}
		return m, fds, nil
	}
}
