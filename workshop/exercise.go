package workshop

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
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
	return keepImports(src, out.String())
}

// keepImports keeps the exercise compiling when the solution held every use of an import:
// it adds `var _ = pkg.Name` (a name the solution used) so that the import stays, ready for
// the learner, instead of a compile error about an unused import.
func keepImports(solution, exercise string) (string, error) {
	fset := token.NewFileSet()
	ex, err := parser.ParseFile(fset, "main.go", exercise, parser.ParseComments)
	if err != nil {
		return "", fmt.Errorf("the exercise does not parse: %w", err)
	}
	sol, err := parser.ParseFile(token.NewFileSet(), "main.go", solution, 0)
	if err != nil {
		return "", fmt.Errorf("the step does not parse: %w", err)
	}
	exUses, solUses := selectorsByPackage(ex), selectorsByPackage(sol)
	var keep []string
	for _, imp := range ex.Imports {
		name := importName(imp)
		if name == "_" || name == "." || len(exUses[name]) > 0 || len(solUses[name]) == 0 {
			continue
		}
		keep = append(keep, fmt.Sprintf("var _ = %s.%s", name, solUses[name][0]))
	}
	if len(keep) == 0 {
		return exercise, nil
	}
	exercise += "\n// Keeps the imports the TODOs above need; delete it once your code uses them.\n" +
		strings.Join(keep, "\n") + "\n"
	formatted, err := format.Source([]byte(exercise))
	if err != nil {
		return "", err
	}
	return string(formatted), nil
}

// selectorsByPackage lists, per package name, the names used as pkg.Name in f, in order.
func selectorsByPackage(f *ast.File) map[string][]string {
	uses := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				uses[id.Name] = append(uses[id.Name], sel.Sel.Name)
			}
		}
		return true
	})
	return uses
}

func importName(imp *ast.ImportSpec) string {
	if imp.Name != nil {
		return imp.Name.Name
	}
	path := strings.Trim(imp.Path.Value, `"`)
	name := path[strings.LastIndex(path, "/")+1:]
	if strings.HasPrefix(name, "v") && strings.Contains(path, "/") {
		if _, err := strconv.Atoi(name[1:]); err == nil { // .../cli/v2 is package cli
			prev := strings.TrimSuffix(path, "/"+name)
			name = prev[strings.LastIndex(prev, "/")+1:]
		}
	}
	return name
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
