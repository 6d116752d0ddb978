package isolate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// richSpec sets most of the spec, including types with embedded structs (block I/O devices),
// the largest integers, pointers to scalars, maps and other platforms' sections.
func richSpec() *specs.Spec {
	s := DefaultSpec()
	limit, swap, shares, quota := int64(math.MaxInt64), int64(-1), uint64(math.MaxUint64), int64(-1)
	weight, mode := uint16(500), os.FileMode(0o620)
	uid, gid := uint32(0), uint32(5)
	s.Annotations = map[string]string{"org.example/a": "b"}
	s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 6}, Umask: &gid}
	s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
	s.Process.OOMScoreAdj = new(int)
	s.Process.Capabilities.Ambient = []string{"CAP_KILL"}
	s.Hooks = &specs.Hooks{
		Prestart:       []specs.Hook{{Path: "/bin/true", Args: []string{"true"}, Timeout: new(int)}},
		Poststop:       []specs.Hook{{Path: "/bin/echo", Env: []string{"A=1"}}},
		StartContainer: []specs.Hook{{Path: "/bin/sh"}},
	}
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid}}
	s.Linux.Resources = &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: new(int64), Access: "r"}},
		Memory:  &specs.LinuxMemory{Limit: &limit, Swap: &swap},
		CPU:     &specs.LinuxCPU{Shares: &shares, Quota: &quota, Cpus: "0-1"},
		Pids:    &specs.LinuxPids{Limit: &limit},
		BlockIO: &specs.LinuxBlockIO{
			Weight:                &weight,
			WeightDevice:          []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: &weight}},
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 1 << 20}},
		},
		Unified: map[string]string{"memory.high": "max"},
	}
	s.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}}},
	}
	s.Windows = &specs.Windows{LayerFolders: []string{`C:\layer`}}
	s.VM = &specs.VM{Kernel: specs.VMKernel{Path: "/vmlinuz"}}
	return s
}

// decodeJSON gives what json.Unmarshal gives.
func TestDecodeJSONAsEncodingJSON(t *testing.T) {
	docs := map[string][]byte{
		"null fields": []byte(`{"linux":null,"process":{"args":null,"env":[]},"hooks":{}}`),
		// escaped keys and strings, white space everywhere JSON allows it
		"escapes": []byte(` { "host\u006eame" : "box" , "annotations" : { "k\"ey" : "v\\" } ,
			"process" : { "args" : [ "a\"b" , "c,d" , "[e]" ] , "env" : [ ] } ,
			"mounts" : [ { "destination" : "/x" , "options" : [ "ro" ] } , { } ] } `),
	}
	for name, s := range map[string]*specs.Spec{"default": DefaultSpec(), "rich": richSpec()} {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		docs[name] = data
	}
	for name, data := range docs {
		var want, got specs.Spec
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		unknown, err := decodeJSON(data, &got)
		if err != nil || len(unknown) > 0 {
			t.Fatalf("%s: decodeJSON: unknown %v, %v", name, unknown, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodeJSON differs from json.Unmarshal\n got %+v\nwant %+v", name, got, want)
		}
	}

	// The state: an embedded struct and a type that decodes itself (time.Time).
	st := newState("c1", "/b", "/b/rootfs", map[string]string{"a": "b"})
	st.Pid, st.InitStart, st.Process = 42, 7, richSpec().Process
	data, _ := json.Marshal(st)
	var want, got State
	json.Unmarshal(data, &want)
	if _, err := decodeJSON(data, &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("state: %v\n got %+v\nwant %+v", err, got, want)
	}
	if got.Created.IsZero() || got.Created.Location() != time.UTC && got.Created.Location().String() != "UTC" {
		t.Errorf("state: created %v", got.Created)
	}
}

func TestDecodeJSONUnknownFields(t *testing.T) {
	doc := `{"ociVersion":"1.2.0","futureField":1,"Hostname":"box",
		"process":{"args":["sh"],"capabilities":{"bounding":[],"what":[]}},
		"mounts":[{"destination":"/a"},{"destination":"/b","bogus":true}],
		"linux":{"resources":{"memory":{"limit":1,"newKnob":2}},"x":{}}}`
	var s specs.Spec
	unknown, err := decodeJSON([]byte(doc), &s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"futureField", "linux.resources.memory.newKnob", "linux.x", "mounts[1].bogus", "process.capabilities.what"}
	slices.Sort(unknown)
	if !slices.Equal(unknown, want) {
		t.Errorf("unknown = %q, want %q", unknown, want)
	}
	// The known fields around them are decoded, names matched case-insensitively as
	// encoding/json does.
	if s.Hostname != "box" || len(s.Mounts) != 2 || s.Mounts[1].Destination != "/b" ||
		*s.Linux.Resources.Memory.Limit != 1 || s.Process.Args[0] != "sh" {
		t.Errorf("decoded %+v", s)
	}
}

// A member that sets a field again, by its key or one differing in case, is named: the last
// one counts (as in encoding/json), and a case slip ("ReadonlyPaths": []) after the right key
// undid it unsaid. A field set once, by a key in another case, is not a repeat.
func TestDecodeJSONRepeatedFields(t *testing.T) {
	doc := `{"hostname":"a","Hostname":"b","domainname":"d",
		"linux":{"readonlyPaths":["/proc/sys"],"ReadonlyPaths":[],"MaskedPaths":["/x"]},
		"mounts":[{"destination":"/a","destination":"/b"}]}`
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	warnings, err := loadJSON(path, &s, "")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{`"Hostname" sets "hostname" again`, `"linux.ReadonlyPaths" sets "linux.readonlyPaths" again`,
		`"mounts[0].destination" sets "mounts[0].destination" again`} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q: want %s", warnings, want)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("warnings %q: want 3 (MaskedPaths, set once, is none)", warnings)
	}
	if s.Hostname != "b" || len(s.Linux.ReadonlyPaths) != 0 || s.Mounts[0].Destination != "/b" {
		t.Errorf("decoded %+v: want the last member of each to count", s)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`{`:                                     "unexpected end",
		`[]`:                                    "cannot unmarshal array",
		`{"process":{"user":{"uid":"zero"}}}`:   "process.user.uid: json: cannot unmarshal string",
		`{"mounts":[{"options":"ro"}]}`:         "mounts[0].options",
		`{"linux":{"resources":{"pids":7}}}`:    "linux.resources.pids",
		`{"linux":{"sysctl":{"a":1}}}`:          "linux.sysctl",
		`{"process":{"rlimits":[{"hard":-1}]}}`: "process.rlimits[0].hard",
	} {
		var s specs.Spec
		if _, err := decodeJSON([]byte(doc), &s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", doc, err, want)
		}
	}
	if _, err := decodeJSON([]byte(`{}`), specs.Spec{}); err == nil {
		t.Error("decodeJSON into a non-pointer: no error")
	}
}

