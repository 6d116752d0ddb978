package isolate

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Output wraps the runtime's stdout or stderr for what the runtime itself writes there (log
// lines, a relayed terminal). Go's os.File ends the program with SIGPIPE when a write to fd 1
// or 2 finds the pipe closed (see os/signal, "SIGPIPE"); a runtime ended so would leave its
// container, state and cgroups behind. Output writes through a duplicate of the fd, made at
// its first write, where such a write fails with EPIPE instead, and the runtime goes on to
// clean up. Catching SIGPIPE with os/signal would do the same for one more round trip to
// os/signal's thread in every run.
func Output(f *os.File) io.Writer { return &output{f: f} }

type output struct {
	f    *os.File
	once sync.Once
	dup  *os.File
	err  error
}

func (o *output) Write(p []byte) (int, error) {
	o.once.Do(func() {
		fd, err := unix.FcntlInt(o.f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			o.err = &pathError{"fcntl F_DUPFD_CLOEXEC", o.f.Name(), err}
			return
		}
		o.dup = os.NewFile(uintptr(fd), o.f.Name())
	})
	if o.err != nil {
		return 0, o.err
	}
	return o.dup.Write(p)
}
