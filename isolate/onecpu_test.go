package isolate

import "testing"

func TestCountCPUs(t *testing.T) {
	for list, want := range map[string]int{
		"0":          1,
		"0-1":        2,
		"0-3,8":      5,
		"0,2,4-7,16": 7,
		"":           unreadableCPUs,
		"0-":         unreadableCPUs,
		"3-1":        unreadableCPUs,
		"a":          unreadableCPUs,
	} {
		if got := countCPUs(list); got != want {
			t.Errorf("countCPUs(%q) = %d, want %d", list, got, want)
		}
	}
}
