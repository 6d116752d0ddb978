package probe

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Result is what every action reports: whether the attempt succeeded and, if not, why.
// Error reads "op path: message"; Errno is the symbolic errno, such as "EROFS".
type Result struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Errno string `json:"errno,omitempty"`
}

// setError records err, if any, without deciding OK.
func (r *Result) setError(err error) {
	if err != nil {
		r.Error, r.Errno = err.Error(), errnoName(err)
	}
}

// done sets OK from err and records err.
func (r *Result) done(err error) {
	r.OK = err == nil
	r.setError(err)
}

// outcome is "ok", or the failure for people: "failed: open /x: read-only file system (EROFS)".
func (r Result) outcome() string {
	if r.OK && r.Error == "" {
		return "ok"
	}
	word := "failed"
	if r.OK {
		word = "attempted, but"
	}
	if r.Errno == "" {
		return word + ": " + r.Error
	}
	return fmt.Sprintf("%s: %s (%s)", word, r.Error, r.Errno)
}

// LsResult is the result of Ls.
type LsResult struct {
	Result
	Path  string   `json:"path"`
	Names []string `json:"names"`
}

// Ls lists the names in the directory path, sorted.
func Ls(path string) LsResult {
	names, err := readDirNames(path)
	res := LsResult{Path: path, Names: names}
	if res.Names == nil {
		res.Names = []string{}
	}
	res.done(err)
	return res
}

// Human is the result for people.
func (r LsResult) Human() string {
	if !r.OK {
		return "ls " + r.Path + ": " + r.outcome()
	}
	return strings.Join(r.Names, "\n")
}

// CatLimit is the most Cat reads of a file.
const CatLimit = 64 << 10

// CatResult is the result of Cat.
type CatResult struct {
	Result
	Path      string `json:"path"`
	Content   string `json:"content"`
	Truncated bool   `json:"truncated,omitempty"` // the file is longer than CatLimit
}

// Cat reads up to CatLimit bytes of path.
func Cat(path string) CatResult {
	data, truncated, err := readFileLimit(path, CatLimit)
	res := CatResult{Path: path, Content: string(data), Truncated: truncated}
	res.done(err)
	return res
}

// Human is the result for people.
func (r CatResult) Human() string {
	if !r.OK {
		return "cat " + r.Path + ": " + r.outcome()
	}
	return strings.TrimSuffix(r.Content, "\n")
}

// PathResult is the result of an action on one path: Write and Mknod.
type PathResult struct {
	Result
	Path   string   `json:"path"`
	Errors []string `json:"errors,omitempty"` // cleanup that failed
	op     string
}

// Human is the result for people.
func (r PathResult) Human() string {
	return r.op + " " + r.Path + ": " + r.outcome() + cleanupText(r.Errors)
}

// Write creates or truncates path and writes text to it, to prove that a path is writable
// or, more often, that it is not.
func Write(path, text string) PathResult {
	res := PathResult{Path: path, op: "write"}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		res.done(err)
		return res
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	res.done(err)
	return res
}

// Mknod tries to create the character device major:minor, which needs CAP_MKNOD and a
// device cgroup that allows it ("m"); see mknod(2). With open, it then opens the node for
// reading, which needs the cgroup's "r" as well: a cgroup can allow making a node and still
// refuse its use, as runc's and contain's do for every device. The node goes in /tmp (or /
// without /tmp) and is removed right away. The error names the step that failed: "mknod" or
// "open".
func Mknod(major, minor uint32, open bool) PathResult {
	dir := "/tmp"
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = ""
	}
	path := fmt.Sprintf("%s/probe-mknod-%d", dir, os.Getpid())
	res := PathResult{Path: path, op: "mknod"}
	_ = unix.Unlink(path) // a leftover of an earlier probe with the same pid
	if err := unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(major, minor))); err != nil {
		res.done(&os.PathError{Op: "mknod", Path: path, Err: err})
		return res
	}
	var err error
	if open {
		res.op = "mknod and open"
		err = openDevice(path)
	}
	res.done(err)
	if err := unix.Unlink(path); err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("unlink %s: %v (left behind)", path, err))
	}
	return res
}

// openDevice opens a device node for reading and closes it: without blocking (a tty or fifo
// would wait) and without making a terminal the controlling one.
func openDevice(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	return unix.Close(fd)
}

// FDsResult is the result of FDs.
type FDsResult struct {
	Result
	FDs []FD `json:"fds"`
}

// FDs lists the open file descriptors the process was given (see readFDs).
func FDs() FDsResult {
	fds, err := readFDs()
	res := FDsResult{FDs: fds}
	res.done(err)
	return res
}

// Human is the result for people.
func (r FDsResult) Human() string {
	if !r.OK {
		return "fds: " + r.outcome()
	}
	lines := make([]string, len(r.FDs))
	for i, fd := range r.FDs {
		lines[i] = fmt.Sprintf("%d\t%s", fd.FD, fd.Target)
	}
	return strings.Join(lines, "\n")
}

// BindResult is the result of Bind.
type BindResult struct {
	Result
	Port int `json:"port"`
}

// Human is the result for people.
func (r BindResult) Human() string {
	return fmt.Sprintf("bind 0.0.0.0:%d: %s", r.Port, r.outcome())
}

// Bind listens on TCP 0.0.0.0:port, to prove which ports a process may take (ports below
// net.ipv4.ip_unprivileged_port_start need CAP_NET_BIND_SERVICE) and in which network
// namespace. On success, release closes the socket.
func Bind(port int) (res BindResult, release func()) {
	res.Port = port
	release = func() {}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		res.done(fmt.Errorf("socket tcp: %w", err))
		return res, release
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	addr := fmt.Sprintf("0.0.0.0:%d", port)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		unix.Close(fd)
		res.done(fmt.Errorf("bind %s: %w", addr, err))
		return res, release
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		res.done(fmt.Errorf("listen %s: %w", addr, err))
		return res, release
	}
	if sa, err := unix.Getsockname(fd); err == nil {
		if in4, ok := sa.(*unix.SockaddrInet4); ok {
			res.Port = in4.Port // the port the kernel chose for port 0
		}
	}
	res.OK = true
	return res, func() { unix.Close(fd) }
}

// SumResult is the result of StdinSum.
type SumResult struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	Error  string `json:"error,omitempty"`
}

// StdinSum reads r to the end and returns its length and SHA-256, to prove that input
// reaches the container byte for byte.
func StdinSum(r io.Reader) SumResult {
	h := sha256.New()
	n, err := io.Copy(h, r)
	res := SumResult{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

func cleanupText(errs []string) string {
	if len(errs) == 0 {
		return ""
	}
	return "; cleanup: " + strings.Join(errs, "; ")
}
