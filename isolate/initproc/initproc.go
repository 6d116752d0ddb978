// Package initproc makes any binary that imports it a container's init when it is started
// as one ("contain init", see isolate.Init): its package initialiser runs isolate.Init, which
// never returns. cmd/contain imports it for that effect alone.
//
// Init starts from a package initialiser rather than from main for two reasons:
//
//   - Go runs every package initialiser on the main thread, with the main goroutine locked
//     to it (runtime.LockOSThread's documentation). Each namespace, credential and capability
//     change init makes belongs to the thread that makes it, and execve(2) keeps only that
//     thread's: so init stays on one thread without locking it itself. Locking would start
//     one more thread (the runtime's template thread), which execve(2) must then end. (The
//     exec stage, and an init that runs hooks, still lock: see isolate.Init and
//     initContainer.)
//   - Go initialises packages in the order of their import paths, each after the packages it
//     imports. This one imports only isolate, and its path sorts before contain's rootfs and
//     the command line library (github.com/urfave/cli/v2): their initialisers, which compile
//     a regular expression and build the command table, never run in an init. That took
//     init from 2032 allocations (455 KB) up to its execve(2) to 1177 (228 KB); the regular
//     expression's parse alone made about 600.
package initproc

import "github.com/containkit/contain/isolate"

func init() {
	if isolate.IsInit() {
		isolate.Init() // never returns
	}
}
