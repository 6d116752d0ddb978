// Step 10 limits what the container may use: a control group (cgroup) of its own.
//
// Namespaces decide what a container sees; nothing so far limits what it uses. A fork bomb
// inside takes every process id the machine has, a memory leak all its memory, a busy loop a
// whole CPU. A cgroup is a directory in the cgroup filesystem (/sys/fs/cgroup): the processes
// in it share the limits written to its files. On cgroup v2 the parent makes one for the run,
// lets it have the pids, memory and cpu controllers, writes pids.max, memory.max (and
// memory.swap.max) and cpu.max, starts the child directly inside it with clone3(2)'s
// CLONE_INTO_CGROUP, so that the command never runs a moment outside, and removes it after
// the child exits. On a host with cgroup v1 controllers, isolate/cgroups makes it with the v1
// files instead, and the child joins it before anything else (see the README).
//
// Run it (as root):
//
//	sudo go run ./steps/10-cgroups --pids 20 --memory 32M --cpu 0.2 -- /bin/sh
//
// and, from another terminal: cat /sys/fs/cgroup/contain-workshop/*/pids.current
//
// Man pages: cgroups(7), clone(2) (CLONE_INTO_CGROUP), and the kernel's
// Documentation/admin-guide/cgroup-v2.rst.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/isolate/cgroups"
	"github.com/containkit/contain/rootfs"
)

// hostname is the name the container sees.
const hostname = "container"

// The limits, from the command line: sudo go run ./steps/10-cgroups --pids 20 -- /bin/sh.
var (
	pidsMax   = flag.Int64("pids", 64, "most processes and threads in the container (pids.max)")
	memoryMax = flag.String("memory", "64M", "most memory the container may use, in bytes or with K, M or G (memory.max)")
	cpuMax    = flag.Float64("cpu", 0.5, "most CPU time the container may use, in CPUs (cpu.max)")
)

const (
	cgroupRoot     = "/sys/fs/cgroup"      // where the host mounts its cgroups
	workshopCgroup = "/contain-workshop"   // the steps' cgroups; `workshop reset` removes leftovers
	period         = 100000                // cpu.max's period, in µs: the quota is per this much time
	joinEnv        = "CONTAIN_CGROUP_JOIN" // cgroup v1: the cgroup.procs files the child joins
)

func main() {
	// StepMain's usage line does not know the limits: -h and a bad flag list them too.
	flag.CommandLine.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: sudo go run ./steps/10-cgroups [-rootfs DIR] [--pids N] [--memory SIZE] [--cpu CPUS] -- COMMAND [ARG...]")
		flag.PrintDefaults()
	}
	isolate.StepMain("10-cgroups", rootfs.Default, parent, child) // step 00
}

