package bigstack

import (
	"testing"
	"unsafe"
)

// A stack that Go copies moves: the address of a local variable, taken as a number, changes.
// After grow, a call chain 10 KB deep must not move the calling goroutine's stack; without
// it, the same chain does (the second case proves the check can see a move).
func TestOneGrowthLeavesRoomForTheCallsAfter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		grow      bool
		wantMoved bool
	}{
		{"after grow", true, false},
		{"without grow", false, true},
	} {
		moved := make(chan bool)
		go func() {
			if tc.grow {
				grow(0)
			}
			var here byte
			before := uintptr(unsafe.Pointer(&here))
			descend(10 << 10)
			moved <- uintptr(unsafe.Pointer(&here)) != before
		}()
		if got := <-moved; got != tc.wantMoved {
			t.Errorf("%s: stack moved = %v, want %v", tc.name, got, tc.wantMoved)
		}
	}
}

// descend calls itself until it has used about depth bytes of stack.
//
//go:noinline
func descend(depth int) byte {
	var frame [256]byte
	frame[depth%len(frame)] = byte(depth)
	if depth <= len(frame) {
		return frame[0]
	}
	return descend(depth-len(frame)) + frame[1]
}
