package isolate

import (
	"os"
	"testing"
)

// A child that execs its command without waiting for the go-ahead closes its end of the pipe,
// and on a busy machine it can do so before the parent gets to Continue: that is no error.
// (steps/04-chroot's check once failed with "let the child go: write |1: broken pipe".)
func TestContinueAfterTheChildClosedItsEnd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the child exec'd: close_range marked fd 3 close-on-exec
	if err := (&Child{goAhead: w}).Continue(); err != nil {
		t.Fatalf("Continue with the child's end closed: %v, want nil", err)
	}
}

// A child that waits reads the one byte of the go-ahead.
func TestContinueSendsTheGoAhead(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := (&Child{goAhead: w}).Continue(); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	n, err := r.Read(b)
	if n != 1 || err != nil {
		t.Fatalf("read %d bytes (%v), want the go-ahead's 1", n, err)
	}
	if n, err := r.Read(b); n != 0 {
		t.Fatalf("read %d more bytes (%v) after the go-ahead; want end of file", n, err)
	}
}
