package isolate

import (
	"fmt"

	"github.com/containkit/contain/isolate/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StatePaused is the status of a frozen container. runtime-spec names only creating, created,
// running and stopped; "paused" is runc's, which engines read.
const StatePaused specs.ContainerState = "paused"

// Pause freezes every process of a running container (the cgroup freezer: cgroup.freeze on
// v2, freezer.state on v1); its status reads "paused" until Resume.
func Pause(root, id string) error {
	return withCgroup(root, id, specs.StateRunning, func(_ *stateDir, cg cgroups.Manager) error {
		return cg.Freeze(true)
	})
}

// Resume thaws a paused container.
func Resume(root, id string) error {
	return withCgroup(root, id, StatePaused, func(_ *stateDir, cg cgroups.Manager) error {
		return cg.Freeze(false)
	})
}

// Update changes the resource limits of a created, running or paused container. Device
// rules get the runtime's own devices and the spec's linux.devices appended, as at create.
func Update(root, id string, r *specs.LinuxResources, log logger) error {
	return withCgroup(root, id, "", func(s *stateDir, cg cgroups.Manager) error {
		warnings, err := cg.Update(withRuntimeDevices(r, s.state.Devices))
		for _, w := range warnings {
			log.Warn(w)
		}
		return err
	})
}

// logger is the part of *slog.Logger that Update needs.
type logger interface{ Warn(msg string, args ...any) }

// withCgroup runs fn on the container's cgroup, under the state lock, if the container's
// status is want (or, with want "", any status but stopped).
func withCgroup(root, id string, want specs.ContainerState, fn func(*stateDir, cgroups.Manager) error) error {
	s, unlock, err := openState(root, id)
	if err != nil {
		return err
	}
	defer unlock()
	st := s.status()
	switch {
	case st == specs.StateStopped:
		return fmt.Errorf("container %q: %w", id, ErrNotRunning)
	case want != "" && st != want:
		return fmt.Errorf("container %q is %s, not %s", id, st, want)
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
