package probe

import (
	"slices"
	"testing"
)

func TestCapNames(t *testing.T) {
	tests := []struct {
		mask uint64
		want []string
	}{
		{0, []string{}},
		{1 << 0, []string{"CAP_CHOWN"}},
		{1<<21 | 1<<0 | 1<<12, []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}},
		{1 << 40, []string{"CAP_CHECKPOINT_RESTORE"}},
		{1<<41 | 1<<63 | 1<<7, []string{"CAP_41", "CAP_63", "CAP_SETUID"}},
	}
	for _, tt := range tests {
		if got := capNames(tt.mask); !slices.Equal(got, tt.want) {
			t.Errorf("capNames(%#x) = %v, want %v", tt.mask, got, tt.want)
		}
	}
}

func TestCapNamesFullSet(t *testing.T) {
	got := capNames(1<<41 - 1)
	if len(got) != 41 || !slices.IsSorted(got) {
		t.Fatalf("capNames(all 41) = %v, want 41 sorted names", got)
	}
	for _, name := range []string{"CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_MKNOD", "CAP_SYS_RESOURCE"} {
		if !slices.Contains(got, name) {
			t.Errorf("full set lacks %s", name)
		}
	}
}
