package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/isolate"
	"github.com/containkit/contain/isolate/cgroups"
)

// limitFlags set cgroup limits, on `run` (quick form) and on `update`, with the names
// docker and runc users know.
var limitFlags = []cli.Flag{
	&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit in `BYTES` (k, M, G, T suffixes; 1.5G; -1 for none)"},
	&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit in `BYTES`; -1 for unlimited swap (default: --memory, no swap)"},
	&cli.StringFlag{Name: "memory-reservation", Usage: "soft memory limit in `BYTES` (memory.low on v2)"},
	&cli.Int64Flag{Name: "pids-limit", Usage: "most processes at once (`N`); 0 or -1 for no limit"},
	&cli.Float64Flag{Name: "cpus", Usage: "`N` CPUs' worth of time per period, such as 0.5"},
	&cli.Uint64Flag{Name: "cpu-shares", Aliases: []string{"cpu-share"}, Usage: "relative CPU weight, v1 scale 2..262144 (`N`)"},
	&cli.Uint64Flag{Name: "cpu-weight", Usage: "relative CPU weight, v2 scale 1..10000 (`N`)"},
	&cli.Int64Flag{Name: "cpu-quota", Usage: "CPU time in `µs` per period; -1 for none"},
	&cli.Uint64Flag{Name: "cpu-period", Usage: "CPU period in `µs` (default 100000; 0 leaves it as it is)"},
	&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs the container may use, such as `0-2,4`"},
	&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes the container may use (`LIST`)"},
	&cli.Uint64Flag{Name: "cpu-rt-period", Usage: "realtime scheduling period in `µs` (v1 cpu.rt_period_us)"},
	&cli.Int64Flag{Name: "cpu-rt-runtime", Usage: "realtime run time in `µs` per period (v1 cpu.rt_runtime_us)"},
	&cli.Uint64Flag{Name: "blkio-weight", Usage: "relative block I/O weight, `N` from 10 to 1000"},
}

var pauseCommand = &cli.Command{
	Name:      "pause",
	Usage:     "freeze every process of a running or created container (cgroup freezer)",
	ArgsUsage: "ID",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return isolate.Pause(c.String("root"), id)
	},
}

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "ID",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return isolate.Resume(c.String("root"), id)
	},
}

var updateCommand = &cli.Command{
	Name:  "update",
	Usage: "change the resource limits of a container",
	UsageText: "contain update --resources FILE|- ID\n" +
		"contain update [--memory BYTES] [--pids-limit N] [--cpus N] ... ID",
	Description: "--resources reads an OCI linux.resources object (JSON) from FILE, or stdin for -.\n" +
		"The other flags change single limits; both forms change only what they name.",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "linux.resources JSON in `FILE` (- for stdin)"},
	}, limitFlags...),
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		r, err := resourcesFromFlags(c)
		if err != nil {
			return err
		}
		if c.IsSet("resources") {
			if r != nil {
				// runc drops the flags without a word; one source of limits is clearer.
				return errors.New("--resources and limit flags together: give the limits one way (the flags, or all of them in the JSON)")
			}
			if r, err = readResources(c.String("resources")); err != nil {
				return err
			}
		}
		return isolate.Update(c.String("root"), id, r, logger)
	},
}

// readResources reads a linux.resources object from a file, or stdin for "-".
func readResources(name string) (*specs.LinuxResources, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
		name = "--resources - (stdin)"
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("--resources: %w", err)
	}
	r, warnings, err := isolate.DecodeResources(data, name)
	for _, w := range warnings {
		logger.Warn(w)
	}
	return r, err
}

// resourcesFromFlags turns the limit flags that were given into linux.resources; nil when
// none was.
func resourcesFromFlags(c *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	set := false
	size := func(name string, dst **int64) error {
		if !c.IsSet(name) || c.String(name) == "" { // runc takes "" for not given
			return nil
		}
		n, err := parseBytes(c.String(name))
		if err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
		*dst, set = &n, true
		return nil
	}
	mem := &specs.LinuxMemory{}
	for name, dst := range map[string]**int64{"memory": &mem.Limit, "memory-swap": &mem.Swap, "memory-reservation": &mem.Reservation} {
		if err := size(name, dst); err != nil {
			return nil, err
		}
	}
	if mem.Limit != nil && mem.Swap == nil && c.Command.Name == "run" {
		mem.Swap = mem.Limit // no swap unless asked: the limit is the limit
	}
	if mem.Swap != nil && mem.Limit == nil && c.Command.Name == "run" {
		// update may change the swap limit alone: the container has a memory limit already.
		return nil, errors.New("--memory-swap: give --memory too (the swap limit is memory and swap together, as in docker run)")
	}
	if *mem != (specs.LinuxMemory{}) {
		r.Memory = mem
	}
	if c.IsSet("pids-limit") {
		n := c.Int64("pids-limit")
		if n == 0 {
			n = -1 // the flag is docker's, where 0 is no limit; in a spec 0 is a limit of 0
		}
		r.Pids, set = &specs.LinuxPids{Limit: &n}, true
	}
	cpu, err := cpuFromFlags(c)
	if err != nil {
		return nil, err
	}
	if cpu != nil {
		r.CPU, set = cpu, true
	}
	if c.IsSet("blkio-weight") {
		w := c.Uint64("blkio-weight")
		if w < 10 || w > 1000 {
			return nil, fmt.Errorf("--blkio-weight %d: want 10 to 1000", w)
		}
		weight := uint16(w)
		r.BlockIO, set = &specs.LinuxBlockIO{Weight: &weight}, true
	}
	if !set {
		return nil, nil
	}
	return r, nil
}

