package isolate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCapabilities is Docker's default capability set: what `docker run` users expect a
// container to be allowed without --cap-add. See capabilities(7).
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultPath is the PATH a container gets unless its spec says otherwise.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultSpec returns the spec `contain spec` writes and `contain run` (quick form) runs:
// new pid, mount, uts, ipc, network and cgroup namespaces, a fresh /proc, a read-only /sys, the
// runtime's own /dev, the usual masked and read-only paths, Docker's capabilities with
// inheritable and ambient empty, and no_new_privs.
func DefaultSpec() *specs.Spec {
	caps := append([]string(nil), DefaultCapabilities...)
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: []string{"sh"},
			Env:  []string{DefaultPath},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "contain",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			// Deny every device, then the runtime allows the ones it makes (see withRuntimeDevices).
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			MaskedPaths: append([]string{
				"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/sys/firmware", "/proc/scsi", "/sys/devices/virtual/powercap",
			}, thermalThrottlePaths()...),
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
}

// thermalThrottlePaths are the host CPUs' throttling counters, which tell a container about
// the host's load and its neighbours' (masked by Docker since GHSA-6fw5-f8r9-fgfm): one
// directory per CPU, so listed for this host's CPUs.
func thermalThrottlePaths() []string {
	paths, _ := filepath.Glob("/sys/devices/system/cpu/cpu*/thermal_throttle")
	return paths
}

// LoadSpec reads bundle/config.json. A field this version of the spec does not know is a
// warning, not an error: newer engines may send newer configs.
func LoadSpec(bundle string) (*specs.Spec, []string, error) {
	path := filepath.Join(bundle, "config.json")
	var spec specs.Spec
	warnings, err := loadJSON(path, &spec, "make one with: contain spec --bundle "+bundle)
	if err != nil {
		return nil, nil, err
	}
	return &spec, warnings, nil
}

// LoadProcess reads a process (config.md's "process" object) from path, as `exec --process`
// takes it, with the same warnings as LoadSpec for fields it does not know.
func LoadProcess(path string) (*specs.Process, []string, error) {
	var p specs.Process
	warnings, err := loadJSON(path, &p, "")
	if err != nil {
		return nil, nil, err
	}
	return &p, warnings, nil
}

// DecodeResources reads a linux.resources object, as `update --resources` takes it, from
// data, which came from name; a member it does not know is a warning, as in a config.json.
// An object that names no limit at all (`{}`, `null`) is nil resources, which change
// nothing, with a warning: runc takes it without a word, and an engine may send one, but
// from a person it is likely a mistake.
func DecodeResources(data []byte, name string) (*specs.LinuxResources, []string, error) {
	var r specs.LinuxResources
	warnings, err := decodeWithWarnings(data, name, &r)
	if err != nil {
		return nil, nil, err
	}
	if reflect.ValueOf(r).IsZero() {
		return nil, append(warnings, name+": the resources name no limit: nothing changes"), nil
	}
	return &r, warnings, nil
}

// loadJSON decodes the JSON file at path into v, and names each member that matches no field
// in a warning. missingHint says what to do about a file that is not there.
func loadJSON(path string, v any, missingHint string) ([]string, error) {
	data, err := os.ReadFile(path)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) && errors.Is(err, fs.ErrNotExist) && missingHint != "" {
		return nil, fmt.Errorf("read %s: %w (%s)", path, pathErr.Err, missingHint) // errors.Is(err, fs.ErrNotExist) holds
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return decodeWithWarnings(data, path, v)
}

// lineAndColumn says where byte offset (a json.SyntaxError's: the byte just read) is in data,
// as editors count: lines and columns from 1.
func lineAndColumn(data []byte, offset int64) (line, col int) {
	before := data[:min(int(offset), len(data))]
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return bytes.Count(data[:min(int(offset), len(data))], []byte{'\n'}) + 1, len(before)
}

// decodeWithWarnings decodes the JSON document data, from name, into v: one JSON value and
// nothing after it, and a warning for each member that matches no field.
func decodeWithWarnings(data []byte, name string, v any) ([]string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("parse %s: file is empty", name)
	}
	walk, err := walkJSON(data, v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) && syntax.Offset > 0 {
		line, col := lineAndColumn(data, syntax.Offset)
		return nil, fmt.Errorf("parse %s: line %d, column %d: %w", name, line, col, err)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	var warnings []string
	for _, field := range walk.unknown {
		warnings = append(warnings, fmt.Sprintf("%s: unknown field %q: ignored", name, field))
	}
	for _, again := range walk.repeated {
		warnings = append(warnings, fmt.Sprintf("%s: %s (keys match fields whatever their case): the last one counts, field by field for an object", name, again))
	}
	return warnings, nil
}

// WriteSpec writes spec as bundle/config.json, refusing to overwrite an existing one.
func WriteSpec(bundle string, spec *specs.Spec) error {
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	path := filepath.Join(bundle, "config.json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
