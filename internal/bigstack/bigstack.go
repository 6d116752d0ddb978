// Package bigstack gives the main goroutine a 16 KB stack in one step, before the other
// packages of the program initialise; cmd/contain imports it for that effect alone.
//
// A goroutine starts with a 2 KB stack. When a call needs more, Go allocates one twice the
// size, copies the old one into it and walks every frame on it to adjust its pointers
// (runtime.copystack). The runtime's main goroutine used to grow three times on its way
// (to 4, 8 and 16 KB) and init's twice: perf counted each growth with a probe on
// runtime.copystack (20 runs). Every one of them costs more than the copy: the first stack
// of each size is cut from a fresh 32 KB span, whose free list touches every stack in it (a
// page fault per page for the 4 KB stacks), and the walk reads the frames' tables in the
// binary's pclntab, more page faults. One frame of 12 KB, called while the stack is still
// shallow, makes Go grow it once, straight to 16 KB (it doubles the size until the frame
// fits), with nothing on it to walk. Both processes then stay within it: Go gives a stack
// back only during a garbage collection, which neither of them reaches.
//
// Measured with `perf stat -e page-faults` on `contain run --bundle` (6 rounds of 20 runs in
// turns, runtime, init and the container's program together): 747 to 715 page faults per
// run (medians).
//
// It imports nothing, so Go initialises it early: fourth, right after the runtime
// (GODEBUG=inittrace=1), before contain's other packages and most of the standard library's.
package bigstack

func init() { grow(0) }

// frameSize is the size of grow's frame: with Go's guard space, more than 8 KB.
const frameSize = 12 << 10

// grow has a frame of frameSize bytes. The array is written and read at indexes the
// compiler cannot know, so that it keeps the array, and with it the frame.
//
//go:noinline
func grow(i int) byte {
	var frame [frameSize]byte
	frame[i] = 1
	return frame[len(frame)-1-i]
}
