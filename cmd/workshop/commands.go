package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/containkit/contain/rootfs"
	"github.com/containkit/contain/workshop"
	"github.com/containkit/contain/workshop/checks"
)

var doctorCommand = &cli.Command{
	Name:  "doctor",
	Usage: "check that this machine can run the workshop, and say how to fix what it cannot",
	Action: func(c *cli.Context) error {
		if problems := workshop.Doctor(os.Stdout); problems > 0 {
			return exitCode(1)
		}
		return nil
	},
}

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list the steps, with what your last check of each said",
	Action: func(c *cli.Context) error {
		root, err := workshop.RepoRoot(".")
		if err != nil {
			return err
		}
		st := loadStatus(root)
		for _, s := range workshop.Steps {
			fmt.Println(listLine(s, st))
		}
		return nil
	},
}

var showCommand = &cli.Command{
	Name:      "show",
	Usage:     "print a step's lesson (its README)",
	ArgsUsage: "NN",
	Action: func(c *cli.Context) error {
		root, step, err := repoStep(c)
		if err != nil {
			return err
		}
		readme := filepath.Join(step.Dir(root), "README.md")
		// At a terminal, page it (less -R keeps the layout); into a pipe, print it.
		if pager, err := exec.LookPath("less"); err == nil && isTerminal(os.Stdout) {
			cmd := exec.Command(pager, "-R", "-F", "-X", readme)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			return cmd.Run()
		}
		data, err := os.ReadFile(readme)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(data)
		return err
	},
}

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "write a step's exercise (default work/NN-topic): the step with TODOs for you to fill",
	ArgsUsage: "NN",
	Flags:     []cli.Flag{&cli.StringFlag{Name: "dir", Usage: "write the exercise to `DIR` (inside the repository)"}},
	Action: func(c *cli.Context) error {
		root, step, err := repoStep(c)
		if err != nil {
			return err
		}
		dir := step.WorkDir(root)
		if d := c.String("dir"); d != "" {
			if dir, err = filepath.Abs(d); err != nil {
				return err
			}
			if _, err := insideRepo(root, dir); err != nil {
				return err
			}
		}
		if err := workshop.WriteExercise(root, step, dir); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, dir)
		check := fmt.Sprintf("sudo workshop check %02d", step.Num)
		if d := c.String("dir"); d != "" && dir != step.WorkDir(root) {
			check += " --dir " + d // as given: check reads it from where this runs, as start did
		}
		fmt.Printf("exercise %s written to %s\n  read:  workshop show %02d\n  edit:  %s/main.go (look for TODO)\n  check: %s\n",
			step.Slug, rel, step.Num, rel, check)
		return nil
	},
}

