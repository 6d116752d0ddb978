package probe

import (
	"slices"
	"testing"
)

const sampleStatus = "Name:\tprobe\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t1\nPPid:\t0\n" +
	"Uid:\t0\t1000\t1000\t1000\nGid:\t0\t0\t0\t5\nGroups:\t \n" +
	"CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n" +
	"CapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n" +
	"Seccomp_filters:\t1\n"

func TestParseStatus(t *testing.T) {
	status := parseStatus([]byte(sampleStatus))
	if got := status["Umask"]; got != "0022" {
		t.Errorf("Umask = %q, want 0022", got)
	}
	if got := status["Groups"]; got != "" {
		t.Errorf("Groups = %q, want empty", got)
	}
	uid, err := parseIDs(status["Uid"])
	if err != nil || !slices.Equal(uid, []int{0, 1000, 1000, 1000}) {
		t.Errorf("Uid = %v, %v; want [0 1000 1000 1000]", uid, err)
	}
	gid, err := parseIDs(status["Gid"])
	if err != nil || !slices.Equal(gid, []int{0, 0, 0, 5}) {
		t.Errorf("Gid = %v, %v; want [0 0 0 5]", gid, err)
	}
	if n, err := statusInt(status, "NoNewPrivs"); n != 1 || err != nil {
		t.Errorf("NoNewPrivs = %d, %v; want 1", n, err)
	}
	if n, err := statusInt(status, "Seccomp"); n != 2 || err != nil {
		t.Errorf("Seccomp = %d, %v; want 2", n, err)
	}
	if _, err := statusInt(status, "Missing"); err == nil {
		t.Error("statusInt of a missing line: no error")
	}
}

func TestParseIDsRejectsBadInput(t *testing.T) {
	for _, in := range []string{"", "0 0 0", "0 0 0 x", "0 0 0 0 0"} {
		if ids, err := parseIDs(in); err == nil {
			t.Errorf("parseIDs(%q) = %v, want an error", in, ids)
		}
	}
}

func TestParseCaps(t *testing.T) {
	names, hex, err := parseCaps(parseStatus([]byte(sampleStatus)))
	if err != nil {
		t.Fatal(err)
	}
	// 0xa80425fb is Docker's default set.
	docker := []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
		"CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID",
		"CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"}
	if !slices.Equal(names["effective"], docker) {
		t.Errorf("effective = %v\nwant %v", names["effective"], docker)
	}
	if len(names["inheritable"]) != 0 || names["inheritable"] == nil {
		t.Errorf("inheritable = %#v, want an empty list", names["inheritable"])
	}
	if n := len(names["bounding"]); n != 40 || slices.Contains(names["bounding"], "CAP_SYS_RESOURCE") {
		t.Errorf("bounding = %v, want the 40 capabilities other than CAP_SYS_RESOURCE", names["bounding"])
	}
	want := map[string]string{"effective": "00000000a80425fb", "permitted": "00000000a80425fb",
		"inheritable": "0000000000000000", "bounding": "000001fffeffffff", "ambient": "0000000000000000"}
	for set, v := range want {
		if hex[set] != v {
			t.Errorf("caps_hex[%s] = %q, want %q", set, hex[set], v)
		}
	}
}

func TestParseCapsReportsMissingLines(t *testing.T) {
	names, _, err := parseCaps(parseStatus([]byte("CapEff:\t0000000000000001\nCapBnd:\tzz\n")))
	if err == nil {
		t.Fatal("no error for missing and malformed lines")
	}
	if !slices.Equal(names["effective"], []string{"CAP_CHOWN"}) {
		t.Errorf("effective = %v, want [CAP_CHOWN] despite the other errors", names["effective"])
	}
}
