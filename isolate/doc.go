// Package isolate is the runtime library: an OCI runtime spec in, a running container out.
//
// The parent side ([Run]) validates the spec, reserves the state directory, and starts the
// container's first process by re-executing the running binary as "init" (see [Init]) inside
// new namespaces; a binary that imports package isolate/initproc runs Init when started so.
// Init builds the container's world on the main OS thread, to which Go keeps it: mounts, /dev,
// pivot_root, hostname, sysctls, rlimits, user, capabilities and no_new_privs; then it waits for
// the parent's go-ahead and execs the user's program from that same thread.
//
// Each lesson of the workshop (steps/NN-topic) graduates into a function here, and the function's
// doc comment names the step that teaches it. The man pages are the reference: clone(2),
// namespaces(7), mount(2), mount_namespaces(7), pivot_root(2), capabilities(7), prctl(2).
package isolate
