package isolate

import "fmt"

// MaxIDLength bounds container ids: an id names the state directory and the cgroup, and a
// file name has at most NAME_MAX (255) bytes; a longer one would fail later, at mkdir(2),
// with ENAMETOOLONG.
const MaxIDLength = 255

// ValidateID refuses ids that could name something other than one state directory:
// empty, too long, or containing '/', '..' as a whole, spaces or other characters. An id is
// a letter or digit, then letters, digits and _ + . - (a loop, not a regexp: a regexp is
// compiled when the package loads, in every process, each container's init included).
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("invalid container id: empty")
	case len(id) > MaxIDLength:
		return fmt.Errorf("invalid container id: longer than %d characters", MaxIDLength)
	case !validID(id):
		return fmt.Errorf("invalid container id %q: use letters, digits and _ + . - (not first)", id)
	}
	return nil
}

func validID(id string) bool {
	for i, r := range id {
		alnum := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !alnum && (i == 0 || r != '_' && r != '+' && r != '.' && r != '-') {
			return false
		}
	}
	return true
}
