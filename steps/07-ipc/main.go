// Step 07 gives the container System V IPC objects and POSIX message queues of its own: a new
// ipc namespace.
//
// Processes on one machine can talk through kernel objects that have global names: System V
// shared memory segments, semaphore sets and message queues (named by a numeric key), and
// POSIX message queues (named by a string, shown as files in /dev/mqueue). Without a new ipc
// namespace the container sees, and may attach to or delete, every one of the host's. With
// CLONE_NEWIPC it starts with none. The POSIX queues of a namespace are shown by the mqueue
// filesystem mounted from inside it, so the child mounts a fresh one on /dev/mqueue.
//
// Run it (as root: creating namespaces needs CAP_SYS_ADMIN):
//
//	sudo ipcmk -M 1024; ipcs -m
//	sudo go run ./steps/07-ipc /bin/sh -c 'cat /proc/sysvipc/shm; touch /dev/mqueue/inside; ls -l /dev/mqueue; /bin/probe report --human | grep -A2 ^IPC'
//	sudo ipcrm -m ID   # the id ipcmk printed
//
// Man pages: ipc_namespaces(7), sysvipc(7), mq_overview(7), clone(2), mount(2), ipcs(1).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/rootfs"
)

// hostname is the name the container sees.
const hostname = "container"

func main() {
	isolate.StepMain("07-ipc", rootfs.Default, parent, child) // step 00
}

// parent runs the child in new namespaces, on a copy-on-write view of rootfs, and returns its
// exit status.
func parent(rootfs string, command []string) (int, error) {
	o := isolate.Overlay{Lower: rootfs, Dir: filepath.Join(isolate.WorkshopRunDir, fmt.Sprintf("07-ipc-%d", os.Getpid()))}
	defer o.Remove()                  // step 06 (deferred first: it also cleans up a failed Mount)
	if err := o.Mount(); err != nil { // step 06
		return 0, err
	}
	// SOLUTION BEGIN: ask for a new ipc namespace too.
	// HINT: clone(2) and ipc_namespaces(7): the flag is unix.CLONE_NEWIPC.
	// EXERCISE: var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC
	// SOLUTION END
	return isolate.RunChild(cloneflags, append([]string{o.Merged()}, command...)...) // step 00
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	if err := isolate.SetHostname(hostname); err != nil { // step 01
		return err
	}
	if err := isolate.MakeMountsPrivate(); err != nil { // step 03
		return err
	}
	if err := isolate.MakeDev(rootfs); err != nil { // step 04
		return err
	}
	if err := isolate.BindRootfs(rootfs); err != nil { // step 05
		return err
	}
	if err := isolate.PivotRoot(rootfs); err != nil { // step 05
		return err
	}
	if err := isolate.MountProc(); err != nil { // step 04
		return err
	}
	// An mqueue filesystem shows the queues of the ipc namespace of the process that mounts it:
	// mounted here, after the pivot, it shows the container's, and none of the host's.
	// SOLUTION BEGIN: mount the message queue filesystem of the new ipc namespace on /dev/mqueue.
	// HINT: mq_overview(7): make the directory (os.MkdirAll), then
	// HINT: unix.Mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "").
	if err := os.MkdirAll("/dev/mqueue", 0o755); err != nil {
		return fmt.Errorf("mkdir /dev/mqueue: %w", err)
	}
	if err := unix.Mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount mqueue /dev/mqueue: %w", err)
	}
	// SOLUTION END
	return isolate.Exec(command) // step 00
}
