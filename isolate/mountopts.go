package isolate

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOptions is a spec mount's option list, sorted into what mount(2) takes as flags,
// what it takes as filesystem data, and what needs a second call (propagation).
type mountOptions struct {
	flags       uintptr  // MS_* flags for the mount call
	bind        bool     // "bind" or "rbind"
	recursive   bool     // "rbind", or an "r"-prefixed propagation
	propagation uintptr  // MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE (with MS_REC)
	data        []string // everything else: passed to the filesystem (mode=755, size=...)
	tmpcopyup   bool     // tmpfs only: copy what the mount covers into it (crun's extension)
}

type flagOption struct {
	clear bool
	flag  uintptr
}

// flagOptions are the mount(8) option names that are mount(2) flags.
var flagOptions = map[string]flagOption{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"sync":        {false, unix.MS_SYNCHRONOUS},
	"async":       {true, unix.MS_SYNCHRONOUS},
	"dirsync":     {false, unix.MS_DIRSYNC},
	"remount":     {false, unix.MS_REMOUNT},
	"mand":        {false, unix.MS_MANDLOCK},
	"nomand":      {true, unix.MS_MANDLOCK},
	"atime":       {true, unix.MS_NOATIME},
	"noatime":     {false, unix.MS_NOATIME},
	"diratime":    {true, unix.MS_NODIRATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"norelatime":  {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"silent":      {false, unix.MS_SILENT},
	"loud":        {true, unix.MS_SILENT},
	"defaults":    {false, 0},
}

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

// parseMountOptions sorts options; it refuses option names that cannot be right.
func parseMountOptions(options []string) (mountOptions, error) {
	var o mountOptions
	for _, opt := range options {
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
		case strings.HasPrefix(opt, "x-"): // userspace-only (mount(8)); the kernel never sees them
		case opt == "":
			return o, fmt.Errorf("empty mount option")
		default:
			if f, ok := flagOptions[opt]; ok {
				if f.clear {
					o.flags &^= f.flag
				} else {
					o.flags |= f.flag
				}
				continue
			}
			if strings.ContainsAny(opt, ",\x00") {
				return o, fmt.Errorf("mount option %q: contains a comma or NUL", opt)
			}
			o.data = append(o.data, opt)
		}
	}
	return o, nil
}

// mountAttr translates MS_* flags into mount_setattr(2) attributes, used to change a bind
// mount's flags recursively in one call (a remount changes one mount only).
func mountAttr(flags uintptr) *unix.MountAttr {
	attr := &unix.MountAttr{}
	set := func(ms uintptr, a uint64) {
		if flags&ms != 0 {
			attr.Attr_set |= a
		} else {
			attr.Attr_clr |= a
		}
	}
	set(unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY)
	set(unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID)
	set(unix.MS_NODEV, unix.MOUNT_ATTR_NODEV)
	set(unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC)
	set(unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME)
	// The atime modes are one field: clear it, then set the one asked for (relatime by default).
	attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
	switch {
	case flags&unix.MS_NOATIME != 0:
		attr.Attr_set |= unix.MOUNT_ATTR_NOATIME
	case flags&unix.MS_STRICTATIME != 0:
		attr.Attr_set |= unix.MOUNT_ATTR_STRICTATIME
	default:
		attr.Attr_set |= unix.MOUNT_ATTR_RELATIME
	}
	return attr
}
