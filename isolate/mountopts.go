package isolate

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOptions is a spec mount's option list, sorted into what mount(2) takes as flags,
// what mount_setattr(2) takes as attributes, what the filesystem takes as data, and what
// needs a call of its own (propagation).
type mountOptions struct {
	flags       uintptr  // MS_* flags for mounting a new filesystem
	attrSet     uint64   // MOUNT_ATTR_* asked to be set on the mount itself, for mount_setattr(2)
	attrClr     uint64   // MOUNT_ATTR_* asked to be cleared on it
	rAttrSet    uint64   // set by "r"-prefixed options (rro, rnosuid...), on every mount below
	rAttrClr    uint64   // cleared by them
	atime       uintptr  // the MS_*ATIME flags the plain options leave set (see atimeOptions)
	rAtime      uintptr  // the same for the "r"-prefixed ones
	bind        bool     // "bind" or "rbind"
	recursive   bool     // "rbind": the mounts below the source come too
	recAttr     bool     // an "r"-prefixed flag was given
	propagation uintptr  // MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE (with MS_REC)
	data        []string // everything else: passed to the filesystem (mode=755, size=...)
	tmpcopyup   bool     // tmpfs only: copy what the mount covers into it (crun's extension)
	idmap       bool     // "idmap" or "ridmap": an idmapped mount
}

type flagOption struct {
	clear bool
	flag  uintptr // the MS_* flag for mount(2)
	attr  uint64  // the MOUNT_ATTR_* of a bind mount; 0 for a filesystem's own flags (sync...)
}

