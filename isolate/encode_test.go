package isolate

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// optionsLeftToJSON uses tag options that encodeJSON hands to encoding/json with the struct.
type optionsLeftToJSON struct {
	Quoted int64      `json:"quoted,string"`
	Zero   *time.Time `json:"zero,omitzero"`
}

// pointerMarshaler encodes itself through a pointer only: encoding/json calls the method when
// the value is addressable.
type pointerMarshaler struct{ N int }

func (p *pointerMarshaler) MarshalJSON() ([]byte, error) { return []byte(`"custom"`), nil }

// encodeCorners has what encodeJSON must leave to encoding/json or get exactly right itself.
type encodeCorners struct {
	specs.LinuxBlockIODevice                       // embedded: its fields sit here, in order
	Name                     string                `json:"name"`
	Escaped                  string                `json:"esc<&>"` // a key encoding/json escapes
	Options                  optionsLeftToJSON     `json:"options"`
	Addr                     netip.Addr            `json:"addr"`   // encodes itself (MarshalText)
	When                     time.Time             `json:"when"`   // encodes itself (MarshalJSON)
	Custom                   pointerMarshaler      `json:"custom"` // only when addressable
	Any                      any                   `json:"any"`
	Hooks                    map[string]specs.Hook `json:"hooks"`
	NilHooks                 map[string]specs.Hook `json:"nil_hooks"`
	List                     []specs.Hook          `json:"list"`
	NilList                  []specs.Hook          `json:"nil_list"`
	EmptyList                []specs.Hook          `json:"empty_list,omitempty"`
	Ptr                      *specs.Box            `json:"ptr"`
	NilPtr                   *specs.Box            `json:"nil_ptr"`
	OmitPtr                  *specs.Box            `json:"omit_ptr,omitempty"`
	Float                    float64               `json:"float,omitempty"`
	Bytes                    []byte                `json:"bytes"`
	Array                    [2]specs.Box          `json:"array"`
	Strings                  []string              `json:"strings"`
	Labels                   map[string]string     `json:"labels"`
	Mode                     os.FileMode           `json:"mode"`  // a number with a String method
	Arch                     specs.Arch            `json:"arch"`  // a named string
	Small                    []uint8               `json:"small"` // base64, as []byte
	Ints                     []int16               `json:"ints"`
	Uintptr                  uintptr               `json:"uintptr"`
	PtrUint                  *uint32               `json:"ptr_uint"`
	NilPtrString             *string               `json:"nil_ptr_string"`
	Untagged                 bool
	Skipped                  string `json:"-"`
	unexported               string
}

func cornerValue() encodeCorners {
	return encodeCorners{
		LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 1},
		Name:               "a<b>&c \u2028 \xff \"q\" \\ \n",
		Escaped:            "x",
		Options:            optionsLeftToJSON{Quoted: 1 << 60},
		Addr:               netip.MustParseAddr("10.0.0.1"),
		When:               time.Date(2026, 11, 26, 12, 0, 0, 5, time.UTC),
		Any:                specs.Box{Height: 1},
		Hooks:              map[string]specs.Hook{"b": {Path: "/b"}, "a": {Path: "/a", Timeout: new(int)}},
		List:               []specs.Hook{{Path: "/x", Args: []string{}}, {}},
		EmptyList:          []specs.Hook{},
		Ptr:                &specs.Box{Height: 24, Width: 80},
		Float:              -0.0,
		Bytes:              []byte("bytes"),
		Array:              [2]specs.Box{{Height: 1}, {Width: 2}},
		Strings:            []string{"plain", "tab\t", "<html>", "é", "\u2029", "del\x7f", ""},
		Labels:             map[string]string{"k<": "v&", "z": "", "a": "\xff"},
		Mode:               0o644,
		Arch:               specs.ArchX86_64,
		Small:              []uint8{1, 2, 3},
		Ints:               []int16{-32768, 0, 7},
		Uintptr:            ^uintptr(0),
		PtrUint:            new(uint32),
		Untagged:           true,
		Skipped:            "never",
		unexported:         "never",
	}
}

