package isolate

import (
	"fmt"
	"regexp"
)

// MaxIDLength bounds container ids: they name directories and appear in paths.
const MaxIDLength = 1024

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_+.-]*$`)

// ValidateID refuses ids that could name something other than one state directory:
// empty, too long, or containing '/', '..' as a whole, spaces or other characters.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("invalid container id: empty")
	case len(id) > MaxIDLength:
		return fmt.Errorf("invalid container id: longer than %d characters", MaxIDLength)
	case !idPattern.MatchString(id):
		return fmt.Errorf("invalid container id %q: use letters, digits and _ + . - (not first)", id)
	}
	return nil
}
