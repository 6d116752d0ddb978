package probe

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteHuman prints the report as aligned sections, for people: a learner reads it on a
// projector, so it favours plain words ("none", "unlimited") over raw values.
func (r *Report) WriteHuman(w io.Writer) {
	h := &humanWriter{w: w}
	r.humanProcess(h)
	r.humanNamespaces(h)
	r.humanFilesystem(h)
	r.humanNetwork(h)
	r.humanIPC(h)
	r.humanPrivileges(h)
	r.humanRlimits(h)
	r.humanFDs(h)
	r.humanEnv(h)
	if len(r.Errors) > 0 {
		h.section("COULD NOT READ")
		for _, e := range r.Errors {
			h.row(e)
		}
	}
	h.flush()
}

// humanWriter writes titled sections whose tab-separated rows are aligned.
type humanWriter struct {
	w     io.Writer
	tw    *tabwriter.Writer
	count int
}

func (h *humanWriter) section(title string) {
	h.flush()
	if h.count > 0 {
		fmt.Fprintln(h.w)
	}
	h.count++
	fmt.Fprintln(h.w, title)
	h.tw = tabwriter.NewWriter(h.w, 0, 0, 2, ' ', 0)
}

// row writes one line made of tab-separated cells.
func (h *humanWriter) row(cells ...string) {
	fmt.Fprintln(h.tw, "  "+strings.Join(cells, "\t"))
}

// wrapped writes key (if any) and then words, starting a new line past width characters.
func (h *humanWriter) wrapped(key string, words []string, width int) {
	keyed := key != ""
	emit := func(line string) {
		if keyed {
			h.row(key, line)
		} else {
			h.row(line)
		}
		key = ""
	}
	line := ""
	for _, word := range words {
		if line != "" && len(line)+1+len(word) > width {
			emit(line)
			line = ""
		}
		line = strings.TrimPrefix(line+" "+word, " ")
	}
	emit(line)
}

func (h *humanWriter) flush() {
	if h.tw != nil {
		h.tw.Flush()
	}
}

func (r *Report) humanProcess(h *humanWriter) {
	h.section("PROCESS")
	h.row("pid", strconv.Itoa(r.PID))
	h.row("ppid", strconv.Itoa(r.PPID))
	h.row("uid", idsText(r.UID), "real effective saved fs")
	h.row("gid", idsText(r.GID), "real effective saved fs")
	h.row("groups", orNone(joinInts(r.Groups)))
	h.row("uid_map", orNone(mapText(r.UIDMap)), "inside outside count")
	h.row("gid_map", orNone(mapText(r.GIDMap)), "inside outside count")
	h.row("hostname", orNone(r.Hostname))
	h.row("domainname", orNone(r.Domainname))
	h.row("cwd", r.Cwd)
	h.row("umask", r.Umask)
	h.row("oom_score_adj", strconv.Itoa(r.OOMScoreAdj))
	h.row("timer_slack_ns", strconv.Itoa(r.TimerSlackNS))
	h.row("cpus", orNone(r.CPUs), "it may run on")
	h.row("session_keyring", orNone(r.SessionKeyring), "keyring;uid;gid;perm;name")
	h.row("tty", ttyText(r.TTY))
	h.section("PIDS IN /proc")
	h.wrapped("", intsText(r.Pids), 72)
}

func (r *Report) humanNamespaces(h *humanWriter) {
	h.section("NAMESPACES (inode of /proc/self/ns/*)")
	for _, name := range namespaceNames {
		if ino, ok := r.Namespaces[name]; ok {
			h.row(name, strconv.FormatUint(ino, 10))
		}
	}
}

func (r *Report) humanFilesystem(h *humanWriter) {
	h.section("ROOT DIRECTORY /")
	h.wrapped("", orNoneList(r.Root), 72)
	h.section("MOUNTS")
	h.row("MOUNT POINT", "TYPE", "SOURCE", "OPTIONS", "PROPAGATION")
	for _, m := range r.Mounts {
		point := m.MountPoint
		if m.Root != "/" {
			point += " (" + m.Root + ")"
		}
		h.row(point, m.FSType, m.Source, m.Options, orPrivate(m.Optional))
	}
	h.section("CGROUP")
	for _, line := range orNoneList(r.Cgroup) {
		h.row(line)
	}
	h.section("CGROUP LIMITS")
	if len(r.CgroupLimits) == 0 {
		h.row("(none visible: no cgroup filesystem shows this process's cgroup)")
	}
	for _, file := range cgroupLimitOrder {
		if value, ok := r.CgroupLimits[file]; ok {
			h.row(file, cgroupLimitText(file, value))
		}
	}
}