// parent runs the child in new namespaces, in a cgroup with the limits asked for, and returns
// its exit status.
func parent(rootfs string, command []string) (int, error) {
	memMax, err := parseBytes(*memoryMax)
	if err != nil {
		return 0, fmt.Errorf("--memory: %w", err)
	}
	quota := int64(math.Round(*cpuMax * period))
	if *pidsMax < 1 || quota < 1000 {
		return 0, errors.New("--pids must be 1 or more, --cpu 0.01 or more")
	}
	var cloneflags uintptr = unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET // steps 01-08
	o := isolate.Overlay{Lower: rootfs, Dir: filepath.Join(isolate.WorkshopRunDir, fmt.Sprintf("10-cgroups-%d", os.Getpid()))}
	defer o.Remove()                  // step 06 (deferred first: it also cleans up a failed Mount)
	if err := o.Mount(); err != nil { // step 06
		return 0, err
	}
	args := append([]string{o.Merged()}, command...)

	path := fmt.Sprintf("%s/10-cgroups-%d", workshopCgroup, os.Getpid())
	if !cgroups.IsV2(cgroupRoot) {
		// cgroup v1 (hybrid hosts, older distributions; not the workshop VM): see the README.
		cg, owned, err := makeCgroupV1(path, memMax, quota)
		if err != nil {
			return 0, err
		}
		defer func() {
			if err := cg.Destroy(owned); err != nil {
				fmt.Fprintln(os.Stderr, "parent:", err)
			}
		}()
		// The child inherits our environment, and takes this out of it before exec.
		os.Setenv(joinEnv, strings.Join(cg.JoinFiles(), ":"))
		return isolate.RunChild(cloneflags, args...) // step 00
	}

	// cgroup v2: one tree, mounted on /sys/fs/cgroup, and a cgroup is a directory in it. A
	// cgroup has a controller only if its parent enabled it for its children, in the parent's
	// cgroup.subtree_control, and so on up to the root: enable ours on the way down.
	dir := filepath.Join(cgroupRoot, path)
	defer removeCgroup(dir) // deferred first: it also cleans up after a failure on the way
	if err := os.Mkdir(filepath.Join(cgroupRoot, workshopCgroup), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return 0, err
	}
	for _, d := range []string{cgroupRoot, filepath.Join(cgroupRoot, workshopCgroup)} {
		if err := writeFile(d, "cgroup.subtree_control", "+pids +memory +cpu"); err != nil {
			return 0, err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return 0, err
	}
	// SOLUTION BEGIN: write the limits into the cgroup's files: pids.max, memory.max (and memory.swap.max 0: no swapping instead), cpu.max.
	// HINT: cgroup-v2.rst, "Controllers": one value per file, written with writeFile(dir, "pids.max", "20").
	// HINT: pids.max is *pidsMax; memory.max is in bytes (memMax); memory.swap.max "0" (a kernel
	// HINT: without swap accounting has no such file: skip it then); cpu.max is "QUOTA PERIOD"
	// HINT: in µs: quota, then period.
	limits := []struct{ file, value string }{
		{"pids.max", strconv.FormatInt(*pidsMax, 10)},
		{"memory.max", strconv.FormatInt(memMax, 10)},
		{"memory.swap.max", "0"},
		{"cpu.max", fmt.Sprintf("%d %d", quota, period)},
	}
	for _, l := range limits {
		err := writeFile(dir, l.file, l.value)
		if l.file == "memory.swap.max" && errors.Is(err, os.ErrNotExist) {
			continue // no swap accounting in this kernel: no swap limit to set
		}
		if err != nil {
			return 0, err
		}
	}
	// SOLUTION END
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	// The child as isolate.RunChild starts it (step 00), with one more thing in its clone:
	// RunChildWith takes the clone's attributes written out.
	attr := &syscall.SysProcAttr{Cloneflags: cloneflags}
	// SOLUTION BEGIN: start the child inside the cgroup: clone3(2) with CLONE_INTO_CGROUP and the directory's fd.
	// HINT: clone(2), CLONE_INTO_CGROUP. Go's os/exec calls clone3 with it when
	// HINT: attr.UseCgroupFD is true; attr.CgroupFD is the directory's fd (fd).
	attr.UseCgroupFD = true
	attr.CgroupFD = fd
	// SOLUTION END
	// Its status: the code it exited with, or 128+N when signal N killed it (137: SIGKILL, the
	// OOM killer's). Meanwhile signals for us go to the child, so that we live to clean up.
	return isolate.RunChildWith(attr, args...) // step 00, with this step's clone
}

// child sets the container up from inside, then becomes the command.
func child(rootfs string, command []string) error {
	// cgroup v1 only: the parent could not clone us into the cgroup, so we join it first,
	// before anything else runs here.
	if files := os.Getenv(joinEnv); files != "" {
		os.Unsetenv(joinEnv) // the command has no use for it
		// SOLUTION BEGIN: (cgroup v1 hosts only; on the workshop VM, skip this) join the cgroup: write "0" to each cgroup.procs file in files.
		// HINT: cgroups(7): writing a pid to a cgroup.procs file moves that process into the
		// HINT: cgroup, and "0" means the writer. files holds one per hierarchy, ":" between them:
		// HINT: strings.Split(files, ":"), then os.WriteFile(file, []byte("0"), 0) for each.
		// EXERCISE: _ = files
		for _, file := range strings.Split(files, ":") {
			if err := os.WriteFile(file, []byte("0"), 0); err != nil {
				return fmt.Errorf("join the cgroup: %w", err)
			}
		}
		// SOLUTION END
	}
	if err := isolate.SetupContainer(rootfs, hostname); err != nil { // steps 01-08
		return err
	}
	return isolate.Exec(command) // step 00
}

// writeFile writes value to the control file dir/name in one write(2): the kernel parses
// what one write carries. Control files exist already; no file is ever created.
func writeFile(dir, name, value string) error {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist):
		err = fmt.Errorf("%w (is the controller enabled in the cgroup.subtree_control above?)", err)
	case errors.Is(err, unix.EBUSY) && name == "cgroup.subtree_control":
		err = fmt.Errorf("%w (a cgroup with processes in it cannot enable controllers for its children: are we in a container?)", err)
	}
	return fmt.Errorf("write %q to %s: %w", value, path, err)
}

// removeCgroup removes the cgroup's directory, and the workshop's above it once it is empty.
// rmdir(2) fails with EBUSY while a process is in the cgroup: the container's last processes
// may take a moment to go after the child has been reaped.
func removeCgroup(dir string) {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			break
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "parent: rmdir %s: %v\n", dir, err)
			return
		}
	}
	unix.Rmdir(filepath.Dir(dir)) // fails while another run's cgroup is in it: that is fine
}

// makeCgroupV1 makes the cgroup on a host with cgroup v1 controllers, through isolate/cgroups:
// a directory in each controller's hierarchy (/sys/fs/cgroup/pids/contain-workshop/..., and
// so on), with v1's files for the same limits (pids.max, memory.limit_in_bytes,
// memory.memsw.limit_in_bytes, cpu.cfs_quota_us, cpu.cfs_period_us). It also returns the
// directories it made, for Destroy.
func makeCgroupV1(path string, memMax, quota int64) (cgroups.Manager, []string, error) {
	cg, err := cgroups.Open(cgroupRoot, path)
	if err != nil {
		return nil, nil, err
	}
	owned, exists := cg.Missing()
	if exists { // a run that crashed with this pid: its limits and processes are not ours
		return nil, nil, fmt.Errorf("cgroup %s exists already (sudo workshop reset removes it)", path)
	}
	var p uint64 = period
	warnings, err := cg.Create(&specs.LinuxResources{
		Pids:   &specs.LinuxPids{Limit: pidsMax},
		Memory: &specs.LinuxMemory{Limit: &memMax, Swap: &memMax}, // v1's swap limit is memory+swap
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &p},
	})
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "parent: warning:", w)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	return cg, owned, nil
}

// parseBytes reads a size: 33554432, or with K, M or G (powers of 1024) as in 32M.
func parseBytes(s string) (int64, error) {
	num, mult := strings.ToUpper(s), int64(1)
	for i, unit := range []string{"K", "M", "G"} {
		if strings.HasSuffix(num, unit) {
			num, mult = strings.TrimSuffix(num, unit), 1<<(10*(i+1))
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size such as 64M", s)
	}
	return n * mult, nil
}
