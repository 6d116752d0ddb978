package isolate

import (
	"testing"
	"time"
)

// poll(2) waits forever on a negative timeout: a wait that is overdue (events stalled past its
// interval) must poll with 0, or the stats stop until the container exits.
func TestPollTimeout(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want int
	}{
		{-3 * time.Second, 0},
		{-2500 * time.Microsecond, 0},
		{0, 0},
		{time.Microsecond, 1},
		{time.Millisecond, 1},
		{1500 * time.Microsecond, 2},
		{5 * time.Second, 5000},
	} {
		if got := pollTimeout(tt.wait); got != tt.want {
			t.Errorf("pollTimeout(%v) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}