func (r *Report) humanNetwork(h *humanWriter) {
	h.section("NETWORK LINKS")
	if len(r.Links) == 0 {
		h.row("none")
	}
	for _, l := range r.Links {
		state := "DOWN"
		if l.Up {
			state = "UP"
		}
		if l.Loopback {
			state += " loopback"
		}
		h.row(strconv.Itoa(l.Index), l.Name, state)
	}
}

func (r *Report) humanIPC(h *humanWriter) {
	h.section("IPC")
	h.row("System V", fmt.Sprintf("%d shm, %d sem, %d msg", r.IPC.Shm, r.IPC.Sem, r.IPC.Msg))
	h.row("POSIX mqueues", strings.Join(orNoneList(r.IPC.MQueues), " "))
}

func (r *Report) humanPrivileges(h *humanWriter) {
	h.section("PRIVILEGES")
	for _, set := range capSets {
		h.wrapped(set.name, capsText(r.Caps[set.name]), 72)
	}
	h.row("no_new_privs", strconv.Itoa(r.NoNewPrivs))
	h.row("seccomp", seccompText(r.Seccomp))
}

func (r *Report) humanRlimits(h *humanWriter) {
	h.section("RESOURCE LIMITS")
	h.row("RESOURCE", "SOFT", "HARD")
	for _, name := range rlimitNames {
		if lim, ok := r.Rlimits[name]; ok {
			h.row(name, limitText(lim.Soft), limitText(lim.Hard))
		}
	}
}

func (r *Report) humanFDs(h *humanWriter) {
	h.section("OPEN FILE DESCRIPTORS")
	if len(r.FDs) == 0 {
		h.row("none")
	}
	for _, fd := range r.FDs {
		h.row(strconv.Itoa(fd.FD), fd.Target)
	}
}

func (r *Report) humanEnv(h *humanWriter) {
	h.section("ENVIRONMENT")
	for _, kv := range orNoneList(r.Env) {
		h.row(kv)
	}
}

// capsText says a capability set in words. Sets are often full or nearly so, and "all but
// CAP_SYS_ADMIN" reads better than forty names.
func capsText(names []string) []string {
	if len(names) == 0 {
		return []string{"none"}
	}
	var missing, unnamed []string
	for _, name := range capabilityNames {
		if !slices.Contains(names, name) {
			missing = append(missing, name)
		}
	}
	for _, name := range names {
		if !slices.Contains(capabilityNames, name) {
			unnamed = append(unnamed, name)
		}
	}
	if len(missing) > len(capabilityNames)/4 {
		return names
	}
	words := []string{"all"}
	if len(missing) > 0 {
		words = append(append(words, "but"), missing...)
	}
	words = append(words, fmt.Sprintf("(%d of %d)", len(capabilityNames)-len(missing), len(capabilityNames)))
	if len(unnamed) > 0 {
		words = append(append(words, "plus"), unnamed...)
	}
	return words
}

func idsText(ids []int) string {
	if len(ids) == 0 {
		return "?"
	}
	return joinInts(ids)
}

func joinInts(ns []int) string { return strings.Join(intsText(ns), " ") }

func intsText(ns []int) []string {
	words := make([]string, len(ns))
	for i, n := range ns {
		words[i] = strconv.Itoa(n)
	}
	return words
}

// mapText squeezes the padded columns of a uid_map or gid_map onto one line.
func mapText(raw string) string {
	var lines []string
	for line := range strings.SplitSeq(raw, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	return strings.Join(lines, "; ")
}

func ttyText(t TTY) string {
	var parts []string
	for _, s := range []struct {
		name string
		tty  bool
	}{{"stdin", t.Stdin}, {"stdout", t.Stdout}, {"stderr", t.Stderr}} {
		if s.tty {
			parts = append(parts, s.name)
		}
	}
	if parts == nil {
		return "no terminal"
	}
	text := strings.Join(parts, " ")
	if t.Rows > 0 || t.Cols > 0 {
		text += fmt.Sprintf(", %d columns x %d rows", t.Cols, t.Rows)
	}
	return text
}

func seccompText(mode int) string {
	switch mode {
	case 0:
		return "0 (off)"
	case 1:
		return "1 (strict)"
	case 2:
		return "2 (filter)"
	}
	return strconv.Itoa(mode)
}

func limitText(v uint64) string {
	if v == math.MaxUint64 {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func orNoneList(list []string) []string {
	if len(list) == 0 {
		return []string{"(none)"}
	}
	return list
}

func orPrivate(optional []string) string {
	if len(optional) == 0 {
		return "private"
	}
	return strings.Join(optional, " ")
}
