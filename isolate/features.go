package isolate

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features says what this runtime supports, in the runtime-spec's features.md format: what
// engines read to know which config fields they may use. It is built from the same tables
// the runtime applies, so it cannot claim more than it does.
func Features() features.Features {
	no, yes := false, true
	var namespaces []string
	for t := range namespaceFlags {
		if t != specs.UserNamespace { // validated away: not supported yet
			namespaces = append(namespaces, string(t))
		}
	}
	sort.Strings(namespaces)
	// Every option parseMountOptions knows: containerd, for one, looks for "rro" here.
	mountOptions := []string{"bind", "rbind", "tmpcopyup", "notmpcopyup"}
	for o, f := range flagOptions {
		mountOptions = append(mountOptions, o)
		if f.attr != 0 {
			mountOptions = append(mountOptions, "r"+o)
		}
	}
	for o := range atimeOptions {
		mountOptions = append(mountOptions, o, "r"+o)
	}
	for o := range propagationOptions {
		mountOptions = append(mountOptions, o)
	}
	sort.Strings(mountOptions)
	return features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  mountOptions,
		Linux: &features.Linux{
			Namespaces:   namespaces,
			Capabilities: append([]string(nil), capabilityNames...),
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no},
			Seccomp:      &features.Seccomp{Enabled: &no},
			Apparmor:     &features.Apparmor{Enabled: &no},
			Selinux:      &features.Selinux{Enabled: &no},
			IntelRdt:     &features.IntelRdt{Enabled: &no},
			NetDevices:   &features.NetDevices{Enabled: &yes},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &no},
			},
		},
	}
}
