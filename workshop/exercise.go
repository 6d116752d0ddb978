package workshop

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Solution regions in a step's source are what `workshop start` takes out:
//
//	// SOLUTION BEGIN: what the learner must write, in one line
//	// HINT: a pointer to the man page or the call (any number of HINT lines)
//	// EXERCISE: code that stands in the exercise instead (optional; keeps it compiling)
//	...the reference code...
//	// SOLUTION END
//
// The exercise gets "// TODO: what..." and the HINT lines, then the EXERCISE lines uncommented,
// at the same indentation; the reference code between the markers is gone.
const (
	markBegin    = "// SOLUTION BEGIN:"
	markEnd      = "// SOLUTION END"
	markHint     = "// HINT:"
	markExercise = "// EXERCISE:"
)

// MakeExercise turns a step's source into its exercise.
func MakeExercise(src string) (string, error) {
	var out strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		switch {
		case strings.HasPrefix(trimmed, markBegin):
			if in {
				return "", fmt.Errorf("line %d: SOLUTION BEGIN inside a solution region", n)
			}
			in = true
			fmt.Fprintf(&out, "%s// TODO:%s\n", indent, strings.TrimPrefix(trimmed, markBegin))
		case strings.HasPrefix(trimmed, markEnd):
			if !in {
				return "", fmt.Errorf("line %d: SOLUTION END without BEGIN", n)
			}
			in = false
		case in && strings.HasPrefix(trimmed, markHint):
			fmt.Fprintf(&out, "%s%s\n", indent, trimmed)
		case in && strings.HasPrefix(trimmed, markExercise):
			fmt.Fprintf(&out, "%s%s\n", indent, strings.TrimSpace(strings.TrimPrefix(trimmed, markExercise)))
		case in:
			// reference code: left out of the exercise
		default:
			out.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if in {
		return "", fmt.Errorf("a SOLUTION BEGIN has no SOLUTION END")
	}
	return out.String(), nil
}

// CountRegions says how many solution regions src has: a step without one has no exercise.
func CountRegions(src string) int { return strings.Count(src, markBegin) }

// WriteExercise writes the exercise of step (from the repository at root) into dir: main.go
// with its solution regions replaced, and a README.md that points to the step's own.
func WriteExercise(root string, step Step, dir string) error {
	src, err := os.ReadFile(filepath.Join(step.Dir(root), "main.go"))
	if err != nil {
		return err
	}
	exercise, err := MakeExercise(string(src))
	if err != nil {
		return fmt.Errorf("steps/%s/main.go: %w", step.Slug, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "main.go")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: your work is there (remove it to start over)", path)
	}
	if err := os.WriteFile(path, []byte(exercise), 0o644); err != nil {
		return err
	}
	readme := fmt.Sprintf("# Exercise %s: %s\n\nThe lesson: steps/%s/README.md (`workshop show %02d`).\n"+
		"Fill in the TODOs in main.go, then run `sudo workshop check %02d`.\n", step.Slug, step.Title, step.Slug, step.Num, step.Num)
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme), 0o644)
}