// minQuota is the shortest CFS quota the kernel takes, in µs (cpu.max and cpu.cfs_quota_us
// refuse less with EINVAL; Documentation/scheduler/sched-bwc.rst).
const minQuota = 1000

// maxPeriod is the longest CFS period the kernel takes, in µs (one second).
const maxPeriod = 1_000_000

func cpuFromFlags(c *cli.Context) (*specs.LinuxCPU, error) {
	cpu := &specs.LinuxCPU{Cpus: c.String("cpuset-cpus"), Mems: c.String("cpuset-mems")}
	if c.IsSet("cpu-shares") && c.IsSet("cpu-weight") {
		return nil, errors.New("--cpu-shares and --cpu-weight are two scales for one setting: give one")
	}
	// Out of range, the kernel would clamp them or a conversion would (cpu.shares 1 reads 2).
	// 0 is docker's "the default": not set.
	if c.IsSet("cpu-shares") && c.Uint64("cpu-shares") != 0 {
		n := c.Uint64("cpu-shares")
		if n < 2 || n > 262144 {
			return nil, fmt.Errorf("--cpu-shares %d: want 2 to 262144", n)
		}
		cpu.Shares = &n
	}
	if c.IsSet("cpu-weight") && c.Uint64("cpu-weight") != 0 {
		w := c.Uint64("cpu-weight")
		if w < 1 || w > 10000 {
			return nil, fmt.Errorf("--cpu-weight %d: want 1 to 10000", w)
		}
		// The spec has only shares; each driver maps them back (v2 writes cpu.weight).
		n := cgroups.WeightToShares(w)
		cpu.Shares = &n
	}
	period := uint64(100000)
	if c.IsSet("cpu-period") && c.Uint64("cpu-period") != 0 { // 0: leave it, as runc reads it
		period = c.Uint64("cpu-period")
		if period < minQuota || period > maxPeriod {
			return nil, fmt.Errorf("--cpu-period %d: want %d to %d (µs; the kernel's range, sched-bwc.rst)", period, minQuota, maxPeriod)
		}
		cpu.Period = &period
	}
	if c.IsSet("cpu-quota") {
		q := c.Int64("cpu-quota")
		cpu.Quota = &q
	}
	if c.IsSet("cpu-rt-period") {
		p := c.Uint64("cpu-rt-period")
		cpu.RealtimePeriod = &p
	}
	if c.IsSet("cpu-rt-runtime") {
		r := c.Int64("cpu-rt-runtime")
		cpu.RealtimeRuntime = &r
	}
	if c.IsSet("cpus") {
		if c.IsSet("cpu-quota") {
			return nil, errors.New("--cpus and --cpu-quota both set the quota: give one")
		}
		n := c.Float64("cpus")
		if n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("--cpus %v: want a positive number such as 0.5", n)
		}
		q := int64(math.Round(n * float64(period))) // 0.29 * 100000 is 28999.99...
		// The least value, rounded up to what still makes a quota of minQuota or more.
		least, cpus := math.Ceil(1e4*minQuota/float64(period))/1e4, runtime.NumCPU()
		if q < minQuota {
			return nil, fmt.Errorf("--cpus %v: the kernel's shortest quota is 1 ms of each %d µs period (want %.3g to %d)", n, period, least, cpus)
		}
		if n > float64(cpus) {
			// docker run refuses it too: more than there is, it would limit nothing.
			return nil, fmt.Errorf("--cpus %v: contain may use %d CPUs here (want %.3g to %d)", n, cpus, least, cpus)
		}
		cpu.Quota, cpu.Period = &q, &period
	}
	if *cpu == (specs.LinuxCPU{}) {
		return nil, nil
	}
	return cpu, nil
}

// parseBytes reads a size as runc and docker take one: a number, with a fraction if need be,
// then optionally a space, one of the binary units k, m, g, t, p (any case, 1024-based), an
// "i" and a "b" (64M, 1.5g, 64MiB, "512 kb", 1024); or -1 for no limit.
func parseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	bad := fmt.Errorf("%q: want a size such as 64M, 1.5G, 512k, 64MiB or bytes, or -1", s)
	num := s[:len(s)-len(strings.TrimLeft(s, "0123456789."))]
	unit := strings.ToLower(strings.TrimPrefix(s[len(num):], " "))
	unit = strings.TrimSuffix(unit, "b")
	unit = strings.TrimSuffix(unit, "i")
	shift, ok := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}[unit]
	if !ok || num == "" || num[0] == '.' || strings.Count(num, ".") > 1 {
		return 0, bad
	}
	n, err := strconv.ParseFloat(num, 64)
	size := n * float64(uint64(1)<<shift)
	if err != nil || size < 1 || size >= math.MaxInt64 {
		return 0, bad
	}
	return int64(size), nil
}
