package main

import (
	"strings"
	"testing"

	"github.com/containkit/contain/internal/probe"
)

// What a spec's seccomp profile says of the kernel's keyring calls is applied, to the container
// and to what exec starts in it: the keyrings are not namespaced, and without that a container
// reached the host's user keyrings of its uid, root's included. The rest of the profile is not
// applied yet, and the warning says so.
func TestSeccompProfileClosesTheKeyrings(t *testing.T) {
	needContainer(t)
	deny := obj{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list{
		obj{"names": list{"add_key", "keyctl", "request_key"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}}}
	bundle := newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "report"}
		linux(spec)["seccomp"] = deny
	})
	res := contain(t, "", "run", "--bundle", bundle, "keys-denied")
	if res.code != 0 {
		t.Fatalf("run: exit %d: %s", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, "seccomp") { // all of it is applied
		t.Errorf("a profile of the keyring calls alone: warning %q", res.stderr)
	}
	r := decodeReport(t, res.stdout)
	refused := func(who string, r probe.Report) {
		t.Helper()
		if r.Seccomp != 2 || r.SessionKeyring != "" || !strings.Contains(strings.Join(r.Errors, "\n"), "keyctl KEYCTL_GET_KEYRING_ID: operation not permitted") {
			t.Errorf("%s: seccomp %d, session keyring %q, errors %q: want a filter, and keyctl refused with EPERM",
				who, r.Seccomp, r.SessionKeyring, r.Errors)
		}
	}
	refused("the container", r)

	runningContainer(t, "keys-exec", func(spec obj) { linux(spec)["seccomp"] = deny }, "/bin/probe", "sleep", "60")
	refused("an exec'd process", decodeReport(t, mustRun(t, "exec", "keys-exec", "/bin/probe", "report")))

	// A default that refuses, and keyctl allowed by name: keyctl works, the filter is there
	// for the other two.
	bundle = newBundle(t, func(spec obj) {
		process(spec)["args"] = list{"/bin/probe", "report"}
		linux(spec)["seccomp"] = obj{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": list{
			obj{"names": list{"keyctl"}, "action": "SCMP_ACT_ALLOW"}}}
	})
	res = contain(t, "", "run", "--bundle", bundle, "keys-some")
	if !strings.Contains(res.stderr, "only those of the keyring calls (add_key, keyctl, request_key) are applied") {
		t.Errorf("a profile that says more: the warning %q does not say what of it is applied", res.stderr)
	}
	r = decodeReport(t, res.stdout)
	if r.Seccomp != 2 || r.SessionKeyring == "" {
		t.Errorf("keyctl allowed by name: seccomp %d, session keyring %q (errors %q): want a filter, and the keyring", r.Seccomp, r.SessionKeyring, r.Errors)
	}
	// The quick form has the keyring calls refused, as docker run's default profile does,
	// and says nothing of it: that profile is all applied.
	res = contain(t, "", "run", "--rootfs", testRootfs, "--", "/bin/probe", "report")
	if res.code != 0 || strings.Contains(res.stderr, "seccomp") {
		t.Errorf("quick form: exit %d, stderr %q: want no word of seccomp", res.code, res.stderr)
	}
	refused("the quick form", decodeReport(t, res.stdout))
	// No profile: nothing is filtered, as under runc.
	bundle = newBundle(t, func(spec obj) { process(spec)["args"] = list{"/bin/probe", "report"} })
	if r := decodeReport(t, mustRun(t, "run", "--bundle", bundle, "keys-none")); r.Seccomp != 0 || r.SessionKeyring == "" {
		t.Errorf("without a profile: seccomp %d, session keyring %q: want no filter", r.Seccomp, r.SessionKeyring)
	}
}
