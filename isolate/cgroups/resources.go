package cgroups

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A write is one value for one control file. ctrl names the v1 hierarchy that holds the file
// ("" on v2, where every file is in the one directory).
type write struct {
	ctrl, file, value string
}

// limits collects the writes that apply a specs.LinuxResources, in order, and the settings
// the host's cgroup version cannot apply.
type limits struct {
	writes   []write
	warnings []string
}

func (l *limits) add(ctrl, file, value string) {
	l.writes = append(l.writes, write{ctrl, file, value})
}

func (l *limits) warn(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

// maxOr is the value of a limit file: a number, or "max" for none (negative or, where
// zero means nothing sensible, zero).
func maxOr(v int64, zeroIsMax bool) string {
	if v < 0 || (v == 0 && zeroIsMax) {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func itoa[T int64 | uint64](v T) string { return fmt.Sprint(v) }

// SharesToWeight converts cgroup v1 cpu.shares (2..262144, default 1024) to cgroup v2
// cpu.weight (1..10000, default 100) with the linear map the kernel documentation and the
// other runtimes use, so that a spec means the same on both versions.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// WeightToShares is the inverse of SharesToWeight, for the --cpu-weight flag on v1 hosts.
func WeightToShares(weight uint64) uint64 {
	if weight == 0 {
		return 0
	}
	weight = min(max(weight, 1), 10000)
	return 2 + ((weight-1)*262142+9998)/9999
}

// blkioToIOWeight maps v1 blkio.weight (10..1000) to v2 io.weight (1..10000).
func blkioToIOWeight(w uint16) uint64 {
	return 1 + (uint64(max(w, 10))-10)*9999/990
}

// checkMemory refuses a swappiness no kernel takes, as runc does, except -1 (all bits set in
// the spec's unsigned field), which Docker sends for "the default"; and it says that
// checkBeforeUpdate is not applied.
func checkMemory(l *limits, m *specs.LinuxMemory) error {
	if s := m.Swappiness; s != nil && *s > 100 && *s != math.MaxUint64 {
		return fmt.Errorf("linux.resources.memory.swappiness %d: must be 0 to 100", *s)
	}
	if m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate {
		l.warn("linux.resources.memory.checkBeforeUpdate is not supported; the limit is written as it is")
	}
	return nil
}

// zeroNotSet is r with the values runc 1.1 reads as "not set" when 0 left out, with a
// warning for each: memory.limit, memory.reservation and pids.limit. Engines made for runc
// send them so: podman 4.3 (Debian 12's) sends pids.limit 0 for --pids-limit -1, "no limit".
// Written as they are, a memory limit of 0 kills init at its first page and a pids limit of 0
// refuses every fork. Runtime-spec 1.3 says a pids limit of 0 SHOULD be one; contain keeps
// to the engines it runs under, and says so. The caller's r is not changed.
func zeroNotSet(l *limits, r *specs.LinuxResources) *specs.LinuxResources {
	zero := func(v *int64) bool { return v != nil && *v == 0 }
	m, p := r.Memory, r.Pids
	if !(m != nil && (zero(m.Limit) || zero(m.Reservation)) || p != nil && zero(p.Limit)) {
		return r
	}
	out := *r
	if m != nil {
		mem := *m
		if zero(mem.Limit) {
			l.warn("linux.resources.memory.limit 0 is taken as not set, as runc reads it (-1 is no limit)")
			mem.Limit = nil
		}
		if zero(mem.Reservation) {
			l.warn("linux.resources.memory.reservation 0 is taken as not set, as runc reads it")
			mem.Reservation = nil
		}
		out.Memory = &mem
	}
	if p != nil && zero(p.Limit) {
		l.warn("linux.resources.pids.limit 0 is taken as not set, as runc 1.1 and the engines made for it read it (-1 is no limit)")
		out.Pids = nil
	}
	return &out
}

// swapSet reports whether the spec sets swap: 0 means "not set", as in runc.
func swapSet(m *specs.LinuxMemory) bool { return m.Swap != nil && *m.Swap != 0 }

// checkSwap refuses a swap below the limit: the spec's swap is memory+swap (-1 for either: no
// limit). Checked before any write, so that such an update changes nothing.
func checkSwap(m *specs.LinuxMemory) error {
	if swapSet(m) && m.Limit != nil && *m.Swap > 0 && *m.Limit >= 0 && *m.Swap < *m.Limit {
		return fmt.Errorf("linux.resources.memory.swap %d is below memory.limit %d (swap is memory+swap)", *m.Swap, *m.Limit)
	}
	return nil
}

// v1Limits converts resources to cgroup v1 files. has says which controllers the host has;
// has("unified"), whether a cgroup2 hierarchy is mounted beside (hybrid), where the
// controllers that v1 lacks may live.
func v1Limits(r *specs.LinuxResources, has func(ctrl string) bool) (*limits, error) {
	l := &limits{}
	if r == nil {
		return l, nil
	}
	r = zeroNotSet(l, r)
	if m := r.Memory; m != nil {
		if err := memoryV1(l, m, has); err != nil {
			return nil, err
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		l.add("pids", "pids.max", maxOr(*p.Limit, false))
	}
	if c := r.CPU; c != nil {
		cpuV1(l, c)
	}
	if b := r.BlockIO; b != nil {
		blkioV1(l, b, has)
	}
	if err := checkPagesizes(r.HugepageLimits); err != nil {
		return nil, err
	}
	for _, h := range r.HugepageLimits {
		if has("hugetlb") {
			l.add("hugetlb", "hugetlb."+h.Pagesize+".limit_in_bytes", itoa(h.Limit))
		} else { // hybrid: hugetlb lives in the cgroup2 hierarchy
			l.add("unified", "hugetlb."+h.Pagesize+".max", itoa(h.Limit))
		}
	}
	for _, d := range r.Devices {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		for _, rule := range deviceRules(d) {
			l.add("devices", file, rule)
		}
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			l.add("net_cls", "net_cls.classid", itoa(uint64(*n.ClassID)))
		}
		for _, p := range n.Priorities {
			l.add("net_prio", "net_prio.ifpriomap", p.Name+" "+itoa(uint64(p.Priority)))
		}
	}
	for dev, rd := range r.Rdma {
		l.add("rdma", "rdma.max", rdmaLine(dev, rd))
	}
	if len(r.Unified) > 0 {
		if !has("unified") {
			return nil, fmt.Errorf("linux.resources.unified needs cgroup v2; this host has only v1 hierarchies")
		}
		if _, ok := r.Unified["cgroup.freeze"]; ok {
			// pause, resume, state and exec go by the v1 freezer here: a container frozen
			// behind their back would read "running" and hang the next exec.
			return nil, errors.New("linux.resources.unified: cgroup.freeze on a hybrid host, where the v1 freezer is what contain pauses with: use contain pause and resume")
		}
		if err := unifiedWrites(l, "unified", r.Unified); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// memoryV1 converts linux.resources.memory to the v1 memory controller's files.
func memoryV1(l *limits, m *specs.LinuxMemory, has func(ctrl string) bool) error {
	if err := checkMemory(l, m); err != nil {
		return err
	}
	if has("memsw") { // without swap accounting, swap is a warning below
		if err := checkSwap(m); err != nil {
			return err
		}
	}
	if m.Limit != nil {
		l.add("memory", "memory.limit_in_bytes", itoa(*m.Limit))
	}
	if swapSet(m) {
		if has("memsw") {
			l.add("memory", "memory.memsw.limit_in_bytes", itoa(*m.Swap))
		} else {
			l.warn("linux.resources.memory.swap: this kernel has no swap accounting (memory.memsw.*); not applied")
		}
	}
	if m.Reservation != nil {
		l.add("memory", "memory.soft_limit_in_bytes", itoa(*m.Reservation))
	}
	if m.Kernel != nil { //nolint:staticcheck // deprecated in the spec, still read
		l.warn("linux.resources.memory.kernel: kernel memory limits are obsolete since Linux 5.4; not applied")
	}
	if m.KernelTCP != nil {
		l.add("memory", "memory.kmem.tcp.limit_in_bytes", itoa(*m.KernelTCP))
	}
	if m.Swappiness != nil && *m.Swappiness <= 100 {
		l.add("memory", "memory.swappiness", itoa(*m.Swappiness))
	}
	if m.DisableOOMKiller != nil {
		l.add("memory", "memory.oom_control", map[bool]string{true: "1", false: "0"}[*m.DisableOOMKiller])
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy {
		// Since Linux 5.11 memory.use_hierarchy reads 1 and refuses 0 (runc never writes it).
		l.warn("linux.resources.memory.useHierarchy false: not applied (runc never writes it, and since Linux 5.11 the kernel refuses it: memory cgroups are always hierarchical)")
	}
	return nil
}

// cpuV1 converts linux.resources.cpu to the v1 cpu and cpuset controllers' files.
func cpuV1(l *limits, c *specs.LinuxCPU) {
	// An idle group refuses shares (EINVAL): leaving idle comes first, entering it last.
	if c.Idle != nil && *c.Idle == 0 {
		l.add("cpu", "cpu.idle", "0")
	}
	if c.Shares != nil && *c.Shares != 0 {
		l.add("cpu", "cpu.shares", itoa(*c.Shares))
	}
	if c.Period != nil && *c.Period != 0 {
		l.add("cpu", "cpu.cfs_period_us", itoa(*c.Period))
	}
	if c.Quota != nil && *c.Quota != 0 {
		l.add("cpu", "cpu.cfs_quota_us", itoa(*c.Quota))
	}
	if c.Burst != nil {
		l.add("cpu", "cpu.cfs_burst_us", itoa(*c.Burst))
	}
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		l.add("cpu", "cpu.rt_period_us", itoa(*c.RealtimePeriod))
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		l.add("cpu", "cpu.rt_runtime_us", itoa(*c.RealtimeRuntime))
	}
	if c.Idle != nil && *c.Idle != 0 {
		l.add("cpu", "cpu.idle", itoa(*c.Idle))
	}
	if c.Cpus != "" {
		l.add("cpuset", "cpuset.cpus", c.Cpus)
	}
	if c.Mems != "" {
		l.add("cpuset", "cpuset.mems", c.Mems)
	}
}

func blkioV1(l *limits, b *specs.LinuxBlockIO, has func(string) bool) {
	weightFile := "blkio.weight"
	if !has("blkio.weight") {
		weightFile = "blkio.bfq.weight" // kernels whose only proportional scheduler is BFQ
	}
	if b.Weight != nil && *b.Weight != 0 {
		l.add("blkio", weightFile, itoa(uint64(*b.Weight)))
	}
	leafWeights := has("blkio.leaf_weight") // CFQ's; gone with it in Linux 5.0
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if leafWeights {
			l.add("blkio", "blkio.leaf_weight", itoa(uint64(*b.LeafWeight)))
		} else {
			l.warn("linux.resources.blockIO.leafWeight: this kernel has no blkio.leaf_weight (CFQ is gone); not applied")
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			l.add("blkio", weightFile+"_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
		}
		if d.LeafWeight != nil && leafWeights {
			l.add("blkio", "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight))
		} else if d.LeafWeight != nil {
			l.warn("linux.resources.blockIO.weightDevice %d:%d leafWeight: this kernel has no blkio.leaf_weight_device; not applied", d.Major, d.Minor)
		}
	}
	throttle := []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	}
	for _, t := range throttle {
		for _, d := range t.devs {
			l.add("blkio", t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate))
		}
	}
}

// deviceRules are the devices.allow/deny lines of a rule: "TYPE MAJOR:MINOR ACCESS", * for
// any. The v1 controller reads an "a" line as "every device" whatever numbers follow (it
// resets the cgroup to allow or deny all: devcgroup_update_access), where the spec's type "a"
// (or none) with a major or a minor means those numbers of any type: that is a "b" and a "c"
// line, or a narrow allow would grant every device, and a narrow deny take back every allow.
func deviceRules(d specs.LinuxDeviceCgroup) []string {
	if (d.Type == "" || d.Type == "a") && (d.Major != nil && *d.Major >= 0 || d.Minor != nil && *d.Minor >= 0) {
		b, c := d, d
		b.Type, c.Type = "b", "c"
		return []string{deviceRule(b), deviceRule(c)}
	}
	return []string{deviceRule(d)}
}

// deviceRule is the devices.allow/deny line of a rule of one type, or of "a" for all.
func deviceRule(d specs.LinuxDeviceCgroup) string {
	kind, access := d.Type, d.Access
	if kind == "" {
		kind = "a"
	}
	if access == "" {
		access = "rwm"
	}
	num := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return itoa(*n)
	}
	return fmt.Sprintf("%s %s:%s %s", kind, num(d.Major), num(d.Minor), access)
}

func rdmaLine(dev string, r specs.LinuxRdma) string {
	line := dev
	if r.HcaHandles != nil {
		line += " hca_handle=" + itoa(uint64(*r.HcaHandles))
	}
	if r.HcaObjects != nil {
		line += " hca_object=" + itoa(uint64(*r.HcaObjects))
	}
	return line
}

// checkPagesizes refuses a hugepageLimits pageSize that is not one the kernel names its files
// by ("2MB", "1GB", "64KB": hugetlb_cgroup.c, mem_fmt): it becomes part of a file name.
func checkPagesizes(limits []specs.LinuxHugepageLimit) error {
	for _, h := range limits {
		number, unit := "", ""
		if n := len(h.Pagesize); n > 2 {
			number, unit = h.Pagesize[:n-2], h.Pagesize[n-2:]
		}
		if _, err := strconv.ParseUint(number, 10, 32); err != nil || (unit != "KB" && unit != "MB" && unit != "GB") {
			return fmt.Errorf("linux.resources.hugepageLimits: pageSize %q is not a huge page size such as 2MB or 1GB", h.Pagesize)
		}
	}
	return nil
}

// unifiedWrites adds linux.resources.unified: control file names and values given verbatim.
// A name is one file of the cgroup's own directory, nothing else.
func unifiedWrites(l *limits, ctrl string, unified map[string]string) error {
	for file, value := range unified {
		if file == "" || strings.ContainsAny(file, "/\x00") || strings.HasPrefix(file, ".") || strings.HasPrefix(file, "cgroup.") && file != "cgroup.freeze" {
			return fmt.Errorf("linux.resources.unified: %q is not a resource control file", file)
		}
		l.add(ctrl, file, value)
	}
	return nil
}

// v2Limits converts resources to cgroup v2 files. current reads a file's present value, for
// settings split across two spec fields (cpu.max holds both quota and period).
func v2Limits(r *specs.LinuxResources, current func(file string) string) (*limits, error) {
	l := &limits{}
	if r == nil {
		return l, nil
	}
	if c := r.CPU; c != nil {
		// cpuset first: a memory or cpu setting never depends on it, but the cpuset must be
		// valid before any process joins.
		if c.Cpus != "" {
			l.add("", "cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			l.add("", "cpuset.mems", c.Mems)
		}
	}
	r = zeroNotSet(l, r)
	if m := r.Memory; m != nil {
		if err := memoryV2(l, m); err != nil {
			return nil, err
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		l.add("", "pids.max", maxOr(*p.Limit, false))
	}
	if c := r.CPU; c != nil {
		cpuV2(l, c, current)
	}
	if b := r.BlockIO; b != nil {
		ioV2(l, b, current)
	}
	if err := checkPagesizes(r.HugepageLimits); err != nil {
		return nil, err
	}
	for _, h := range r.HugepageLimits {
		l.add("", "hugetlb."+h.Pagesize+".max", itoa(h.Limit))
		if current("hugetlb."+h.Pagesize+".rsvd.max") != "" { // reservations too, where the kernel has them
			l.add("", "hugetlb."+h.Pagesize+".rsvd.max", itoa(h.Limit))
		}
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		l.warn("linux.resources.network: net_cls and net_prio do not exist on cgroup v2; not applied")
	}
	for dev, rd := range r.Rdma {
		l.add("", "rdma.max", rdmaLine(dev, rd))
	}
	if err := unifiedWrites(l, "", r.Unified); err != nil {
		return nil, err
	}
	return l, nil
}

func memoryV2(l *limits, m *specs.LinuxMemory) error {
	if err := errors.Join(checkMemory(l, m), checkSwap(m)); err != nil {
		return err
	}
	if m.Reservation != nil {
		l.add("", "memory.low", maxOr(*m.Reservation, false))
	}
	if m.Limit != nil {
		l.add("", "memory.max", maxOr(*m.Limit, false))
	}
	// The spec's swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone.
	if swapSet(m) {
		switch {
		case *m.Swap < 0:
			l.add("", "memory.swap.max", "max")
		case m.Limit == nil || *m.Limit < 0:
			return fmt.Errorf("linux.resources.memory.swap %d needs memory.limit on cgroup v2 (swap is memory+swap)", *m.Swap)
		default: // not below the limit: checkSwap saw to that

			l.add("", "memory.swap.max", itoa(*m.Swap-*m.Limit))
		}
	} else if m.Limit != nil && *m.Limit < 0 {
		// No memory limit and no swap named: no swap limit either, as v1's memsw follows
		// memory there (and runc reads it so).
		l.add("", "memory.swap.max", "max")
	}
	if m.Kernel != nil || m.KernelTCP != nil { //nolint:staticcheck // deprecated in the spec, still read
		l.warn("linux.resources.memory.kernel and kernelTCP do not exist on cgroup v2; not applied")
	}
	if m.Swappiness != nil && *m.Swappiness <= 100 {
		l.warn("linux.resources.memory.swappiness does not exist on cgroup v2; not applied")
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		l.warn("linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer; not applied")
	}
	return nil
}

func cpuV2(l *limits, c *specs.LinuxCPU, current func(string) string) {
	// An idle group refuses a weight (EINVAL): leaving idle comes first, entering it last.
	if c.Idle != nil && *c.Idle == 0 {
		l.add("", "cpu.idle", "0")
	}
	if c.Shares != nil && *c.Shares != 0 {
		l.add("", "cpu.weight", itoa(SharesToWeight(*c.Shares)))
	}
	if (c.Quota != nil && *c.Quota != 0) || (c.Period != nil && *c.Period != 0) {
		quota, period := "max", "100000"
		if cur := strings.Fields(current("cpu.max")); len(cur) == 2 {
			quota, period = cur[0], cur[1]
		}
		if c.Quota != nil && *c.Quota != 0 {
			quota = maxOr(*c.Quota, true)
		}
		if c.Period != nil && *c.Period != 0 {
			period = itoa(*c.Period)
		}
		l.add("", "cpu.max", quota+" "+period)
	}
	if c.Burst != nil {
		l.add("", "cpu.max.burst", itoa(*c.Burst))
	}
	if c.Idle != nil && *c.Idle != 0 {
		l.add("", "cpu.idle", itoa(*c.Idle))
	}
	if c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
		l.warn("linux.resources.cpu.realtimeRuntime/realtimePeriod do not exist on cgroup v2; not applied")
	}
}

// ioV2 writes the block I/O settings. A weight goes where the kernel reads it: to
// io.bfq.weight when the cgroup has one (the BFQ scheduler, which takes blkio's 10..1000
// scale as it is), as runc does, else to io.weight (blk-iocost, 1..10000). Per-device weights
// go to BFQ only where it takes them ("default N" in the file, Linux 5.4).
func ioV2(l *limits, b *specs.LinuxBlockIO, current func(file string) string) {
	bfq := ""
	if b.Weight != nil || len(b.WeightDevice) > 0 {
		bfq = current("io.bfq.weight")
	}
	if b.Weight != nil && *b.Weight != 0 {
		if bfq != "" {
			l.add("", "io.bfq.weight", itoa(uint64(*b.Weight)))
		} else {
			l.add("", "io.weight", "default "+itoa(blkioToIOWeight(*b.Weight)))
		}
	}
	leaf := b.LeafWeight != nil
	for _, d := range b.WeightDevice {
		switch {
		case d.Weight == nil:
		case strings.HasPrefix(bfq, "default"):
			l.add("", "io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
		default:
			l.add("", "io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, blkioToIOWeight(*d.Weight)))
		}
		leaf = leaf || d.LeafWeight != nil
	}
	if leaf {
		l.warn("linux.resources.blockIO leafWeight does not exist on cgroup v2; not applied")
	}
	throttle := []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice}, {"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice}, {"wiops", b.ThrottleWriteIOPSDevice},
	}
	for _, t := range throttle {
		for _, d := range t.devs {
			l.add("", "io.max", fmt.Sprintf("%d:%d %s=%d", d.Major, d.Minor, t.key, d.Rate))
		}
	}
}