// leafKinds has a field of every kind decodeJSON decodes itself when the value is plain.
type leafKinds struct {
	S    string      `json:"s"`
	PS   *string     `json:"ps"`
	I8   int8        `json:"i8"`
	I    int         `json:"i"`
	PI   *int64      `json:"pi"`
	U    uint64      `json:"u"`
	PU   *uint32     `json:"pu"`
	B    bool        `json:"b"`
	L    []string    `json:"l"`
	N    []int64     `json:"n"`
	U16  []uint16    `json:"u16"`
	By   []byte      `json:"by"` // base64: left to encoding/json
	Arch specs.Arch  `json:"arch"`
	Mode os.FileMode `json:"mode"`
}

// Leaves that decodeJSON decodes itself come out as encoding/json decodes them, and what
// encoding/json refuses (or would decode differently) is still refused.
func TestDecodeJSONLeaves(t *testing.T) {
	literals := []string{`"plain"`, `"a\"b"`, `"tab\t"`, `"é"`, `"\u00e9"`, `"a,b"`, `"[x]"`, `""`,
		`"AQID"`, `"1"`, `0`, `-0`, `01`, `+1`, `1e3`, `1.0`, `-1`, `127`, `128`, `-129`, `255`,
		`65536`, `18446744073709551615`, `18446744073709551616`, `-9223372036854775809`, `true`,
		`false`, `null`, `nul`, `[]`, `[ ]`, `["a","b"]`, `["a,b","c"]`, `["a" "b"]`, `["a",]`,
		`[,"a"]`, `["a"`, `[1,2,3]`, `[ 1 , -2 ]`, `[1,"2"]`, `[[1]]`, `[01]`, `[null]`, `{}`, ` 7 `, "\u00a07", "[\u00a07]", `"a" "b"`, `1 2`, ``}
	for _, field := range structFields(reflect.TypeFor[leafKinds]()).list {
		for _, lit := range literals {
			doc := []byte(`{"` + field.name + `":` + lit + `}`)
			var want, got leafKinds
			wantErr := json.Unmarshal(doc, &want)
			_, gotErr := decodeJSON(doc, &got)
			if (gotErr == nil) != (wantErr == nil) {
				t.Errorf("%s: decodeJSON error %v, json.Unmarshal error %v", doc, gotErr, wantErr)
				continue
			}
			if wantErr == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", doc, got, want)
			}
		}
	}
	// As whole documents, where no enclosing object was parsed by encoding/json first.
	for _, lit := range literals {
		for _, newValue := range []func() any{
			func() any { return new(int) }, func() any { return new(string) },
			func() any { return new([]string) }, func() any { return new(*uint32) },
			func() any { return new([]int64) },
		} {
			want, got := newValue(), newValue()
			wantErr := json.Unmarshal([]byte(lit), want)
			_, gotErr := decodeJSON([]byte(lit), got)
			if (gotErr == nil) != (wantErr == nil) || wantErr == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("%s into %T: decodeJSON %v (%v), json.Unmarshal %v (%v)", lit, got,
					reflect.ValueOf(got).Elem(), gotErr, reflect.ValueOf(want).Elem(), wantErr)
			}
		}
	}
}