// flagOptions are the mount(8) option names that are mount(2) flags. Each but the atime ones
// also exists "r"-prefixed (rro, rnosuid...): the runtime-spec's recursive options.
var flagOptions = map[string]flagOption{
	"ro":          {false, unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
	"rw":          {true, unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	"suid":        {true, unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	"nodev":       {false, unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
	"dev":         {true, unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
	"noexec":      {false, unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	"nodiratime":  {false, unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	"diratime":    {true, unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	"nosymfollow": {false, unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"symfollow":   {true, unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"sync":        {false, unix.MS_SYNCHRONOUS, 0},
	"async":       {true, unix.MS_SYNCHRONOUS, 0},
	"dirsync":     {false, unix.MS_DIRSYNC, 0},
	"remount":     {false, unix.MS_REMOUNT, 0},
	"mand":        {false, unix.MS_MANDLOCK, 0},
	"nomand":      {true, unix.MS_MANDLOCK, 0},
	"iversion":    {false, unix.MS_I_VERSION, 0},
	"noiversion":  {true, unix.MS_I_VERSION, 0},
	"lazytime":    {false, unix.MS_LAZYTIME, 0},
	"nolazytime":  {true, unix.MS_LAZYTIME, 0},
	"silent":      {false, unix.MS_SILENT, 0},
	"loud":        {true, unix.MS_SILENT, 0},
	"defaults":    {false, 0, 0},
}

// atimeOptions set or clear one access-time flag each, as mount(8) and runc have them
// ("atime" clears MS_NOATIME, "norelatime" MS_RELATIME, "nostrictatime" MS_STRICTATIME), and
// the kernel makes the mode of what is left: strictatime over noatime over relatime, its
// default (path_mount in fs/namespace.c). So "noatime,norelatime" is noatime and
// "strictatime,atime" strictatime, as runc and util-linux make them; mount_setattr(2) takes
// the mode that results (atimeAttr).
var atimeOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"atime":         {true, unix.MS_NOATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
}

// atimeAttr is the mount_setattr(2) access-time mode the kernel makes of the flags bits.
func atimeAttr(bits uintptr) uint64 {
	switch {
	case bits&unix.MS_STRICTATIME != 0:
		return unix.MOUNT_ATTR_STRICTATIME
	case bits&unix.MS_NOATIME != 0:
		return unix.MOUNT_ATTR_NOATIME
	}
	return unix.MOUNT_ATTR_RELATIME
}

const atimeFlags = unix.MS_RELATIME | unix.MS_NOATIME | unix.MS_STRICTATIME

var propagationOptions = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseMountOptions sorts options; it refuses option names that cannot be right. An option
// that holds commas is the options between them, as the kernel would split them ("uid=0,gid=0",
// which runc passes on as data); an empty one is none.
func parseMountOptions(options []string) (mountOptions, error) {
	var o mountOptions
	for _, opt := range splitOptions(options) {
		switch {
		case opt == "bind":
			o.bind = true
		case opt == "rbind":
			o.bind, o.recursive = true, true
		case propagationOptions[opt] != 0:
			o.propagation = propagationOptions[opt]
		case opt == "tmpcopyup": // podman asks for it on --tmpfs and --read-only mounts
			o.tmpcopyup = true
		case opt == "notmpcopyup":
			o.tmpcopyup = false
		case opt == "idmap" || opt == "ridmap":
			o.idmap = true
		case strings.HasPrefix(opt, "x-"): // userspace-only (mount(8)); the kernel never sees them
		case o.flag(opt) || o.recursiveFlag(opt):
		default:
			if strings.Contains(opt, "\x00") {
				return o, fmt.Errorf("mount option %q: contains a NUL", opt)
			}
			o.data = append(o.data, opt)
		}
	}
	return o, nil
}

// splitOptions splits options that hold commas and drops empty ones.
func splitOptions(options []string) []string {
	out := make([]string, 0, len(options))
	for _, opt := range options {
		for part := range strings.SplitSeq(opt, ",") {
			if part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// flag applies opt when it is a flag or an atime option, and says whether it was one.
func (o *mountOptions) flag(opt string) bool {
	return apply(opt, &o.flags, &o.atime, &o.attrSet, &o.attrClr)
}

// apply applies the flag or atime option opt to the MS_* flags (nil for the "r"-prefixed
// options, which are attributes alone: an MS_RDONLY would make a new filesystem itself
// read-only, which no later "rw" on the mount undoes), to the atime flags and to the
// attributes set and clr, and says whether opt was one.
func apply(opt string, flags, atime *uintptr, set, clr *uint64) bool {
	if a, ok := atimeOptions[opt]; ok {
		if a.clear {
			*atime &^= a.flag
		} else {
			*atime |= a.flag
		}
		if flags != nil {
			*flags = *flags&^atimeFlags | *atime
		}
		*clr |= unix.MOUNT_ATTR__ATIME
		*set = *set&^unix.MOUNT_ATTR__ATIME | atimeAttr(*atime)
		return true
	}
	f, ok := flagOptions[opt]
	if !ok {
		return false
	}
	if f.clear {
		if flags != nil {
			*flags &^= f.flag
		}
		*set, *clr = *set&^f.attr, *clr|f.attr
	} else {
		if flags != nil {
			*flags |= f.flag
		}
		*set, *clr = *set|f.attr, *clr&^f.attr
	}
	return true
}

// recursiveFlag applies a runtime-spec recursive option ("rro" is "ro" on every mount below
// the destination too), and says whether opt was one. They exist only as attributes of
// mount_setattr(2) with AT_RECURSIVE.
func (o *mountOptions) recursiveFlag(opt string) bool {
	base, ok := strings.CutPrefix(opt, "r")
	if !ok {
		return false
	}
	_, isAtime := atimeOptions[base]
	if f, isFlag := flagOptions[base]; !isAtime && (!isFlag || f.attr == 0) {
		return false
	}
	apply(base, nil, &o.rAtime, &o.rAttrSet, &o.rAttrClr)
	o.recAttr = true
	return true
}

// attr is what mount_setattr(2) must change on the mount itself: only the flags the options
// name, so that a bind mount keeps the rest of its source's (a noexec or nosuid source stays
// so, as in runc). A plain flag changes that mount only, not those an rbind brings along
// below it, as config.md has it: "rw" is not "rrw".
func (o mountOptions) attr() *unix.MountAttr {
	return &unix.MountAttr{Attr_set: o.attrSet, Attr_clr: o.attrClr}
}

// endsReadOnly says whether the mount itself ends read-only: the plain "ro" or "rw" decides,
// else "rro" or "rrw", else the flags the mount is made with.
func (o mountOptions) endsReadOnly() bool {
	switch {
	case o.attrSet&unix.MOUNT_ATTR_RDONLY != 0:
		return true
	case o.attrClr&unix.MOUNT_ATTR_RDONLY != 0:
		return false
	case o.rAttrSet&unix.MOUNT_ATTR_RDONLY != 0:
		return true
	case o.rAttrClr&unix.MOUNT_ATTR_RDONLY != 0:
		return false
	}
	return o.flags&unix.MS_RDONLY != 0
}

// rAttr is what the "r"-prefixed options change, on every mount below the destination.
func (o mountOptions) rAttr() *unix.MountAttr {
	return &unix.MountAttr{Attr_set: o.rAttrSet, Attr_clr: o.rAttrClr}
}
