package probe

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// parseStatus splits /proc/self/status into its "Name:\tvalue" lines; see proc_pid_status(5).
func parseStatus(data []byte) map[string]string {
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok {
			fields[key] = strings.TrimSpace(value)
		}
	}
	return fields
}

// parseIDs parses the Uid: and Gid: values: real, effective, saved set and filesystem ids.
func parseIDs(value string) ([]int, error) {
	ids := []int{}
	for _, f := range strings.Fields(value) {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse id %q: %w", f, err)
		}
		ids = append(ids, id)
	}
	if len(ids) != 4 {
		return nil, fmt.Errorf("parse ids %q: want 4 fields", value)
	}
	return ids, nil
}

// statusInt parses a decimal field of /proc/self/status such as NoNewPrivs or Seccomp.
func statusInt(status map[string]string, key string) (int, error) {
	value, ok := status[key]
	if !ok {
		return 0, fmt.Errorf("/proc/self/status: no %s line", key)
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/status %s: %w", key, err)
	}
	return n, nil
}

// capSets maps the report's capability set names to their /proc/self/status lines.
var capSets = []struct{ name, key string }{
	{"effective", "CapEff"},
	{"permitted", "CapPrm"},
	{"inheritable", "CapInh"},
	{"bounding", "CapBnd"},
	{"ambient", "CapAmb"},
}

// parseCaps reads the five capability sets from status: names and the raw hex masks.
func parseCaps(status map[string]string) (names map[string][]string, hex map[string]string, err error) {
	names, hex = map[string][]string{}, map[string]string{}
	var errs []string
	for _, set := range capSets {
		value, ok := status[set.key]
		if !ok {
			errs = append(errs, "no "+set.key+" line")
			continue
		}
		mask, err := strconv.ParseUint(value, 16, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s %q: not hex", set.key, value))
			continue
		}
		names[set.name] = capNames(mask)
		hex[set.name] = value
	}
	if errs != nil {
		return names, hex, fmt.Errorf("/proc/self/status: %s", strings.Join(errs, ", "))
	}
	return names, hex, nil
}
