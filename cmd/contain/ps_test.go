package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containkit/contain/internal/testenv"
)

// filterPs keeps ps's header and the lines of the pids given, by the PID column's value (not
// a pid that merely starts the same, nor one in another column).
func TestFilterPs(t *testing.T) {
	out := "UID          PID    PPID CMD\n" +
		"root           1       0 /sbin/init\n" +
		"root          42       1 sleep 42\n" +
		"root         420      42 sleep 4\n" +
		"root          43      42 sh -c 42\n"
	got, err := filterPs([]byte(out), []int{42, 43}, []string{"-ef"})
	want := "UID          PID    PPID CMD\n" +
		"root          42       1 sleep 42\n" +
		"root          43      42 sh -c 42\n"
	if err != nil || string(got) != want {
		t.Errorf("filterPs: %v\n%s\nwant\n%s", err, got, want)
	}
	if got, err := filterPs([]byte("  PID COMMAND\n"), nil, []string{"-o", "pid,comm"}); err != nil || string(got) != "  PID COMMAND\n" {
		t.Errorf("filterPs of a header alone: %q, %v; want the header", got, err)
	}
	for _, tc := range []struct {
		out  string
		args []string
		want string
	}{
		{"COMMAND\nsleep\n", []string{"-o", "comm"}, `ps -o comm: no PID column`},
		{"", []string{"-o", "pid="}, `ps -o pid=: no PID column`},
		{"STARTED                  PID\nThu Nov 26 23:01:29 2026    42\n", []string{"-o", "lstart,pid"}, "put pid first"},
	} {
		if _, err := filterPs([]byte(tc.out), []int{42}, tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("filterPs of %q: %v; want an error with %q", tc.out, err, tc.want)
		}
	}
}

// ps ID [ps options]: ps(1)'s table, -ef unless told otherwise, with only the container's lines;
// the options follow a "--". ps options with --format json, and a table without a PID column,
// are errors; so is a host without ps(1), which the error says how to fix.
func TestPsOptions(t *testing.T) {
	needContainer(t)
	if _, err := exec.LookPath("ps"); err != nil {
		testenv.Skip(t, "needs ps(1): apt-get install procps")
	}
	runningContainer(t, "psopts", nil, "/bin/probe", "sleep", "60")
	var pids []int
	if err := json.Unmarshal([]byte(mustRunCLI(t, "ps", "--format", "json", "psopts")), &pids); err != nil || len(pids) != 1 {
		t.Fatalf("ps --format json: %v, %v; want the one pid", pids, err)
	}
	// -e: ps lists every process, the test's own included; contain keeps the container's.
	for _, args := range [][]string{{"--", "-e", "-o", "pid,comm"}, {"-e", "-o", "pid,comm"}} {
		header, rows := psRows(t, psNoTerminal(t, append([]string{"ps", "psopts"}, args...)...))
		if !slices.Equal(header, []string{"PID", "COMMAND"}) || len(rows) != 1 || !slices.Equal(rows[0], []string{strconv.Itoa(pids[0]), "probe"}) {
			t.Errorf("ps psopts %q: header %q, rows %q; want PID COMMAND and %d probe alone", args, header, rows, pids[0])
		}
		for _, row := range rows {
			if row[0] == strconv.Itoa(os.Getpid()) {
				t.Errorf("ps psopts %q lists the test's own pid %d", args, os.Getpid())
			}
		}
	}
	// ps's own selection: without a terminal, -o alone lists the processes without one, as
	// the container's.
	header, rows := psRows(t, psNoTerminal(t, "ps", "psopts", "--", "-o", "pid,comm,stat"))
	if !slices.Equal(header, []string{"PID", "COMMAND", "STAT"}) || len(rows) != 1 || !slices.Equal(rows[0][:2], []string{strconv.Itoa(pids[0]), "probe"}) {
		t.Errorf("ps psopts -- -o pid,comm,stat: header %q, rows %q; want the probe %d", header, rows, pids[0])
	}
	header, rows = psRows(t, psNoTerminal(t, "ps", "psopts"))
	if len(rows) != 1 || !slices.Contains(header, "PID") || !strings.Contains(strings.Join(rows[0], " "), "/bin/probe sleep 60") {
		t.Errorf("ps psopts (-ef): header %q, rows %q; want the probe's line alone", header, rows)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "psopts", "--", "-e", "-o", "comm,stat"}, `ps -e -o comm,stat: no PID column`},
		{[]string{"ps", "--format", "json", "psopts", "--", "-o", "pid"}, `ps options "-o pid": only for the table`},
		{[]string{"ps", "psopts", "--", "-o", "nosuchcolumn"}, "ps -o nosuchcolumn: exit status 1"},
	} {
		if r := contain(t, "", tc.args...); r.code == 0 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("contain %s: exit %d, stdout %q, stderr %q; want an error with %q", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.want)
		}
	}
	noPs := containCmd("ps", "psopts")
	noPs.Env = append(noPs.Env, "PATH="+t.TempDir()) // a PATH without ps
	out, err := noPs.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"ps"`) || !strings.Contains(string(out), "apt-get install procps") {
		t.Errorf("ps without ps(1) in PATH: %v, %q; want an error naming ps and procps", err, out)
	}
}

// psNoTerminal runs a contain command in a session of its own, without a controlling terminal,
// as engines and scripts run it: ps's selection then does not depend on the test's terminal.
func psNoTerminal(t *testing.T, args ...string) string {
	t.Helper()
	cmd := containCmd(args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("contain %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// psRows splits ps's table into its header's fields and each line's.
func psRows(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, line := range lines[1:] {
		rows = append(rows, strings.Fields(line))
	}
	return strings.Fields(lines[0]), rows
}
