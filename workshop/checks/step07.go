package checks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	register(7,
		Check{
			Name: "the host's System V shared memory, semaphores and message queues are invisible inside",
			Hint: "the child must run in a new ipc namespace: add unix.CLONE_NEWIPC to the clone flags",
			Run: func(e *Env) (err error) {
				objects, err := makeHostSysvObjects()
				defer func() { err = errors.Join(err, objects.remove()) }()
				if err != nil {
					return err
				}
				r, err := e.Report(7)
				if err != nil {
					return err
				}
				if r.IPC.Shm != 0 || r.IPC.Sem != 0 || r.IPC.Msg != 0 {
					return fmt.Errorf("inside, /proc/sysvipc shows %d shm, %d sem, %d msg; the host has at least %s: want 0 of each",
						r.IPC.Shm, r.IPC.Sem, r.IPC.Msg, objects)
				}
				return nil
			},
		},
		Check{
			Name: "/dev/mqueue inside is a message queue filesystem without the host's queues",
			Hint: "after pivot_root, mkdir /dev/mqueue and mount an \"mqueue\" filesystem there (MS_NOSUID|MS_NODEV|MS_NOEXEC), from inside the new ipc namespace",
			Run: func(e *Env) (err error) {
				name, err := makeHostMqueue()
				if err != nil {
					return err
				}
				defer func() { err = errors.Join(err, removeHostMqueue(name)) }()
				r, err := e.Report(7)
				if err != nil {
					return err
				}
				mounted := false
				for _, m := range r.Mounts {
					if m.MountPoint == "/dev/mqueue" {
						mounted = m.FSType == "mqueue"
					}
				}
				if !mounted {
					return errors.New("inside, nothing of type mqueue is mounted on /dev/mqueue")
				}
				if err := mountedWith(r, "/dev/mqueue", "nosuid", "nodev", "noexec"); err != nil {
					return err
				}
				if len(r.IPC.MQueues) != 0 {
					return fmt.Errorf("inside, /dev/mqueue lists %s (the host has /%s): want it empty",
						strings.Join(r.IPC.MQueues, " "), name)
				}
				return nil
			},
		},
		Check{
			Name: "the ipc namespace is new, like the uts, pid and mount ones",
			Hint: "the clone flags are unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC, and no other CLONE_NEW* yet",
			Run: func(e *Env) error {
				host, err := Host()
				if err != nil {
					return err
				}
				r, err := e.Report(7)
				if err != nil {
					return err
				}
				return namespaces(host, r, "uts", "pid", "mnt", "ipc")
			},
		},
	)
}

// hostSysvObjects are the System V IPC objects a check made on the host: ids, -1 for none.
type hostSysvObjects struct{ shm, sem, msg int }

func (o hostSysvObjects) String() string {
	return fmt.Sprintf("shm id %d, sem id %d and msg id %d (made by this check)", o.shm, o.sem, o.msg)
}

// makeHostSysvObjects makes one shared memory segment, one semaphore set and one message queue
// in the checker's ipc namespace (the host's), each under a random key that no one else uses
// (IPC_EXCL). Whatever it returns, even with an error, must be removed with remove.
// See shmget(2), semget(2), msgget(2).
func makeHostSysvObjects() (hostSysvObjects, error) {
	o := hostSysvObjects{-1, -1, -1}
	const flags = unix.IPC_CREAT | unix.IPC_EXCL | 0o600
	var err error
	if o.shm, err = withRandomKey("shmget", func(key int) (int, error) { return unix.SysvShmGet(key, 4096, flags) }); err != nil {
		return o, err
	}
	if o.sem, err = withRandomKey("semget", func(key int) (int, error) {
		id, _, errno := unix.Syscall(unix.SYS_SEMGET, uintptr(key), 1, flags)
		return errnoResult(id, errno)
	}); err != nil {
		return o, err
	}
	o.msg, err = withRandomKey("msgget", func(key int) (int, error) {
		id, _, errno := unix.Syscall(unix.SYS_MSGGET, uintptr(key), flags, 0)
		return errnoResult(id, errno)
	})
	return o, err
}

// withRandomKey calls get with random keys until one is free.
func withRandomKey(op string, get func(key int) (int, error)) (int, error) {
	for range 16 {
		key := int(rand.Int32N(1<<31-2)) + 1 // 0 is IPC_PRIVATE
		id, err := get(key)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("%s on the host: %w", op, err)
		}
		return id, nil
	}
	return -1, fmt.Errorf("%s on the host: every random key was taken", op)
}

func errnoResult(r uintptr, errno unix.Errno) (int, error) {
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// remove deletes the objects (IPC_RMID): see shmctl(2), semctl(2), msgctl(2).
func (o hostSysvObjects) remove() error {
	var errs []error
	if o.shm >= 0 {
		if _, err := unix.SysvShmCtl(o.shm, unix.IPC_RMID, nil); err != nil {
			errs = append(errs, fmt.Errorf("shmctl %d IPC_RMID: %w", o.shm, err))
		}
	}
	if o.sem >= 0 {
		if _, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(o.sem), 0, unix.IPC_RMID, 0, 0, 0); errno != 0 {
			errs = append(errs, fmt.Errorf("semctl %d IPC_RMID: %w", o.sem, errno))
		}
	}
	if o.msg >= 0 {
		if _, _, errno := unix.Syscall(unix.SYS_MSGCTL, uintptr(o.msg), unix.IPC_RMID, 0); errno != 0 {
			errs = append(errs, fmt.Errorf("msgctl %d IPC_RMID: %w", o.msg, errno))
		}
	}
	return errors.Join(errs...)
}

// makeHostMqueue makes a POSIX message queue in the checker's ipc namespace (the host's) and
// returns its name (without the leading "/" of mq_open(3)). It calls the mq_open system call
// itself, which needs no mqueue filesystem mounted anywhere: the check mounts nothing on the
// host. Where the host has /dev/mqueue, the queue shows there as a file. See mq_overview(7).
func makeHostMqueue() (string, error) {
	name := uniqueName("contain-check-")
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return "", err
	}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, 0, 0, 0)
	if errno != 0 {
		return "", fmt.Errorf("mq_open /%s on the host: %w", name, errno)
	}
	unix.Close(int(fd)) // the queue lives on until mq_unlink
	return name, nil
}

// removeHostMqueue deletes the queue makeHostMqueue made; see mq_unlink(3).
func removeHostMqueue(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, errno := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
		return fmt.Errorf("mq_unlink /%s on the host: %w", name, errno)
	}
	return nil
}