// The corners are written member by member (the test below would pass by delegation otherwise).
func TestEncodeJSONWalksCorners(t *testing.T) {
	if !encodable(reflect.TypeFor[encodeCorners]()) || encodable(reflect.TypeFor[optionsLeftToJSON]()) {
		t.Fatal("encodeCorners must be walked, optionsLeftToJSON left to encoding/json")
	}
}

// encodeJSON gives json.Marshal's bytes, for every value the runtime encodes and the corners.
func TestEncodeJSONAsEncodingJSON(t *testing.T) {
	rich := richSpec()
	st := newState("c1", "/bundle", "/bundle/rootfs", map[string]string{"z": "1", "a": "2"})
	st.Pid = 42
	st.Process = rich.Process
	st.Poststop = rich.Hooks.Poststop
	st.Cgroup = &CgroupRecord{}
	corners := cornerValue()
	for name, v := range map[string]any{
		"default spec":         DefaultSpec(),
		"rich spec":            rich,
		"rich spec, not a ptr": *rich,
		"init config":          newInitConfig(rich, "/rootfs", "/bundle", true),
		"default init config":  newInitConfig(DefaultSpec(), "/rootfs", "/bundle", false),
		"state":                st,
		"state pointer":        &st,
		"message":              message{Type: msgError, Text: "exec x: executable file not found in $PATH", Status: 127},
		"empty message":        message{},
		"corners":              corners,
		"corners, addressable": &corners,
		"list of corners":      []encodeCorners{corners, {}},
		"map of corners":       map[string]*encodeCorners{"x": &corners, "nil": nil},
		"nil spec":             (*specs.Spec)(nil),
		"nil":                  nil,
		"string":               "plain",
		"exec config":          execConfig{Process: rich.Process, InitPid: 7, Namespaces: 1 << 17},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: json.Marshal: %v", name, err)
		}
		got, err := encodeJSON(v)
		if err != nil {
			t.Fatalf("%s: encodeJSON: %v", name, err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got  %s\n want %s", name, got, want)
		}
	}
}

// What encoding/json refuses, encodeJSON refuses.
func TestEncodeJSONErrors(t *testing.T) {
	type withChan struct {
		Hooks []specs.Hook `json:"hooks"`
		C     chan int     `json:"c"`
	}
	if _, err := encodeJSON(withChan{C: make(chan int)}); err == nil {
		t.Error("encodeJSON of a struct with a channel: no error")
	}
}

// FuzzEncodeJSON: for any spec that a document decodes to, encodeJSON writes json.Marshal's
// bytes, for the spec and for init's config made from it.
func FuzzEncodeJSON(f *testing.F) {
	addSpecSeeds(f)
	f.Add([]byte(`{"hostname":"<","domainname":">","annotations":{"&":"a"}}`))
	f.Add([]byte(`{"hostname":"<b>&\u2028\ud800","process":{"args":["\u0000","é"],"env":[]},"annotations":{"\u007f":""}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.Spec
		if json.Unmarshal(data, &s) != nil {
			return
		}
		values := []any{&s}
		if s.Linux != nil && s.Root != nil && s.Process != nil { // newInitConfig takes a validated spec
			values = append(values, newInitConfig(&s, "/rootfs", "/bundle", false))
		}
		for _, v := range values {
			want, wantErr := json.Marshal(v)
			got, gotErr := encodeJSON(v)
			if (gotErr == nil) != (wantErr == nil) || string(got) != string(want) {
				t.Fatalf("%q:\n got  %s (%v)\n want %s (%v)", data, got, gotErr, want, wantErr)
			}
		}
	})
}

// An error too long for a message keeps its end, where a failed hook's own words are.
func TestErrorTextKeepsTheEnd(t *testing.T) {
	long := errors.New(strings.Repeat("a", 3*maxErrorText) + "the-end")
	if got := errorText(long); len(got) != maxErrorText || !strings.HasSuffix(got, "the-end") || !strings.HasPrefix(got, "...") {
		t.Errorf("errorText of %d bytes: %d bytes, %q...%q", len(long.Error()), len(got), got[:10], got[len(got)-10:])
	}
	if got := errorText(errors.New("short")); got != "short" {
		t.Errorf("errorText(short) = %q", got)
	}
}