var checkCommand = &cli.Command{
	Name:      "check",
	Usage:     "build your exercise and check it: one line per check, with a hint for each failure",
	ArgsUsage: "NN",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "dir", Usage: "check the code in `DIR` (default work/NN-topic)"},
		&cli.BoolFlag{Name: "reference", Usage: "check the step's reference instead"},
	},
	Action: func(c *cli.Context) error {
		root, step, err := repoStep(c)
		if err != nil {
			return err
		}
		if err := needRoot("workshop check"); err != nil {
			return err
		}
		if code, done, err := checkInUTSSandbox(); done {
			if err == nil && code != 0 {
				err = exitCode(code)
			}
			return err
		}
		program, tmp, err := buildSource(c, root, step)
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		probe, err := rootfs.FindProbe()
		if err != nil {
			return err
		}
		env, err := checks.NewEnv(program, probe, tmp)
		if err != nil {
			return err
		}
		failed := 0
		for _, r := range checks.RunSuite(step.Num, env) {
			if r.Err == nil {
				fmt.Printf("✓ %s\n", r.Check.Name)
				continue
			}
			failed++
			hint := r.Check.Hint
			var stopped *checks.ProgramFailed
			if errors.As(r.Err, &stopped) {
				hint = "the program stopped with an error of its own before the check could look: start from that error. " +
					"This check's own hint: " + hint
			}
			fmt.Printf("✗ %s\n    %v\n    hint: %s\n", r.Check.Name, r.Err, hint)
		}
		caveat := checks.Caveat(step.Num)
		if caveat != "" {
			fmt.Printf("note: %s\n", caveat)
		}
		if !c.Bool("reference") && c.String("dir") == "" {
			// The status is the exercise's in work/NN-topic, the one `workshop list` is about.
			saveStatus(root, step.Slug, failed == 0, caveat != "")
		}
		if failed > 0 {
			fmt.Printf("%d of %d checks failed\n", failed, len(checks.Suite(step.Num)))
			return exitCode(1)
		}
		if caveat != "" {
			fmt.Printf("all %d checks passed: step %s done as far as this host can check (see the note)\n", len(checks.Suite(step.Num)), step.Slug)
			return nil
		}
		fmt.Printf("all %d checks passed: step %s done\n", len(checks.Suite(step.Num)), step.Slug)
		return nil
	},
}

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "build a step (your exercise, or --reference) and run COMMAND in it",
	ArgsUsage: "NN [--reference] [--rootfs DIR] -- COMMAND [ARG...]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "reference", Usage: "run the step's reference instead of your exercise"},
		&cli.StringFlag{Name: "dir", Usage: "run the code in `DIR` (default work/NN-topic)"},
		&cli.StringFlag{Name: "rootfs", Usage: "root filesystem `DIR` (default: the default rootfs)"},
	},
	Action: func(c *cli.Context) error {
		root, step, err := repoStep(c)
		if err != nil {
			return err
		}
		command := c.Args().Tail()
		if len(command) > 0 && command[0] == "--" {
			command = command[1:]
		}
		if len(command) == 0 {
			return fmt.Errorf("usage: workshop run %02d [--reference] -- COMMAND [ARG...]", step.Num)
		}
		program, tmp, err := buildSource(c, root, step)
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		args := command
		if r := c.String("rootfs"); r != "" {
			args = append([]string{"-rootfs", r}, command...)
		}
		cmd := exec.Command(program, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		// Ctrl-C and Ctrl-\ go to the whole foreground process group: the step gets them
		// itself and passes them on to the container (which may ignore them: step 02's
		// lesson). Caught here and dropped, as `go run` does, so that workshop stays until
		// the step is done, and cleans up after it, rather than handing the terminal back
		// while the container still runs. Caught, not ignored: an ignored signal would stay
		// ignored in the step and in the container.
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt, syscall.SIGQUIT)
		err = cmd.Run()
		signal.Stop(signals)
		if cmd.ProcessState != nil {
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				return exitCode(code)
			}
			return nil
		}
		return err
	},
}

var diffCommand = &cli.Command{
	Name:      "diff",
	Usage:     "show what step NN adds to step NN-1 (the lesson, as a diff)",
	ArgsUsage: "NN",
	Action: func(c *cli.Context) error {
		root, step, err := repoStep(c)
		if err != nil {
			return err
		}
		prev, ok := step.Previous()
		if !ok {
			return fmt.Errorf("step %s is the first: nothing to compare with (workshop show 00)", step.Slug)
		}
		cmd := exec.Command("diff", "-u", "--label", "steps/"+prev.Slug+"/main.go", "--label", "steps/"+step.Slug+"/main.go",
			filepath.Join(prev.Dir(root), "main.go"), filepath.Join(step.Dir(root), "main.go"))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 1 {
			return nil // diff(1) exits 1 when the files differ: that is the point
		} else if err != nil {
			return fmt.Errorf("diff: %w (install diffutils)", err)
		}
		return nil
	},
}

var resetCommand = &cli.Command{
	Name:  "reset",
	Usage: "remove every mount, veth, overlay dir and cgroup the workshop left, and delete contain containers in which nothing runs",
	Flags: []cli.Flag{&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only say what would be removed"}},
	Action: func(c *cli.Context) error {
		if c.Bool("dry-run") {
			return workshop.ResetPlan(os.Stdout)
		}
		if err := needRoot("workshop reset"); err != nil {
			return err
		}
		return workshop.Reset(os.Stdout)
	},
}
