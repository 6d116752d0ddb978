package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/isolate"
)

// psCommand is runc's ps: the table comes from the host's ps(1), filtered down to the
// container's processes; --format json lists their pids, which is what engines read.
var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes of a container",
	ArgsUsage: "ID [-- PS-OPTIONS...]",
	Description: "The table is ps(1)'s (its options, -ef unless given, follow the id and a \"--\")\n" +
		"with only the container's lines kept: contain ps ID -- -o pid,comm,stat.\n" +
		"--format json prints the pids alone, as engines read them.",
	Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"}},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return errors.New("usage: contain ps [--format table|json] ID [-- PS-OPTIONS...]")
		}
		id := c.Args().First()
		if err := isolate.ValidateID(id); err != nil {
			return err
		}
		psArgs := psOptions(c.Args().Tail())
		format := c.String("format")
		switch {
		case format != "table" && format != "json":
			return fmt.Errorf("--format %q: want table or json", format)
		case format == "json" && len(psArgs) > 0:
			return fmt.Errorf("ps options %q: only for the table (--format json lists the pids alone)", strings.Join(psArgs, " "))
		}
		pids, err := isolate.Processes(c.String("root"), id)
		if err != nil {
			return err
		}
		if format == "json" {
			if pids == nil {
				pids = []int{}
			}
			return printJSON(c, pids)
		}
		table, err := psTable(pids, psArgs)
		if err != nil {
			return err
		}
		_, err = c.App.Writer.Write(table)
		return err
	},
}

// psOptions is what follows the id, less the "--" that keeps contain from reading the
// options as its own.
func psOptions(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}

// psTable runs ps(1) with args (-ef when none, as runc) and keeps its header and the lines of
// the pids given.
func psTable(pids []int, args []string) ([]byte, error) {
	if len(args) == 0 {
		args = []string{"-ef"}
	}
	out, err := runPs(args)
	if err != nil {
		return nil, err
	}
	return filterPs(out, pids, args)
}

// runPs runs ps(1) and returns its output. What ps says on stderr while it succeeds (a
// warning about its options) is passed on; when it fails, its first line is the error's (the
// rest is ps's usage).
func runPs(args []string) ([]byte, error) {
	if _, err := exec.LookPath("ps"); err != nil {
		return nil, fmt.Errorf("ps: %w: contain ps runs ps(1) for its table (apt-get install procps), or use --format json", err)
	}
	cmd := exec.Command("ps", args...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(errOut.String()), "\n")
		return nil, fmt.Errorf("ps %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	stderr.Write(errOut.Bytes())
	return out, nil
}

// filterPs keeps ps's header and the lines whose PID column holds one of pids. The column is
// found by its title in the header and read as the nth field of each line, as runc does. A
// column before it whose values hold spaces (lstart, args) shifts it: a line whose field there
// is no number is an error rather than left out, but pid first in -o is the only sure way.
func filterPs(out []byte, pids []int, args []string) ([]byte, error) {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	header := lines[0]
	col := slices.Index(strings.Fields(header), "PID")
	if col < 0 {
		return nil, fmt.Errorf("ps %s: no PID column in its header %q: contain ps needs it to tell the container's lines (add pid to -o)", strings.Join(args, " "), header)
	}
	var b bytes.Buffer
	b.WriteString(header + "\n")
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		pid, ok := pidField(line, col)
		if !ok {
			return nil, fmt.Errorf("ps %s: line %q: field %d, under PID, is no pid (a column before PID holds spaces: put pid first)", strings.Join(args, " "), line, col+1)
		}
		if slices.Contains(pids, pid) {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes(), nil
}

// pidField reads field col (from 0) of a line of ps's output as a pid.
func pidField(line string, col int) (int, bool) {
	fields := strings.Fields(line)
	if col >= len(fields) {
		return 0, false
	}
	pid, err := strconv.Atoi(fields[col])
	return pid, err == nil
}
