package main

import (
	"testing"

	"github.com/containkit/contain/workshop/checks"
)

// The reference passes its own step's checks (workshop check 10 --reference).
func TestReference(t *testing.T) { checks.TestStep(t, 10) }

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "33554432": 33554432, "32M": 32 << 20, "32m": 32 << 20, "4k": 4096, "1G": 1 << 30} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "0", "-1M", "32MB", "1.5G", "9999999999G"} {
		if got, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", bad, got)
		}
	}
}