// FuzzDecodeJSON: on any input decodeJSON must not panic, must fail where json.Unmarshal
// fails and succeed where it succeeds, with the same result unless an object repeats a key
// (encoding/json decodes a repeated list into the first one's elements; decodeJSON takes the
// last). `go test` runs the seeds; `go test -fuzz FuzzDecodeJSON ./isolate` explores.
func FuzzDecodeJSON(f *testing.F) {
	addSpecSeeds(f)
	f.Add([]byte(` { "host\u006eame" : "b\"ox" , "process" : { "args" : [ "a,b" , "[c]" ] } } `))
	f.Add([]byte(`{"process":{"user":{"uid":1e3,"gid":-1}},"mounts":[{"options":[null]}]}`))
	f.Add([]byte(`{"linux":{"resources":{"memory":{"limit":9223372036854775808}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got specs.Spec
		wantErr := json.Unmarshal(data, &want)
		_, gotErr := decodeJSON(data, &got)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: decodeJSON error %v, json.Unmarshal error %v", data, gotErr, wantErr)
		}
		if wantErr == nil && !repeatsKey(data) && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", data, got, want)
		}
	})
}

// repeatsKey reports whether an object in the valid JSON document data has a key twice
// (compared as encoding/json matches them to fields: case-insensitively).
func repeatsKey(data []byte) bool {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber() // every number is a token, even one no float64 holds
	var value func() (repeats bool, err error)
	value = func() (bool, error) {
		tok, err := d.Token()
		if err != nil {
			return false, err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for d.More() {
				key, err := d.Token()
				if err != nil {
					return false, err
				}
				k := strings.ToLower(key.(string))
				if repeats, err := value(); seen[k] || repeats || err != nil {
					return seen[k] || repeats, err
				}
				seen[k] = true
			}
			_, err = d.Token() // '}'
		case json.Delim('['):
			for d.More() {
				if repeats, err := value(); repeats || err != nil {
					return repeats, err
				}
			}
			_, err = d.Token() // ']'
		}
		return false, err
	}
	repeats, _ := value()
	return repeats
}

// addSpecSeeds seeds a fuzz test of the JSON code with the default spec and a rich one, as
// json.Marshal writes them.
func addSpecSeeds(f *testing.F) {
	for _, s := range []*specs.Spec{DefaultSpec(), richSpec()} {
		data, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// A missing file is said with the hint, and is still fs.ErrNotExist to callers.
func TestLoadJSONMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	var s specs.Spec
	_, err := loadJSON(path, &s, "run `contain spec` to make one")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no such file or directory (run `contain spec`") {
		t.Errorf("loadJSON of a missing file: %v, want fs.ErrNotExist with the hint", err)
	}
}

// readAllFrom reads everything, in pieces and past its first buffer, and returns a reader's
// error with what it read until then.
func TestReadAllFrom(t *testing.T) {
	content := strings.Repeat("0123456789", 5000)
	for _, size := range []int{1, 16, 4096, len(content), len(content) + 1} {
		got, err := readAllFrom(iotest.OneByteReader(strings.NewReader(content)), size)
		if err != nil || string(got) != content {
			t.Errorf("size %d: read %d bytes, %v; want %d", size, len(got), err, len(content))
		}
	}
	broken := errors.New("broken pipe")
	got, err := readAllFrom(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken)), 2)
	if string(got) != "abc" || !errors.Is(err, broken) {
		t.Errorf("got %q, %v; want \"abc\" and %v", got, err, broken)
	}
}
