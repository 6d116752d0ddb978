package isolate

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StatePaused is the status of a frozen container. runtime-spec names only creating, created,
// running and stopped; "paused" is runc's, which engines read.
const StatePaused specs.ContainerState = "paused"

// Pause freezes every process of a running or created container (the cgroup freezer:
// cgroup.freeze on v2, freezer.state on v1); its status reads "paused" until Resume. A paused
// created container cannot be started (its init could not exec), as in runc: resume it first.
func Pause(root, id string) error {
	return withCgroup(root, id, []specs.ContainerState{specs.StateRunning, specs.StateCreated}, func(_ *stateDir, cg cgroups.Manager) error {
		return cg.Freeze(true)
	})
}

// Resume thaws a paused container: it is running, or created again.
func Resume(root, id string) error {
	return withCgroup(root, id, []specs.ContainerState{StatePaused}, func(_ *stateDir, cg cgroups.Manager) error {
		return cg.Freeze(false)
	})
}

// Update changes the resource limits of a created, running or paused container. Device
// rules get the runtime's own devices and the spec's linux.devices appended, as at create.
//
// Device rules the same as the last applied are left out: containerd sends the whole of
// linux.resources with every update (a Kubernetes resize too), and they would load a new
// eBPF program on v2 each time. Rules that differ are applied; on v1 the driver writes only
// what changes in devices.list (isolate/cgroups/devices_v1.go), since writing the list as it
// is starts with "deny all", and for a moment the running container could not open even
// /dev/null.
func Update(root, id string, r *specs.LinuxResources, log logger) error {
	return withCgroup(root, id, nil, func(s *stateDir, cg cgroups.Manager) error {
		rec := s.state.Cgroup
		named := r != nil && r.Devices != nil
		newRules := named && !reflect.DeepEqual(r.Devices, rec.DeviceRules) // by value: the rules hold pointers
		if named && !newRules {
			same := *r
			same.Devices = nil
			r = &same
		}
		warnings, err := cg.Update(withRuntimeDevices(r, s.state.Devices))
		for _, w := range warnings {
			log.Warn(w)
		}
		if err != nil || !newRules {
			return err
		}
		rec.DeviceRules = r.Devices
		return s.save()
	})
}

// logger is the part of *slog.Logger that Update needs.
type logger interface{ Warn(msg string, args ...any) }

// withCgroup runs fn on the container's cgroup, under the state lock, if the container's
// status is one of want (or, with none, any status but stopped).
func withCgroup(root, id string, want []specs.ContainerState, fn func(*stateDir, cgroups.Manager) error) error {
	s, unlock, err := openState(root, id)
	if err != nil {
		return err
	}
	defer unlock()
	st := s.status()
	switch {
	case st == specs.StateStopped:
		return fmt.Errorf("container %q: %w", id, ErrNotRunning)
	case want != nil && !slices.Contains(want, st):
		return fmt.Errorf("container %q is %s, not %s", id, st, statusList(want))
	}
	cg, err := s.openCgroup()
	if err != nil {
		return err
	}
	if cg == nil {
		return fmt.Errorf("container %q has no cgroup", id)
	}
	return fn(s, cg)
}

// statusList names the statuses an operation wants: "running or created".
func statusList(states []specs.ContainerState) string {
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return strings.Join(names, " or ")
}
