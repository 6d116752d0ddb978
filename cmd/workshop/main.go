// Workshop is the learner's and instructor's command line for the contain workshop: it lists
// the steps, shows their lessons, writes exercises, checks them, runs them, shows what each
// step adds, checks the machine (doctor) and cleans up after everything (reset).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:  "workshop",
		Usage: "build a container runtime step by step",
		Description: "Start with `sudo workshop doctor`, then `workshop show 00` and `workshop start 00`.\n" +
			"Steps live in steps/NN-topic; your exercises in work/NN-topic.",
		Commands: []*cli.Command{
			doctorCommand, listCommand, showCommand, startCommand, checkCommand, runCommand,
			diffCommand, resetCommand,
		},
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
	}
	if err := app.Run(flagsFirst(os.Args)); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "workshop:", err)
		os.Exit(1)
	}
}

// exitCode ends the program with a status that is not an error message (a failed check, the
// exit status of a step's command).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// valueFlags are the flags that take a value, so flagsFirst moves the value along with them.
var valueFlags = map[string]bool{"--dir": true, "-dir": true, "--rootfs": true, "-rootfs": true}

// flagsFirst lets flags follow the step number, as in `workshop check 03 --reference`:
// urfave/cli stops reading flags at the first argument, so the flags of the command are moved
// before its arguments. Everything after "--" (the command of `workshop run`) stays as it is.
func flagsFirst(args []string) []string {
	if len(args) < 3 {
		return args
	}
	head := []string{args[0], args[1]} // the program and the command
	var flags, rest []string
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if valueFlags[a] && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(append(head, flags...), rest...)
}
